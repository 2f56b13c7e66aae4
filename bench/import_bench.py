#!/usr/bin/env python3
"""CSV import benchmark: a million-row import through the service and
through an HTTP upload and the worker, against the floors a COPY of the same
rows sets, into an empty table and into one that already holds a million
employees, in one run.

    flock /tmp/bench.lock .venv/bin/python bench/import_bench.py    # 1,000,000 rows, both tables (~20 min)
    .venv/bin/python bench/import_bench.py --rows 20000 --base-rows 20000   # quick check (~2 min)

What it does (everything on this machine, nothing left running afterwards):

1. generates --rows CSV rows once into bench/out/import-data/ (header
   employee_id,first_name,last_name,email,department,job_title,hire_date,
   status; ~2% invalid rows, ~2% rows repeating an earlier row's
   employee_id), and beside it the valid, first-seen rows with department_id
   resolved, ready for COPY; and --base-rows other employees (IDs B...),
   COPY-ready, for the table that is not empty; all reused by later runs
   with the same sizes and --seed;
2. starts an embedded PostgreSQL (the embedded server's sizing, durability
   OFF as in the test suite) and Valkey under bench/out/run-*/, applies the
   real migrations, creates an admin account;
3. for each table (empty; then holding the --base-rows employees):
   (a1) COPY of the valid rows into a table with the same columns and only
        its primary key and unique constraints: the floor for any table;
   (a2) the same into a table like employees (its checks, foreign keys,
        generated column) without its secondary indexes, then those indexes
        built on two connections side by side: the floor for this schema;
   (a3) the same COPY into a table like employees with all its indexes
        ("the table as it is"; --skip-as-is leaves it out);
   (b)  the service in this process: jobs.create_import(queue=False) then
        jobs.run_import, from opening the file to the end (with a breakdown
        of where the time went, from timers around the pipeline's steps);
   (c)  gunicorn + `flask --app employee_app worker`: POST /imports/new with
        the file, then polling the imports row until it is done; the
        worker's process tree is sampled with psutil every 0.2 s for its
        peak memory;
   before each case the table is put back (emptied, or back to the base
   employees), Valkey's sets rebuilt, CHECKPOINT; after (b) and (c) the
   counts must add up and match the file, the indexes must all be back and
   the report summaries must agree with the table;
4. prints, per table, seconds, rows/s, the time over each floor's, the CPU
   seconds and the worker's peak memory, and stops everything (also on an
   error, Ctrl-C or SIGTERM).
"""
import argparse
import cProfile
import json
import logging
import os
import pstats
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_bench import (ADMIN_PASSWORD, CSRF_RE, DEPARTMENTS, JOB_TITLES, OUT, ROOT, SECRET_KEY,  # noqa: E402
                        STATUSES, Bench, Data, get_ok, login, run_stoppably, tree_cpu)

import psutil  # noqa: E402
import psycopg  # noqa: E402

from employee_app.devservers import EmbeddedPostgres, EmbeddedValkey  # noqa: E402

GENERATOR_VERSION = 2  # bump when the generated rows change: cached files are then regenerated
DATA_DIR = OUT / "import-data"
HEADER = ("employee_id", "first_name", "last_name", "email", "department", "job_title", "hire_date", "status")
COPY_COLUMNS = ("employee_id", "first_name", "last_name", "email", "department_id", "job_id", "hire_date",
                "status")
INVALID_SHARE = 0.02
DUPLICATE_SHARE = 0.02
RAW_TABLE = "bench_raw_employees"
IMPORT_URL_RE = re.compile(r"/imports/(\d+)")
RESET_SQL = ("TRUNCATE employees, departments, jobs, audit_log, imports, import_rejections, import_feed_batches,"
             " audit_commits RESTART IDENTITY CASCADE")
# The (b) and (c) targets of issue 11: seconds end to end through the worker
# for a 1,000,000-row file, and the worker's peak memory.
TARGET_SECONDS = {"empty": 25.0, "full": 30.0}
TARGET_PEAK_MB = 300


# --- the file ------------------------------------------------------------------

def data_paths(rows: int, seed: int) -> tuple[Path, Path, Path]:
    stem = f"v{GENERATOR_VERSION}-rows{rows}-seed{seed}"
    return DATA_DIR / f"{stem}.csv", DATA_DIR / f"{stem}.copy.csv", DATA_DIR / f"{stem}.json"


