"""The audit log: every change leaves an entry (who, when, what, which path),
the employee page shows its history, admins filter and export all of it."""
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest

from ..helpers import csrf_token, employee
from .test_edit_delete import add, hidden_fields, open_edit

ENTRY_RE = re.compile(r'<tr>\s*<td><time datetime="([^"]+)">')


def entries(pg, employee_id: str | None = None) -> list[tuple]:
    """The employees' entries (the departments and jobs their forms added
    have their own: test_new_entries_history.py)."""
    where, params = ("WHERE employee_id = %s", (employee_id,)) if employee_id else (
        "WHERE subject NOT IN ('department', 'job')", ())
    return pg.execute(f"SELECT action, source, actor_name, changes, import_id FROM audit_log {where} ORDER BY id",
                      params).fetchall()


def test_create_edit_and_delete_each_write_an_entry_with_old_and_new_values(login, pg):
    hr, admin = login("hr", "hana"), login("admin", "ann")
    add(hr, "E1", first_name="Grace", last_name="Hopper", email="Grace@Example.com", department="Research",
        employment_type="", location="")
    (action, source, actor, changes, import_id), = entries(pg, "E1")
    assert (action, source, actor, import_id) == ("create", "form", "hana", None)
    assert changes == {"employee_id": [None, "E1"], "first_name": [None, "Grace"], "last_name": [None, "Hopper"],
                       "email": [None, "grace@example.com"], "department": [None, "Research"],
                       "job_title": [None, "Analyst"], "hire_date": [None, "2024-03-01"], "status": [None, "active"]}
    actor_id = pg.execute("SELECT actor_id FROM audit_log").fetchone()[0]
    assert actor_id == pg.execute("SELECT id FROM users WHERE username = 'hana'").fetchone()[0]

    form = open_edit(admin, "E1")
    assert admin.post("/employees/E1/edit", dict(form, employee_id="E100", job_title="Rear Admiral",
                                                 hire_date="1943-12-01", department="Navy")).status_code == 303
    (action, source, actor, changes, _), = entries(pg, "E100")
    assert (action, source, actor) == ("update", "edit", "ann")
    assert changes == {"employee_id": ["E1", "E100"], "job_title": ["Analyst", "Rear Admiral"],
                       "hire_date": ["2024-03-01", "1943-12-01"], "department": ["Research", "Navy"]}

    delete_form = hidden_fields(admin.get("/employees/E100/delete").text)
    assert admin.post("/employees/E100/delete", delete_form).status_code == 303
    action, source, actor, changes, _ = entries(pg, "E100")[-1]
    assert (action, source, actor) == ("delete", "delete", "ann")
    assert changes["employee_id"] == ["E100", None] and changes["job_title"] == ["Rear Admiral", None]
    assert all(new is None for _old, new in changes.values())
    # One record, three entries, all under its primary key.
    assert pg.execute("SELECT count(DISTINCT employee_pk), count(*) FROM audit_log"
                      " WHERE subject = 'employee'").fetchone() == (1, 3)


def test_a_refused_change_writes_no_entry(login, pg):
    admin = login("admin")
    add(admin, "E1")
    add(admin, "E2")
    assert admin.submit("/employees/new", employee("e1")).status_code == 409
    form = open_edit(admin, "E2")
    assert admin.post("/employees/E2/edit", dict(form, employee_id="E1")).status_code == 409
    assert [row[0] for row in entries(pg)] == ["create", "create"]


def test_the_employee_page_shows_its_history_newest_first(login, pg):
    admin = login("admin", "ann")
    add(admin, "E1", job_title="Analyst")
    for title in ("Senior Analyst", "Lead Analyst"):
        form = open_edit(admin, "E1")
        assert admin.post("/employees/E1/edit", dict(form, job_title=title)).status_code == 303
    # An entry written by an import (the lead's bulk SQL writes the same row shape).
    pk = pg.execute("SELECT id FROM employees").fetchone()[0]
    pg.execute("INSERT INTO audit_log (actor_name, employee_pk, employee_id, action, source, import_id, changes)"
               " VALUES ('ann', %s, 'E1', 'update', 'import', 42, %s)",
               (pk, json.dumps({"location": ["London", "Leeds"]})))

    viewer = login("viewer")
    page = viewer.get("/employees/E1")
    assert page.status_code == 200
    history = page.text[page.text.index('id="history"'):]
    order = [history.index(marker) for marker in
             ("Updated by", "<ins>Lead Analyst</ins>", "<ins>Senior Analyst</ins>", "Added with the form")]
    assert order == sorted(order), "newest first"
    assert '<a href="/imports/42">import #42</a>' in history
    assert "<del>London</del>" in history and "<ins>Leeds</ins>" in history
    assert "<del>Analyst</del>" in history and "<ins>Senior Analyst</ins>" in history
    times = ENTRY_RE.findall(history)
    assert len(times) == 4 and times == sorted(times, reverse=True)


def test_a_record_created_by_an_import_says_so_with_a_link(login, pg):
    admin = login("admin")
    pk = pg.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('IMP1', 'Ida', 'Import')"
                    " RETURNING id").fetchone()[0]
    pg.execute("INSERT INTO audit_log (actor_name, employee_pk, employee_id, action, source, import_id, changes)"
               " VALUES ('hana', %s, 'IMP1', 'create', 'import', 7, %s)",
               (pk, json.dumps({"employee_id": [None, "IMP1"], "first_name": [None, "Ida"]})))
    page = admin.get("/employees/IMP1")
    assert re.search(r'Created by\s+<a href="/imports/7">import #7</a>', page.text)


