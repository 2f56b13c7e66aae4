"""Large imports load in bulk (services/importer/bulk.py): the secondary
indexes are dropped for the load and built after it, the report summaries
fold the import's rows in at its end, rows go straight into employees with
COPY when Valkey vouches for them. What must hold meanwhile and whatever
fails: no duplicate stored, every row accounted for, searches right, the
indexes back exactly as they were, the summaries right, each record's
origin on its page.

The workers here load in bulk from 1,000 rows (IMPORT_BULK_MIN_ROWS). To
hold an import in the middle of its load, a test inserts the department its
later rows name in a transaction it keeps open: the import's
INSERT ... ON CONFLICT of that name waits for it, after committing the
batches before (whose rows are then visible, with the indexes dropped)."""
import re
import time
from contextlib import contextmanager

import psycopg
import pytest

from ..helpers import csrf_token
from ..web.test_edit_delete import add, open_edit
from ..web.test_reports import assert_reports_right
from .conftest import csv_bytes, import_id_of, upload, wait_for_import
from .test_import_faults import counts_match_the_table, no_duplicates_stored, status_badge

BULK = {"IMPORT_BULK_MIN_ROWS": "1000"}
HEADER = ["employee_id", "first_name", "last_name", "email", "department", "hire_date", "status"]
HELD_DEPARTMENT = "Research"
LINK_RE = re.compile(r'href="/employees/([A-Z0-9]+)[?"]')


def people(count: int, start: int = 1, prefix: str = "A", held_from: int | None = None) -> bytes:
    """count employees (IDs prefix000001...), hired over 14 years; from the
    held_from-th row on, in HELD_DEPARTMENT (the others in Sales)."""
    rows = [HEADER]
    for index, n in enumerate(range(start, start + count)):
        department = HELD_DEPARTMENT if held_from is not None and index >= held_from else "Sales"
        rows.append([f"{prefix}{n:06d}", "Ada", f"Name{n}", f"{prefix.lower()}{n}@example.com", department,
                     f"20{10 + n % 14}-{1 + n % 12:02d}-{1 + n % 28:02d}", ("active", "on_leave")[n % 9 == 0]])
    return csv_bytes(rows)


def index_definitions(pg) -> dict[str, str]:
    return dict(pg.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'employees'").fetchall())


def bulk_state(pg) -> tuple[int, int]:
    """(indexes dropped and not yet built, imports whose rows the summaries do not count yet)."""
    return pg.execute("SELECT (SELECT count(*) FROM bulk_load_indexes), (SELECT count(*) FROM bulk_load_rows)"
                      ).fetchone()


def wait_until(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.1)
    return result


@pytest.fixture
def sales(pg):
    """Sales exists; the held department does not."""
    pg.execute("INSERT INTO departments (name) VALUES ('Sales')")


@contextmanager
def held(database_url):
    """While inside: an import that meets HELD_DEPARTMENT waits (see the module's doc)."""
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO departments (name) VALUES (%s)", (HELD_DEPARTMENT,))
        try:
            yield
        finally:
            conn.rollback()


def wait_until_held(pg, import_id: int, committed: int) -> None:
    """The import committed `committed` rows and waits, its indexes dropped."""
    wait_until(lambda: pg.execute("SELECT resume_row >= %s FROM imports WHERE id = %s",
                                  (committed + 1, import_id)).fetchone()[0], "the first batches committed")
    assert bulk_state(pg)[0] > 0, "the import did not drop its indexes"
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (import_id,)).fetchone()[0] == "running"


def listed(client, path: str) -> list[str]:
    page = client.get(path)
    assert page.status_code == 200
    return list(dict.fromkeys(LINK_RE.findall(page.text.split('id="result-count"')[1])))