def generate(rows: int, seed: int, regenerate: bool = False) -> tuple[Path, Path, dict]:
    """The import file, the COPY-ready file of its valid first-seen rows
    (department_id = position in DEPARTMENTS + 1) and the expected counts."""
    csv_path, copy_path, meta_path = data_paths(rows, seed)
    if not regenerate and csv_path.exists() and copy_path.exists() and meta_path.exists():
        expected = json.loads(meta_path.read_text())
        print(f"Import file (reused): {csv_path.relative_to(ROOT)}, {csv_path.stat().st_size / 1e6:.1f} MB, "
              f"{rows:,} rows: {expected['valid']:,} valid and new, {expected['invalid']:,} invalid, "
              f"{expected['duplicates']:,} repeating an earlier employee_id")
        return csv_path, copy_path, expected

    for vocabulary in (DEPARTMENTS, JOB_TITLES):
        assert not any("," in v or '"' in v for v in vocabulary), "the generator writes CSV without quoting"
    t0 = time.perf_counter()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    data = Data(seed)  # list_bench's names (Zipf-like popularity)
    rng = random.Random(seed + 7)
    today = date.today()
    epoch = today - timedelta(days=30 * 365)
    status_values = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    valid_numbers: list[int] = []  # employee numbers of the rows that will be inserted
    next_number = 1
    counts = {"rows": rows, "valid": 0, "invalid": 0, "duplicates": 0, "duplicates_near": 0}
    tmp_csv, tmp_copy = csv_path.with_suffix(".tmp"), copy_path.with_suffix(".tmp")
    with open(tmp_csv, "w", newline="") as out, open(tmp_copy, "w", newline="") as copy_out:
        out.write(",".join(HEADER) + "\n")
        copy_out.write(",".join(COPY_COLUMNS) + "\n")
        chunk = 50_000
        for start in range(1, rows + 1, chunk):
            n = min(chunk, rows + 1 - start)
            lasts = rng.choices(data.last_names, data.last_weights, k=n)
            firsts = rng.choices(data.first_names, data.first_weights, k=n)
            statuses = rng.choices(status_values, status_weights, k=n)
            lines, copy_lines = [], []
            for i in range(n):
                row = start + i
                first, last = firsts[i], lasts[i]
                department = rng.randrange(len(DEPARTMENTS))
                job = rng.randrange(len(JOB_TITLES))
                hired = (epoch + timedelta(days=rng.randrange(30 * 365))).isoformat()
                draw = rng.random()
                if draw < DUPLICATE_SHARE and valid_numbers:
                    # A repeat of an earlier (inserted) row's ID, with an e-mail
                    # of its own. A quarter repeat a recent row (often in the
                    # same 5,000-row batch), the rest any earlier row.
                    if rng.random() < 0.25:
                        number = valid_numbers[-rng.randint(1, min(2000, len(valid_numbers)))]
                        counts["duplicates_near"] += 1
                    else:
                        number = valid_numbers[rng.randrange(len(valid_numbers))]
                    email = f"{first}.{last}.r{row}@example.com".lower()
                    counts["duplicates"] += 1
                    kind = "duplicate"
                else:
                    number = next_number
                    next_number += 1
                    email = f"{first}.{last}.{number}@example.com".lower()
                    kind = "invalid" if draw < DUPLICATE_SHARE + INVALID_SHARE else "valid"
                    if kind == "invalid":
                        counts["invalid"] += 1
                        if rng.random() < 0.5:
                            hired = "2024-02-30"
                        else:
                            last = ""
                    else:
                        counts["valid"] += 1
                        valid_numbers.append(number)
                employee_id = f"E{number:07d}"
                lines.append(",".join((employee_id, first, last, email, DEPARTMENTS[department], JOB_TITLES[job],
                                       hired, statuses[i])))
                if kind == "valid":
                    copy_lines.append(",".join((employee_id, first, last, email, str(department + 1), str(job + 1),
                                                hired, statuses[i])))
            out.write("\n".join(lines) + "\n")
            if copy_lines:
                copy_out.write("\n".join(copy_lines) + "\n")
    os.replace(tmp_csv, csv_path)
    os.replace(tmp_copy, copy_path)
    meta_path.write_text(json.dumps(counts))
    print(f"Import file generated in {time.perf_counter() - t0:.1f} s: {csv_path.relative_to(ROOT)}, "
          f"{csv_path.stat().st_size / 1e6:.1f} MB, {rows:,} rows: {counts['valid']:,} valid and new, "
          f"{counts['invalid']:,} invalid (bad date or empty last_name), {counts['duplicates']:,} repeating "
          f"an earlier employee_id ({counts['duplicates_near']:,} of them within 2,000 rows)")
    return csv_path, copy_path, counts



def generate_base(rows: int, seed: int) -> Path:
    """The employees already stored in the second table: IDs B0000001...,
    e-mails of their own (none of the import file's), COPY-ready like the
    file's valid rows."""
    path = DATA_DIR / f"v{GENERATOR_VERSION}-base{rows}-seed{seed}.copy.csv"
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    data = Data(seed + 1)
    rng = random.Random(seed + 11)
    epoch = date.today() - timedelta(days=30 * 365)
    status_values = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as out:
        out.write(",".join(COPY_COLUMNS) + "\n")
        for start in range(1, rows + 1, 50_000):
            n = min(50_000, rows + 1 - start)
            lasts = rng.choices(data.last_names, data.last_weights, k=n)
            firsts = rng.choices(data.first_names, data.first_weights, k=n)
            statuses = rng.choices(status_values, status_weights, k=n)
            lines = []
            for i in range(n):
                number = start + i
                email = f"{firsts[i]}.{lasts[i]}.{number}@base.example.org".lower()
                hired = (epoch + timedelta(days=rng.randrange(30 * 365))).isoformat()
                lines.append(f"B{number:07d},{firsts[i]},{lasts[i]},{email},{rng.randrange(len(DEPARTMENTS)) + 1},"
                             f"{rng.randrange(len(JOB_TITLES)) + 1},{hired},{statuses[i]}\n")
            out.write("".join(lines))
    os.replace(tmp, path)
    return path


# --- servers and tables -----------------------------------------------------------

SECONDARY_INDEXES_SQL = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""
# employees' columns a COPY or INSERT may write (search_text is generated).
STORED_COLUMNS = ("id", "employee_id", "first_name", "last_name", "email", "phone", "department_id", "job_id",
                  "employment_type", "location", "hire_date", "status", "termination_date", "version", "import_id",
                  "import_row", "created_at", "updated_at")


