"""POST /api/v1/imports, GET /api/v1/imports/<id> and its rejected.csv, over
real HTTP with the suite's gunicorn, PostgreSQL, Valkey and an import worker:
the upload page's path (limits, file checks, automatic mapping, worker) for
programs, answered in JSON."""
import csv
import io
import os
import time

import pytest

from ..imports.conftest import csv_bytes, start_worker, worker  # noqa: F401  (the worker fixtures)
from ..workbooks import write_workbook

HEADER = ["employee_id", "first_name", "last_name", "email"]
FINISHED = ("done", "checked", "refused", "cancelled", "failed")


def upload(api, token, content: bytes, filename: str = "staff.csv", **fields):
    return api("/imports", token, method="POST", files={"file": (filename, content)}, data=fields)


def wait_until_finished(api, token, url: str, timeout: float = 60) -> dict:
    """Poll the import's URL as a program would, until it has finished."""
    deadline = time.monotonic() + timeout
    while True:
        response = api(url, token)
        assert response.status_code == 200, response.text
        state = response.json()
        if state["finished"]:
            return state
        assert time.monotonic() < deadline, f"still {state['state']} after {timeout} s"
        time.sleep(0.1)


def rejected(api, token, state: dict) -> list[list[str]]:
    response = api(state["rejected_csv"], token)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def uploads_left(app_env):
    """The files an upload left in UPLOAD_DIR: a refused one leaves none."""
    before = set(os.listdir(app_env["UPLOAD_DIR"]))
    return lambda: set(os.listdir(app_env["UPLOAD_DIR"])) - before


def count(pg, table: str) -> int:
    return pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_an_upload_is_202_and_runs_to_done_with_counts_that_add_up_and_its_rejected_rows(
        token_for, api, pg, worker):
    token = token_for("hr")
    taken = api("/employees", token, method="POST", json={"employee_id": "E3", "first_name": "Kept",
                                                          "last_name": "Before"})
    assert taken.status_code == 201
    rows = [HEADER, ["E1", "Ada", "Lovelace", "ada@example.com"], ["E2", "Grace", "Hopper", ""],
            ["e3", "Stored", "Already", ""],  # row 4: the record added above
            ["E4", "No", "", ""],  # row 5: no last name
            ["E1", "Twice", "InFile", ""],  # row 6: repeats row 2
            ["E5", "Katherine", "Johnson", "kj@example.com"],
            ["E6", "Nul\x00Byte", "Row", ""]]  # row 8: a stray NUL is a bad cell: its row alone is refused
    response = upload(api, token, csv_bytes(rows))
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert location.endswith(f"/api/v1/imports/{response.json()['id']}")
    assert response.json()["state"] == "queued" and response.json()["url"] == location

    state = wait_until_finished(api, token, location)
    counts = state["counts"]
    assert state["state"] == "done" and state["written"] and state["uploaded_by"] == "api-hr"
    assert (counts["rows_read"], counts["inserted"], counts["duplicates"], counts["invalid"]) == (7, 3, 2, 2)
    assert counts["inserted"] + counts["updated"] + counts["duplicates"] + counts["invalid"] == counts["rows_read"]
    assert state["progress"]["rows_read"] == 7 and state["progress"]["percent"] == 100
    assert state["started_at"] and state["finished_at"] and state["mapping"] == HEADER
    assert sorted(r[0] for r in pg.execute("SELECT employee_id FROM employees")) == ["E1", "E2", "E3", "E5"]

    refused = rejected(api, token, state)
    assert refused[0] == [*HEADER, "row", "error"]
    by_row = {row[4]: row for row in refused[1:]}
    assert set(by_row) == {"4", "5", "6", "8"}
    assert by_row["4"][:4] == ["e3", "Stored", "Already", ""] and "already exists" in by_row["4"][5]
    assert "Last name" in by_row["5"][5] and "row 2" in by_row["6"][5] and by_row["8"][1] == "Nul\ufffdByte"


def test_a_dry_run_counts_and_stores_nothing(token_for, api, pg, worker):
    token = token_for("admin")
    rows = [HEADER, ["E1", "Ada", "Lovelace", ""], ["E2", "Grace", "", ""]]
    response = upload(api, token, csv_bytes(rows), mode="dry_run")
    assert response.status_code == 202, response.text
    state = wait_until_finished(api, token, response.headers["Location"])
    assert state["state"] == "checked" and not state["written"] and state["mode"] == "dry_run"
    assert (state["counts"]["inserted"], state["counts"]["invalid"]) == (1, 1)
    assert state["outcome"].startswith("Dry run: nothing was written.")
    assert count(pg, "employees") == 0


