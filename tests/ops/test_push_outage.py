"""PostgreSQL stopped for a few seconds in the middle of a push: the client
retries the batches refused with 503 (or cut off) with their own
Idempotency-Key, finishes, and every row of the file is stored exactly
once or listed as refused, checked against the table."""
import time

import psycopg

from ..api.conftest import token_for  # noqa: F401  (the fixture, shared with the API's tests)
from ..push_helpers import person, read_refused, start_push, wait_until, write_csv

ROWS = 30_000
INVALID_EVERY = 997  # a few rows the server refuses, so "refused" is checked too


def test_a_push_through_a_postgres_outage_stores_every_row_once_or_lists_it(
        tmp_path, app_env, live_server, token_for, database_url, postgres_outage):
    rows = [person(number, email="broken" if number % INVALID_EVERY == 0 else f"p{number}@example.com")
            for number in range(1, ROWS + 1)]
    path = write_csv(tmp_path / "big.csv", rows)
    push = start_push(app_env, path, live_server, token_for("hr"), "--batch-size", 100, "--concurrency", 4,
                      "--max-retry-time", 120)

    def stored() -> int:  # a connection of its own each time: the outage ends those open
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT count(*) FROM employees").fetchone()[0]

    assert wait_until(lambda: stored() > 3000 or push.poll() is not None, timeout=120, every=0.3)
    assert push.poll() is None, "the push ended before the outage: make the file bigger"
    with postgres_outage():
        time.sleep(4)
    before_end = stored()
    out, err = push.communicate(timeout=300)

    assert push.returncode == 1, (out, err)  # the invalid rows; nothing given up
    assert before_end < ROWS  # the outage really was mid-push
    assert "unconfirmed" not in out and "Gave up" not in out
    assert "Tries repeated" in out, out  # the outage was seen, and waited out
    with psycopg.connect(database_url) as conn:
        in_table = [row[0] for row in conn.execute("SELECT employee_id FROM employees")]
    assert len(in_table) == len(set(in_table))
    refused = read_refused(tmp_path / "big.csv.refused.csv")
    assert all(row["refused"] == "invalid" and "email" in row["error"] for row in refused)
    refused_ids = {row["employee_id"] for row in refused}
    assert len(refused_ids) == ROWS // INVALID_EVERY
    file_ids = {row["employee_id"] for row in rows}
    assert set(in_table) | refused_ids == file_ids and not set(in_table) & refused_ids