def test_the_history_page_pages_through_many_entries(login, pg):
    admin = login("admin")
    pg.execute("INSERT INTO audit_log (at, actor_name, employee_pk, employee_id, action, source, changes)"
               " SELECT now() - n * interval '1 minute', 'ann', 1, 'E' || n, 'update', 'edit',"
               " jsonb_build_object('job_title', jsonb_build_array('a', 'b'))"
               " FROM generate_series(1, 120) AS n")
    seen = []
    response = admin.get("/admin/audit")
    while True:
        assert response.status_code == 200
        seen += re.findall(r'<a href="/employees/(E\d+)">', response.text)
        link = re.search(r'<a href="([^"]+)" rel="next">', response.text)
        if not link:
            break
        response = admin.get(unescape(link.group(1)))
    assert seen == [f"E{n}" for n in range(1, 121)]
    # ... and back with "Previous".
    previous = re.search(r'<a href="([^"]+)" rel="prev">', response.text)
    back = admin.get(unescape(previous.group(1)))
    assert re.findall(r'<a href="/employees/(E\d+)">', back.text) == [f"E{n}" for n in range(51, 101)]
    assert admin.get("/admin/audit", params={"cursor": "not-a-cursor"}).status_code == 200


@pytest.fixture
def history(login, pg):
    """Changes by two people to three employees, one of them on another day."""
    ann, bob = login("admin", "ann"), login("admin", "bob")
    add(ann, "E1", first_name="=HYPERLINK(\"http://x\")", phone="+1 555 0100")
    add(bob, "E2")
    add(bob, "E3")
    form = open_edit(bob, "E1")
    assert bob.post("/employees/E1/edit", dict(form, job_title="@risk")).status_code == 303
    pg.execute("UPDATE audit_log SET at = at - interval '10 days' WHERE employee_id = 'E3'")
    return ann


def test_admins_filter_the_history_by_person_employee_and_date(history, login):
    admin = history
    def employees_on(**params):
        response = admin.get("/admin/audit", params=params)
        assert response.status_code == 200
        return re.findall(r'<td><a href="/employees/(E\d+)">', response.text)

    assert employees_on() == ["E1", "E2", "E1", "E3"]
    assert employees_on(actor="ann") == ["E1"]
    assert employees_on(actor="BOB") == ["E1", "E2", "E3"]
    assert employees_on(actor="nobody") == []
    assert employees_on(employee=" e1 ") == ["E1", "E1"]
    today = datetime.now(timezone.utc).date()
    assert employees_on(**{"from": today.isoformat()}) == ["E1", "E2", "E1"]
    assert employees_on(to=(today - timedelta(days=5)).isoformat()) == ["E3"]
    assert employees_on(actor="bob", **{"from": (today - timedelta(days=11)).isoformat(),
                                       "to": (today - timedelta(days=9)).isoformat()}) == ["E3"]
    bad = admin.get("/admin/audit", params={"from": "2024-13-45"})
    assert bad.status_code == 422 and "is not a date" in bad.text
    # Text in the app's one date format, like the forms' dates: what was
    # typed stays in the box beside what is wrong with it (a date picker
    # would empty it, and shows dates in the browser's own format).
    box = re.search(r'<input[^>]*id="from"[^>]*>', bad.text).group(0)
    assert 'type="text"' in box and 'placeholder="YYYY-MM-DD"' in box and 'value="2024-13-45"' in box
    assert 'href="/admin/audit.csv?actor=bob"' in admin.get("/admin/audit", params={"actor": "bob"}).text

    for role in ("hr", "viewer"):
        user = login(role)
        assert user.get("/admin/audit").status_code == 403
        assert user.get("/admin/audit.csv").status_code == 403
        assert "/admin/audit" not in user.get("/employees").text


def test_the_csv_export_has_the_filtered_entries_with_formulas_neutralised(history):
    admin = history
    response = admin.get("/admin/audit.csv", params={"employee": "E1"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["employee_id"] for row in rows} == {"E1"}
    edit = [row for row in rows if row["action"] == "update"]
    assert [(r["actor"], r["source"], r["field"], r["old_value"], r["new_value"]) for r in edit] == [
        ("bob", "edit", "job_title", "Analyst", "'@risk")]
    created = {row["field"]: row for row in rows if row["action"] == "create"}
    assert created["first_name"]["new_value"] == "'=HYPERLINK(\"http://x\")"
    assert created["phone"]["new_value"] == "'+1 555 0100"
    assert created["first_name"]["actor"] == "ann" and created["first_name"]["old_value"] == ""
    assert rows[0]["action"] == "update"  # newest first
    datetime.strptime(rows[0]["at_utc"], "%Y-%m-%d %H:%M:%S")

    everything = list(csv.DictReader(io.StringIO(admin.get("/admin/audit.csv").content.decode("utf-8-sig"))))
    assert {row["employee_id"] for row in everything if row["subject"] == "employee"} == {"E1", "E2", "E3"}
    # ... and the departments and jobs their forms added.
    assert {row["subject"] for row in everything} == {"employee", "department", "job"}
    assert admin.get("/admin/audit.csv", params={"to": "yesterday"}).status_code == 422


def test_history_link_is_in_the_nav_for_admins(login):
    admin = login("admin")
    page = admin.get("/employees")
    assert '<a href="/admin/audit"' in page.text
    assert csrf_token(page.text)