def test_all_or_nothing_with_a_bad_row_stores_nothing_and_update_updates(token_for, api, pg, worker):
    token = token_for("hr")
    rows = [HEADER, ["E1", "Ada", "Lovelace", ""], ["E2", "Grace", "", ""]]
    state = wait_until_finished(api, token, upload(api, token, csv_bytes(rows), mode="all_or_nothing")
                                .headers["Location"])
    assert state["state"] == "refused" and count(pg, "employees") == 0

    rows[2][2] = "Hopper"
    assert wait_until_finished(api, token, upload(api, token, csv_bytes(rows)).headers["Location"])["state"] == "done"
    rows[1][2] = "Byron"  # the same IDs again, one name changed: update (hr may, as on the upload page)
    state = wait_until_finished(api, token, upload(api, token, csv_bytes(rows), on_existing="update")
                                .headers["Location"])
    assert state["on_existing"] == "update" and state["counts"]["updated"] == 2, state  # E1 and E2
    assert pg.execute("SELECT last_name FROM employees WHERE employee_id = 'E1'").fetchone()[0] == "Byron"


def test_a_headerless_file_with_a_mapping_and_a_file_past_2_mb(token_for, api, pg, worker):
    token = token_for("hr")
    headerless = csv_bytes([["E1", "Ada Lovelace", "2024-01-15"], ["E2", "Grace Hopper", "2024-02-01"]])
    response = upload(api, token, headerless, mapping="employee_id, full_name ,hire_date", has_header="false")
    assert response.status_code == 202, response.text
    state = wait_until_finished(api, token, response.headers["Location"])
    assert state["counts"]["inserted"] == 2 and not state["has_header"]
    assert pg.execute("SELECT first_name, last_name, hire_date::text FROM employees WHERE employee_id = 'E2'"
                      ).fetchone() == ("Grace", "Hopper", "2024-02-01")

    # 3 MB (the API's other bodies stop at 2 MiB): a notes column the mapping ignores.
    rows = [["employee_id", "first_name", "last_name", "notes"]] + [
        [f"N{n}", "Note", f"Taker{n}", "x" * 30_000] for n in range(100)]
    content = csv_bytes(rows)
    assert len(content) > 2 * 2**20
    response = upload(api, token, content, mapping="employee_id,first_name,last_name,ignore")
    assert response.status_code == 202, response.text
    assert wait_until_finished(api, token, response.headers["Location"])["counts"]["inserted"] == 100


def test_a_title_above_the_header_is_skipped_and_reported(token_for, api, worker):
    token = token_for("hr")
    titled = csv_bytes([["Staff list, March 2026"], HEADER, ["T1", "Ada", "Lovelace", "t1@example.com"]])
    response = upload(api, token, titled)
    assert response.status_code == 202, response.text
    state = wait_until_finished(api, token, response.headers["Location"])
    assert (state["header_row"], state["counts"]["rows_read"], state["counts"]["inserted"]) == (2, 1, 1)

    # The program says there is no header: nothing is skipped, every row is data.
    response = upload(api, token, titled, mapping="employee_id,first_name,last_name,email", has_header="false")
    state = wait_until_finished(api, token, response.headers["Location"])
    assert (state["header_row"], state["counts"]["rows_read"], state["counts"]["invalid"]) == (0, 3, 2)


def test_columns_that_cannot_be_matched_are_422_with_the_columns_and_nothing_kept(token_for, api, pg, uploads_left):
    token = token_for("hr")
    unknown = csv_bytes([["employee_id", "first_name", "last_name", "Kostenstelle"], ["E1", "Ada", "Lovelace", "7"]])
    response = upload(api, token, unknown)
    assert response.status_code == 422, response.text
    body = response.json()
    assert "Kostenstelle" in body["message"] and "mapping" in body["message"]
    assert [c["suggested"] for c in body["columns"]] == ["employee_id", "first_name", "last_name", "ignore"]
    assert body["columns"][3] == {"column": 4, "letter": "D", "header": "Kostenstelle", "suggested": "ignore"}

    headerless = csv_bytes([["E1", "Ada Lovelace"], ["E2", "Grace Hopper"]])
    response = upload(api, token, headerless)
    assert response.status_code == 422 and "no header row" in response.json()["message"]

    for mapping, says in (("employee_id,full_name", "The file has 4 columns; the mapping names 2"),
                          ("ignore,first_name,last_name,ignore", "every employee needs an ID"),
                          ("employee_id,first_name,last_name,salary", "column 4: salary is not a field"),
                          ("employee_id,employee_id,last_name,ignore", "More than one column")):
        response = upload(api, token, unknown, mapping=mapping)
        assert response.status_code == 422, (mapping, response.text)
        assert says in response.text, (mapping, response.text)
    assert count(pg, "imports") == 0 and not uploads_left()


