"""`flask --app employee_app push FILE --url URL --token-stdin`: the client
run in its own process against the suite's gunicorn, PostgreSQL and Valkey
(through a relay for the network failures); what it stored is read back
from the table, what it refused from its refused file."""
import time

import openpyxl
import pytest

from ..push_helpers import HEADER, Relay, person, read_refused, run_push, stored_ids, write_csv


@pytest.fixture
def hr_token(token_for):
    return token_for("hr")


def post(api, token, record):
    response = api("/employees", token, method="POST", json=record)
    assert response.status_code == 201, response.text


def test_valid_invalid_and_duplicate_rows_the_right_ones_stored_the_others_listed_with_reasons(
        tmp_path, app_env, live_server, hr_token, api, pg):
    post(api, hr_token, person(1))  # already stored: P1 and p1@example.com
    rows = [
        person(2),                                              # row 2: created
        person(1, email="other1@example.com"),                 # row 3: ID held by the stored P1
        person(3, email="P1@Example.com"),                     # row 4: e-mail held by the stored P1
        person(4),                                              # row 5: created
        person(4, email="again4@example.com"),                 # row 6: ID of row 5, earlier in the file
        person(5, email="not an e-mail"),                      # row 7: invalid (the server's rules)
        person(6, hire_date="31/31/2024"),                     # row 8: invalid (the import's date reading)
        person(7, first_name=""),                               # row 9: invalid (required)
        person(8, email="p2@example.com"),                     # row 10: e-mail of row 2
    ]
    path = write_csv(tmp_path / "people.csv", rows)

    # One batch at a time: a value repeated in two batches sent at once goes
    # to whichever the server takes first; in sequence, the earlier row wins.
    code, out, err = run_push(app_env, path, live_server, hr_token, "--batch-size", 3, "--concurrency", 1)

    assert code == 1, (out, err)
    assert stored_ids(pg) == ["P1", "P2", "P4"]
    refused = {int(row["row"]): row for row in read_refused(tmp_path / "people.csv.refused.csv")}
    assert sorted(refused) == [3, 4, 6, 7, 8, 9, 10]
    assert {number: row["refused"] for number, row in refused.items()} == {
        3: "duplicate", 4: "duplicate", 6: "duplicate", 7: "invalid", 8: "invalid", 9: "invalid", 10: "duplicate"}
    # The reasons name the field and who holds the value.
    assert "employee_id" in refused[3]["error"] and "/api/v1/employees/P1" in refused[3]["error"]
    assert "email" in refused[4]["error"] and "/api/v1/employees/P1" in refused[4]["error"]
    assert "row 5" in refused[6]["error"]
    assert "email" in refused[7]["error"] and "hire_date" in refused[8]["error"]
    assert "first_name" in refused[9]["error"]
    # The file's own cells come back, so the file can be fixed and pushed again.
    assert [refused[7][name] for name in HEADER] == [rows[5][name] for name in HEADER]
    assert "9 rows read: 2 created, 4 duplicate, 3 invalid." in out


def test_a_clean_file_exits_0_every_row_stored_once(tmp_path, app_env, live_server, hr_token, pg):
    path = write_csv(tmp_path / "clean.csv", [person(number) for number in range(1, 2501)])
    code, out, err = run_push(app_env, path, live_server, hr_token, "--batch-size", 200, "--concurrency", 4)
    assert code == 0, (out, err)
    assert pg.execute("SELECT count(*), count(DISTINCT employee_id) FROM employees").fetchone() == (2500, 2500)
    assert read_refused(tmp_path / "clean.csv.refused.csv") == []
    assert "2,500 created" in out
    # Not a terminal: plain progress lines, no bar drawing.
    assert "\r" not in err and "rows/s" in err


def test_an_xlsx_file_is_read_like_the_upload_page_reads_it(tmp_path, app_env, live_server, hr_token, pg):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Employee ID", "Full name", "E-mail Address", "Hire date"])
    sheet.append(["X1", "Ada Lovelace", "ada@example.com", "2024-03-01"])
    sheet.append(["X2", "Grace Hopper", "grace@example.com", "15.01.2024"])
    sheet.append(["X3", "Alan Turing", "not-mail", "2024-01-01"])
    path = tmp_path / "people.xlsx"
    book.save(path)

    code, out, err = run_push(app_env, path, live_server, hr_token, "--refused", tmp_path / "out.csv")
    assert code == 1, (out, err)
    assert pg.execute("SELECT employee_id, first_name, last_name, hire_date::text FROM employees "
                      "ORDER BY 1").fetchall() == [("X1", "Ada", "Lovelace", "2024-03-01"),
                                                   ("X2", "Grace", "Hopper", "2024-01-15")]
    [refused] = read_refused(tmp_path / "out.csv")
    assert refused["row"] == "4" and refused["Employee ID"] == "X3" and refused["refused"] == "invalid"


