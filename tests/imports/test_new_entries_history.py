"""The departments and jobs an import adds are in the History: one entry per
entry it added and kept (source import, its import_id, who uploaded it),
written in the transaction that added it, never one per row; skipped rows,
a refused all-or-nothing import and a dry run leave none."""
import re
import time
from html import unescape

from ..web.test_new_entries_history import created_entries, history_of
from .conftest import csv_bytes, run_upload, upload, import_id_of, wait_for_import

HEADER = ["employee_id", "first_name", "last_name", "department", "job_title"]


def test_an_import_records_each_department_and_job_it_adds_once(login, pg, worker):
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('E000001', 'Ada', 'Before')")
    pg.execute("INSERT INTO departments (name) VALUES ('Known')")
    hr, admin = login("hr", "hana"), login("admin", "ann")
    # 12,000 rows in three batches; each batch names Sales (in any case),
    # its own department and Known (already in the list); one row is a
    # duplicate (its department, Phantom, is not added).
    rows = [HEADER, ["E000001", "Ada", "Again", "Phantom", "Phantom Job"]]
    for n in range(2, 12_001):
        batch = (n - 1) // 5_000
        department = ("Sales " if n % 2 else "SALES", f"Region {batch}", "Known")[n % 3]
        rows.append([f"E{n:06}", "Grace", f"Hopper{n}", department, "Clerk" if n % 5 else ""])
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert (result["status"], result["inserted"], result["duplicates"]) == ("done", 11_999, 1), result
    entries = created_entries(pg)
    sales_name, sales = pg.execute("SELECT name, id FROM departments WHERE lower(name) = 'sales'").fetchone()
    assert sorted((subject, name) for subject, name, *_ in entries) == [
        ("department", "Region 0"), ("department", "Region 1"), ("department", "Region 2"),
        ("department", sales_name), ("job", "Clerk")]
    assert {(source, actor, entry_import, tuple(changes)) for _, _, source, actor, entry_import, changes in entries} \
        == {("import", "hana", import_id, ("name",))}
    assert pg.execute("SELECT count(*) FROM departments WHERE name IN ('Phantom', 'Known')").fetchone()[0] == 1

    summary = "11,999 inserted + 1 duplicate + 0 invalid = 12,000 of 12,000 rows read."
    assert summary in hr.get(f"/imports/{import_id}").text
    # The entry's page: added by the import (a link to it), by whom.
    history = history_of(admin, "departments", sales)
    assert f"hana Added by import #{import_id}" in history
    assert f'href="/imports/{import_id}"' in admin.get(f"/departments/{sales}").text
    page = unescape(admin.get("/admin/audit", params={"subject": "job"}).text)
    assert "Clerk" in page and f"import #{import_id}" in page and "Region 0" not in page


def test_an_import_that_stores_nothing_leaves_no_entry_and_no_history(login, pg, worker):
    hr = login("hr", "hana")
    good = [HEADER, ["E1", "Ada", "Lovelace", "Rolled Back", "Rolled Job"]]
    # all or nothing, refused by its invalid row; a dry run: both roll back.
    bad = good + [["E2", "Grace", "", "Rolled Back Too", ""]]
    _, refused = run_upload(hr, pg, csv_bytes(bad), mode="all_or_nothing")
    _, checked = run_upload(hr, pg, csv_bytes(good), mode="dry_run")
    assert (refused["status"], checked["status"]) == ("refused", "checked")
    assert created_entries(pg) == []
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 0
    assert pg.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    # All or nothing that goes through records them.
    import_id, done = run_upload(hr, pg, csv_bytes(good), mode="all_or_nothing")
    assert done["status"] == "done"
    assert created_entries(pg) == [
        ("department", "Rolled Back", "import", "hana", import_id, {"name": [None, "Rolled Back"]}),
        ("job", "Rolled Job", "import", "hana", import_id, {"name": [None, "Rolled Job"]})]


def test_an_import_that_updates_records_records_the_departments_its_updates_add(login, pg, worker):
    admin = login("admin", "ann")
    first, _ = run_upload(admin, pg, csv_bytes([HEADER, ["E1", "Ada", "Lovelace", "Sales", ""]]))
    response = upload(admin, csv_bytes([HEADER, ["E1", "Ada", "Lovelace", "Research", ""]]), on_existing="update")
    second = import_id_of(response)
    assert wait_for_import(pg, second)["updated"] == 1
    assert [(name, source, entry_import) for _, name, source, _, entry_import, _ in created_entries(pg)] == [
        ("Sales", "import", first), ("Research", "import", second)]


def test_an_import_from_the_command_line_records_its_entries(app, pg, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([HEADER, ["E1", "Ada", "Lovelace", "Finance", "Clerk"]]))
    result = app.test_cli_runner().invoke(args=["import-csv", str(path)])
    assert result.exit_code == 0, result.output
    import_id = int(re.search(r"#(\d+)", result.output).group(1))
    assert created_entries(pg) == [
        ("department", "Finance", "import", None, import_id, {"name": [None, "Finance"]}),
        ("job", "Clerk", "import", None, import_id, {"name": [None, "Clerk"]})]


def test_an_import_that_waits_on_another_creator_does_not_record_its_entry(login, pg, database_url, worker):
    """Another transaction has inserted "Held" and not committed (a form
    mid-way): the import's INSERT ... ON CONFLICT waits, then does nothing
    once it commits; the import records only the department it created."""
    import psycopg

    hr = login("hr", "hana")
    with psycopg.connect(database_url) as other:
        other.execute("INSERT INTO departments (name) VALUES ('Held')")
        import_id = import_id_of(upload(hr, csv_bytes([HEADER, ["E1", "Ada", "Lovelace", "HELD", ""],
                                                       ["E2", "Grace", "Hopper", "Mine", ""]])))
        waiting = 0
        for _ in range(200):
            waiting = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                 " AND query LIKE 'INSERT INTO %departments%'").fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        assert waiting == 1
        other.commit()
    assert wait_for_import(pg, import_id)["inserted"] == 2
    assert [(name, source, entry_import) for _, name, source, _, entry_import, _ in created_entries(pg)] == [
        ("Mine", "import", import_id)]


