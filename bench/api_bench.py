#!/usr/bin/env python3
"""API benchmark (issue 13): a file pushed by the `push` client through
POST /api/v1/employees/batch, against raw COPY of the same rows in the same
run; and single-record POST /api/v1/employees at 16 concurrent clients.

    flock /tmp/bench.lock .venv/bin/python bench/api_bench.py     # 1,000,000 rows (~10 min)
    .venv/bin/python bench/api_bench.py --rows 100000              # a quicker check

What it does (everything on this machine, nothing left running afterwards):

1. the import benchmark's file (bench/import_bench.py's generator, reused:
   ~2% invalid rows, ~2% rows repeating an earlier employee_id) and its
   COPY-ready valid rows;
2. import_bench's servers: an embedded PostgreSQL (durability OFF, as in the
   test suite) and Valkey, the real migrations, an admin account and an API
   token; the app in gunicorn (2 workers x 4 threads) with API_RATE_LIMIT
   raised out of the way;
3. (a1) COPY of the valid rows into a table with only the primary key and
   the unique constraints; (a3) the same COPY into a table like employees
   with all its indexes ("the table as it is"); then (p): the push client
   (employee_app/push_client.push, in this process: --batch-size and
   --concurrency threads) sending the whole file; the table must then hold
   exactly the file's valid rows and the refused file list the others;
4. (s) --single-requests POSTs of one new record each at --single-clients
   concurrent clients (a keep-alive connection each), after a warm-up:
   p50, p99;
5. prints rows/s, the ratios to (a1) and (a3), CPU seconds and the load average.

rows/s: the COPY cases count the rows they load (the file's valid rows);
(p) counts every row of the file it handled (sent and answered, or refused).
"""
import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_bench import ROOT, CpuMeter, ImportBench, Result, case_copy, generate  # noqa: E402
from list_bench import run_stoppably  # noqa: E402

import httpx  # noqa: E402
import psycopg  # noqa: E402

GOAL = 0.4  # the issue's: the push at >= 0.4x raw COPY rows/s
SINGLE_WARMUP = 50


def admin_token(bench: ImportBench) -> str:
    from sqlalchemy import select

    from employee_app.extensions import db
    from employee_app.models import User
    from employee_app.services import api_tokens

    with bench.app.app_context():
        user = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        _, token = api_tokens.create_token(user.id, "api bench")
        db.session.remove()
    return token


def case_push(bench: ImportBench, csv_path: Path, expected: dict, token: str) -> Result:
    from employee_app import push_client

    options = push_client.PushOptions(url=bench.app_url, token=token, batch_size=bench.args.batch_size,
                                      concurrency=bench.args.concurrency)
    refused_path = bench.run_dir / "refused.csv"
    progress = push_client.Progress(sys.stderr) if sys.stderr.isatty() else None
    with CpuMeter(bench) as cpu:
        t0 = time.perf_counter()
        summary = push_client.push(str(csv_path), options, str(refused_path), progress=progress)
        seconds = time.perf_counter() - t0
    with psycopg.connect(bench.pg_url) as conn:
        count = conn.execute("SELECT count(*) FROM employees").fetchone()[0]
    refused_expected = expected["invalid"] + expected["duplicates"]
    given_up = len(summary.unconfirmed)
    # Every row accounted for, and the table holds exactly what the client was told was created.
    if count != summary.created or summary.created + summary.refused + given_up != expected["rows"] or (
            not given_up and (summary.created, summary.refused) != (expected["valid"], refused_expected)):
        raise RuntimeError(f"(p): {count:,} rows stored, {summary.created:,} created, {summary.refused:,} refused, "
                           f"{given_up:,} given up; expected {expected['valid']:,} stored and "
                           f"{refused_expected:,} refused")
    if given_up:
        print(f"  (p) WARNING: the client gave up on {given_up:,} rows (see {refused_path}): "
              + "; ".join(push_client.describe(summary, str(refused_path))[1:]))
    retried = ", ".join(f"{reason} x{n:,}" for reason, n in summary.retries.most_common()) or "none"
    note = (f"{summary.created:,} created, {summary.duplicate:,} duplicate, {summary.invalid:,} invalid, "
            f"{given_up:,} given up; tries repeated: {retried}; batches of {bench.args.batch_size:,}, {bench.args.concurrency} at once")
    return Result("(p) push client -> POST /api/v1/employees/batch", expected["rows"], seconds, cpu, note=note)


