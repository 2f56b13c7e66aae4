"""Merging a department (or job) into another: the way an admin folds a
second spelling a file brought in ("Enginering") into the right one. Its
employees move (each with a History entry and a new version), the entry is
deleted, in one transaction; refusals say why and change nothing."""
import re
from html import unescape

import pytest

from ..helpers import csrf_token
from .test_edit_delete import add, open_edit
from .test_lists import entry_id


def merge(client, kind: str, pk: int, target: str):
    page = client.get(f"/{kind}/{pk}")
    return client.post(f"/{kind}/{pk}/merge", {"csrf_token": csrf_token(page.text), "target": target})


def field_error(page: str) -> str:
    return unescape(re.search(r'<small id="target-error" class="field-error">(.*?)</small>', page, re.S).group(1))


def test_merging_a_typo_moves_its_employees_and_deletes_it_with_a_history(login, pg):
    admin = login("admin", "ann")
    add(admin, "E1", department="Engineering", job_title="Analyst")
    add(admin, "E2", department="Enginering", job_title="Analyst")
    add(admin, "E3", department="Enginering", job_title="Analist", status="terminated")
    typo, right = entry_id(pg, "departments", "Enginering"), entry_id(pg, "departments", "Engineering")
    stale_edit = open_edit(admin, "E2")  # an edit form opened before the merge
    versions = dict(pg.execute("SELECT employee_id, version FROM employees").fetchall())

    page = admin.get(f"/departments/{typo}").text
    assert "Merge into another department" in page and '<option value="Engineering">' in page
    merged = merge(admin, "departments", typo, " engineering ")  # any case, as typed
    assert merged.status_code == 303 and merged.headers["Location"].endswith(f"/departments/{right}")
    shown = unescape(admin.get(merged.headers["Location"]).text)
    assert ("Enginering merged into Engineering: 2 employees moved (each one's history says so), Enginering "
            "deleted.") in shown
    assert re.search(r'id="entry-employees">2 active, 3 in all', shown)

    assert pg.execute("SELECT count(*) FROM departments WHERE id = %s", (typo,)).fetchone()[0] == 0
    assert pg.execute("SELECT employee_id FROM employees WHERE department_id = %s ORDER BY 1",
                      (right,)).fetchall() == [("E1",), ("E2",), ("E3",)]
    now = dict(pg.execute("SELECT employee_id, version FROM employees").fetchall())
    assert now == {"E1": versions["E1"], "E2": versions["E2"] + 1, "E3": versions["E3"] + 1}
    moves = pg.execute("SELECT employee_id, action, source, actor_name, changes FROM audit_log"
                       " WHERE subject = 'employee' AND source = 'list' ORDER BY employee_id").fetchall()
    assert moves == [(eid, "update", "list", "ann", {"department": ["Enginering", "Engineering"]})
                     for eid in ("E2", "E3")]
    deleted = pg.execute("SELECT action, entry_name, actor_name FROM audit_log WHERE subject = 'department'"
                         " AND entry_pk = %s ORDER BY id DESC LIMIT 1", (typo,)).fetchone()
    assert deleted == ("delete", "Enginering", "ann")
    record = unescape(admin.get("/employees/E2").text)
    assert "Moved by a merge on the list page" in record
    # The edit form opened before is not saved over the move.
    assert admin.post("/employees/E2/edit", dict(stale_edit, first_name="Changed")).status_code == 409
    # The reports' summaries follow (their triggers see the UPDATE): the typo is no row of its own.
    by_quarter = unescape(admin.get("/reports/hires-by-quarter", params={"year": 2024}).text)
    assert "Engineering" in by_quarter and "Enginering" not in by_quarter
    # The deleted entry's page is gone; its history stays in the History.
    assert admin.get(f"/departments/{typo}").status_code == 404
    assert "Enginering" in admin.get("/admin/audit", params={"subject": "department"}).text


def test_jobs_merge_too(login, pg):
    admin = login("admin")
    add(admin, "E1", job_title="Analyst")
    add(admin, "E2", job_title="Analist")
    typo = entry_id(pg, "jobs", "Analist")
    assert merge(admin, "jobs", typo, "Analyst").status_code == 303
    assert pg.execute("SELECT j.name FROM employees e JOIN jobs j ON j.id = e.job_id WHERE employee_id = 'E2'"
                      ).fetchone() == ("Analyst",)
    assert pg.execute("SELECT changes FROM audit_log WHERE source = 'list' AND subject = 'employee'"
                      ).fetchone()[0] == {"job_title": ["Analist", "Analyst"]}


@pytest.mark.parametrize("target, says", [
    ("", "Type the department to move its employees to."),
    ("Marketing", "There is no department Marketing in the list: choose one of the list"),
    ("enginering", "Choose another department than Enginering itself."),
    ("Engineer\u0456ng", "mixes letters of different scripts (Cyrillic and Latin)"),  # a Cyrillic і
    ("Engi\x00neering", "contains a control character (U+0000"),
    ("Engi\u200bneering", "contains an invisible or direction-changing character"),
    ("E" * 10_000, "is longer than 100 characters"),
    ("\ufdfa" * 10, "is longer than 100 characters."),  # 10 characters, 180 once normalised
])
def test_a_merge_it_cannot_do_is_refused_at_the_field_and_changes_nothing(login, pg, target, says):
    admin = login("admin")
    add(admin, "E1", department="Engineering")
    add(admin, "E2", department="Enginering")
    typo = entry_id(pg, "departments", "Enginering")
    refused = merge(admin, "departments", typo, target)
    assert refused.status_code == 422
    assert says in field_error(refused.text)
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 2
    assert pg.execute("SELECT count(*) FROM audit_log WHERE source = 'list'").fetchone()[0] == 0


def test_only_admins_merge_with_a_form_of_theirs(login, pg):
    admin = login("admin")
    add(admin, "E1", department="Engineering")
    add(admin, "E2", department="Enginering")
    typo = entry_id(pg, "departments", "Enginering")
    for role in ("hr", "viewer"):
        client = login(role)
        page = client.get(f"/departments/{typo}").text
        assert 'id="merge-form"' not in page
        assert client.post(f"/departments/{typo}/merge", {"csrf_token": csrf_token(page),
                                                          "target": "Engineering"}).status_code == 403
    assert admin.post(f"/departments/{typo}/merge", {"target": "Engineering"}).status_code == 400  # no CSRF token
    assert merge(admin, "departments", 999_999, "Engineering").status_code == 404
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 2