class ImportBench(Bench):
    """list_bench's Bench (servers, gunicorn, stop) plus an import worker,
    and the two starting points: an empty table, or the base employees."""

    def __init__(self, args):
        super().__init__(args)
        self.upload_dir = self.run_dir / "uploads"
        self.worker: subprocess.Popen | None = None
        self.base_rows = 0  # employees stored before each case of the current table
        self.index_count = 0  # indexes employees has with all its secondary ones

    def start_servers(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir()
        print(f"Data directory: {self.run_dir}" + ("" if self.args.keep else " (removed at the end; --keep keeps it)"))
        self.postgres = EmbeddedPostgres(self.run_dir / "pgdata").start()
        self.postgres.tune_for_tests()
        print("PostgreSQL (embedded) started. NOTE: durability is OFF (fsync, synchronous_commit, "
              "full_page_writes = off), as in the test suite: commits and WAL cost less than on a real server, "
              "for every case.")
        self.pg_url = self.postgres.ensure_database("employee_bench")
        self.valkey = EmbeddedValkey(self.run_dir / "valkey", persist=False).start()
        print(f"Valkey (embedded) started: {self.valkey.url}")
        self.env = {"DATABASE_URL": self.pg_url, "VALKEY_URL": self.valkey.url, "SECRET_KEY": SECRET_KEY,
                    "UPLOAD_DIR": str(self.upload_dir), "IMPORT_MAX_MB": str(self.args.max_mb),
                    "IMPORT_BULK_MIN_ROWS": str(self.args.bulk_min_rows), "LOG_LEVEL": "WARNING"}
        os.environ.update(self.env)

        from flask_migrate import upgrade

        from employee_app import create_app
        from employee_app.extensions import db
        from employee_app.services import users

        self.app = create_app()
        with self.app.app_context():
            upgrade()
            users.create_user("admin", ADMIN_PASSWORD, "admin")
            db.session.remove()
        with psycopg.connect(self.pg_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            # current_setting() gives each value in its unit ("1GB"); pg_settings'
            # setting is in the unit's multiples (shared_buffers: 8kB pages).
            settings = {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
                        for name in ("shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size",
                                     "checkpoint_timeout", "max_parallel_maintenance_workers")}
            self.index_count = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'employees'::regclass"
                                            ).fetchone()[0]
        print(f"Migrations applied, admin account created. PostgreSQL {version}; "
              + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))

    def _valkey_rebuilt(self) -> None:
        """Valkey emptied, its sets rebuilt from the table and marked ready (as
        tests/conftest.py clean_state does)."""
        from employee_app.extensions import db
        from employee_app.services import duplicate_guard
        from employee_app.valkey_store import get_store

        with self.app.app_context():
            store = get_store()
            deadline = time.monotonic() + 10
            while store.client.exists(duplicate_guard.REBUILD_LOCK_KEY) and time.monotonic() < deadline:
                time.sleep(0.05)
            store.client.flushall()
            store.repair_due = False
            duplicate_guard.rebuild_index()
            db.session.remove()

    def _checked_clean(self, conn) -> None:
        left = conn.execute("SELECT (SELECT count(*) FROM bulk_load_indexes), (SELECT count(*) FROM bulk_load_rows)"
                            ).fetchone()
        indexes = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'employees'::regclass").fetchone()[0]
        if left != (0, 0) or indexes != self.index_count:
            raise RuntimeError(f"a bulk load left something behind: {left}, {indexes} indexes "
                               f"(expected {self.index_count})")

    def reset(self) -> None:
        """Back to the starting point of the current table: empty, or the
        base employees alone; then a checkpoint, so no case pays for the last."""
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            self._checked_clean(conn)
            for kind in RAW_KINDS:
                conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}_{kind}")
            if self.base_rows:
                # The summary trigger takes the rows out in one statement.
                conn.execute("DELETE FROM employees WHERE import_id IS NOT NULL")
                conn.execute("TRUNCATE audit_log, imports, import_rejections, import_feed_batches, audit_commits"
                             " RESTART IDENTITY")
                conn.execute("VACUUM ANALYZE employees")
                count = conn.execute("SELECT count(*) FROM employees").fetchone()[0]
                if count != self.base_rows:
                    raise RuntimeError(f"employees holds {count:,} rows after the reset, not {self.base_rows:,}")
            else:
                conn.execute(RESET_SQL)
        if self.base_rows:
            from employee_app.services import reports

            with self.app.app_context():
                reports.compact_summaries()
        self._valkey_rebuilt()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def load_base(self, base_path: Path, rows: int) -> None:
        """The second table's starting point: the lists, then rows employees
        loaded with COPY (secondary indexes built after, untimed), the
        summaries and Valkey's sets."""
        t0 = time.perf_counter()
        self.base_rows = 0
        self.reset()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            create_lists(conn)
            dropped = conn.execute(SECONDARY_INDEXES_SQL, ("employees",)).fetchall()
            for name, _ in dropped:
                conn.execute(f'DROP INDEX "{name}"')
            copy_file(conn, "employees", base_path)
            build_indexes(self.pg_url, dropped)
            conn.execute("VACUUM ANALYZE employees")
            count = conn.execute("SELECT count(*) FROM employees").fetchone()[0]
        if count != rows:
            raise RuntimeError(f"the base load stored {count:,} rows, not {rows:,}")
        self.base_rows = rows
        from employee_app.services import reports

        with self.app.app_context():
            reports.compact_summaries()
        self._valkey_rebuilt()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        print(f"  base table: {rows:,} employees (IDs B...) loaded in {time.perf_counter() - t0:.1f} s (untimed)")

    def start_worker(self) -> None:
        from rq import Worker

        from employee_app.services.importer import jobs

        log = open(self.run_dir / "worker.log", "ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "employee_app", "worker"],
            cwd=ROOT, env=dict(os.environ, **self.env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: Ctrl-C reaches only this script
        queue = jobs.get_queue(self.valkey.url)
        deadline = time.monotonic() + 60
        while not Worker.all(queue=queue):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the import worker did not start; see {self.run_dir / 'worker.log'}")
            time.sleep(0.1)

    def stop_worker(self) -> None:
        """SIGTERM (RQ's warm shutdown), then SIGKILL the group if it lingers:
        after an error the work horse may still be importing."""
        process, self.worker = self.worker, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        try:
            self.stop_worker()
        except Exception as exc:  # keep stopping the rest
            print(f"(stopping the worker: {exc})")
        super().stop()


def create_lists(conn) -> None:
    """The departments and jobs, ids 1..n in the generator's order (the
    COPY-ready files refer to them by those ids)."""
    for table, names in (("departments", DEPARTMENTS), ("jobs", JOB_TITLES)):
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} (name) VALUES (%s)", [(name,) for name in names])
        stored = [tuple(r) for r in conn.execute(f"SELECT id, name FROM {table} ORDER BY id")]
        if stored != list(enumerate(names, start=1)):
            raise RuntimeError(f"{table} did not get ids 1..{len(names)} in order: the COPY file would not fit")


def copy_file(conn, table: str, path: Path) -> None:
    """One COPY statement of a COPY-ready file, streamed."""
    copy_sql = f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT csv, HEADER true)"
    with open(path, "rb") as f, conn.cursor() as cur, cur.copy(copy_sql) as copy:
        while chunk := f.read(1024 * 1024):
            copy.write(chunk)