def test_hostile_cells_are_refused_with_a_reason_never_a_server_error(tmp_path, app_env, live_server, hr_token,
                                                                      pg):
    rows = [
        person(1, first_name="Ada\x00"),                  # row 2: a NUL
        person(2, employee_id="P\u200b2"),                # row 3: a zero-width space inside the ID
        person(3, employee_id="Р3"),                      # row 4: a Cyrillic Р, a look-alike of P
        person(4, last_name="x" * 100_000),               # row 5: past the reader's cell limit
        person(5, last_name="y" * 30_000),                # row 6: read, but far too long for a name
        person(6, email="ﬁ@example.com"),                 # row 7: grows when normalised (NFKC "fi")
        person(7),                                        # row 8: fine
    ]
    path = write_csv(tmp_path / "hostile.csv", rows)
    code, out, err = run_push(app_env, path, live_server, hr_token, "--batch-size", 10)
    assert code == 1, (out, err)
    refused = {int(row["row"]): row for row in read_refused(tmp_path / "hostile.csv.refused.csv")}
    assert all(row["refused"] in ("invalid", "duplicate") for row in refused.values()), refused
    assert "unconfirmed" not in out + err and "HTTP 5" not in out + err
    assert {2, 4, 5, 6} <= set(refused), sorted(refused)
    assert "32,767" in refused[5]["error"]
    assert len(refused[5]["last_name"]) <= 32_767  # the refused file stays readable by spreadsheets
    stored = stored_ids(pg)
    assert "P7" in stored and not {"P1", "P4", "P5"} & set(stored)
    # The zero-width space is dropped as the add form drops it, or the row refused: never stored as sent.
    assert all(employee_id.isascii() and employee_id.isprintable() for employee_id in stored), stored
    assert len(stored) + len(refused) == len(rows)


def test_long_records_go_in_smaller_batches_under_the_body_limit(tmp_path, app_env, live_server, hr_token, pg):
    """1,000 records of 3,000-character cells are 3 MB of JSON, more than
    the API's body limit: the client cuts them into smaller batches."""
    rows = [person(number, job_title=f"{number} " + "j" * 3000) for number in range(1, 1001)]
    path = write_csv(tmp_path / "long.csv", rows, [*HEADER, "job_title"])
    code, out, err = run_push(app_env, path, live_server, hr_token)
    refused = read_refused(tmp_path / "long.csv.refused.csv")
    # However the server judges such a title, each row got an answer.
    assert code in (0, 1), (out, err)
    assert all(row["refused"] == "invalid" for row in refused)
    assert len(stored_ids(pg)) + len(refused) == 1000


@pytest.mark.parametrize("role, status", [(None, 401), ("viewer", 403)])
def test_a_bad_token_stops_the_push_at_once_with_a_clear_message(tmp_path, app_env, live_server, token_for, pg,
                                                                 role, status):
    token = token_for(role) if role else "emp_" + "A" * 43
    path = write_csv(tmp_path / "people.csv", [person(number) for number in range(1, 3001)])
    started = time.monotonic()
    code, out, err = run_push(app_env, path, live_server, token, "--batch-size", 100)
    assert code == 2, (out, err)
    assert time.monotonic() - started < 30  # not retried
    assert f"HTTP {status}" in out and "token" in out
    assert token not in out + err
    assert stored_ids(pg) == []


@pytest.mark.parametrize("content, message", [
    ("name;phone\nAda;123\n", "Employee ID"),                          # no ID column
    ("A1,Ada,Lovelace\nA2,Grace,Hopper\n", "header"),                 # no header row
    ("", "empty"),
    ("\x00\x01\x02\x03" * 100, "binary"),
    ("employee_id,first_name,last_name,department_code\nA1,Ada,L,ENG\n", "codes"),
], ids=["no-id", "no-header", "empty", "binary", "codes"])
def test_a_file_that_cannot_be_mapped_exits_2_and_sends_nothing(tmp_path, app_env, live_server, hr_token, pg,
                                                                content, message):
    path = tmp_path / "odd.csv"
    path.write_text(content)
    code, out, err = run_push(app_env, path, live_server, hr_token)
    assert code == 2, (out, err)
    assert message.lower() in err.lower()
    assert stored_ids(pg) == []


def test_usage_errors_exit_2(tmp_path, app_env, live_server, hr_token):
    path = write_csv(tmp_path / "people.csv", [person(1)])
    assert run_push(app_env, path, "ftp://example.com", hr_token)[0] == 2
    assert run_push(app_env, tmp_path / "missing.csv", live_server, hr_token)[0] == 2
    assert run_push(app_env, path, live_server, "not a token")[0] == 2
    assert run_push(app_env, path, live_server, hr_token, "--batch-size", 1001)[0] == 2
    code, _, err = run_push(app_env, path, live_server, hr_token, "--refused", tmp_path / "no-such-dir" / "r.csv")
    assert code == 2 and "cannot be written" in err and "Traceback" not in err


def test_the_token_from_a_file(tmp_path, app_env, live_server, hr_token, pg):
    import subprocess, os, sys

    path = write_csv(tmp_path / "people.csv", [person(1)])
    token_file = tmp_path / "token"
    token_file.write_text(hr_token + "\n")
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "push", str(path), "--url",
                           live_server, "--token-file", str(token_file)], capture_output=True, text=True,
                          env=dict(os.environ, **app_env), timeout=120)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert stored_ids(pg) == ["P1"]


