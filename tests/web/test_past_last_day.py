"""Records still active or on leave after their termination date (the last
day): refused when saved, yet reached without a mistake (a date typed ahead
for someone who gave notice passes) or stored before the rule. The list
filters on them (?attention=past_last_day), the home page counts them and
says what to do, and their page says why the next save will be refused.

The records are put in that state through SQL, as time or legacy data puts
them there: the app would refuse to store them so."""
import importlib.util
import re
from datetime import date, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from ..conftest import ROOT
from ..helpers import PASSWORD, csrf_token
from .test_find_employees import NEXT_RE, PREV_RE, ids_on, walk
from .test_find_employees import count_on_text as count_on

FILTER = {"attention": "past_last_day"}


def days(n: int) -> str:
    """Today plus n days, as stored: read when called, not when the tests
    are collected (a run may cross midnight)."""
    return (date.today() + timedelta(days=n)).isoformat()


def notice(html: str, element_id: str) -> str | None:
    """The text of the note with this id (tags dropped), or None."""
    found = re.search(rf'<div class="flash flash-warning" id="{element_id}" role="note">(.*?)</div>', html, re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", "", found.group(1))).split()) if found else None


@pytest.fixture
def records(pg):
    """Each kind of record once; P1 and P2 are past their last day. Returns
    the Sales department's id and the termination dates stored."""
    sales = pg.execute("INSERT INTO departments (name) VALUES ('Sales') RETURNING id").fetchone()[0]
    rows = [
        ("P1", "Ada", "Past", "active", days(-10)),
        ("P2", "Bo", "Leave", "on_leave", days(-2)),
        ("T0", "Cy", "Today", "active", days(0)),  # the last day itself still counts as employed
        ("F1", "Di", "Notice", "active", days(30)),  # gave notice: leaves in a month
        ("L1", "Ed", "Left", "terminated", days(-10)),
        ("A1", "Flo", "Active", "active", None),
        ("U1", "Gus", "Undated", "terminated", None),
    ]
    for employee_id, first, last, status, last_day in rows:
        pg.execute("INSERT INTO employees (employee_id, first_name, last_name, department_id, hire_date, status,"
                   " termination_date) VALUES (%s, %s, %s, %s, '2020-01-06', %s, %s)",
                   (employee_id, first, last, sales, status, last_day))
    return {"sales": sales, "last_day": {row[0]: row[4] for row in rows}}


def test_the_filter_lists_exactly_those_past_their_last_day(login, records):
    viewer = login("viewer")
    page = viewer.get("/employees", params=FILTER).text
    assert sorted(ids_on(page)) == ["P1", "P2"] and count_on(page) == "2 employees"
    said = notice(page, "attention-filter")
    assert said.startswith("Only employees still active or on leave after their termination date.")
    assert "Set status" not in said and "Edit" not in said  # a viewer is not asked to act
    # The filter is carried by the search form, the sort links and the way to a record and back.
    assert '<input type="hidden" name="attention" value="past_last_day">' in page
    sort_links = re.findall(r'href="(/employees\?[^"]*sort=[^"]*)"', unescape(page))
    assert sort_links and all("attention=past_last_day" in link for link in sort_links)
    record = viewer.get(re.search(r'<td><a href="(/employees/P1\?[^"]+)"', unescape(page)).group(1)).text
    back = re.search(r'<a href="([^"]+)">‹ Back to the list</a>', unescape(record)).group(1)
    assert parse_qs(urlsplit(back).query) == {"attention": ["past_last_day"]}

    # With the other filters and the search, each narrowing the other.
    assert ids_on(viewer.get("/employees", params={**FILTER, "status": "on_leave"}).text) == ["P2"]
    assert ids_on(viewer.get("/employees", params={**FILTER, "status": "terminated"}).text) == []
    assert sorted(ids_on(viewer.get("/employees", params={**FILTER, "department": records["sales"]}).text)) \
        == ["P1", "P2"]
    assert ids_on(viewer.get("/employees", params={**FILTER, "q": "ada"}).text) == ["P1"]

    # Its own link takes the filter away and keeps the others; Clear filters takes all.
    page = unescape(viewer.get("/employees", params={**FILTER, "status": "active"}).text)
    removed = re.search(r'<a href="([^"]+)">Remove this filter</a>', page).group(1)
    assert parse_qs(urlsplit(removed).query) == {"status": ["active"]}
    cleared = re.search(r'<a href="([^"]+)">Clear filters</a>', page).group(1)
    assert urlsplit(cleared).query == ""
    assert sorted(ids_on(viewer.get(removed).text)) == ["A1", "F1", "P1", "T0"]
    assert notice(viewer.get("/employees").text, "attention-filter") is None


def test_hr_and_admin_are_told_how_to_end_their_employment(login, records):
    admin_page = login("admin").get("/employees", params=FILTER).text
    assert "select them, choose Terminated as the new status below and press Set status: each keeps the " \
           "termination date it has." in notice(admin_page, "attention-filter")
    assert 'id="bulk-form"' in admin_page
    hr_said = notice(login("hr").get("/employees", params=FILTER).text, "attention-filter")
    assert "open each one and set the status to Terminated: the termination date stays." in hr_said
    assert "Set status" not in hr_said


def test_the_export_carries_the_filter(login, records):
    hr = login("hr")
    page = unescape(hr.get("/employees", params=FILTER).text)
    link = re.search(r'<a href="([^"]+)"[^>]*>Export CSV</a>', page).group(1)
    assert parse_qs(urlsplit(link).query) == {"attention": ["past_last_day"]}
    exported = hr.get(link).text.splitlines()[1:]
    assert sorted(line.split(",")[0] for line in exported) == ["P1", "P2"]


@pytest.fixture
def many(pg):
    """120 employees past their last day among 2,000 (a quarter of them
    terminated with past dates, some with notice given): several pages."""
    pg.execute("""
        INSERT INTO employees (employee_id, first_name, last_name, hire_date, status, termination_date)
        SELECT 'M' || n, 'Ada', 'Name' || (n % 37), date '2010-01-01' + (n % 3000),
               CASE WHEN n <= 60 THEN 'on_leave' WHEN n <= 120 THEN 'active'
                    WHEN n % 4 = 0 THEN 'terminated' ELSE 'active' END,
               CASE WHEN n <= 120 THEN current_date - 1 - (n % 400)
                    WHEN n % 4 = 0 THEN date '2015-01-01' + (n % 3000)
                    WHEN n % 50 = 1 THEN current_date + 1 + (n % 90) END
        FROM generate_series(1, 2000) AS n""")
    pg.execute("ANALYZE employees")
    return [f"M{n}" for n in range(1, 121)]


def test_the_filter_counts_and_pages_through_every_one_once(login, many):
    viewer = login("viewer")
    first = viewer.get("/employees", params=FILTER).text
    assert count_on(first) == "Showing 1–50 of 120 employees"
    forward = walk(viewer, "/employees", FILTER)
    assert sorted(forward) == sorted(many) and len(forward) == 120
    for sort in ("employee_id", "hire_date", "status"):
        for direction in ("asc", "desc"):
            assert sorted(walk(viewer, "/employees", {**FILTER, "sort": sort, "dir": direction})) == sorted(many)
    # The last page, and back.
    response = viewer.get("/employees", params=FILTER)
    for _ in range(2):
        response = viewer.get(unescape(NEXT_RE.search(response.text).group(1)))
    assert count_on(response.text) == "Showing 101–120 of 120 employees" and not NEXT_RE.search(response.text)
    back = viewer.get(unescape(PREV_RE.search(response.text).group(1)))
    assert count_on(back.text) == "Showing 51–100 of 120 employees" and ids_on(back.text) == forward[50:100]


def test_the_list_reads_the_partial_index_not_the_whole_table(app, pg, many):
    """The list's condition is the expression migration 0017 indexes, with
    statistics: the planner reads the few rows from that index rather than
    walking the name index through every employee (which it would, misled
    by the status and the date taken apart)."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from employee_app.models import Employee
    from employee_app.services.employees import past_last_day_condition

    pg.execute("""
        INSERT INTO employees (employee_id, first_name, last_name, status, termination_date)
        SELECT 'Z' || n, 'Ada', 'Bulk', CASE WHEN n % 4 = 0 THEN 'terminated' ELSE 'active' END,
               CASE WHEN n % 4 = 0 THEN date '2015-01-01' + (n % 3000) END
        FROM generate_series(1, 20000) AS n""")
    pg.execute("ANALYZE employees")
    query = (select(Employee.id).where(past_last_day_condition(date.today()))
             .order_by(Employee.last_name, Employee.first_name, Employee.id).limit(51))
    statement = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = "\n".join(row[0] for row in pg.execute(f"EXPLAIN {statement}").fetchall())
    assert "ix_employees_past_last_day" in plan and "ix_employees_name" not in plan, plan
    count = pg.execute(f"EXPLAIN SELECT count(*) FROM ({statement.replace('LIMIT 51', '')}) AS matches").fetchall()
    assert "ix_employees_past_last_day" in "\n".join(row[0] for row in count)


# --- the home page ---------------------------------------------------------------

def test_the_home_page_counts_them_and_leads_to_the_list(login, records):
    said = {role: notice(login(role).get("/").text, "past-last-day") for role in ("admin", "hr", "viewer")}
    for text_ in said.values():
        assert text_.startswith("2 employees are still active or on leave after their termination date. The "
                                "headcount no longer counts them, yet the list shows them as employed. "
                                "Show them on the list")
    assert "select them on that list and set their status to Terminated in one step" in said["admin"]
    assert "open each one and set the status to Terminated: the termination date stays." in said["hr"]
    assert "Set status" not in said["hr"]
    assert "Terminated" not in said["viewer"]  # told what is, not asked to act

    page = login("viewer").get("/").text
    link = re.search(r'id="past-last-day" role="note">.*?<a href="([^"]+)">Show them on the list</a>', page,
                     re.S).group(1)
    assert unescape(link) == "/employees?attention=past_last_day"
    assert sorted(ids_on(login("viewer").get(unescape(link)).text)) == ["P1", "P2"]


def test_the_home_page_says_nothing_when_there_are_none_and_one_is_one(login, pg, records):
    viewer = login("viewer")
    pg.execute("UPDATE employees SET status = 'terminated' WHERE employee_id = 'P2'")
    assert notice(viewer.get("/").text, "past-last-day").startswith(
        "1 employee is still active or on leave after their termination date")
    pg.execute("UPDATE employees SET termination_date = NULL WHERE employee_id = 'P1'")
    page = viewer.get("/").text
    assert 'id="headcount-total"' in page and notice(page, "past-last-day") is None


def test_the_home_page_count_stops_at_the_filters_cap(app, login, records, monkeypatch):
    """Counted up to FILTER_COUNT_CAP in one statement (the app in this
    process, so that the cap can be lowered)."""
    from employee_app.services import employees

    monkeypatch.setattr(employees, "FILTER_COUNT_CAP", 1)
    with app.app_context():
        assert employees.count_past_last_day(date.today()) == (1, True)
        assert employees.count_past_last_day(date.today() - timedelta(days=5)) == (1, False)  # P1 only, then
    client = app.test_client()
    login("viewer")  # creates the account
    page = client.get("/login").text
    client.post("/login", data={"csrf_token": csrf_token(page), "username": "viewer-user",
                                "password": PASSWORD})
    assert notice(client.get("/").text, "past-last-day").startswith(
        "More than 1 employees are still active or on leave after their termination date.")


def test_terminating_them_from_the_filtered_list_keeps_their_dates_and_clears_the_notice(login, pg, records):
    admin = login("admin")
    list_path = "/employees?attention=past_last_day"
    page = admin.get(list_path).text
    ids = re.findall(r'name="ids" value="([^"]+)"', page)
    assert sorted(ids) == ["P1", "P2"]
    response = admin.post("/employees", {"csrf_token": csrf_token(page), "ids": ids, "action": "status",
                                         "status": "terminated", "termination_date": days(0),
                                         "department": "", "next": list_path})
    assert response.status_code == 303 and response.headers["Location"] == list_path
    after = admin.get(list_path).text
    assert "Status set to terminated for 2 employees." in unescape(after) and "given to" not in after
    assert count_on(after) == "No employees match." and "Remove this filter" in after
    assert pg.execute("SELECT employee_id, status, termination_date::text FROM employees"
                      " WHERE employee_id IN ('P1', 'P2') ORDER BY 1").fetchall() == [
        ("P1", "terminated", records["last_day"]["P1"]), ("P2", "terminated", records["last_day"]["P2"])]
    assert notice(admin.get("/").text, "past-last-day") is None


# --- the record's page ------------------------------------------------------------------

def test_the_record_page_says_why_its_next_save_is_refused(login, records):
    hr = login("hr")
    page = hr.get("/employees/P1").text
    said = notice(page, "past-last-day")
    last_day = records["last_day"]["P1"]
    assert said == (f"Still active after the last day. The termination date, {last_day}, has passed. Set the status "
                    "to Terminated; if they did not leave then, correct or clear the termination date instead. "
                    "Until then no other change to this record can be saved. Edit the record")
    assert re.search(r'<a href="/employees/P1/edit">Edit the record</a>', page)
    assert notice(hr.get("/employees/P2").text, "past-last-day").startswith("Still on leave after the last day.")
    for employee_id in ("T0", "F1", "L1", "A1", "U1"):
        assert notice(hr.get(f"/employees/{employee_id}").text, "past-last-day") is None, employee_id

    viewer_said = notice(login("viewer").get("/employees/P1").text, "past-last-day")
    assert viewer_said.endswith("HR staff need to set the status to Terminated, or correct the termination date.")
    assert "Edit the record" not in viewer_said


def test_the_edit_page_says_it_too_and_a_save_that_fixes_it_takes_the_other_change(login, pg, records):
    hr = login("hr")
    edit = hr.get("/employees/P1/edit").text
    assert "A save that leaves both as they are is refused, whatever else it changes." in \
        notice(edit, "past-last-day")
    assert notice(hr.get("/employees/F1/edit").text, "past-last-day") is None

    data = {"employee_id": "P1", "first_name": "Ada", "last_name": "Past", "department": "Sales",
            "hire_date": "2020-01-06", "termination_date": records["last_day"]["P1"], "status": "active",
            "phone": "+44 20 7946 0000"}
    page = hr.get("/employees/P1/edit").text
    state = {name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', page).group(1)
             for name in ("record", "version", "seen")}
    refused = hr.post("/employees/P1/edit", {"csrf_token": csrf_token(page), **state, **data})
    assert refused.status_code == 422 and "has passed" in unescape(refused.text)
    assert notice(refused.text, "past-last-day") is None  # the Status field says it now
    saved = hr.post("/employees/P1/edit", {"csrf_token": csrf_token(page), **state, **data, "status": "terminated"})
    assert saved.status_code == 303
    assert pg.execute("SELECT status, phone, termination_date::text FROM employees WHERE employee_id = 'P1'"
                      ).fetchone() == ("terminated", "+44 20 7946 0000", records["last_day"]["P1"])
    assert notice(hr.get("/employees/P1").text, "past-last-day") is None


# --- hostile values of the parameter -------------------------------------------------

@pytest.mark.parametrize("value", [
    "%00", "past_last_day%00", "%00past_last_day", "PAST_LAST_DAY", "past_last_day%20", "past-last-day",
    "past_last_d%D0%B0y",  # a Cyrillic "а"
    "%EF%BD%90ast_last_day",  # a full-width "ｐ"
    "past_last_day%E2%80%8B",  # a zero-width space
    "x" * 3000, "1", "%FF%FE",
])
def test_an_unknown_attention_value_shows_the_whole_list_and_says_no_filter_is_on(login, records, value):
    viewer = login("viewer")
    response = viewer.get(f"/employees?attention={value}")
    assert response.status_code == 200, response.status_code
    assert len(ids_on(response.text)) == 7 and notice(response.text, "attention-filter") is None
    assert 'name="attention"' not in response.text and "Clear filters" not in response.text
    assert viewer.get(f"/employees/export.csv?attention={value}").status_code == 403  # a viewer has no export
    hr = login("hr")
    exported = hr.get(f"/employees/export.csv?attention={value}")
    assert exported.status_code == 200 and len(exported.text.splitlines()) == 1 + 7
    record = viewer.get(f"/employees/P1?attention={value}")
    assert record.status_code == 200
    assert viewer.get(f"/employees?attention={value}&attention=past_last_day").status_code == 200


def test_the_first_attention_value_is_the_one_read(login, records):
    viewer = login("viewer")
    page = viewer.get("/employees?attention=past_last_day&attention=nonsense").text
    assert sorted(ids_on(page)) == ["P1", "P2"]


# --- the migration ---------------------------------------------------------------------

def test_migration_0017_downgrades_and_upgrades(app, pg, records):
    """Its downgrade and upgrade run alone, as `flask db downgrade` and
    `flask db upgrade` would, and leave the index and its statistics."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from employee_app.extensions import db

    spec = importlib.util.spec_from_file_location("migration_0017", ROOT / "migrations" / "versions" /
                                                  "0017_past_last_day.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    def present() -> tuple[bool, bool]:
        return (db.session.execute(text("SELECT to_regclass('ix_employees_past_last_day') IS NOT NULL")).scalar(),
                db.session.execute(text("SELECT EXISTS (SELECT 1 FROM pg_statistic_ext"
                                        " WHERE stxname = 'st_employees_last_day_unless_terminated')")).scalar())

    with app.app_context():
        with Operations.context(MigrationContext.configure(db.session.connection())):
            assert present() == (True, True)
            migration.downgrade()
            assert present() == (False, False)
            migration.upgrade()
            assert present() == (True, True)
        db.session.commit()
    assert pg.execute("SELECT count(*) FROM employees WHERE CASE WHEN status <> 'terminated'"
                      " THEN termination_date END < %s", (date.today(),)).fetchone()[0] == 2


def test_the_whole_list_marks_them_beside_their_status(login, records):
    """Without the filter too, in the table and the cards: the list no
    longer calls them employed without a word."""
    page = login("viewer").get("/employees").text
    marked = re.findall(r'<a href="/employees/(\w+)[^"]*">\w+</a></td>(?:(?!</tr>).)*?after last day', page, re.S)
    assert sorted(marked) == ["P1", "P2"]
    assert page.count("after last day</span>") == 4  # each twice: its row and its card