def build_indexes(url: str, definitions: list[tuple[str, str]]) -> float:
    """Build the indexes as a bulk import does (services/importer/bulk.py):
    two connections side by side, the largest first, no parallel workers."""
    from employee_app.services.importer import bulk

    t0 = time.perf_counter()
    bulk.side_by_side(url, sorted(definitions, key=lambda d: bulk.cost_of(d[1]), reverse=True),
                      lambda conn, definition: conn.execute(definition[1]))
    return time.perf_counter() - t0


# --- measuring -----------------------------------------------------------------

class TreeMemory(threading.Thread):
    """Samples the RSS of a process and its descendants every interval
    seconds; RQ forks a work horse for each job."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.stopped = threading.Event()
        self.peak_main = self.peak_child = self.peak_tree = 0
        self.samples = 0
        self.child_pids: set[int] = set()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                main = self.root.memory_info().rss
                children = self.root.children(recursive=True)
            except psutil.Error:
                break
            tree = main
            for child in children:
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                self.child_pids.add(child.pid)
                self.peak_child = max(self.peak_child, rss)
                tree += rss
            self.peak_main = max(self.peak_main, main)
            self.peak_tree = max(self.peak_tree, tree)
            self.samples += 1
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)


class CpuMeter:
    """CPU seconds spent during a case by the app's processes and by the
    database side (PostgreSQL's whole process tree and Valkey). The machine
    is shared: wall-clock seconds move with whatever else runs, CPU seconds
    much less."""

    def __init__(self, bench: "ImportBench"):
        self.bench = bench

    def app_pids(self) -> list[int]:
        pids = [p.pid for p in self.bench.processes if p.poll() is None]  # gunicorn
        if self.bench.worker is not None:
            pids.append(self.bench.worker.pid)
        return pids

    def db_pids(self) -> list[int]:
        postmaster = int((self.bench.postgres.data_dir / "postmaster.pid").read_text().split()[0])
        return [postmaster, self.bench.valkey.process.pid]

    def snapshot(self) -> tuple[float, float]:
        own = psutil.Process().cpu_times()  # this script alone: Valkey, gunicorn, the worker are its children
        return (own.user + own.system + sum(map(tree_cpu, self.app_pids())),
                sum(map(tree_cpu, self.db_pids())))

    def __enter__(self) -> "CpuMeter":
        self.before = self.snapshot()
        return self

    def __exit__(self, *exc) -> None:
        after = self.snapshot()
        self.app, self.db = after[0] - self.before[0], after[1] - self.before[1]


class PhaseTimers:
    """Wall time, and this thread's CPU time (the Python side), inside the
    pipeline's steps, from wrappers around ImportRunner's methods, the bulk
    load's steps and psycopg's execute/commit (a few calls per 5,000-row
    batch, so the overhead is negligible). Only in this process, for (b);
    nothing is changed on disk."""

    METHODS = ("run", "_run_batch", "_validate", "_flagged_by_valkey", "_copy_lines", "_copy_direct", "_insert",
               "_resolve_entries", "_explain_conflicts", "_store_rejections")

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.active = False
        self.bulk: bool | None = None  # whether (b) loaded in bulk
        self.batches: tuple[int, int] = (0, 0)  # (copied straight in, through the staging table)
        self.thread = None  # the thread running the import
        self.db_cpu = lambda: 0.0  # set by case_b: the database side's CPU seconds so far
        self.db_build = None  # the database's CPU seconds in bulk.restore
        self._undo = []

    def add(self, name: str, seconds: float, cpu: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu
        self.calls[name] = self.calls.get(name, 0) + 1

    def _patch(self, owner, attribute: str, name_of, after=None, before=None) -> None:
        original = getattr(owner, attribute)
        timers = self

        def timed(*args, **kwargs):
            name = name_of(args)
            if name is None:
                return original(*args, **kwargs)
            if before:
                before()
            t, c = time.perf_counter(), time.thread_time()
            try:
                result = original(*args, **kwargs)
                if after:
                    after(args, result)
                return result
            finally:
                timers.add(name, time.perf_counter() - t, time.thread_time() - c)
        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def install(self) -> "PhaseTimers":
        from employee_app.services import duplicate_guard, reports
        from employee_app.services.importer import bulk, jobs, pipeline

        def batches(args, result):
            self.batches = (args[0].direct_copies, args[0].staged_batches)

        for method in self.METHODS:
            self._patch(pipeline.ImportRunner, method, lambda args, m=method: m,
                        after=batches if method == "run" else None)
        self._patch(pipeline, "save_progress", lambda args: "save_progress")
        self._patch(duplicate_guard, "remember_keys", lambda args: "remember_keys (Valkey SADD)")
        self._patch(bulk.BulkLoad, "begin", lambda args: "bulk: begin (drop the indexes)",
                    after=lambda args, result: setattr(self, "bulk", result))
        self._patch(bulk, "restore", lambda args: "bulk: build the indexes, fold the summaries",
                    before=lambda: setattr(self, "db_before_build", self.db_cpu()),
                    after=lambda args, result: setattr(self, "db_build", self.db_cpu() - self.db_before_build))
        self._patch(bulk, "recover", lambda args: "bulk: recover (nothing to do)")
        self._patch(reports, "compact_summaries", lambda args: "compact_summaries")

        def sql_name(args):
            if not self.active or threading.get_ident() != self.thread:
                return None
            query = args[1] if len(args) > 1 else None
            if query is pipeline.INSERT_SQL:
                return "INSERT ... ON CONFLICT (staging)"
            if query == "ANALYZE employees":
                return "ANALYZE employees"
            return "other SQL"
        self._patch(psycopg.Cursor, "execute", sql_name)
        self._patch(psycopg.Connection, "commit",
                    lambda args: "commit" if self.active and threading.get_ident() == self.thread else None)

        original_run = jobs.run_import

        def run(*args, **kwargs):
            self.active, self.thread = True, threading.get_ident()
            try:
                return original_run(*args, **kwargs)
            finally:
                self.active = False
        jobs.run_import = run
        self._undo.append((jobs, "run_import", original_run))
        return self

    def uninstall(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo = []

    def report(self, total: tuple[float, float], create: tuple[float, float]) -> None:
        """total, create: (wall, CPU) of the whole of (b) and of create_import."""
        def get(name):
            return self.seconds.get(name, 0.0), self.cpu.get(name, 0.0)

        def minus(a, *others):
            return a[0] - sum(o[0] for o in others), a[1] - sum(o[1] for o in others)

        run, batches = get("run"), get("_run_batch")
        direct, insert = get("_copy_direct"), get("_insert")
        statement, departments = get("INSERT ... ON CONFLICT (staging)"), get("_resolve_entries")
        rows = [
            ("create_import (save the upload, UTF-8 check, sniff, sample)", create),
            ("bulk: begin (drop the indexes)", get("bulk: begin (drop the indexes)")),
            ("reading the file: csv.reader + batching (run - batches)", minus(run, batches)),
            ("_validate (mapped_record + clean_employee, per row)", get("_validate")),
            ("_flagged_by_valkey (SMISMEMBER)", get("_flagged_by_valkey")),
            ("_copy_lines: the rows' COPY text (reader thread; main thread for new entries)", get("_copy_lines")),
            ("_copy_direct: COPY straight into employees", direct),
            ("_insert: TRUNCATE + COPY into staging (rows built in Python)", minus(insert, statement)),
            ("_insert: INSERT ... ON CONFLICT statement", statement),
            ("_resolve_entries (departments, jobs; inside the COPY steps)", departments),
            ("_explain_conflicts (SELECT the holders)", get("_explain_conflicts")),
            ("_store_rejections (COPY)", get("_store_rejections")),
            ("save_progress (UPDATE imports)", get("save_progress")),
            ("commit", get("commit")),
            ("remember_keys (Valkey SADD)", get("remember_keys (Valkey SADD)")),
            ("bulk: build the indexes, fold the summaries", get("bulk: build the indexes, fold the summaries")),
            ("ANALYZE employees", get("ANALYZE employees")),
            ("compact_summaries", get("compact_summaries")),
        ]
        inside_run = [r for r in rows[2:] if not r[0].startswith(("bulk", "ANALYZE", "compact", "_resolve"))]
        accounted = (sum(r[1][0] for r in inside_run), sum(r[1][1] for r in inside_run))
        rows.append(("unaccounted inside run (reader thread's steps overlap: may be negative)",
                     minus(run, accounted)))
        print(f"\n  Where (b)'s {total[0]:.1f} s went ({self.calls.get('_run_batch', 0)} batches: "
              f"{self.batches[0]} copied straight in, {self.batches[1]} through the staging table; "
              f"bulk mode: {'yes' if self.bulk else 'no'}). Python CPU = this thread's CPU time in the step; the "
              "rest of a step's wall time is waiting for PostgreSQL or Valkey, or for a CPU:")
        print(f"    {'step':<76} {'wall s':>7} {'%':>6} {'Python CPU s':>13}")
        for label, (seconds, cpu) in rows:
            print(f"    {label:<76} {seconds:>7.1f} {100 * seconds / total[0]:>5.1f}% {cpu:>13.1f}")
        print(f"    {'total':<76} {total[0]:>7.1f} {100.0:>5.1f}% {total[1]:>13.1f}")
        print(f"    (other SQL in the import's thread, e.g. savepoints, the holders of conflicts: "
              f"{self.seconds.get('other SQL', 0.0):.1f} s wall)")
        if self.db_build is not None:
            print(f"    Database CPU while the indexes were built and the summaries folded: {self.db_build:.1f} s")


class StepLog(logging.Handler):
    """The bulk load's "bulk load: <index> in <s> s" log lines, from this process (case (b))."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.logger = logging.getLogger("employee_app.services.importer.bulk")

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("bulk load: "):
            self.lines.append(message.removeprefix("bulk load: ").replace("ix_employees_", ""))

    def install(self) -> "StepLog":
        self.level_before = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def uninstall(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)


def check(bench: ImportBench, import_id: int, expected: dict, label: str) -> dict:
    """The import is done, its counts add up and match the file, the table
    has all its indexes back, the summaries agree with it; fails loudly otherwise."""
    with psycopg.connect(bench.pg_url) as conn:
        row = conn.execute(
            "SELECT status, rows_read, inserted, updated, duplicates, invalid, error, "
            "extract(epoch FROM started_at), extract(epoch FROM finished_at) FROM imports WHERE id = %s",
            (import_id,)).fetchone()
        employees = conn.execute("SELECT count(*) FROM employees").fetchone()[0]
        entries = conn.execute("SELECT subject, count(*) FROM audit_log WHERE import_id = %s GROUP BY subject",
                               (import_id,)).fetchall()
        # The departments and jobs it added: one creation entry each, for an entry that exists.
        added_wrong = conn.execute(
            "SELECT count(*) - count(DISTINCT (subject, entry_pk)) + count(*) FILTER (WHERE NOT EXISTS ("
            " SELECT 1 FROM departments d WHERE a.subject = 'department' AND d.id = a.entry_pk UNION ALL"
            " SELECT 1 FROM jobs j WHERE a.subject = 'job' AND j.id = a.entry_pk))"
            " FROM audit_log a WHERE import_id = %s AND subject IN ('department', 'job')", (import_id,)).fetchone()[0]
        rejected = conn.execute("SELECT kind, count(*) FROM import_rejections WHERE import_id = %s GROUP BY kind",
                                (import_id,)).fetchall()
        hired = conn.execute("SELECT count(*) FROM employees WHERE hire_date IS NOT NULL").fetchone()[0]
        summed = conn.execute("SELECT (SELECT coalesce(sum(hires), 0) FROM headcount_changes WHERE grain = 'year'),"
                              " (SELECT coalesce(sum(q1 + q2 + q3 + q4), 0) FROM hires_by_quarter)").fetchone()
        try:
            bench._checked_clean(conn)
            clean = None
        except RuntimeError as exc:
            clean = str(exc)
    status, rows_read, inserted, updated, duplicates, invalid, error, started, finished = row
    rejected = dict(rejected)
    problems = [clean] if clean else []
    if status != "done":
        problems.append(f"status {status!r} ({error})")
    if inserted + updated + duplicates + invalid != rows_read:
        problems.append(f"inserted {inserted} + updated {updated} + duplicates {duplicates} + invalid {invalid} "
                        f"!= rows read {rows_read}")
    wanted = {"rows_read": expected["rows"], "inserted": expected["valid"], "updated": 0,
              "duplicates": expected["duplicates"], "invalid": expected["invalid"]}
    got = {"rows_read": rows_read, "inserted": inserted, "updated": updated, "duplicates": duplicates,
           "invalid": invalid}
    problems += [f"{k} {got[k]:,}, expected {v:,}" for k, v in wanted.items() if got[k] != v]
    if employees != bench.base_rows + expected["valid"]:
        problems.append(f"employees holds {employees:,} rows, expected {bench.base_rows + expected['valid']:,}")
    entries = dict(entries)
    if entries.get("import") != 1 or not set(entries) <= {"import", "department", "job"} or added_wrong:
        problems.append(f"audit_log has {entries} for the import, expected one entry of its own and one per "
                        f"department or job it added ({added_wrong} wrong)")
    if rejected.get("duplicate", 0) != duplicates or rejected.get("invalid", 0) != invalid:
        problems.append(f"import_rejections {rejected} do not match duplicates {duplicates}, invalid {invalid}")
    if summed != (hired, hired):
        problems.append(f"the report summaries count {summed} hires, the table {hired}")
    if problems:
        raise RuntimeError(f"{label}: the import is wrong: " + "; ".join(problems))
    print(f"  {label} checked: {rows_read:,} rows read = {inserted:,} inserted + {duplicates:,} duplicates + "
          f"{invalid:,} invalid; employees {employees:,}, one audit entry for the import (and one per department "
          f"or job it added), rejections stored {sum(rejected.values()):,}, all {bench.index_count} indexes back, "
          "summaries = table")
    return {"started": float(started), "finished": float(finished)}


RAW_KINDS = ("unique", "schema", "as_is")
RAW_LABELS = {
    "unique": "(a1) COPY, PK + unique constraints only (floor, any table)",
    "schema": "(a2) COPY + secondary indexes after (floor, this schema)",
    "as_is": "(a3) COPY into the table as it is (all indexes)",
}


@dataclass
class Result:
    label: str
    rows: int  # (a*): the rows loaded; (b), (c): the rows read
    seconds: float
    cpu: "CpuMeter"
    peak_mb: float | None = None
    note: str = ""


def raw_table(conn, url: str, kind: str, base_rows: int) -> list[tuple[str, str]]:
    """A fresh table for case (a*) (with the base employees copied in,
    untimed); returns the secondary index definitions the case builds after
    its COPY (a2), else nothing."""
    table = f"{RAW_TABLE}_{kind}"
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    if kind == "unique":
        conn.execute(f"CREATE TABLE {table} (LIKE employees INCLUDING DEFAULTS INCLUDING GENERATED)")
        conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id), ADD UNIQUE (employee_id), ADD UNIQUE (email)")
    else:
        conn.execute(f"CREATE TABLE {table} (LIKE employees INCLUDING ALL)")  # not its foreign keys:
        conn.execute(f"ALTER TABLE {table} ADD FOREIGN KEY (department_id) REFERENCES departments (id), "
                     "ADD FOREIGN KEY (job_id) REFERENCES jobs (id)")
    secondary = conn.execute(SECONDARY_INDEXES_SQL, (table,)).fetchall()
    for name, _ in secondary:
        conn.execute(f'DROP INDEX "{name}"')
    if base_rows:
        columns = ", ".join(STORED_COLUMNS)
        conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM employees")
    if kind == "as_is":
        build_indexes(url, secondary)
        secondary = []
    conn.execute(f"VACUUM ANALYZE {table}")
    return secondary


