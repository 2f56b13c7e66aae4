"""A department or job that comes into being because an employee named it
(the add form, the edit form, a bulk action) is in the History: one entry
(subject department/job, action create, the path, who), written in the
transaction that created it, only by the request that created it; a refused
name writes none. Its page says "Added with the employee add form" and who;
the History's filter and CSV find it."""
import csv
import io
import re
import threading
from html import unescape

import pytest

from ..helpers import csrf_token, employee
from .test_edit_delete import add, open_edit

COLUMNS = "subject, entry_pk, entry_name, action, source, actor_name, import_id, changes"


def created_entries(pg, subject: str | None = None) -> list[tuple]:
    """(subject, entry_name, source, actor_name, import_id, changes) of every
    list entry's creation, oldest first."""
    where = "subject = %s" if subject else "subject IN ('department', 'job')"
    return pg.execute(f"SELECT subject, entry_name, source, actor_name, import_id, changes FROM audit_log"
                      f" WHERE {where} AND action = 'create' ORDER BY id", (subject,) if subject else ()).fetchall()


def entry_pk(pg, table: str, name: str) -> int:
    return pg.execute(f"SELECT id FROM {table} WHERE name = %s", (name,)).fetchone()[0]


def history_of(client, table: str, pk: int) -> str:
    page = client.get(f"/{table}/{pk}")
    assert page.status_code == 200, page.status_code
    section = page.text[page.text.index('id="history"'):]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", section)).split()).replace(" :", ":")


def test_the_add_form_records_each_new_department_and_job_once(login, pg):
    hr, admin = login("hr", "hana"), login("admin", "ann")
    add(hr, "E1", department="Sales ", job_title="Analyst")
    assert created_entries(pg) == [
        ("department", "Sales", "form", "hana", None, {"name": [None, "Sales"]}),
        ("job", "Analyst", "form", "hana", None, {"name": [None, "Analyst"]})]
    # Naming them again (in any case) creates nothing, so records nothing.
    add(hr, "E2", department="SALES", job_title="analyst")
    assert len(created_entries(pg)) == 2
    sales = entry_pk(pg, "departments", "Sales")
    assert pg.execute("SELECT DISTINCT entry_pk FROM audit_log WHERE subject = 'department'").fetchall() == [(sales,)]

    # The entry's page: who added it, and how.
    history = history_of(admin, "departments", sales)
    assert "hana" in history and "Added with the employee add form" in history and "Name: Sales" in history
    # The History's filter by subject finds it; the CSV says it the same way.
    page = unescape(admin.get("/admin/audit", params={"subject": "department"}).text)
    assert "Added with the employee add form" in page and 'href="/departments/%d"' % sales in page
    assert "Analyst" not in page
    rows = list(csv.DictReader(io.StringIO(
        admin.get("/admin/audit.csv", params={"subject": "job"}).content.decode("utf-8-sig"))))
    assert [(r["actor"], r["subject"], r["list_entry"], r["action"], r["source"], r["field"], r["new_value"])
            for r in rows] == [("hana", "job", "Analyst", "create", "form", "name", "Analyst")]


def test_the_edit_form_and_a_bulk_action_record_the_entries_they_add(login, pg):
    admin = login("admin", "ann")
    add(admin, "E1")
    add(admin, "E2")
    before = len(created_entries(pg))
    form = open_edit(admin, "E1")
    assert admin.post("/employees/E1/edit", dict(form, department="Research", job_title="Chemist")).status_code == 303
    assert created_entries(pg)[before:] == [
        ("department", "Research", "edit", "ann", None, {"name": [None, "Research"]}),
        ("job", "Chemist", "edit", "ann", None, {"name": [None, "Chemist"]})]

    token = csrf_token(admin.get("/employees").text)
    moved = admin.post("/employees", {"csrf_token": token, "ids": ["E1", "E2"], "action": "department",
                                      "department": "Logistics"})
    assert moved.status_code == 303
    assert created_entries(pg)[before + 2:] == [
        ("department", "Logistics", "bulk", "ann", None, {"name": [None, "Logistics"]})]
    logistics = entry_pk(pg, "departments", "Logistics")
    assert "Added by a bulk action on the employee list" in history_of(admin, "departments", logistics)
    # An edit that changes nothing, or names known entries, adds none.
    form = open_edit(admin, "E2")
    assert admin.post("/employees/E2/edit", dict(form, department="research")).status_code == 303
    assert len(created_entries(pg)) == before + 3


def test_a_refused_employee_leaves_neither_its_new_department_nor_an_entry(login, pg):
    admin = login("admin")
    add(admin, "E1")
    before = created_entries(pg)
    # A duplicate ID: the transaction that created "Ghost Department" rolls back.
    assert admin.submit("/employees/new", employee("e1", department="Ghost Department")).status_code == 409
    form = open_edit(admin, "E1")
    assert admin.post("/employees/E1/edit", dict(form, department="Ghost Too", hire_date="2024-02-30")
                      ).status_code == 422
    assert created_entries(pg) == before
    assert pg.execute("SELECT count(*) FROM departments WHERE name LIKE 'Ghost%'").fetchone()[0] == 0


