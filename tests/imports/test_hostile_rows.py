"""One bad row is one rejected row, with a reason in words: no input row can
fail its batch or the import, whatever it holds. Real uploads, real worker."""
import csv
import io

from .conftest import csv_bytes, import_id_of, run_upload, upload, wait_for_import

HEADER = ["employee_id", "first_name", "last_name", "email"]
DRIVER_WORDS = ("psycopg", "DETAIL", "violates", "SQLSTATE", "Traceback", "Error:")


def good_rows(count: int, start: int = 1) -> list[list[str]]:
    return [[f"G{n:05d}", "Ada", f"Name{n}", f"g{n}@example.com"] for n in range(start, start + count)]


def rejections(pg, import_id: int) -> dict[int, tuple[str, str]]:
    return {row: (kind, error) for row, kind, error in pg.execute(
        "SELECT row_number, kind, error FROM import_rejections WHERE import_id = %s", (import_id,))}


def assert_in_words(errors) -> None:
    for error in errors:
        assert not any(word in error for word in DRIVER_WORDS), error


def test_values_that_grow_when_normalised_are_rejected_alone(login, pg, worker):
    hr = login("hr")
    rows = [HEADER] + good_rows(11)
    rows.insert(4, ["ß" * 20, "Ada", "Grows", "grows@example.com"])  # "SS" * 20 would be 40 characters
    rows.insert(8, ["B2", "Ada", "Grows", "\u0130" * 245 + "@ex.com"])  # 497 characters lower-cased
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert (result["status"], result["rows_read"], result["inserted"], result["invalid"]) == ("done", 13, 11, 2)
    refused = rejections(pg, import_id)
    assert "U+00DF LATIN SMALL LETTER SHARP S is not allowed" in refused[5][1]
    assert "contains U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE" in refused[9][1]
    assert_in_words(error for _, error in refused.values())


def test_a_nul_byte_after_the_first_64_kb_rejects_its_row_only(login, pg, worker):
    hr = login("hr")
    rows = [HEADER] + good_rows(6_000)
    rows[4_000][2] = "Null\x00Byte"  # far past the 64 KB the upload looks at
    content = csv_bytes(rows)
    assert content.index(b"\x00") > 64 * 1024
    import_id, result = run_upload(hr, pg, content)
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 5_999, 1)
    assert "Last name contains a control character (U+0000)" in rejections(pg, import_id)[4_001][1]
    # The rejected row comes back in rejected.csv, the NUL shown as U+FFFD.
    table = list(csv.reader(io.StringIO(hr.get(f"/imports/{import_id}/rejected.csv").content.decode("utf-8-sig"))))
    assert table[1][:3] == ["G04000", "Ada", "Null\ufffdByte"] and table[1][4] == "4001"


def test_a_row_postgresql_refuses_is_rejected_alone_and_its_values_stay_out_of_the_log(login, pg, start_worker):
    # A rule only the database knows (as a constraint added by a DBA would be):
    # the batch holding the row is split until the row is found.
    pg.execute("ALTER TABLE employees ADD CONSTRAINT ck_test_no_zed CHECK (last_name <> 'Zedsecret')")
    try:
        worker = start_worker()
        hr = login("hr")
        rows = [HEADER] + good_rows(12_000)
        rows[7_777] = ["Z1", "Ada", "Zedsecret", "zed.secret@example.com"]
        import_id, result = run_upload(hr, pg, csv_bytes(rows))
    finally:
        pg.execute("ALTER TABLE employees DROP CONSTRAINT ck_test_no_zed")
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 11_999, 1)
    kind, error = rejections(pg, import_id)[7_778]
    assert kind == "invalid" and error == "The row could not be stored: the database refused its values."
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 11_999
    log = worker.output()
    assert "row 7778 refused by PostgreSQL: CheckViolation (SQLSTATE 23514) on employees, constraint ck_test_no_zed" in log
    assert "zed.secret" not in log and "Zedsecret" not in log


def test_departments_first_named_around_a_refused_row_are_the_ones_each_row_named(login, pg, start_worker):
    # The reader thread writes each row's COPY line with the department ids
    # it knows, a batch or two ahead; a batch split around a refused row
    # forgets the ids it met, and later batches name departments not met
    # yet: every stored row must still have its own department.
    pg.execute("ALTER TABLE employees ADD CONSTRAINT ck_test_no_zed CHECK (last_name <> 'Zedsecret')")
    try:
        start_worker()
        hr = login("hr")
        departments = {1: "Sales", 2: "Research", 3: "Legal", 4: "Research"}  # by 5,000-row batch

        def department(n: int) -> str:
            return departments[(n - 1) // 5_000 + 1] if n % 3 else "Sales"
        rows = [HEADER + ["department"]] + [row + [department(n)] for n, row in enumerate(good_rows(17_000), 1)]
        rows[7_777] = ["Z1", "Ada", "Zedsecret", "zed.secret@example.com", "Research"]
        import_id, result = run_upload(hr, pg, csv_bytes(rows))
    finally:
        pg.execute("ALTER TABLE employees DROP CONSTRAINT ck_test_no_zed")
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 16_999, 1)
    stored = dict(pg.execute("SELECT e.employee_id, d.name FROM employees e JOIN departments d"
                             " ON d.id = e.department_id").fetchall())
    assert stored == {row[0]: row[4] for row in rows[1:] if row[0] != "Z1"}


def test_rejected_csv_guards_the_files_own_header_against_formulas(login, pg, worker):
    hr = login("hr")
    # Each header still names its field (punctuation is ignored), so the file
    # imports without a mapping; each would run as a formula in a spreadsheet.
    header = ["+employee_id", "@first_name", "-last_name", "=email"]
    rows = [header, ["A1", "Ada", "Lovelace", ""], ["A1", "Ada", "Again", ""]]
    import_id, result = run_upload(hr, pg, csv_bytes(rows))
    assert (result["inserted"], result["duplicates"]) == (1, 1)
    text = hr.get(f"/imports/{import_id}/rejected.csv").content.decode("utf-8-sig")
    first_line = next(csv.reader(io.StringIO(text)))
    assert first_line == ["'+employee_id", "'@first_name", "'-last_name", "'=email", "row", "error"]


def test_a_file_name_with_nul_and_direction_characters_is_cleaned_and_nothing_is_left_on_error(login, pg, worker,
                                                                                            app_env):
    import os

    hr = login("hr")
    uploads = app_env["UPLOAD_DIR"]
    kept_before = set(os.listdir(uploads))
    response = upload(hr, csv_bytes([HEADER] + good_rows(3)), filename="../staff\x00\u202efdp.csv")
    import_id = import_id_of(response)
    wait_for_import(pg, import_id)
    assert pg.execute("SELECT filename FROM imports WHERE id = %s", (import_id,)).fetchone()[0] == "stafffdp.csv"
    assert "stafffdp.csv" in hr.get(f"/imports/{import_id}").text
    # A refused upload (here: empty) leaves no file behind, whatever its name.
    refused = upload(hr, b"", filename="\x00empty.csv")
    assert refused.status_code == 400 and "The file is empty" in refused.text
    assert len(set(os.listdir(uploads)) - kept_before) == 1  # only the import above