def case_copy(bench: ImportBench, kind: str, copy_path: Path, expected: dict) -> Result:
    """(a1), (a2), (a3): the valid, first-seen rows COPied into a table of
    their own (plus, for (a2), its secondary indexes built afterwards)."""
    with psycopg.connect(bench.pg_url, autocommit=True) as conn:
        if not bench.base_rows:
            create_lists(conn)
        secondary = raw_table(conn, bench.pg_url, kind, bench.base_rows)
        conn.execute("CHECKPOINT")
    table = f"{RAW_TABLE}_{kind}"
    with CpuMeter(bench) as cpu:
        t0 = time.perf_counter()
        with psycopg.connect(bench.pg_url) as conn:
            copy_file(conn, table, copy_path)
            conn.commit()
        copied = time.perf_counter() - t0
        built = build_indexes(bench.pg_url, secondary) if secondary else 0.0
        seconds = time.perf_counter() - t0
    with psycopg.connect(bench.pg_url) as conn:
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        indexes = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (table,)).fetchone()[0]
    if count != bench.base_rows + expected["valid"]:
        raise RuntimeError(f"{kind}: {table} holds {count:,} rows, expected {bench.base_rows + expected['valid']:,}")
    note = f"COPY {copied:.1f} s + {len(secondary)} indexes built {built:.1f} s" if secondary else ""
    print(f"  {RAW_LABELS[kind]}: {seconds:.1f} s ({count:,} rows in {table}, {indexes} indexes) {note}")
    return Result(RAW_LABELS[kind], expected["valid"], seconds, cpu, note=note)