def test_a_bulk_import_loads_without_the_secondary_indexes_and_puts_them_back_exactly(login, pg, sales,
                                                                                       start_worker, database_url):
    before = index_definitions(pg)
    unique = {name for name, definition in before.items() if "UNIQUE" in definition or name.endswith("_pkey")}
    assert len(before) - len(unique) >= 9
    start_worker(**BULK)
    hr = login("hr")
    add(hr, "F1", first_name="Zebedee", last_name="Formfilled", email="zeb@example.com", department="Sales")
    with held(database_url):
        import_id = import_id_of(upload(hr, people(20_000, held_from=10_000)))
        wait_until_held(pg, import_id, 10_000)
        # Meanwhile: the unique constraints stay, everything else is gone...
        assert set(index_definitions(pg)) == unique
        assert dict(pg.execute("SELECT name, definition FROM bulk_load_indexes").fetchall()) == \
            {name: definition for name, definition in before.items() if name not in unique}
        # ... and a search, a sort, a filter, a count still answer right (slower).
        viewer = login("viewer")
        assert listed(viewer, "/employees?q=zebedee") == ["F1"]
        assert listed(viewer, "/employees?q=A000042") == ["A000042"]
        by_name = [r[0] for r in pg.execute("SELECT employee_id FROM employees ORDER BY last_name, first_name, id"
                                            " LIMIT 50")]
        assert listed(viewer, "/employees") == by_name
        by_hire = [r[0] for r in pg.execute("SELECT employee_id FROM employees ORDER BY"
                                            " coalesce(hire_date, '9999-12-31'), id LIMIT 50")]
        assert listed(viewer, "/employees?sort=hire_date") == by_hire
        on_leave = viewer.get("/employees?status=on_leave").text
        count = pg.execute("SELECT count(*) FROM employees WHERE status = 'on_leave'").fetchone()[0]
        assert f"{count:,} employees" in on_leave.split('id="result-count"')[1][:200]
        # The list, the reports and the home page say that an import is loading.
        for path in ("/employees", "/reports/headcount", "/"):
            notice = wait_until(lambda: 'id="bulk-loading"' in (text := viewer.get(path).text) and text, path, 10)
            assert "searches and sorting are slower" in notice and "the reports count its rows" in notice
        assert f'<a href="/imports/{import_id}">Import #{import_id}</a> is loading' in hr.get("/employees").text
    result = counts_match_the_table(pg, import_id, 20_000)
    assert result["inserted"] == 20_000
    assert index_definitions(pg) == before and bulk_state(pg) == (0, 0)
    assert_reports_right(hr, pg)
    assert 'id="bulk-loading"' not in wait_until(
        lambda: 'id="bulk-loading"' not in (text := hr.get("/employees").text) and text, "the notice gone", 10)


def crash_held_import(hr, pg, start_worker, database_url) -> tuple[int, dict]:
    """A bulk import killed after its first two batches: (its id, the index definitions before)."""
    before = index_definitions(pg)
    crashed = start_worker(**BULK)
    with held(database_url):
        import_id = import_id_of(upload(hr, people(20_000, held_from=10_000)))
        wait_until_held(pg, import_id, 10_000)
        crashed.kill()
    assert bulk_state(pg) == (len(before) - 3, 1), "the dead load left its definitions and its rows to fold"
    return import_id, before


def test_a_bulk_import_killed_midway_gets_its_indexes_back_at_the_next_worker_start(login, pg, sales, start_worker,
                                                                                   database_url):
    hr = login("hr")
    import_id, before = crash_held_import(hr, pg, start_worker, database_url)
    start_worker(**BULK)
    wait_until(lambda: bulk_state(pg) == (0, 0), "the next worker put the indexes back")
    assert index_definitions(pg) == before
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 10_000
    assert_reports_right(hr, pg)  # the committed rows of the dead load are counted

    # The page finds the import dead; running it again adds the rest, in bulk again.
    wait_until(lambda: "failed" in status_badge(hr.get(f"/imports/{import_id}").text), "marked failed", 30)
    page = hr.get(f"/imports/{import_id}").text
    assert hr.post(f"/imports/{import_id}/retry", {"csrf_token": csrf_token(page)}).status_code == 303
    result = counts_match_the_table(pg, import_id, 20_000)
    assert (result["inserted"], result["duplicates"], result["invalid"]) == (20_000, 0, 0)
    assert index_definitions(pg) == before and bulk_state(pg) == (0, 0)
    assert_reports_right(hr, pg)


def test_a_bulk_import_killed_midway_gets_its_indexes_back_when_its_page_finds_it_dead(login, pg, sales,
                                                                                      start_worker, database_url):
    hr = login("hr")
    import_id, before = crash_held_import(hr, pg, start_worker, database_url)
    # No worker runs: the import's page notices the silent heartbeat and
    # puts the table back in the background.
    wait_until(lambda: "failed" in status_badge(hr.get(f"/imports/{import_id}").text), "marked failed", 30)
    wait_until(lambda: bulk_state(pg) == (0, 0), "the page's recovery put the indexes back")
    assert index_definitions(pg) == before
    assert_reports_right(hr, pg)