def test_hostile_files_get_the_upload_pages_refusal_as_json_and_leave_nothing(token_for, api, pg, uploads_left,
                                                                               tmp_path):
    token = token_for("hr")
    bomb = write_workbook(tmp_path / "bomb.xlsx", [b'<row r="1"><c r="A1" t="inlineStr"><is><t>',
                                                   *[b"a" * 2**20] * 300, b'</t></is></c></row>'])
    cases = [
        (b"", "empty.csv", 422, "The file is empty"),
        (b"\x00" * 5000, "nul.csv", 422, "looks like a binary file"),
        (bytes(range(256)) * 64, "photo.csv", 422, "binary file"),
        (b"PK\x03\x04" + b"\x00" * 100, "staff.csv", 422, "not an Excel workbook"),  # a 'CSV' that is a zip
        (b"first_name,last_name\nAda,Lovelace\n", "noid.csv", 422, "no employee_id column"),
        (b"employee_id,first_name\nE1,Ada\n" + b"x" * (2 * 2**20) + b"\n", "long.csv", 413,
         "a row may hold at most 1,048,576"),
        (open(bomb, "rb").read(), "bomb.xlsx", 413, "it looks like a ZIP bomb and is refused"),
        (b"employee_id\n" + b"E1\n" * (7 * 2**20), "huge.csv", 413, "larger than the limit of 20 MB"),
    ]
    for content, name, status, says in cases:
        response = upload(api, token, content, name)
        assert response.status_code == status, (name, response.status_code, response.text[:300])
        assert response.headers["Content-Type"] == "application/json", name
        assert says in response.json()["message"], (name, response.json())
    assert count(pg, "imports") == 0 and not uploads_left()


@pytest.mark.parametrize("fields, files, field", [
    ({"mode": "dry_run\x00"}, None, "mode"),
    ({"mode": "DRY_RUN"}, None, "mode"),
    ({"on_existing": "update\u200b"}, None, "on_existing"),
    ({"has_header": "maybe"}, None, "has_header"),
    ({"mapping": "employee_id\u200b,first_name,last_name"}, None, "mapping"),
    ({"mapping": "employee_id," * 20_000}, None, "mapping"),  # 240,000 characters
    ({"mapping": "ｅｍｐｌｏｙｅｅ_ｉｄ,first_name,last_name"}, None, "mapping"),  # full-width: NFKC would make it a field
    ({"colour": "red"}, None, "colour"),
    ({"mode": ["dry_run", "valid_rows"]}, None, "mode"),
    ({}, {"file": (None, "E1,Ada,Lovelace")}, "file"),  # text, not a file part
    ({"mode": "dry_run"}, {"mode": (None, "dry_run")}, "file"),  # no file part
])
def test_hostile_form_fields_are_422_per_field(token_for, api, pg, fields, files, field):
    content = csv_bytes([HEADER, ["E1", "Ada", "Lovelace", ""]])
    response = api("/imports", token_for("hr"), method="POST", data=fields if files is None else None,
                   files={"file": ("staff.csv", content)} if files is None else files)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"], response.json()
    assert count(pg, "imports") == 0


def test_a_form_field_past_the_forms_memory_limit_is_413(token_for, api, pg):
    response = upload(api, token_for("hr"), csv_bytes([HEADER]), mapping="employee_id," * 50_000)  # 550,000
    assert response.status_code == 413
    assert response.json()["message"] == "A form field other than the file is too large."
    assert count(pg, "imports") == 0


def test_a_hostile_file_name_is_shown_clean(token_for, api, worker):
    token = token_for("hr")
    response = upload(api, token, csv_bytes([HEADER, ["E1", "Ada", "Lovelace", ""]]),
                      "../../etc/\u202eabc\x00\u200bfdp.exe.csv")
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == "abcfdp.exe.csv"
    response = upload(api, token, csv_bytes([HEADER, ["E2", "Ada", "Lovelace", ""]]), "\ufdfa" * 50_000 + ".csv")
    assert response.status_code == 202, response.text  # 50,000 characters that NFKC would make 900,000
    assert len(response.json()["filename"]) == 255


def test_a_body_that_is_not_a_form_is_415_and_a_broken_form_has_no_file(token_for, api):
    token = token_for("hr")
    response = api("/imports", token, method="POST", json={"file": "E1"})
    assert response.status_code == 415 and response.json()["message"].startswith("Send the file as multipart")
    for content_type, body in (("multipart/form-data", b"--x\r\nnot a part"),
                               ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; "
                                                                    b'name="file"; filename="a.csv"\r\n\r\nE1,'),
                               ("multipart/form-data; boundary=" + "b" * 2000, b"\x00" * 1000)):
        response = api("/imports", token, method="POST", data=body, headers={"Content-Type": content_type})
        assert response.status_code == 422 and "file" in response.json()["errors"], (content_type, response.text)