def case_b(bench: ImportBench, csv_path: Path, expected: dict) -> tuple[Result, tuple, PhaseTimers]:
    from sqlalchemy import select

    from employee_app.extensions import db
    from employee_app.models import User
    from employee_app.services.importer import jobs

    timers = PhaseTimers().install()
    meter = CpuMeter(bench)
    timers.db_cpu = lambda: meter.snapshot()[1]
    steps = StepLog().install()
    try:
        with bench.app.app_context():
            user = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
            with CpuMeter(bench) as cpu:
                t0, c0 = time.perf_counter(), time.thread_time()
                with open(csv_path, "rb") as stream:
                    job = jobs.create_import(stream, csv_path.name, mode="valid_rows", on_existing="skip",
                                             user=user, queue=False)
                created = (time.perf_counter() - t0, time.thread_time() - c0)
                if job.status != "queued":
                    raise RuntimeError(f"(b): create_import left the import {job.status!r}, expected 'queued'")
                import_id = job.id
                jobs.run_import(import_id)
                seconds = time.perf_counter() - t0
                timers.total = (seconds, time.thread_time() - c0)
            db.session.remove()
    finally:
        timers.uninstall()
        steps.uninstall()
    check(bench, import_id, expected, "(b)")
    if steps.lines:
        print("  (b)'s bulk load steps (two connections side by side): " + "; ".join(steps.lines))
    peak = psutil.Process().memory_info().rss / 2**20
    return (Result("(b) service: create_import + run_import", expected["rows"], seconds, cpu,
                   note=f"bulk mode: {'yes' if timers.bulk else 'no'}; this script's RSS after: {peak:.0f} MB"),
            created, timers)


