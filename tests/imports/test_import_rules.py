"""What HR staff's files really look like, and every row accounted for."""
import csv
import io
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook

from .conftest import csv_bytes, run_upload, upload, wait_for_import
from ..helpers import csrf_token, employee

HEADER = ["employee_id", "first_name", "last_name", "email", "department", "hire_date"]


def people(count: int, start: int = 1, prefix: str = "E") -> list[list[str]]:
    return [[f"{prefix}{n:06d}", "Ada", f"Name{n}", f"p{n}@example.com", "Sales", "2024-01-02"]
            for n in range(start, start + count)]


def stored_count(pg) -> int:
    return pg.execute("SELECT count(*) FROM employees").fetchone()[0]


def counts(result: dict) -> tuple:
    return result["rows_read"], result["inserted"], result["duplicates"], result["invalid"]


def rejections(pg, import_id: int) -> dict[int, str]:
    return dict(pg.execute("SELECT row_number, error FROM import_rejections WHERE import_id = %s",
                           (import_id,)).fetchall())


def test_an_excel_style_csv_and_a_windows_1252_file(login, pg, worker):
    hr = login("hr")
    excel = csv_bytes([["Employee ID", "First Name", "Last Name", "E-mail", "Hire Date", "Job Title"],
                       ["e-1", "Zoë", "Brontë", "Zoe@Example.com", "13/02/2024", "Engineer; senior"],
                       ["E-2", "Ada", "Lovelace", "", "2024-02-03", "Analyst\r\nsecond line"],
                       ["E-3", "Alan", "Turing", "", "03/04/2024", ""],
                       ["", "", "", "", "", ""], ["", "", "", "", "", ""]],
                      delimiter=";", line_end="\r\n", bom=True)
    import_id, result = run_upload(hr, pg, excel, "export.csv")
    assert counts(result) == (3, 2, 0, 1), result
    stored = dict((r[0], r[1:]) for r in pg.execute(
        "SELECT employee_id, first_name, email, hire_date::text, (SELECT name FROM jobs WHERE jobs.id = job_id) FROM employees"))
    assert stored["E-1"] == ("Zoë", "zoe@example.com", "2024-02-13", "Engineer; senior")
    assert stored["E-2"][3] == "Analyst second line"  # a cell over two lines, read as one
    assert "ambiguous" in rejections(pg, import_id)[4]  # 03/04/2024: March or April?

    cp1252 = "employee_id;first_name;last_name\r\nW1;Jürgen;Müller\r\nW2;Françoise;Lefèvre\r\n".encode("cp1252")
    _, result = run_upload(hr, pg, cp1252, "windows.csv")
    assert counts(result) == (2, 2, 0, 0)
    assert pg.execute("SELECT first_name, last_name FROM employees WHERE employee_id = 'W1'").fetchone() == \
        ("Jürgen", "Müller")


def test_a_row_still_active_after_its_last_day_is_rejected_with_what_to_do(login, pg, worker):
    """The same rule as the form: status and termination date must agree."""
    rows = [["employee_id", "first_name", "last_name", "hire_date", "status", "termination_date"],
            ["T1", "Ada", "Lovelace", "2020-01-01", "active", "2023-06-30"],
            ["T2", "Alan", "Turing", "2020-01-01", "terminated", "2023-06-30"],
            ["T3", "Grace", "Hopper", "2020-01-01", "on leave", ""],
            ["T4", "Mary", "Jackson", "2020-01-01", "terminated", ""]]
    import_id, result = run_upload(login("hr"), pg, csv_bytes(rows))
    assert counts(result) == (4, 3, 0, 1), result
    assert rejections(pg, import_id) == {2: "Status is active, but the termination date 2023-06-30 has passed: "
                                            "set the status to terminated, or clear the termination date."}