def test_a_server_unreachable_at_first_is_waited_for(tmp_path, app_env, live_server, hr_token, pg):
    path = write_csv(tmp_path / "people.csv", [person(number) for number in range(1, 501)])
    with Relay(live_server, listen_after=3.0) as relay:
        started = time.monotonic()
        code, out, err = run_push(app_env, path, relay.url, hr_token, "--batch-size", 100)
    assert code == 0, (out, err)
    assert time.monotonic() - started >= 3.0
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 500


def test_answers_lost_on_the_way_are_retried_with_the_same_key_never_a_false_duplicate(
        tmp_path, app_env, live_server, hr_token, pg):
    """The server stores the batch, the answer never reaches the client: the
    retry carries the same Idempotency-Key and gets the first answer again,
    so every row is 'created', none 'duplicate', none stored twice."""
    path = write_csv(tmp_path / "people.csv", [person(number) for number in range(1, 401)])
    with Relay(live_server, cut_answers=3) as relay:
        code, out, err = run_push(app_env, path, relay.url, hr_token, "--batch-size", 100, "--concurrency", 2)
    assert relay.cut == 3
    assert code == 0, (out, err)
    assert "400 created, 0 duplicate" in out and "RemoteProtocolError x3" in out
    assert pg.execute("SELECT count(*), count(DISTINCT employee_id) FROM employees").fetchone() == (400, 400)


def test_atomic_batches_store_all_or_nothing(tmp_path, app_env, live_server, hr_token, pg):
    rows = [person(number) for number in range(1, 7)]
    rows[4]["email"] = "broken"  # row 6, in the second batch of three
    path = write_csv(tmp_path / "people.csv", rows)
    code, out, err = run_push(app_env, path, live_server, hr_token, "--batch-size", 3, "--atomic")
    assert code == 1, (out, err)
    assert stored_ids(pg) == ["P1", "P2", "P3"]
    refused = {int(row["row"]): row["refused"] for row in read_refused(tmp_path / "people.csv.refused.csv")}
    assert refused == {5: "not_stored", 6: "invalid", 7: "not_stored"}


@pytest.mark.parametrize("status, headers", [(429, {"Retry-After": "2"}), (503, {"Retry-After": "2"}),
                                             (409, {"Retry-After": "2"})], ids=["429", "503", "409-in-use"])
def test_not_now_answers_are_retried_after_retry_after(tmp_path, app_env, live_server, hr_token, pg, status,
                                                       headers):
    """429 (a rate limit), 503 (a proxy or the app: nothing stored) and the
    409 of a key still in use are waited out, at least Retry-After."""
    path = write_csv(tmp_path / "people.csv", [person(number) for number in range(1, 11)])
    body = {"code": "idempotency_key_in_use"} if status == 409 else {}  # the in-use 409 is told apart by its code
    with Relay(live_server, refuse=(2, status, headers), refuse_body=body) as relay:
        started = time.monotonic()
        code, out, err = run_push(app_env, path, relay.url, hr_token, "--concurrency", 1)
    assert code == 0, (out, err)
    assert time.monotonic() - started >= 4  # two waits of at least 2 s
    assert f"HTTP {status} x2" in out
    assert sorted(stored_ids(pg)) == sorted(f"P{number}" for number in range(1, 11))


def test_a_409_that_is_not_the_key_in_use_is_never_retried(tmp_path, app_env, live_server, hr_token, pg):
    path = write_csv(tmp_path / "people.csv", [person(1)])
    with Relay(live_server, refuse=(5, 409, {})) as relay:
        code, out, err = run_push(app_env, path, relay.url, hr_token)
    assert relay.refused == 1 and "Tries repeated" not in out
    assert code == 3, (out, err)  # an answer the client cannot read as a batch: not confirmed
    assert stored_ids(pg) == []


def test_the_servers_own_rate_limit_is_waited_out_and_every_row_stored_once(tmp_path, app_env, hr_token, pg):
    """End to end with the real limiter (not a relay): a server that allows 2
    requests per 2 seconds. The push of 6 batches meets 429s, waits their
    Retry-After, and stores every row exactly once."""
    from ..conftest import gunicorn_serving

    path = write_csv(tmp_path / "people.csv", [person(number) for number in range(1, 61)])
    with gunicorn_serving(dict(app_env, API_RATE_LIMIT="2 per 2 seconds"), threads=2) as base_url:
        code, out, err = run_push(app_env, path, base_url, hr_token, "--batch-size", 10, "--concurrency", 2)
    assert code == 0, (out, err)
    assert "HTTP 429" in out  # the summary counts the tries the limit refused
    assert pg.execute("SELECT count(*), count(DISTINCT employee_id) FROM employees").fetchone() == (60, 60)
    assert read_refused(tmp_path / "people.csv.refused.csv") == []