def test_two_bulk_imports_at_once_never_race_on_the_indexes_nor_store_a_duplicate(login, pg, sales, start_worker,
                                                                                 database_url):
    before = index_definitions(pg)
    start_worker(**BULK)
    start_worker(**BULK)
    hr = login("hr")
    with held(database_url):
        first = import_id_of(upload(hr, people(20_000, held_from=10_000), "first.csv"))
        wait_until_held(pg, first, 10_000)
        # The second takes rows 5,001 to 25,000: half of the first's
        # committed rows, and the 10,000 it has not written yet. The first
        # holds the bulk lock: the second loads as usual, indexes or not.
        second = import_id_of(upload(hr, people(20_000, start=5_001), "second.csv"))
        result = wait_for_import(pg, second, 120)
        assert (result["status"], result["inserted"], result["duplicates"]) == ("done", 15_000, 5_000)
        assert bulk_state(pg) == (len(before) - 3, 1), "the second import built the first one's indexes"
    result = counts_match_the_table(pg, first, 20_000)
    # Its last 10,000 rows were copied after the second import stored them:
    # its COPY met the unique constraint and the rows were explained.
    assert (result["inserted"], result["duplicates"]) == (10_000, 10_000)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 25_000 and no_duplicates_stored(pg)
    assert pg.execute("SELECT error FROM import_rejections WHERE import_id = %s AND row_number = 15000",
                      (first,)).fetchone()[0] == "Employee ID A014999 already exists (Ada Name14999)."
    assert index_definitions(pg) == before and bulk_state(pg) == (0, 0)
    assert_reports_right(hr, pg)


def test_a_row_a_form_stored_between_the_valkey_check_and_the_copy_is_a_duplicate(login, pg, sales, start_worker,
                                                                                 database_url):
    """The import's third batch is checked in Valkey (new) before it waits;
    meanwhile a form stores one of its IDs and another its e-mail. Its
    COPY straight into employees then fails: the batch goes through the
    staging table, those two rows are duplicates, the rest stored."""
    worker = start_worker(**BULK)
    hr = login("hr")
    with held(database_url):
        import_id = import_id_of(upload(hr, people(20_000, held_from=10_000)))
        wait_until_held(pg, import_id, 10_000)
        add(hr, "A010500", first_name="Grace", last_name="Formfilled", email="grace@example.com")
        add(hr, "F2", first_name="Alan", last_name="Formfilled", email="a12000@example.com")
    result = counts_match_the_table(pg, import_id, 20_000)
    assert (result["inserted"], result["duplicates"]) == (19_998, 2)
    rejected = dict(pg.execute("SELECT row_number, error FROM import_rejections WHERE import_id = %s",
                               (import_id,)).fetchall())
    assert rejected == {10_501: "Employee ID A010500 already exists (Grace Formfilled).",
                        12_001: "Work e-mail a12000@example.com already exists (employee F2, Alan Formfilled)."}
    assert pg.execute("SELECT first_name FROM employees WHERE employee_id = 'A010500'").fetchone()[0] == "Grace"
    assert "goes through the staging table (UniqueViolation" in worker.output()
    assert re.search(r"import \d+: 3 batches copied straight in, 1 through the staging table", worker.output())
    assert no_duplicates_stored(pg)


def test_a_record_created_in_bulk_shows_where_it_came_from_and_its_first_values(login, pg, sales, start_worker):
    start_worker(**BULK)
    hr, admin = login("hr", "hana"), login("admin", "ann")
    import_id = import_id_of(upload(hr, people(5_000)))
    assert counts_match_the_table(pg, import_id, 5_000)["inserted"] == 5_000
    # One history entry for the import, none per record.
    assert pg.execute("SELECT subject, actor_name, changes FROM audit_log").fetchall() == \
        [("import", "hana", {"file": [None, "staff.csv"]})]
    form = open_edit(admin, "A000042")
    assert admin.post("/employees/A000042/edit", dict(form, employee_id="A900042", last_name="Renamed",
                                                      job_title="Analyst")).status_code == 303

    history = admin.get("/employees/A900042").text.split('id="history"')[1]
    created = history[history.index("Created by"):]
    assert re.search(rf'Created by\s+<a href="/imports/{import_id}">import #{import_id}</a>, row 43', created)
    assert "<td>hana</td>" in history[:history.index("Created by")].rsplit("<tr>", 1)[1]
    values = dict(re.findall(r'data-field="(\w+)"><span class="change-field">[^<]+</span>:\s*([^<]+?)</li>',
                             created))
    assert values == {"employee_id": "A000042", "first_name": "Ada", "last_name": "Name42",
                      "email": "a42@example.com", "department": "Sales", "hire_date": "2010-07-15",
                      "status": "active"}
    assert "<del>Name42</del>" in history and "<ins>Renamed</ins>" in history  # the edit, with old and new

    # The history page: the import's own entry, also when filtered by one of its records.
    for path in ("/admin/audit", "/admin/audit?employee=A900042", "/admin/audit?subject=employee"):
        page = admin.get(path).text
        assert f'Employees added by <a href="/imports/{import_id}">import #{import_id}</a>' in page, path
    assert "Employees added by" not in admin.get("/admin/audit?subject=department").text


