#!/usr/bin/env python3
"""One POST /api/v1/employees/batch of 1,000 new records, against a COPY of
the same 1,000 rows on the same server, in one run.

    .venv/bin/python bench/batch_bench.py            # 20 timed rounds of each (~1 min)
    .venv/bin/python bench/batch_bench.py --rounds 50 --base-rows 100000   # over a fuller table

Starts an embedded PostgreSQL (durability off, as in the tests) and Valkey,
the real app under gunicorn (2 workers x 4 threads), an hr account and its
token (bench/list_bench.py's Bench does the servers). Optionally loads
--base-rows employees first. Then per round, on an emptied-again set of new
IDs: (a) one batch request, timed end to end by the client (HTTP, JSON,
validation, Valkey, COPY, audit entries, commit, the answer); (b) a COPY of
other 1,000 rows alike, as the batch stores them (department and job ids
resolved), in one transaction on one connection, timed likewise. Every
round adds new IDs (the table grows by 2,000 a round). Prints p50/p95 of
each and the ratio. time_batch() is importable by other benchmarks (bench/api_bench.py).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
import requests  # noqa: E402

from list_bench import Bench  # noqa: E402

BATCH = 1000
COPY_SQL = ("COPY employees (employee_id, first_name, last_name, email, department_id, job_id, hire_date, status)"
            " FROM STDIN")


def items(round_number: int, size: int = BATCH) -> list[dict]:
    return [{"employee_id": f"R{round_number}-{n}", "first_name": "Ada", "last_name": f"Lovelace {n}",
             "email": f"r{round_number}.{n}@example.com", "department": "Engineering", "job_title": "Analyst",
             "hire_date": "2024-01-15", "status": "active"} for n in range(size)]


def time_batch(session: requests.Session, base_url: str, token: str, records: list[dict]) -> float:
    """Seconds for one batch request (it must store every record)."""
    started = time.perf_counter()
    response = session.post(f"{base_url}/api/v1/employees/batch", json={"employees": records},
                            headers={"Authorization": f"Bearer {token}"}, timeout=60)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    assert response.json()["counts"]["created"] == len(records), response.text[:300]
    return elapsed


def time_copy(pg_url: str, records: list[dict]) -> float:
    with psycopg.connect(pg_url) as conn:
        department, job = (conn.execute(f"SELECT id FROM {table} WHERE name = %s", (name,)).fetchone()[0]
                           for table, name in (("departments", "Engineering"), ("jobs", "Analyst")))
        started = time.perf_counter()
        with conn.cursor().copy(COPY_SQL) as copy:
            for r in records:
                copy.write_row((r["employee_id"], r["first_name"], r["last_name"], r["email"], department, job,
                                r["hire_date"], r["status"]))
        conn.commit()
        return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--base-rows", type=int, default=0, help="employees loaded before (default none)")
    parser.add_argument("--keep", action="store_true", help="keep bench/out/run-*/ afterwards")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.rows, args.load_with_indexes = args.base_rows, False  # what Bench.load reads
    bench = Bench(args)
    try:
        bench.start_servers()
        if args.base_rows:
            bench.load()
        base_url = bench.gunicorn("wsgi:app", ROOT, bench.env, "/healthz")
        with bench.app.app_context():
            from employee_app.services import api_tokens, users
            user = users.create_user("bench-hr", "bench horse battery staple", "hr")
            token = api_tokens.create_token(user.id, "bench")[1]
        session = requests.Session()
        time_batch(session, base_url, token, items(-1))  # warm-up: list entries, connections, imports
        time_copy(bench.pg_url, items(-2))
        batch_times, copy_times = [], []
        for round_number in range(args.rounds):
            batch_times.append(time_batch(session, base_url, token, items(round_number)))
            copy_times.append(time_copy(bench.pg_url, [dict(r, employee_id="C" + r["employee_id"],
                                                            email="c" + r["email"]) for r in items(round_number)]))
        with open("/proc/loadavg") as load:
            load_average = load.read().split()[:3]
        p50_batch, p50_copy = statistics.median(batch_times), statistics.median(copy_times)
        print(f"\n{args.rounds} rounds of {BATCH:,} new records (table held {args.base_rows:,} before):")
        print(f"  (a) POST /api/v1/employees/batch: p50 {p50_batch * 1000:.0f} ms, "
              f"p95 {percentile(batch_times, 95) * 1000:.0f} ms ({BATCH / p50_batch:,.0f} records/s)")
        print(f"  (b) COPY of the same rows:        p50 {p50_copy * 1000:.0f} ms, "
              f"p95 {percentile(copy_times, 95) * 1000:.0f} ms ({BATCH / p50_copy:,.0f} rows/s)")
        print(f"  (a) / (b) at p50: {p50_batch / p50_copy:.1f}x; load average {' '.join(load_average)}")
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