def test_an_xlsx_workbook(login, pg, worker):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["EmployeeNumber", "GivenName", "Surname", "Hire Date", "Email"])
    sheet.append([1042, "Grace", "Hopper", datetime(2020, 5, 17), "grace@example.com"])
    sheet.append([1043.0, "Katherine", "Johnson", "2019-01-07", None])
    sheet.append(["X-9", "", "Nameless", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    hr = login("hr")
    import_id, result = run_upload(hr, pg, buffer.getvalue(), "staff.xlsx")
    assert counts(result) == (3, 2, 0, 1)
    assert pg.execute("SELECT employee_id, hire_date::text FROM employees ORDER BY 1").fetchall() == \
        [("1042", "2020-05-17"), ("1043", "2019-01-07")]
    assert "First name is required" in rejections(pg, import_id)[4]


def test_files_that_cannot_be_imported_are_refused_with_a_reason(login, pg):
    hr = login("hr")
    cases = [
        (b"", "empty.csv", 400, "The file is empty"),
        (b"\r\n\r\n", "blank.csv", 400, "The file is empty"),
        (b"first_name,last_name,email\nAda,Lovelace,a@example.com\n", "noid.csv", 400, "no employee_id column"),
        (bytes(range(256)) * 64, "photo.csv", 400, "binary file"),
        (b"PK\x03\x04" + b"\x00" * 100, "broken.xlsx", 400, "not an Excel workbook"),
    ]
    for content, name, status, message in cases:
        response = upload(hr, content, name)
        assert response.status_code == status, name
        assert message in response.text, name
    too_large = upload(hr, b"employee_id\n" + b"E1\n" * (7 * 1024 * 1024), "huge.csv")  # 21 MB > 20 MB
    assert too_large.status_code == 413 and "larger than the limit of 20 MB" in too_large.text
    assert pg.execute("SELECT count(*) FROM imports").fetchone()[0] == 0


def _zip(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize("content, name, says", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "staff.xls", "Excel 97-2003 workbook (.xls)"),
    ("employee_id\tfirst_name\nE1\tAda\n".encode("utf-16"), "staff.txt", "UTF-16 text"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nemployee_id,first_name\n", "staff.pdf", "PDF document"),
    (b"{\\rtf1\\ansi employee_id}", "staff.rtf", "Word (RTF) document"),
    (b"\xef\xbb\xbf  <!DOCTYPE html><html><table><tr><td>employee_id</td></tr></table>", "staff.xls", "web page"),
    (b"<table><tr><td>E1</td></tr></table>", "export.xls", "web page"),
    (b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>', "x.xml", "XML"),
    (_zip({"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<x/>"}), "staff.ods",
     "OpenDocument file (.ods"),
    (_zip({"word/document.xml": "<x/>"}), "staff.docx", "Word document (.docx)"),
    (_zip({"notes.txt": "hello"}), "staff.zip", "ZIP file but not an Excel workbook"),
], ids=["xls", "utf16", "pdf", "rtf", "html", "html-table", "xml", "ods", "docx", "zip"])
def test_other_kinds_of_file_are_refused_saying_what_they_are_and_what_to_do(login, pg, content, name, says):
    response = upload(login("hr"), content, name)
    assert response.status_code == 400
    assert says in response.text
    assert pg.execute("SELECT count(*) FROM imports").fetchone()[0] == 0


def test_duplicates_inside_the_file_already_stored_and_differing_only_in_case(login, pg, worker):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E000003", email="taken@example.com")).status_code == 303
    rows = [HEADER] + people(6000)
    rows.append(["e000010", "Copy", "OfTen", "other@example.com", "", ""])  # row 6002: ID case differs
    rows.append(["N1", "Mail", "Case", "P20@EXAMPLE.COM", "", ""])  # row 6003: e-mail case differs
    rows.append(["N2", "Holds", "Taken", "TAKEN@example.com", "", ""])  # row 6004: e-mail already stored
    rows.append(["n1", "Again", "Same", "", "", ""])  # row 6005: repeats row 6003 in the same batch
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert counts(result) == (6004, 5999, 5, 0), result
    errors = rejections(pg, import_id)
    assert errors[4] == "Employee ID E000003 already exists (Ada Lovelace)."
    assert errors[6002] == "Employee ID E000010 is also on row 11 of this file."
    assert errors[6003] == "Work e-mail p20@example.com is also on row 21 of this file."
    assert errors[6004].startswith("Work e-mail taken@example.com already exists (employee E000003")
    assert errors[6005] == "Employee ID N1 is also on row 6003 of this file." or "N1" in errors[6005]
    assert stored_count(pg) == 6000
    assert pg.execute("SELECT count(DISTINCT employee_id), count(DISTINCT email) FROM employees").fetchone() \
        == (6000, 6000)


def test_all_or_nothing_and_dry_run_write_nothing(login, pg, worker):
    hr = login("hr")
    bad = [HEADER] + people(300) + [["E999", "No", "Date", "", "", "31/02/2024"]]
    import_id, result = run_upload(hr, pg, csv_bytes(bad), mode="all_or_nothing")
    assert result["status"] == "refused" and counts(result)[0] == 301 and result["invalid"] == 1
    assert rejections(pg, import_id)[302] == "Hire date 31/02/2024 is not a date."
    assert "nothing was written" in hr.get(f"/imports/{import_id}").text
    assert stored_count(pg) == 0 and pg.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0

    _, result = run_upload(hr, pg, csv_bytes([HEADER] + people(300)), mode="dry_run")
    assert result["status"] == "checked" and counts(result) == (300, 300, 0, 0) and stored_count(pg) == 0

    _, result = run_upload(hr, pg, csv_bytes([HEADER] + people(300)), mode="all_or_nothing")
    assert result["status"] == "done" and counts(result) == (300, 300, 0, 0) and stored_count(pg) == 300


def test_rejected_rows_download_fix_and_upload_again(login, pg, worker):
    hr = login("hr")
    rows = [["Employee ID", "Given Name", "Surname", "E-mail"],
            ["A1", "Ada", "Lovelace", "ada@example.com"],
            ["A2", "", "Hopper", "grace@example.com"],
            ["A3", "Alan", "Turing", "not-an-address"],
            ["A1", "Ada", "Again", ""]]
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert counts(result) == (4, 1, 1, 2)
    download = hr.get(f"/imports/{import_id}/rejected.csv")
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert table[0] == ["Employee ID", "Given Name", "Surname", "E-mail", "row", "error"]
    assert [r[4] for r in table[1:]] == ["3", "4", "5"]
    assert "is also on row 2 of this file" in table[3][5]
    # Fix the two invalid rows (the repeat stays a repeat) and send the file back.
    table[1][1] = "Grace"
    table[2][3] = "alan@example.com"
    fixed = csv_bytes(table[:3] + [table[3]])
    _, result = run_upload(hr, pg, fixed, "fixed.csv")
    assert counts(result) == (3, 2, 1, 0)
    assert pg.execute("SELECT employee_id FROM employees ORDER BY 1").fetchall() == [("A1",), ("A2",), ("A3",)]


def test_export_then_import_into_an_empty_database_gives_the_same_records(login, pg, worker):
    hr = login("hr")
    rows = [HEADER + ["phone", "status"]] + [r + ["+1 555 0100", "on_leave"] for r in people(250)]
    rows.append(["F1", "=cmd()", "@Sum", "", "-Minus", "", "", "active"])
    run_upload(hr, pg, csv_bytes(rows))
    columns = "employee_id, first_name, last_name, email, phone, (SELECT name FROM jobs WHERE jobs.id = job_id), hire_date, status"
    before = pg.execute(f"SELECT {columns}, (SELECT name FROM departments d WHERE d.id = department_id)"
                        " FROM employees ORDER BY employee_id").fetchall()
    export = hr.get("/employees/export.csv")
    assert export.status_code == 200
    text = export.content.decode("utf-8-sig")
    assert "'=cmd()" in text and "'@Sum" in text and "'+1 555 0100" in text  # no formula runs
    only_sales = hr.get("/employees/export.csv", params={"q": "name12"}).content.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(only_sales)))) == 1 + 11  # Name12, Name120..Name129

    # An empty database; Valkey still lists the old IDs, which PostgreSQL overrules.
    pg.execute("TRUNCATE employees, departments, audit_log, imports CASCADE")
    _, result = run_upload(hr, pg, export.content, "employees.csv")
    assert result["status"] == "done"
    after = pg.execute(f"SELECT {columns}, (SELECT name FROM departments d WHERE d.id = department_id)"
                       " FROM employees ORDER BY employee_id").fetchall()
    assert after == before