def test_who_sees_which_import(token_for, api, pg, make_user, app):
    hr, other_hr, admin, viewer = (token_for("hr"), token_for("hr", "api-hr-2"), token_for("admin"),
                                   token_for("viewer"))
    content = csv_bytes([HEADER, ["E1", "Ada", "Lovelace", ""]])
    response = upload(api, hr, content, mode="dry_run")
    assert response.status_code == 202
    url = response.headers["Location"]
    # As on the import pages (/imports lists every import to hr and admins):
    # another hr account and an admin see it; a viewer may neither upload nor look.
    for token in (other_hr, admin):
        assert api(url, token).status_code == 200
        assert api(url + "/rejected.csv", token).status_code == 200
    for path, method in ((url, "GET"), (url + "/rejected.csv", "GET"), ("/imports", "POST")):
        refused = api(path, viewer, method=method, files={"file": ("s.csv", content)} if method == "POST" else None)
        assert refused.status_code == 403 and refused.json()["status"] == 403, path
    assert api(url, None).status_code == 401 and "WWW-Authenticate" in api(url, None).headers
    # No such import: 404 in JSON, also past any id a bigint holds (never a 500).
    for missing in ("/imports/999999", "/imports/999999/rejected.csv", "/imports/99999999999999999999999",
                    "/imports/0", "/imports/-1", "/imports/%EF%BC%91"):
        answer = api(missing, admin)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/json", missing


def test_an_upload_resent_with_its_idempotency_key_gets_the_first_import_not_a_second(token_for, api, pg):
    """A client that lost the 202 sends the same file with the same key: it
    gets the first import's answer (no second import, whose rows would all
    come back as duplicates of the first); another file with that key is a
    422, and the key is the token owner's alone."""
    token = token_for("hr")
    content = csv_bytes([HEADER, ["E1", "Ada", "Lovelace", "ada@example.com"]])
    headers = {"Idempotency-Key": "upload-2026-11-27"}
    first = api("/imports", token, method="POST", files={"file": ("staff.csv", content)}, headers=headers)
    assert first.status_code == 202, first.text
    again = api("/imports", token, method="POST", files={"file": ("staff.csv", content)}, headers=headers)
    assert again.status_code == 202 and again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"] and again.json()["id"] == first.json()["id"]
    assert count(pg, "imports") == 1

    other_file = csv_bytes([HEADER, ["E2", "Grace", "Hopper", ""]])
    refused = api("/imports", token, method="POST", files={"file": ("staff.csv", other_file)}, headers=headers)
    assert refused.status_code == 422 and "another request" in refused.json()["message"]
    renamed = api("/imports", token, method="POST", files={"file": ("other.csv", content)}, headers=headers)
    assert renamed.status_code == 422
    other_mode = api("/imports", token, method="POST", files={"file": ("staff.csv", content)},
                     data={"mode": "dry_run"}, headers=headers)
    assert other_mode.status_code == 422
    assert count(pg, "imports") == 1

    someone_else = token_for("admin")
    theirs = api("/imports", someone_else, method="POST", files={"file": ("staff.csv", content)}, headers=headers)
    assert theirs.status_code == 202 and "Idempotency-Replayed" not in theirs.headers
    assert count(pg, "imports") == 2


def test_a_finished_import_names_the_departments_and_jobs_it_added(token_for, api, pg, worker):
    pg.execute("INSERT INTO departments (name) VALUES ('Known')")
    token = token_for("hr")
    header = ["employee_id", "first_name", "last_name", "department", "job_title"]
    rows = [header] + [[f"E{n}", "Ada", f"L{n}", f"Region {n:02}", ""] for n in range(22)]
    rows += [["E100", "Grace", "Hopper", "Known", "Clerk"], ["E101", "Kath", "Johnson", "Finanse", "<i>Clerk</i>"],
             ["E0", "Dup", "Row", "Phantom", "Phantom Job"]]  # a duplicate row adds nothing
    response = upload(api, token, csv_bytes(rows))
    assert response.status_code == 202
    assert (response.json()["added_departments"], response.json()["added_jobs"]) == (None, None)  # not finished
    state = wait_until_finished(api, token, response.headers["Location"])
    assert state["added_departments"] == {"total": 23, "first": ["Finanse"] + [f"Region {n:02}" for n in range(19)]}
    assert state["added_jobs"] == {"total": 2, "first": ["<i>Clerk</i>", "Clerk"]}

    again = wait_until_finished(api, token, upload(api, token, csv_bytes([header, ["E200", "A", "B", "Known", ""]]))
                                .headers["Location"])
    assert again["added_departments"] == {"total": 0, "first": []} and again["added_jobs"]["total"] == 0
