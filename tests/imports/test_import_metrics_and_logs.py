"""What the operator sees of an import: its rows by outcome and the queue's
length on /metrics (read from PostgreSQL and Valkey when scraped, so the
workers' work shows wherever they run), and the worker's JSON log lines for
the import carrying the request id of the upload that created it."""
import json
import time

from ..helpers import employee, scrape
from .conftest import csv_bytes, import_id_of, upload, wait_for_import

ROWS = "employee_app_import_rows_total"


def test_rows_by_outcome_the_queue_and_the_workers_lines_carry_the_uploads_request_id(login, pg, start_worker):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1", email="ada@example.com")).status_code == 303
    before = scrape(hr.base_url)
    assert before.value("employee_app_import_queue_length") == 0
    assert all(before.value(ROWS, outcome=outcome) == 0 for outcome in ("inserted", "updated", "duplicate", "invalid"))

    content = csv_bytes([["employee_id", "first_name", "last_name", "email"],
                         ["E10", "Grace", "Hopper", "grace@example.com"],
                         ["E11", "Alan", "Turing", "alan@example.com"],
                         ["e1", "Ada", "Again", "other@example.com"],  # E1 is taken
                         ["bad id!", "Bad", "Row", "bad@example.com"]])
    hr.session.headers["X-Request-ID"] = "upload-trace-42"
    response = upload(hr, content)
    assert response.headers["X-Request-ID"] == "upload-trace-42"
    import_id = import_id_of(response)
    del hr.session.headers["X-Request-ID"]
    assert pg.execute("SELECT request_id FROM imports WHERE id = %s", (import_id,)).fetchone()[0] == "upload-trace-42"
    assert scrape(hr.base_url).value("employee_app_import_queue_length") == 1  # no worker yet

    worker = start_worker(LOG_FORMAT="json")
    assert wait_for_import(pg, import_id)["status"] == "done"
    after = scrape(hr.base_url)
    assert {outcome: after.value(ROWS, outcome=outcome) for outcome in ("inserted", "updated", "duplicate", "invalid")} \
        == {"inserted": 2, "updated": 0, "duplicate": 1, "invalid": 1}
    assert after.value("employee_app_duplicates_refused_total", path="import") == 1
    assert after.value("employee_app_import_queue_length") == 0

    lines = _json_lines(worker, f"import {import_id}: 4 rows read")
    about_it = [line for line in lines if f"import {import_id}" in line["message"]]
    assert len(about_it) >= 2 and all(line.get("request_id") == "upload-trace-42" for line in about_it)
    assert "4 rows read: 2 inserted, 0 updated, 1 duplicates, 1 invalid" in about_it[-1]["message"]


def test_a_dry_run_adds_no_rows_to_the_counts(login, pg, worker):
    hr = login("hr")
    content = csv_bytes([["employee_id", "first_name", "last_name"], ["E20", "Ada", "Lovelace"]])
    import_id = import_id_of(upload(hr, content, mode="dry_run"))
    assert wait_for_import(pg, import_id)["status"] == "checked"
    metrics = scrape(hr.base_url)
    assert metrics.value(ROWS, outcome="inserted") == 0
    assert metrics.has(ROWS, outcome="inserted")


def _json_lines(worker, last_message: str, timeout: float = 10) -> list[dict]:
    """The worker's output, every line one JSON object, once last_message is in it."""
    deadline = time.monotonic() + timeout
    while last_message not in worker.output():
        assert time.monotonic() < deadline, worker.output()[-2000:]
        time.sleep(0.1)
    return [json.loads(line) for line in worker.output().splitlines() if line.strip()]