def test_an_admin_can_choose_to_update_existing_records(login, pg, valkey, worker):
    admin = login("admin")
    first = [["employee_id", "first_name", "last_name", "email", "job_title"],
             ["U1", "Ada", "Lovelace", "ada@example.com", "Analyst"],
             ["U2", "Alan", "Turing", "alan@example.com", "Cryptanalyst"]]
    run_upload(admin, pg, csv_bytes(first))
    second = [first[0],
              ["u1", "Ada", "Lovelace", "countess@example.com", "Chief Analyst"],  # changes two fields
              ["U2", "Alan", "Turing", "countess@example.com", "Cryptanalyst"],  # e-mail U1 now holds
              ["U3", "Grace", "Hopper", "", "Rear Admiral"]]
    import_id, result = run_upload(admin, pg, csv_bytes(second), on_existing="update")
    assert (result["rows_read"], result["inserted"], result["updated"], result["duplicates"]) == (3, 1, 1, 1)
    assert pg.execute("SELECT email, (SELECT name FROM jobs WHERE jobs.id = job_id), version FROM employees WHERE employee_id = 'U1'").fetchone() == \
        ("countess@example.com", "Chief Analyst", 2)
    changes = pg.execute("SELECT changes FROM audit_log WHERE action = 'update' AND import_id = %s",
                         (import_id,)).fetchone()[0]
    assert changes == {"email": ["ada@example.com", "countess@example.com"],
                       "job_title": ["Analyst", "Chief Analyst"]}
    assert rejections(pg, import_id)[3] == "Work e-mail countess@example.com is also on row 2 of this file."
    assert valkey.sismember("employees:emails", "countess@example.com")
    assert not valkey.sismember("employees:emails", "ada@example.com")

    # Skipping stays the default: the same rows again are duplicates.
    _, result = run_upload(admin, pg, csv_bytes(second))
    assert (result["inserted"], result["updated"], result["duplicates"]) == (0, 0, 3)