def case_c(bench: ImportBench, csv_path: Path, expected: dict) -> tuple[Result, dict, TreeMemory]:
    session = login(bench.app_url)
    page = get_ok(session, bench.app_url + "/imports/new")
    match = CSRF_RE.search(page.text)
    if not match:
        raise RuntimeError("no csrf_token on /imports/new")
    token = unescape(match.group(1))
    memory = TreeMemory(bench.worker.pid)
    memory.start()
    try:
        with psycopg.connect(bench.pg_url, autocommit=True) as conn, CpuMeter(bench) as cpu:
            t0 = time.perf_counter()
            wall0 = time.time()
            with open(csv_path, "rb") as f:
                response = session.post(
                    bench.app_url + "/imports/new",
                    data={"csrf_token": token, "mode": "valid_rows", "on_existing": "skip"},
                    files={"file": (csv_path.name, f, "text/csv")}, allow_redirects=False, timeout=3600)
            posted = time.perf_counter() - t0
            if response.status_code != 303:
                raise RuntimeError(f"(c): POST /imports/new -> {response.status_code}: {response.text[:300]}")
            import_id = int(IMPORT_URL_RE.search(response.headers["Location"]).group(1))
            while True:
                status, error = conn.execute("SELECT status, error FROM imports WHERE id = %s",
                                             (import_id,)).fetchone()
                if status in ("done", "failed"):
                    break
                if bench.worker.poll() is not None:
                    raise RuntimeError("(c): the worker exited; see worker.log")
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
    finally:
        memory.stop()
    if status == "failed":
        raise RuntimeError(f"(c): the import failed: {error}")
    stamps = check(bench, import_id, expected, "(c)")
    phases = {"upload": posted, "queue": stamps["started"] - (wall0 + posted),
              "run": stamps["finished"] - stamps["started"]}
    result = Result("(c) HTTP upload + worker", expected["rows"], seconds, cpu, peak_mb=memory.peak_child / 2**20,
                    note=f"upload {phases['upload']:.1f} s, waiting for the worker {phases['queue']:.1f} s, "
                         f"run {phases['run']:.1f} s")
    return result, phases, memory


def profile_service(bench: ImportBench, csv_path: Path, rows: int) -> None:
    """cProfile of create_import + run_import on the first `rows` rows of the file (after a reset)."""
    from sqlalchemy import select

    from employee_app.extensions import db
    from employee_app.models import User
    from employee_app.services.importer import jobs

    part = bench.run_dir / f"profile-{rows}.csv"
    with open(csv_path) as src, open(part, "w") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    bench.reset()
    profiler = cProfile.Profile()
    with bench.app.app_context():
        user = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
        t0 = time.perf_counter()
        profiler.enable()
        with open(part, "rb") as stream:
            job = jobs.create_import(stream, part.name, mode="valid_rows", on_existing="skip", user=user,
                                     queue=False)
        jobs.run_import(job.id)
        profiler.disable()
        seconds = time.perf_counter() - t0
        db.session.remove()
    print(f"\ncProfile of (b) on the first {rows:,} rows ({seconds:.1f} s under the profiler, "
          f"{rows / seconds:,.0f} rows/s): top functions by own time, then by cumulative time")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    out = bench.run_dir / "import_profile.pstats"
    stats.dump_stats(out)
    if bench.args.keep:
        print(f"(saved: {out})")


