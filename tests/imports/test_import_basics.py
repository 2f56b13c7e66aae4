"""Uploading a CSV: the rows land in PostgreSQL and Valkey, every row accounted for."""
from .conftest import csv_bytes, run_upload, upload

HEADER = ["employee_id", "first_name", "last_name", "email", "department", "hire_date"]


def test_a_clean_file_goes_straight_through_and_every_row_is_stored(login, pg, valkey, worker):
    hr = login("hr")
    rows = [HEADER] + [[f"E{n:04d}", "Ada", f"Name{n}", f"p{n}@example.com", "Sales", "2024-01-02"]
                       for n in range(1, 1201)]
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert result["status"] == "done", result
    assert (result["rows_read"], result["inserted"], result["duplicates"], result["invalid"]) == (1200, 1200, 0, 0)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1200
    assert valkey.sismember("employees:ids", "E0042")
    page = hr.get(f"/imports/{import_id}").text
    assert "1,200 of 1,200 rows imported" in page
    # One history entry for the import, and one for the department it added
    # (tests/imports/test_new_entries_history.py), never one per row; each
    # record carries the import and its row.
    assert pg.execute("SELECT subject, action, source, changes FROM audit_log WHERE import_id = %s ORDER BY id",
                      (import_id,)).fetchall() == [("department", "create", "import", {"name": [None, "Sales"]}),
                                                   ("import", "create", "import", {"file": [None, "staff.csv"]})]
    assert pg.execute("SELECT import_id, import_row FROM employees WHERE employee_id = 'E0042'").fetchone() \
        == (import_id, 43)


def test_unnamed_empty_columns_after_the_last_do_not_send_a_file_to_the_mapping(login, pg, worker):
    """Spreadsheets save a few unnamed, empty columns after the last real one
    (",,," at each line's end): nothing there to map, so the file goes
    straight through. An unnamed column holding something still asks."""
    hr = login("hr")
    rows = [HEADER + ["", " ", "\u200b"]] + [
        [f"E{n:04d}", "Ada", f"Name{n}", f"p{n}@example.com", "Sales", "2024-01-02", "", "", ""]
        for n in range(1, 6)]
    import_id, result = run_upload(hr, pg, csv_bytes(rows), "excel-export.csv")
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 5, 0), result
    assert pg.execute("SELECT mapping FROM imports WHERE id = %s", (import_id,)).fetchone()[0] \
        == HEADER + ["ignore"] * 3

    rows[3][7] = "left by someone"  # an unnamed column with a value: the person decides what it is
    response = upload(hr, csv_bytes(rows), "with-a-note.csv")
    assert response.status_code == 303 and response.headers["Location"].endswith("/mapping")