def test_hr_staff_can_choose_to_update_existing_records(login, pg, worker):
    hr = login("hr")
    assert 'name="on_existing" type="radio" value="update"' in hr.get("/imports/new").text
    header = ["employee_id", "first_name", "last_name", "job_title"]
    run_upload(hr, pg, csv_bytes([header, ["H1", "Ada", "Lovelace", "Analyst"]]))
    import_id, result = run_upload(hr, pg, csv_bytes([header, ["H1", "Ada", "Lovelace", "Chief Analyst"]]),
                                   on_existing="update")
    assert (result["status"], result["inserted"], result["updated"], result["duplicates"]) == ("done", 0, 1, 0)
    assert pg.execute("SELECT (SELECT name FROM jobs WHERE jobs.id = job_id) FROM employees WHERE employee_id = 'H1'").fetchone() == ("Chief Analyst",)
    assert pg.execute("SELECT actor_name FROM audit_log WHERE action = 'update' AND import_id = %s",
                      (import_id,)).fetchone() == ("hr-user",)
    page = hr.get(f"/imports/{import_id}").text
    assert "updates that record" in page and 'id="count-updated">1<' in page


def test_a_title_above_the_header_is_skipped_and_said(login, pg, worker):
    """Other HR systems' exports start with a title ("Staff list, March
    2026", a line of who exported it, a blank line) above the header: the
    file still goes straight through, from the header on, and every page
    that shows the import says the title rows were skipped."""
    hr = login("hr")
    rows = [["Staff list, March 2026"], [], ["Exported 2026-03-01 by OrangeHRM", ""], HEADER,
            *people(3), ["E000009", "", "Nameless", "n@example.com", "Sales", "2024-01-02"]]
    import_id, result = run_upload(hr, pg, csv_bytes(rows), "orangehrm.csv")
    assert counts(result) == (4, 3, 0, 1), result
    assert list(rejections(pg, import_id)) == [8]  # the file's own row number, blank line included
    assert "The header is on row 4: the rows above it are a title, and are skipped" \
        in hr.get(f"/imports/{import_id}").text
    rejected = hr.get(f"/imports/{import_id}/rejected.csv").content.decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(rejected))) == HEADER + ["row", "error"]  # ready to fix and upload again

    # A workbook's title merged across the columns, and a department merged down beside its people.
    workbook = Workbook()
    workbook.active.append(["Headcount export"])
    workbook.active.append(HEADER)
    workbook.active.append(["E000100", "Grace", "Hopper", "grace@example.com", "Finance", datetime(2020, 5, 17)])
    workbook.active.append(["E000101", "Alan", "Turing", "alan@example.com", None, datetime(2021, 6, 23)])
    workbook.active.merge_cells("A1:F1")
    workbook.active.merge_cells("E3:E4")
    buffer = io.BytesIO()
    workbook.save(buffer)
    import_id, result = run_upload(hr, pg, buffer.getvalue(), "export.xlsx")
    assert counts(result) == (2, 2, 0, 0), result
    assert pg.execute("SELECT e.employee_id, d.name FROM employees e JOIN departments d ON d.id = e.department_id"
                      " WHERE e.employee_id LIKE 'E0001%' ORDER BY 1").fetchall() \
        == [("E000100", "Finance"), ("E000101", "Finance")]
    assert "The header is on row 2: the rows above it are a title" in hr.get(f"/imports/{import_id}").text