def single_posts(base_url: str, token: str, requests_total: int, clients: int) -> list[float]:
    """Latencies (seconds) of requests_total POST /api/v1/employees of new
    records, spread over `clients` threads with a connection each."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(1, requests_total + SINGLE_WARMUP + 1))

    def client() -> None:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                record = {"employee_id": f"S{number:07d}", "first_name": "Single", "last_name": f"Post{number}",
                          "email": f"single.{number}@example.com", "hire_date": "2024-03-01"}
                t0 = time.perf_counter()
                response = http.post("/api/v1/employees", json=record)
                elapsed = time.perf_counter() - t0
                with lock:
                    if response.status_code != 201:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    elif number > SINGLE_WARMUP:
                        latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"(s): {len(failures)} POSTs failed, e.g. {failures[0]}")
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(args) -> None:
    csv_path, copy_path, expected = generate(args.rows, args.seed)
    bench = ImportBench(args)
    load_before = os.getloadavg()
    print(f"Load average before: {load_before[0]:.2f} / {load_before[1]:.2f} (1 / 5 min), {os.cpu_count()} CPUs")
    try:
        bench.start_servers()
        bench.env["API_RATE_LIMIT"] = "100000000 per minute"  # the bench measures the API, not its limiter
        bench.env["GUNICORN_CMD_ARGS"] = "--access-logfile /dev/null"  # (gunicorn.conf.py logs every request)
        bench.app_url = bench.gunicorn("wsgi:app", ROOT, bench.env, "/healthz")
        token = admin_token(bench)
        print(f"Serving {bench.app_url} (gunicorn, 2 workers x 4 threads)", flush=True)
        results = []
        for kind in ("unique", "as_is"):
            bench.reset()
            results.append(case_copy(bench, kind, copy_path, expected))
        bench.reset()
        print("  (p) pushing the file ...", flush=True)
        result = case_push(bench, csv_path, expected, token)
        print(f"  (p) {result.seconds:.1f} s", flush=True)
        results.append(result)
        report(results, expected)

        bench.reset()
        print(f"\n(s) {args.single_requests:,} single-record POST /api/v1/employees at {args.single_clients} "
              f"concurrent clients (after {SINGLE_WARMUP} untimed) ...", flush=True)
        t0 = time.perf_counter()
        latencies = single_posts(bench.app_url, token, args.single_requests, args.single_clients)
        seconds = time.perf_counter() - t0
        print(f"  p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
              f"mean {statistics.fmean(latencies) * 1000:.1f} ms, {len(latencies) / seconds:,.0f} requests/s")
        load = os.getloadavg()
        print(f"\nLoad average before the run {load_before[0]:.2f}, after {load[0]:.2f} / {load[1]:.2f} "
              "(1 / 5 min).")
    finally:
        bench.stop()


def report(results: list[Result], expected: dict) -> None:
    a1, a3, push = results
    print(f"\n{expected['rows']:,} rows in the file, {expected['valid']:,} valid and new; "
          f"load average now {os.getloadavg()[0]:.2f} (1 min)")
    header = f"  {'case':<62} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'app CPU s':>10} {'db CPU s':>9}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in results:
        print(f"  {r.label:<62} {r.rows:>10,} {r.seconds:>8.1f} {r.rows / r.seconds:>9,.0f} {r.cpu.app:>10.1f} "
              f"{r.cpu.db:>9.1f}")
    rate = push.rows / push.seconds
    for floor in (a1, a3):
        ratio = rate / (floor.rows / floor.seconds)
        print(f"  (p) / {floor.label[:4]}: {ratio:.2f}x rows/s (goal >= {GOAL}x: {'MET' if ratio >= GOAL else 'NOT MET'})")
    print(f"    (p): {push.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the file (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--single-requests", type=int, default=3000, help="timed single POSTs (default 3,000)")
    parser.add_argument("--single-clients", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep bench/out/run-*/ (the data) afterwards")
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    # What import_bench's servers read from its own options.
    args.max_mb, args.bulk_min_rows, args.skip_as_is = 2000, 100_000, False
    return run_stoppably(run, args)


if __name__ == "__main__":
    sys.exit(main())