# --- the run ---------------------------------------------------------------------

def run_table(bench: ImportBench, name: str, csv_path: Path, copy_path: Path, expected: dict) -> list[Result]:
    """Every case into one starting table (empty, or the base employees)."""
    results = []
    for kind in RAW_KINDS:
        if kind == "as_is" and bench.args.skip_as_is:
            continue
        bench.reset()
        results.append(case_copy(bench, kind, copy_path, expected))
    print("  (b) the service in this process: create_import + run_import ...", flush=True)
    bench.reset()
    result_b, created_b, timers = case_b(bench, csv_path, expected)
    print(f"  (b) {result_b.seconds:.1f} s", flush=True)
    results.append(result_b)
    print("  (c) HTTP upload + worker ...", flush=True)
    bench.reset()
    result_c, phases, memory = case_c(bench, csv_path, expected)
    print(f"  (c) {result_c.seconds:.1f} s", flush=True)
    results.append(result_c)
    report_table(bench, name, results, expected, memory)
    timers.report(timers.total, created_b)
    return results


def report_table(bench: ImportBench, name: str, results: list[Result], expected: dict, memory: TreeMemory) -> None:
    floors = {r.label[:4]: r for r in results if r.label.startswith(("(a1)", "(a2)"))}
    a1, a2 = floors["(a1)"], floors["(a2)"]
    where = "an empty table" if name == "empty" else f"a table holding {bench.base_rows:,} employees"
    print(f"\nInto {where}: {expected['rows']:,} rows in the file, {expected['valid']:,} to insert; "
          f"load average now {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} (1 / 5 min), {os.cpu_count()} CPUs")
    header = (f"  {'case':<60} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'x (a1)':>7} {'x (a2)':>7} "
              f"{'app CPU s':>10} {'db CPU s':>9} {'peak MB':>8}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in results:
        peak = f"{r.peak_mb:>8.0f}" if r.peak_mb is not None else f"{'':>8}"
        print(f"  {r.label:<60} {r.rows:>10,} {r.seconds:>8.1f} {r.rows / r.seconds:>9,.0f} "
              f"{r.seconds / a1.seconds:>7.2f} {r.seconds / a2.seconds:>7.2f} {r.cpu.app:>10.1f} {r.cpu.db:>9.1f} "
              f"{peak}")
    for r in results:
        if r.note:
            print(f"    {r.label[:4]}: {r.note}")
    c = results[-1]
    if expected["rows"] == 1_000_000:
        target = TARGET_SECONDS[name]
        print(f"  Target for (c): <= {target:.0f} s end to end: {'MET' if c.seconds <= target else 'NOT MET'} "
              f"({c.seconds:.1f} s); worker peak < {TARGET_PEAK_MB} MB: "
              f"{'MET' if c.peak_mb < TARGET_PEAK_MB else 'NOT MET'} ({c.peak_mb:.0f} MB)")
    print("  x (a1), x (a2): the case's seconds over the floor's (1.00 = at the floor). app CPU = this script "
          "(a*, b) or gunicorn + the worker and its work horse + this script (c); db CPU = PostgreSQL (all its "
          "processes) + Valkey. CPU seconds move less than wall seconds on a shared machine.")
    print(f"  Worker peak memory (RSS, sampled every 0.2 s, {memory.samples} samples): work horse "
          f"{memory.peak_child / 2**20:.0f} MB, worker main process {memory.peak_main / 2**20:.0f} MB, "
          f"whole tree {memory.peak_tree / 2**20:.0f} MB ({len(memory.child_pids)} horse(s) seen)")


def run(args) -> None:
    csv_path, copy_path, expected = generate(args.rows, args.seed, args.regenerate)
    base_path = generate_base(args.base_rows, args.seed) if args.base_rows else None
    bench = ImportBench(args)
    load_before = os.getloadavg()
    print(f"Load average before: {load_before[0]:.2f} / {load_before[1]:.2f} (1 / 5 min)")
    try:
        bench.start_servers()
        bench.app_url = bench.gunicorn("wsgi:app", ROOT, bench.env, "/healthz")
        bench.start_worker()
        print(f"Serving {bench.app_url} (gunicorn, 2 workers x 4 threads); worker pid {bench.worker.pid} ready "
              f"(both idle during the cases they are not part of)")
        print("\n=== Into an empty table ===", flush=True)
        run_table(bench, "empty", csv_path, copy_path, expected)
        if base_path:
            print(f"\n=== Into a table holding {args.base_rows:,} employees ===", flush=True)
            bench.load_base(base_path, args.base_rows)
            run_table(bench, "full", csv_path, copy_path, expected)
        print(f"\nLoad average before the run {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min).")
        if args.profile_rows:
            bench.stop_worker()
            profile_service(bench, csv_path, min(args.profile_rows, expected["rows"]))
    finally:
        bench.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the import file (default 1,000,000)")
    parser.add_argument("--base-rows", type=int, default=1_000_000,
                        help="employees in the second table before the import (default 1,000,000; 0: skip it)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-mb", type=int, default=2000, help="IMPORT_MAX_MB for the app (default 2000)")
    parser.add_argument("--bulk-min-rows", type=int, default=100_000,
                        help="IMPORT_BULK_MIN_ROWS for the app (default 100,000, the app's; 0: never bulk)")
    parser.add_argument("--skip-as-is", action="store_true", help="leave out (a3), the slowest COPY")
    parser.add_argument("--regenerate", action="store_true", help="write the import file again even if cached")
    parser.add_argument("--profile-rows", type=int, default=0,
                        help="at the end, cProfile (b) on the first this many rows (e.g. 100000; 0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep bench/out/run-*/ (the data) afterwards")
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    return run_stoppably(run, args)


if __name__ == "__main__":
    sys.exit(main())
