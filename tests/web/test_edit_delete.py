"""HR staff and admins edit employee records; admins also delete and
bulk-change them. Over real HTTP, with the duplicate guard, optimistic locking
(version column) and Valkey kept in step."""
import re
import threading
import time
from datetime import date
from html import unescape

import psycopg
import pytest

from employee_app.services.duplicate_guard import EMAILS_KEY, IDS_KEY

from ..helpers import HttpClient, csrf_token, employee

HIDDEN_RE = re.compile(r'<input[^>]*\bname="(record|version|seen|csrf_token)"[^>]*\bvalue="([^"]*)"')


def hidden_fields(html: str) -> dict:
    """The hidden inputs of the first form on the page that carries them."""
    fields = {}
    for name, value in HIDDEN_RE.findall(html):
        fields.setdefault(name, unescape(value))
    return fields


def form_values(html: str) -> dict:
    """What the page's employee form would send, hidden fields included."""
    data = employee("")
    for name in data:
        match = re.search(rf'<(?:input|select)[^>]*\bname="{name}"[^>]*>', html)
        assert match, name
        tag = match.group(0)
        if tag.startswith("<select"):
            options = html[match.start(): html.index("</select>", match.start())]
            selected = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', options)
            data[name] = unescape(next(g for g in selected.groups() if g is not None)) if selected else ""
        else:
            value = re.search(r'\bvalue="([^"]*)"', tag)
            data[name] = unescape(value.group(1)) if value else ""
    data.update(hidden_fields(html))
    return data


def open_edit(client: HttpClient, employee_id: str) -> dict:
    """Open the edit page, as a person would: the form's values, hidden ones included."""
    page = client.get(f"/employees/{employee_id}/edit")
    assert page.status_code == 200, page.status_code
    return form_values(page.text)


def add(client: HttpClient, employee_id: str, **fields) -> None:
    response = client.submit("/employees/new", employee(employee_id, **fields))
    assert response.status_code == 303, response.text


def stored(pg, employee_id: str):
    return pg.execute("SELECT employee_id, first_name, last_name, email, (SELECT name FROM jobs WHERE jobs.id = job_id), status, version "
                      "FROM employees WHERE employee_id = %s", (employee_id,)).fetchone()


def audit_rows(pg, action: str | None = None) -> list:
    where = "WHERE action = %s" if action else ""
    return pg.execute(f"SELECT action, source, employee_id, actor_name, changes FROM audit_log {where} ORDER BY id",
                      (action,) if action else ()).fetchall()


@pytest.fixture
def admin(login):
    return login("admin")