def test_all_or_nothing_loads_in_bulk_too_and_a_refused_one_leaves_the_table_as_it_was(login, pg, sales,
                                                                                        start_worker):
    before = index_definitions(pg)
    start_worker(**BULK)
    hr = login("hr")
    good = import_id_of(upload(hr, people(6_000), "good.csv", mode="all_or_nothing"))
    assert wait_for_import(pg, good)["status"] == "done"
    bad = people(6_000, start=10_001)[:-1] + b"\nA999999,Ada,,nobody@example.com,Sales,2020-01-01,active\n"
    refused = import_id_of(upload(hr, bad, "bad.csv", mode="all_or_nothing"))
    assert wait_for_import(pg, refused)["status"] == "refused"
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 6_000
    assert pg.execute("SELECT count(*) FROM audit_log WHERE import_id = %s", (refused,)).fetchone()[0] == 0
    assert index_definitions(pg) == before and bulk_state(pg) == (0, 0)
    assert_reports_right(hr, pg)


def test_without_valkey_s_word_a_bulk_import_takes_the_staging_table_and_a_dry_run_never_loads_in_bulk(
        login, pg, sales, valkey, start_worker):
    before = index_definitions(pg)
    worker = start_worker(**BULK)
    hr = login("hr")
    dry = import_id_of(upload(hr, people(6_000), "dry.csv", mode="dry_run"))
    assert wait_for_import(pg, dry)["status"] == "checked"
    assert "in bulk" not in worker.output()  # nothing is written: the indexes stay
    # Valkey's sets not ready (being rebuilt, say): it vouches for no batch.
    valkey.delete("employees:index:ready")
    import_id = import_id_of(upload(hr, people(6_000)))
    assert counts_match_the_table(pg, import_id, 6_000)["inserted"] == 6_000
    assert f"import {import_id}: loading about" in worker.output()
    assert re.search(rf"import {import_id}: 0 batches copied straight in, 2 through the staging table",
                     worker.output())
    assert index_definitions(pg) == before and bulk_state(pg) == (0, 0)
    assert_reports_right(hr, pg)


def test_a_bulk_import_that_updates_records_keeps_an_entry_per_update_and_the_reports_right(login, pg, sales,
                                                                                              start_worker):
    before = index_definitions(pg)
    start_worker(**BULK)
    admin = login("admin")
    first = import_id_of(upload(admin, people(3_000)))
    assert counts_match_the_table(pg, first, 3_000)["inserted"] == 3_000
    # Rows 2,001 to 3,000 again, moved to Legal and hired in 2001, and 3,000 new ones.
    rows = people(4_000, start=2_001).decode().splitlines()
    moved = [rows[0]] + [line.replace(",Sales,", ",Legal,").rsplit(",", 2)[0] + ",2001-01-01,active"
                         if int(line.split(",")[0][1:]) <= 3_000 else line for line in rows[1:]]
    second = import_id_of(upload(admin, ("\n".join(moved) + "\n").encode(), "again.csv", on_existing="update"))
    result = wait_for_import(pg, second)
    assert (result["status"], result["inserted"], result["updated"]) == ("done", 3_000, 1_000)
    updates = pg.execute("SELECT count(*), min(changes->'department'->>1), min(changes->'hire_date'->>1)"
                         " FROM audit_log WHERE import_id = %s AND action = 'update'", (second,)).fetchone()
    assert updates == (1_000, "Legal", "2001-01-01")
    assert pg.execute("SELECT count(*) FROM employees e JOIN departments d ON d.id = e.department_id"
                      " WHERE d.name = 'Legal'").fetchone()[0] == 1_000
    assert index_definitions(pg) == before and bulk_state(pg) == (0, 0)
    assert_reports_right(admin, pg)
