"""Uploading a CSV: the rows land in PostgreSQL and Valkey, every row accounted for."""
from .conftest import csv_bytes, run_upload

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
    # One history entry for the import; each record carries the import and its row.
    assert pg.execute("SELECT subject, action, source, changes FROM audit_log WHERE import_id = %s",
                      (import_id,)).fetchall() == [("import", "create", "import", {"file": [None, "staff.csv"]})]
    assert pg.execute("SELECT import_id, import_row FROM employees WHERE employee_id = 'E0042'").fetchone() \
        == (import_id, 43)