def test_an_xlsx_import_records_its_entries_and_hostile_names_add_none(login, pg, worker):
    import io

    from openpyxl import Workbook

    hr = login("hr", "hana")
    book = Workbook()
    sheet = book.active
    for row in [HEADER, ["E1", "Ada", "Lovelace", "Finance", "Clerk"], ["E2", "Grace", "Hopper", "finance", "clerk"]]:
        sheet.append(row)
    content = io.BytesIO()
    book.save(content)
    import_id, result = run_upload(hr, pg, content.getvalue(), filename="staff.xlsx")
    assert result["inserted"] == 2, result
    assert [(name, source, entry_import) for _, name, source, _, entry_import, _ in created_entries(pg)] == [
        ("Finance", "import", import_id), ("Clerk", "import", import_id)]

    # Rows whose department the rules refuse are invalid: nothing added, nothing recorded.
    hostile = [HEADER] + [[f"H{n}", "Eve", "Mallory", name, ""] for n, name in enumerate(
        ["Sales\x00", "Sa\u200bles", "Sales\u202e", "Sa\u00adles", "S" * 5_000])]
    _, refused = run_upload(hr, pg, csv_bytes(hostile))
    assert (refused["status"], refused["inserted"], refused["invalid"]) == ("done", 0, 5), refused
    # A cell past a spreadsheet's limit: the whole file is refused (413).
    huge = upload(hr, csv_bytes([HEADER, ["H9", "Eve", "Mallory", "S" * 40_000, ""]]))
    assert huge.status_code == 413
    assert len(created_entries(pg)) == 2
    assert pg.execute("SELECT count(*) FROM departments").fetchone()[0] == 1


def test_an_import_puts_full_width_names_in_the_same_department_and_refuses_look_alikes(login, pg, worker):
    """The import's rule is the form's: ＦＩＮＡＮＣＥ is Finance, a Cyrillic а in
    Finаnce makes its row invalid (said at the field, downloadable), and
    neither adds a department."""
    hr = login("hr", "hana")
    rows = [HEADER, ["E1", "Ada", "Lovelace", "Finance", ""],
            ["E2", "Grace", "Hopper", "\uff26\uff29\uff2e\uff21\uff2e\uff23\uff25", ""],
            ["E3", "Eve", "Mallory", "Fin\u0430nce", ""]]
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert (result["inserted"], result["invalid"]) == (2, 1), result
    assert pg.execute("SELECT name FROM departments").fetchall() == [("Finance",)]
    assert pg.execute("SELECT count(*) FROM employees WHERE department_id IS NOT NULL").fetchone()[0] == 2
    field, reason = pg.execute("SELECT field, error FROM import_rejections WHERE import_id = %s", (import_id,)).fetchone()
    assert field == "department" and "mixes letters of different scripts (Cyrillic and Latin)" in reason
    assert [name for _, name, *_ in created_entries(pg)] == ["Finance"]


def test_the_import_page_names_the_departments_and_jobs_it_added(login, pg, worker):
    """HR sees what else the file changed: the new departments and jobs,
    linked, the first 20 of each by name and how many more; escaped; one
    deleted since is named as it was added, without a link."""
    pg.execute("INSERT INTO departments (name) VALUES ('Known')")
    hr = login("hr", "hana")
    departments = [f"Region {n:02}" for n in range(24)] + ["<b>Sales & Co</b>", "Known"]
    rows = [HEADER] + [[f"E{n}", "Ada", f"Lovelace{n}", name, "Clerk" if n == 0 else ""]
                       for n, name in enumerate(departments)]
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert result["inserted"] == 26, result
    region_03 = pg.execute("SELECT id FROM departments WHERE name = 'Region 03'").fetchone()[0]
    pg.execute("DELETE FROM employees WHERE employee_id = 'E3'")
    pg.execute("DELETE FROM departments WHERE id = %s", (region_03,))

    for path in (f"/imports/{import_id}", f"/imports/{import_id}/progress"):
        page = hr.get(path).text
        said = re.search(r'<p id="added-departments">(.*?)</p>', page, re.S).group(1)
        text = " ".join(unescape(re.sub(r"<[^>]+>", "", said)).split())
        # 25 added (Known was there): by name, <b>Sales... sorts first; the first 20 shown.
        assert text.startswith("New departments (25): <b>Sales & Co</b>, Region 00, Region 01, Region 02, "
                               "Region 03 (deleted since), Region 04,"), text
        assert text.endswith("Region 18 and 5 more."), text
        assert "&lt;b&gt;Sales &amp; Co&lt;/b&gt;" in said and "<b>" not in said
        assert f'href="/departments/{region_03}"' not in said and said.count('href="/departments/') == 19
        job = re.search(r'<p id="added-jobs">(.*?)</p>', page, re.S).group(1)
        assert " ".join(re.sub(r"<[^>]+>", "", job).split()) == "New job (1): Clerk."

    # An import that adds nothing names nothing.
    again, _ = run_upload(hr, pg, csv_bytes([HEADER, ["E100", "Grace", "Hopper", "Known", "Clerk"]]))
    page = hr.get(f"/imports/{again}").text
    assert 'id="added-departments"' not in page and 'id="added-jobs"' not in page