def test_a_title_above_a_header_with_unknown_columns_is_skipped_on_the_mapping_page(login, pg, worker):
    hr = login("hr")
    rows = [["Staff list"], ["Staff ID", "Name", "Mail", "Desk"],
            ["S1", "Ada Lovelace", "ada@example.com", "3.14"]]
    response = upload(hr, csv_bytes(rows), "desks.csv")
    assert response.status_code == 303 and response.headers["Location"].endswith("/mapping")
    page = hr.get(response.headers["Location"]).text
    assert "The header is on row 2: the rows above it are a title" in page
    assert "Staff ID" in page and "Desk" in page and "ada@example.com" in page
    # Confirmed with the desk ignored, it starts from the header too.
    import_id = int(response.headers["Location"].split("/")[-2])
    confirmed = hr.post(response.headers["Location"], data={
        "csrf_token": csrf_token(page), "has_header": "y", "action": "start",
        "column-0": "employee_id", "column-1": "full_name", "column-2": "email", "column-3": "ignore"})
    assert confirmed.status_code == 303, confirmed.text[:300]
    assert counts(wait_for_import(pg, import_id)) == (1, 1, 0, 0)
    assert pg.execute("SELECT first_name, last_name FROM employees WHERE employee_id = 'S1'").fetchone() \
        == ("Ada", "Lovelace")


def test_departments_and_jobs_named_only_by_skipped_rows_are_not_added(login, pg, worker):
    """A row skipped as a duplicate adds nothing, not even its department or
    job to their lists (they showed in the filters and the form's
    suggestions, and lowered the mean of 'Departments above the mean').
    E1 is stored behind Valkey's back, as after a restart before its sets
    are rebuilt: the batch's direct COPY fails on it and the staging
    table's way decides, after the names were resolved."""
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name) VALUES ('E000001', 'Ada', 'Before')")
    rows = [["employee_id", "first_name", "last_name", "department", "job_title"],
            ["E000001", "Ada", "Again", "Phantom Department", "Phantom Job"],
            ["E000002", "Grace", "Hopper", "Kept Department", "Kept Job"],
            ["E000003", "Alan", "Turing", "Kept Department", ""]]
    _, result = run_upload(login("hr"), pg, csv_bytes(rows))
    assert counts(result) == (3, 2, 1, 0), result
    assert pg.execute("SELECT name FROM departments ORDER BY 1").fetchall() == [("Kept Department",)]
    assert pg.execute("SELECT name FROM jobs ORDER BY 1").fetchall() == [("Kept Job",)]
    assert pg.execute("SELECT d.name FROM employees e JOIN departments d ON d.id = e.department_id"
                      " WHERE e.employee_id = 'E000003'").fetchone() == ("Kept Department",)