def test_the_edit_page_shows_the_record_and_saves_every_field(admin, pg):
    add(admin, "E1", first_name="Ada", last_name="Lovelace", email="ada@example.com", department="Research")
    form = open_edit(admin, "E1")
    assert form["first_name"] == "Ada" and form["email"] == "ada@example.com"
    assert form["department"] == "Research" and form["hire_date"] == "2024-03-01"
    assert form["version"] == "1" and form["status"] == "active"

    form.update(first_name="Augusta", last_name="King", email="Augusta.King@Example.com", phone="+44 20 7946 0000",
                department="Mathematics", job_title="Countess", employment_type="part_time", location="Ockham",
                hire_date="2023-01-02", status="terminated", termination_date="2025-11-27")
    response = admin.post("/employees/E1/edit", form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/employees/E1"
    row = pg.execute("SELECT e.first_name, e.last_name, e.email, e.phone, d.name, (SELECT name FROM jobs WHERE jobs.id = e.job_id), e.employment_type,"
                     " e.location, e.hire_date::text, e.status, e.termination_date::text, e.version"
                     " FROM employees e LEFT JOIN departments d ON d.id = e.department_id").fetchone()
    assert row == ("Augusta", "King", "augusta.king@example.com", "+44 20 7946 0000", "Mathematics", "Countess",
                   "part_time", "Ockham", "2023-01-02", "terminated", "2025-11-27", 2)
    page = admin.get("/employees/E1")
    assert "saved" in page.text and "Augusta King" in page.text

    # Saving the same values again changes nothing (no new version, no audit entry).
    again = open_edit(admin, "E1")
    assert admin.post("/employees/E1/edit", again).status_code == 303
    assert stored(pg, "E1")[-1] == 2
    assert len(audit_rows(pg, "update")) == 1


def test_an_unknown_record_is_404_and_invalid_input_is_422_with_nothing_changed(admin, pg):
    assert admin.get("/employees/NOPE/edit").status_code == 404
    assert admin.get("/employees/NOPE/delete").status_code == 404
    add(admin, "E1")
    form = open_edit(admin, "E1")
    response = admin.post("/employees/E1/edit", dict(form, first_name="", hire_date="2024-02-31", email="nope"))
    assert response.status_code == 422
    assert "First name is required" in response.text and "is not a date" in response.text
    assert 'value="nope"' in response.text  # the input is kept
    assert stored(pg, "E1")[1] == "Ada" and stored(pg, "E1")[-1] == 1
    # A tampered form (no version) is refused, never a 500.
    broken = {k: v for k, v in form.items() if k != "version"}
    assert admin.post("/employees/E1/edit", broken).status_code == 400


def test_edit_to_a_taken_id_or_email_is_409_with_a_link_and_nothing_changes(admin, pg, valkey):
    add(admin, "E1", first_name="Grace", last_name="Hopper", email="grace@example.com")
    add(admin, "E2", first_name="Alan", last_name="Turing", email="alan@example.com")
    form = open_edit(admin, "E2")

    response = admin.post("/employees/E2/edit", dict(form, employee_id=" e1 ", first_name="Changed"))
    assert response.status_code == 409
    assert "Employee ID E1 already exists" in response.text
    assert re.search(r'id="employee_id-error"[^>]*>[^<]*<a href="/employees/E1">', response.text)
    assert response.text.count("already exists") == 1  # at the field only
    assert "Nothing was changed" in response.text
    assert 'value="Changed"' in response.text

    response = admin.post("/employees/E2/edit", dict(form, email="GRACE@example.com", first_name="Changed"))
    assert response.status_code == 409
    assert "Work e-mail grace@example.com already exists" in response.text
    assert 'href="/employees/E1"' in response.text

    assert stored(pg, "E2") == ("E2", "Alan", "Turing", "alan@example.com", "Analyst", "active", 1)
    assert stored(pg, "E1")[1] == "Grace"
    assert audit_rows(pg, "update") == []
    assert valkey.sismember(IDS_KEY, "E2") and valkey.sismember(EMAILS_KEY, "alan@example.com")

    # The guard skips the record's own values: keeping its ID and e-mail is fine.
    assert admin.post("/employees/E2/edit", dict(form, first_name="Alan M.")).status_code == 303


def test_a_taken_id_that_valkey_misses_is_still_refused_by_postgres(admin, pg, valkey):
    add(admin, "E1")
    add(admin, "E2")
    valkey.srem(IDS_KEY, "E1")  # Valkey lost it: the UNIQUE constraint still holds
    form = open_edit(admin, "E2")
    response = admin.post("/employees/E2/edit", dict(form, employee_id="E1"))
    assert response.status_code == 409
    assert "Employee ID E1 already exists" in response.text
    assert stored(pg, "E2") is not None
    assert valkey.sismember(IDS_KEY, "E1")  # repaired


def test_changing_the_id_and_email_moves_them_in_valkey_and_frees_the_old_ones(admin, pg, valkey):
    add(admin, "E1", email="old@example.com")
    form = open_edit(admin, "E1")
    response = admin.post("/employees/E1/edit", dict(form, employee_id="e9", email="new@example.com"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/employees/E9"

    assert pg.execute("SELECT employee_id, email FROM employees").fetchall() == [("E9", "new@example.com")]
    assert valkey.sismember(IDS_KEY, "E9") and not valkey.sismember(IDS_KEY, "E1")
    assert valkey.sismember(EMAILS_KEY, "new@example.com") and not valkey.sismember(EMAILS_KEY, "old@example.com")
    assert admin.get("/employees/E9").status_code == 200
    assert admin.get("/employees/E1").status_code == 404
    check = admin.get("/employees/check-id", params={"employee_id": "e1"})
    assert "E1 is available" in check.text
    own = admin.get("/employees/check-id", params={"employee_id": "e9", "current": "E9"})
    assert "E9 is this record's current ID" in unescape(own.text)
    assert "hx-vals" in admin.get("/employees/E9/edit").text
    add(admin, "E1", email="old@example.com")  # both old values can be used again
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 2


def test_two_concurrent_saves_of_the_same_version_exactly_one_wins(login, pg, database_url):
    first, second = login("admin", "ann"), login("admin", "bob")
    add(first, "E1")
    for round_number in range(3):
        forms = [open_edit(first, "E1"), open_edit(second, "E1")]
        assert forms[0]["version"] == forms[1]["version"] == str(round_number + 1)
        barrier = threading.Barrier(2)
        statuses = [None, None]

        def save(index, client, title):
            barrier.wait()
            statuses[index] = client.post("/employees/E1/edit", dict(forms[index], job_title=title)).status_code

        threads = [threading.Thread(target=save, args=(0, first, f"Ann {round_number}")),
                   threading.Thread(target=save, args=(1, second, f"Bob {round_number}"))]
        # Round 0 forces the worst interleaving: a lock held here on the row
        # lets both saves pass every check and meet only at their UPDATE, so
        # the `WHERE version = ...` alone must refuse one of them.
        blocker = psycopg.connect(database_url) if round_number == 0 else None
        if blocker:
            blocker.execute("SELECT 1 FROM employees WHERE employee_id = 'E1' FOR UPDATE")
        for thread in threads:
            thread.start()
        if blocker:
            try:
                wait_for_waiting_updates(pg, 2)
            finally:  # a failed wait must not leave the saves blocked forever
                blocker.commit()
                blocker.close()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [303, 409], statuses
        winner = f"Ann {round_number}" if statuses[0] == 303 else f"Bob {round_number}"
        assert stored(pg, "E1")[4] == winner
        assert stored(pg, "E1")[-1] == round_number + 2
    updates = audit_rows(pg, "update")
    assert len(updates) == 3  # one per round: the refused saves wrote nothing


def wait_for_waiting_updates(pg, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                             " AND query LIKE 'UPDATE employees%%'").fetchone()[0]
        if waiting >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} UPDATEs waited for the row lock")


def test_the_same_edit_sent_twice_is_saved_once_and_the_second_says_saved_not_conflict(login, pg):
    """A double click on Save, or the form sent again: the second send meets
    the version the first one made, holding the very values typed. That is
    no conflict with someone else: it says saved, and writes nothing more."""
    hr = login("hr")
    add(hr, "E1", phone="+1 555 0100")
    form = dict(open_edit(hr, "E1"), phone="+1 555 0199", location="Lyon")
    first = hr.post("/employees/E1/edit", form)
    second = hr.post("/employees/E1/edit", form)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == "/employees/E1"
    page = unescape(hr.get("/employees/E1").text)
    assert "Employee E1 (Ada Lovelace) is saved: it holds what you typed." in page
    assert pg.execute("SELECT phone, location, version FROM employees").fetchall() == [("+1 555 0199", "Lyon", 2)]
    assert [row[1] for row in audit_rows(pg, "update")] == ["edit"]  # one entry: one change
    # Another value from the same old version is a real conflict, as before.
    third = hr.post("/employees/E1/edit", dict(form, location="Paris"))
    assert third.status_code == 409 and "changed by someone else" in unescape(third.text)


def test_a_stale_save_gets_a_conflict_page_with_both_values_then_can_save_over(login, pg):
    ann, bob = login("admin", "ann"), login("admin", "bob")
    add(ann, "E1", job_title="Analyst", location="London")
    ann_form, bob_form = open_edit(ann, "E1"), open_edit(bob, "E1")
    assert ann.post("/employees/E1/edit", dict(ann_form, job_title="Lead Analyst")).status_code == 303

    response = bob.post("/employees/E1/edit", dict(bob_form, location="Paris"))
    assert response.status_code == 409
    text = response.text
    assert "was changed by someone else" in text and "not</strong> saved" in text
    assert "Edited by ann" in text
    job_row = re.search(r'<tr data-field="job_title"[^>]*>(.*?)</tr>', text, re.S).group(1)
    assert re.search(r'class="opened">Analyst<', job_row)  # what Bob opened
    assert re.search(r'class="stored">Lead Analyst', job_row)  # Ann's value, stored now
    assert "changed by them" in job_row
    location_row = re.search(r'<tr data-field="location"[^>]*>(.*?)</tr>', text, re.S).group(1)
    assert re.search(r'class="stored">London', location_row) and re.search(r'class="typed">Paris', location_row)
    assert stored(pg, "E1")[4] == "Lead Analyst"
    assert pg.execute("SELECT location FROM employees").fetchone() == ("London",)

    # The conflict page's form keeps Bob's change, takes Ann's for the field
    # Bob left alone, and refers to the current version: saving it merges.
    retry = form_values(text)
    assert retry["version"] == "2" and retry["location"] == "Paris" and retry["job_title"] == "Lead Analyst"
    assert bob.post("/employees/E1/edit", retry).status_code == 303
    assert pg.execute("SELECT (SELECT name FROM jobs WHERE jobs.id = job_id), location, version FROM employees").fetchone() == ("Lead Analyst", "Paris", 3)


def test_saving_a_record_that_was_deleted_meanwhile_says_so(login, pg):
    ann, bob = login("admin", "ann"), login("admin", "bob")
    add(ann, "E1")
    bob_form = open_edit(bob, "E1")
    assert ann.submit("/employees/E1/delete", {}).status_code == 400  # no record/version: refused
    assert stored(pg, "E1") is not None
    delete_form = hidden_fields(ann.get("/employees/E1/delete").text)
    assert ann.post("/employees/E1/delete", delete_form).status_code == 303
    response = bob.post("/employees/E1/edit", dict(bob_form, first_name="Bob was here"))
    assert response.status_code == 409
    assert "was deleted" in response.text and "by ann" in response.text
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 0


def test_delete_confirms_then_removes_from_postgres_and_valkey_and_the_id_is_free(admin, pg, valkey):
    add(admin, "E1", first_name="Grace", last_name="Hopper", email="grace@example.com")
    page = admin.get("/employees/E1/delete")
    assert page.status_code == 200
    assert "Delete Grace Hopper (E1)?" in unescape(page.text)
    assert "terminated" in page.text  # the everyday alternative is offered
    assert stored(pg, "E1") is not None  # a GET changes nothing

    response = admin.post("/employees/E1/delete", hidden_fields(page.text))
    assert response.status_code == 303
    assert response.headers["Location"] == "/employees"
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 0
    assert not valkey.sismember(IDS_KEY, "E1") and not valkey.sismember(EMAILS_KEY, "grace@example.com")
    assert admin.get("/employees/E1").status_code == 404
    assert "E1 is available" in admin.get("/employees/check-id", params={"employee_id": "E1"}).text

    deleted = audit_rows(pg, "delete")
    assert len(deleted) == 1
    action, source, employee_id, actor, changes = deleted[0]
    assert (source, employee_id, actor) == ("delete", "E1", "admin-user")
    assert changes["first_name"] == ["Grace", None] and changes["email"] == ["grace@example.com", None]

    add(admin, "E1", first_name="New", last_name="Person", email="grace@example.com")
    assert stored(pg, "E1")[1] == "New"
    assert len(audit_rows(pg, "delete")) == 1  # the old record's history remains


def test_delete_without_csrf_or_with_a_stale_version_deletes_nothing(login, pg):
    ann, bob = login("admin", "ann"), login("admin", "bob")
    add(ann, "E1")
    fields = hidden_fields(ann.get("/employees/E1/delete").text)
    no_csrf = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert ann.post("/employees/E1/delete", no_csrf).status_code == 400
    assert stored(pg, "E1") is not None

    form = open_edit(bob, "E1")
    assert bob.post("/employees/E1/edit", dict(form, job_title="Changed meanwhile")).status_code == 303
    response = ann.post("/employees/E1/delete", fields)
    assert response.status_code == 409
    assert "was changed after you opened this page" in response.text and "Job title" in response.text
    assert stored(pg, "E1") is not None
    # The refreshed confirmation carries the new version: confirming it deletes.
    assert ann.post("/employees/E1/delete", hidden_fields(response.text)).status_code == 303
    assert stored(pg, "E1") is None


def test_hr_edits_a_record_with_the_guard_the_locking_and_the_history_an_admin_has(login, admin, pg):
    add(admin, "E1", first_name="Grace", last_name="Hopper", email="grace@example.com")
    add(admin, "E2", email="taken@example.com")
    hr = login("hr", "hana")
    page = hr.get("/employees/E1").text
    assert 'href="/employees/E1/edit"' in page and "/employees/E1/delete" not in page  # Edit, no Delete
    edit_page = hr.get("/employees/E1/edit")
    assert edit_page.status_code == 200 and "/employees/E1/delete" not in edit_page.text
    form = form_values(edit_page.text)

    taken = hr.post("/employees/E1/edit", dict(form, email="TAKEN@example.com"))
    assert taken.status_code == 409 and 'href="/employees/E2"' in taken.text
    response = hr.post("/employees/E1/edit", dict(form, employee_id="e10", job_title="Rear Admiral",
                                                  hire_date="1943-07-02"))
    assert response.status_code == 303 and response.headers["Location"] == "/employees/E10"
    assert stored(pg, "E10") == ("E10", "Grace", "Hopper", "grace@example.com", "Rear Admiral", "active", 2)
    _, source, employee_id, actor, changes = audit_rows(pg, "update")[0]
    assert (source, employee_id, actor) == ("edit", "E10", "hana")
    assert changes["job_title"] == ["Analyst", "Rear Admiral"] and changes["employee_id"] == ["E1", "E10"]
    history = hr.get("/employees/E10").text
    assert "Employee E10 (Grace Hopper) saved" in history and "Edited" in history and "Rear Admiral" in history

    stale = hr.post("/employees/E10/edit", dict(form, location="Arlington"))  # the form of version 1
    assert stale.status_code == 409 and "was changed by someone else" in stale.text
    assert pg.execute("SELECT location, version FROM employees WHERE employee_id = 'E10'").fetchone() == \
        ("London", 2)


def test_hr_cannot_delete_or_bulk_change(login, admin, pg):
    add(admin, "E1")
    delete_form = hidden_fields(admin.get("/employees/E1/delete").text)
    hr = login("hr")
    token = csrf_token(hr.get("/employees").text)  # a valid token, so only the role decides
    assert hr.get("/employees/E1/delete").status_code == 403
    assert hr.post("/employees/E1/delete", dict(delete_form, csrf_token=token)).status_code == 403
    assert hr.post("/employees", {"csrf_token": token, "ids": "E1", "action": "status",
                                  "status": "terminated"}).status_code == 403
    assert stored(pg, "E1")[1:] == ("Ada", "Lovelace", None, "Analyst", "active", 1)
    assert 'name="ids"' not in hr.get("/employees").text


def test_a_viewer_cannot_edit_delete_or_bulk_change(login, admin, pg):
    add(admin, "E1")
    edit_form, delete_form = open_edit(admin, "E1"), hidden_fields(admin.get("/employees/E1/delete").text)
    viewer = login("viewer")
    token = csrf_token(viewer.get("/employees").text)
    assert viewer.get("/employees/E1/edit").status_code == 403
    assert viewer.get("/employees/E1/delete").status_code == 403
    assert viewer.post("/employees/E1/edit", dict(edit_form, csrf_token=token, first_name="X")).status_code == 403
    assert viewer.post("/employees/E1/delete", dict(delete_form, csrf_token=token)).status_code == 403
    assert viewer.post("/employees", {"csrf_token": token, "ids": "E1", "action": "status",
                                      "status": "terminated"}).status_code == 403
    assert stored(pg, "E1")[1:] == ("Ada", "Lovelace", None, "Analyst", "active", 1)
    page = viewer.get("/employees/E1")
    assert "/employees/E1/edit" not in page.text and "/employees/E1/delete" not in page.text
    assert 'name="ids"' not in viewer.get("/employees").text


def test_anonymous_visitors_are_sent_to_log_in(live_server):
    client = HttpClient(live_server)
    for path in ("/employees/E1/edit", "/employees/E1/delete"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_bulk_actions_change_the_selected_records_each_audited(admin, pg):
    for n in range(1, 5):
        add(admin, f"E{n}", department="Sales")
    page = admin.get("/employees", params={"q": "", "sort": "employee_id"})
    assert page.status_code == 200
    assert page.text.count('name="ids"') == 4 and 'data-select-all' in page.text
    token = csrf_token(page.text)
    next_url = "/employees?sort=employee_id"

    response = admin.post("/employees", {"csrf_token": token, "ids": ["E1", "e2", "E3", "GONE"], "action": "status",
                                         "status": "on_leave", "department": "", "next": next_url})
    assert response.status_code == 303 and response.headers["Location"] == next_url
    flashed = admin.get(next_url).text
    assert "Status set to on leave for 3 employees." in flashed and "1 no longer exists: GONE" in flashed
    assert pg.execute("SELECT employee_id, status, version FROM employees ORDER BY employee_id").fetchall() == [
        ("E1", "on_leave", 2), ("E2", "on_leave", 2), ("E3", "on_leave", 2), ("E4", "active", 1)]

    response = admin.post("/employees", {"csrf_token": token, "ids": ["E2", "E3", "E4"], "action": "department",
                                         "status": "active", "department": " Field  Ops ", "next": "//evil.example"})
    assert response.status_code == 303 and response.headers["Location"] == "/employees"
    assert pg.execute("SELECT count(*) FROM employees e JOIN departments d ON d.id = e.department_id"
                      " WHERE d.name = 'Field Ops'").fetchone()[0] == 3

    response = admin.post("/employees", {"csrf_token": token, "ids": ["E1", "E2"], "action": "status",
                                         "status": "on_leave"})
    assert response.status_code == 303
    assert "Status set to on leave for 0 employees. 2 already had it." in admin.get("/employees").text

    bulk = pg.execute("SELECT employee_id, changes, actor_name FROM audit_log WHERE source = 'bulk'"
                      " AND subject = 'employee' ORDER BY id").fetchall()
    # The department the bulk action added is recorded once, by who ran it.
    assert pg.execute("SELECT subject, entry_name, action, actor_name FROM audit_log WHERE source = 'bulk'"
                      " AND subject <> 'employee'").fetchall() == [("department", "Field Ops", "create", "admin-user")]
    assert [row[0] for row in bulk] == ["E1", "E2", "E3", "E2", "E3", "E4"]
    assert bulk[0][1] == {"status": ["active", "on_leave"]} and bulk[0][2] == "admin-user"
    assert bulk[3][1] == {"department": ["Sales", "Field Ops"]}


def test_bulk_termination_gives_the_last_day_to_those_without_one_and_refuses_what_would_contradict(admin, pg):
    add(admin, "E1", hire_date="2020-01-01")
    add(admin, "E2", hire_date="2020-01-01", status="terminated", termination_date="2025-01-31")
    add(admin, "E3", hire_date="2020-01-01", status="terminated")
    before = date.today().isoformat()
    page = admin.get("/employees").text
    token = csrf_token(page)
    today = date.today().isoformat()
    # The form offers today's date (read around the request: a run may cross midnight), which the admin may change.
    offered = re.search(r'<input[^>]*id="bulk-termination"[^>]*value="([0-9-]+)"', page).group(1)
    assert offered in (before, today)

    def bulk(ids: list[str], status: str, termination_date: str | None) -> str:
        data = {"csrf_token": token, "ids": ids, "action": "status", "status": status}
        if termination_date is not None:
            data["termination_date"] = termination_date
        assert admin.post("/employees", data).status_code == 303
        return unescape(admin.get("/employees").text)

    def last_days() -> list:
        return pg.execute("SELECT employee_id, status, termination_date::text FROM employees ORDER BY 1").fetchall()

    before = last_days()
    for typed, message in (
            (None, "Type the termination date (the last day) to give the selected employees who have none."),
            ("  ", "Type the termination date (the last day)"),
            ("2024-02-30", "Termination date 2024-02-30 is not a date: February 2024 has 29 days."),
            ("2024-01-01\x00", "Termination date contains a control character (U+0000)."),
            ("２０２４-０１-０１", "Termination date ２０２４-０１-０１ is not a date: type it with the digits 0 to 9"),
            ("2024-01-01" * 1024, "Termination date is longer than 64 characters."),
            ("2019-12-31", "E1: Termination date is before the hire date."),
    ):
        flashed = bulk(["E1", "E2", "E3"], "terminated", typed)
        assert message in flashed and "Nothing was changed." in flashed, typed
    assert last_days() == before

    flashed = bulk(["E1", "E2", "E3"], "terminated", "2026-01-15")
    assert ("Status set to terminated for 1 employee. 2 already had it. "
            "Termination date 2026-01-15 given to 2 who had none.") in flashed
    assert last_days() == [("E1", "terminated", "2026-01-15"), ("E2", "terminated", "2025-01-31"),
                           ("E3", "terminated", "2026-01-15")]
    changes = pg.execute("SELECT employee_id, changes FROM audit_log WHERE source = 'bulk' ORDER BY id").fetchall()
    assert changes == [("E1", {"status": ["active", "terminated"], "termination_date": [None, "2026-01-15"]}),
                       ("E3", {"termination_date": [None, "2026-01-15"]})]

    # Back to active with a last day gone by: the list and the headcount
    # would disagree, so nothing changes and the message says what to do.
    flashed = bulk(["E2"], "active", today)
    assert ("E2: Status is active, but the termination date 2025-01-31 has passed: set the status to terminated, "
            "or clear the termination date.") in flashed and "Nothing was changed." in flashed
    assert last_days()[1] == ("E2", "terminated", "2025-01-31")

    # Several that cannot take it: all are named at once, to be fixed in one go.
    flashed = bulk(["E1", "E2", "E3"], "active", today)
    assert "3 of the selected cannot take it. E1: Status is active, but the termination date 2026-01-15" in flashed
    assert "E2: Status is active, but the termination date 2025-01-31" in flashed
    assert "E3: Status is active, but the termination date 2026-01-15" in flashed
    assert "Nothing was changed." in flashed
    assert [row[1] for row in last_days()] == ["terminated", "terminated", "terminated"]


def test_bulk_without_a_selection_or_with_a_bad_value_is_a_message_on_the_list_and_changes_nothing(admin, pg):
    add(admin, "E1")
    token = csrf_token(admin.get("/employees").text)

    def refused(data: dict) -> str:
        """The bulk action goes back to the list, which says why (a flash)."""
        response = admin.post("/employees", {"csrf_token": token, **data})
        assert response.status_code == 303 and response.headers["Location"] == "/employees"
        return admin.get("/employees").text

    assert "Select at least one employee" in refused({"action": "status", "status": "terminated"})
    assert "Status must be one of" in refused({"ids": "E1", "action": "status", "status": "retired"})
    assert "Nothing was changed." in refused({"ids": "E1", "action": "department", "department": " "})
    assert "Nothing was changed." in refused({"ids": "E1", "action": "drop_table"})
    assert admin.post("/employees", {"ids": "E1", "action": "status", "status": "terminated"}).status_code == 400
    assert stored(pg, "E1")[-2:] == ("active", 1)
    assert audit_rows(pg, "update") == []