@pytest.mark.parametrize("name, says", [
    ("Sales\x00", "Department contains a control character (U+0000"),
    ("Sa\u200bles", "Department contains an invisible or direction-changing character (U+200B ZERO WIDTH SPACE)"),
    ("Sales\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Sa\u00adles", "U+00AD SOFT HYPHEN"),
    ("S" * 40_000, "Department is longer than 100 characters."),
])
def test_a_hostile_department_is_refused_at_its_field_and_records_nothing(login, pg, name, says):
    admin = login("admin")
    response = admin.submit("/employees/new", employee("E1", department=name))
    assert response.status_code == 422, response.status_code
    assert says in unescape(response.text)
    add(admin, "E1", department="Sales")
    form = open_edit(admin, "E1")
    edited = admin.post("/employees/E1/edit", dict(form, department=name))
    assert edited.status_code == 422 and says in unescape(edited.text)
    assert [row[1] for row in created_entries(pg, "department")] == ["Sales"]
    assert pg.execute("SELECT name FROM departments").fetchall() == [("Sales",)]


def test_a_look_alike_department_is_refused_and_a_full_width_one_is_the_same_department(login, pg):
    """A name that reads as Sales is not a second Sales splitting its
    headcount: full-width letters are the same department, a Cyrillic а in a
    Latin word is refused at the field (as in e-mails), nothing recorded."""
    hr, admin = login("hr", "hana"), login("admin", "ann")
    add(admin, "E1", department="Sales")
    refused = hr.submit("/employees/new", employee("E2", department="S\u0430les"))
    assert refused.status_code == 422
    assert "Department mixes letters of different scripts (Cyrillic and Latin)" in unescape(refused.text)
    add(hr, "E3", department="\uff33\uff21\uff2c\uff25\uff33")
    add(hr, "E4", department="Sales Продажи")  # two languages, word by word: a department of its own
    assert pg.execute("SELECT name FROM departments ORDER BY id").fetchall() == [("Sales",), ("Sales Продажи",)]
    assert pg.execute("SELECT d.name FROM employees e JOIN departments d ON d.id = e.department_id"
                      " WHERE e.employee_id = 'E3'").fetchone() == ("Sales",)
    assert [(row[1], row[3]) for row in created_entries(pg, "department")] == [
        ("Sales", "ann"), ("Sales Продажи", "hana")]
    history = history_of(admin, "departments", entry_pk(pg, "departments", "Sales Продажи"))
    assert "hana" in history and "Added with the employee add form" in history


def test_two_forms_naming_the_same_new_department_at_once_record_it_once(login, pg):
    """Concurrent creators meet in ON CONFLICT DO NOTHING: only the request
    whose INSERT created the entry records it, whichever commits first."""
    clients = [login("hr", f"hr{n}") for n in range(4)]
    for round_ in range(3):
        department = f"Racing {round_}"
        pages = [client.get("/employees/new").text for client in clients]
        start = threading.Barrier(len(clients))
        statuses = [None] * len(clients)

        def send(n: int) -> None:
            data = {"csrf_token": csrf_token(pages[n]), **employee(f"R{round_}-{n}", department=department,
                                                                   job_title=f"Racer {round_}")}
            start.wait()
            statuses[n] = clients[n].post("/employees/new", data).status_code
        threads = [threading.Thread(target=send, args=(n,)) for n in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert statuses == [303] * len(clients), statuses
        for subject, name in (("department", department), ("job", f"Racer {round_}")):
            rows = [row for row in created_entries(pg, subject) if row[1] == name]
            assert len(rows) == 1, rows
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 3


@pytest.mark.parametrize("other_commits", [True, False])
def test_a_form_that_waits_on_another_creator_records_only_if_it_created_the_entry(login, pg, database_url,
                                                                                 other_commits):
    """Another transaction has inserted "Held" and not committed yet (a
    request mid-way): the form's INSERT waits on the unique index. If the
    other commits, the form's INSERT does nothing and records nothing (the
    creator records it); if it rolls back, the form creates it and records it."""
    import psycopg

    hr = login("hr", "hana")
    page = hr.get("/employees/new").text
    answer = {}
    with psycopg.connect(database_url) as other:
        other.execute("INSERT INTO departments (name) VALUES ('Held')")
        sender = threading.Thread(target=lambda: answer.update(response=hr.post(
            "/employees/new", {"csrf_token": csrf_token(page), **employee("E1", department="held")})))
        sender.start()
        waiting = 0
        for _ in range(100):  # until the form's INSERT waits for the other transaction
            waiting = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                 " AND query LIKE 'INSERT INTO departments%'").fetchone()[0]
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting == 1
        other.commit() if other_commits else other.rollback()
    sender.join(30)
    assert answer["response"].status_code == 303
    stored = pg.execute("SELECT d.name FROM employees e JOIN departments d ON d.id = e.department_id").fetchone()
    assert stored == (("Held",) if other_commits else ("held",))
    assert created_entries(pg, "department") == ([] if other_commits else [
        ("department", "held", "form", "hana", None, {"name": [None, "held"]})])
