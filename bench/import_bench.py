#!/usr/bin/env python3
"""CSV import benchmark: the import through the service and through an HTTP
upload and the worker, against a raw COPY of the same rows, in one run.

    .venv/bin/python bench/import_bench.py                  # 1,000,000 rows
    .venv/bin/python bench/import_bench.py --rows 20000     # quick check (< 1 minute)

What it does (everything on this machine, nothing left running afterwards):

1. generates --rows CSV rows once into bench/out/import-data/ (header
   employee_id,first_name,last_name,email,department,job_title,hire_date,
   status; ~2% invalid rows, ~2% rows repeating an earlier row's
   employee_id), and beside it the valid, first-seen rows with department_id
   resolved, ready for COPY; both are reused by later runs with the same
   --rows and --seed;
2. starts an embedded PostgreSQL (durability OFF, as in the test suite) and
   Valkey under bench/out/run-*/, applies the real migrations, creates an
   admin account;
3. (a) raw COPY: the COPY-ready file streamed into a fresh empty table
   created (LIKE employees INCLUDING ALL) plus the department foreign key
   (same constraints, indexes, generated column), from opening the file to
   the commit;
4. (b) the service in this process: jobs.create_import(queue=False) then
   jobs.run_import, from opening the file to the end (with a breakdown of
   where the time went, from timers around the pipeline's steps);
5. (c) gunicorn + `flask --app employee_app worker`: POST /imports/new with
   the file, then polling the imports row until it is done; the worker's
   process tree is sampled with psutil every 0.2 s for its peak memory;
6. between the cases: TRUNCATE employees, departments, audit_log, imports,
   import_rejections, FLUSHALL Valkey, rebuild the (empty) duplicate index,
   CHECKPOINT; after (b) and (c): the counts must add up and match the file;
7. prints rows/s for each case and its ratio to (a), and stops everything
   (also on an error, Ctrl-C or SIGTERM).
"""
import argparse
import cProfile
import json
import os
import pstats
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_bench import (ADMIN_PASSWORD, CSRF_RE, DEPARTMENTS, JOB_TITLES, OUT, ROOT, SECRET_KEY,  # noqa: E402
                        STATUSES, Bench, Data, get_ok, login)

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
RESET_SQL = "TRUNCATE employees, departments, jobs, audit_log, imports, import_rejections RESTART IDENTITY CASCADE"


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


# --- servers -------------------------------------------------------------------

class ImportBench(Bench):
    """list_bench's Bench (servers, gunicorn, stop) plus an import worker."""

    def __init__(self, args):
        super().__init__(args)
        self.upload_dir = self.run_dir / "uploads"
        self.worker: subprocess.Popen | None = None

    def start_servers(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir()
        print(f"Data directory: {self.run_dir}" + ("" if self.args.keep else " (removed at the end; --keep keeps it)"))
        self.postgres = EmbeddedPostgres(self.run_dir / "pgdata").start()
        self.postgres.tune_for_tests()
        print("PostgreSQL (embedded) started. NOTE: durability is OFF (fsync, synchronous_commit, "
              "full_page_writes = off), as in the test suite: commits and WAL cost less than on a real server, "
              "for all three cases.")
        self.pg_url = self.postgres.ensure_database("employee_bench")
        self.valkey = EmbeddedValkey(self.run_dir / "valkey", persist=False).start()
        print(f"Valkey (embedded) started: {self.valkey.url}")
        self.env = {"DATABASE_URL": self.pg_url, "VALKEY_URL": self.valkey.url, "SECRET_KEY": SECRET_KEY,
                    "UPLOAD_DIR": str(self.upload_dir), "IMPORT_MAX_MB": str(self.args.max_mb),
                    "LOG_LEVEL": "WARNING"}
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
            settings = dict(conn.execute(
                "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_wal_size', 'checkpoint_timeout')"
            ).fetchall())
        print(f"Migrations applied, admin account created. PostgreSQL {version}; "
              + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))

    def reset(self) -> None:
        """Empty tables, an empty and ready Valkey index (as tests/conftest.py
        clean_state does), then a checkpoint so no case pays for the last."""
        from employee_app.extensions import db
        from employee_app.services import duplicate_guard
        from employee_app.valkey_store import get_store

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
            conn.execute(RESET_SQL)
        with self.app.app_context():
            store = get_store()
            deadline = time.monotonic() + 10
            while store.client.exists(duplicate_guard.REBUILD_LOCK_KEY) and time.monotonic() < deadline:
                time.sleep(0.05)
            store.client.flushall()
            store.repair_due = False
            duplicate_guard.rebuild_index()
            db.session.remove()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def start_worker(self) -> None:
        from rq import Worker

        from employee_app.services.importer import jobs

        log = open(self.run_dir / "worker.log", "wb")
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


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, with the
    children each has already reaped (PostgreSQL's finished backends, RQ's
    finished work horses)."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in members:
        try:
            t = process.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


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
    pipeline's steps, from wrappers around ImportRunner's methods and
    psycopg's execute/commit (a few calls per 5,000-row batch, so the
    overhead is negligible). Only in this process, for (b); nothing is
    changed on disk."""

    METHODS = ("run", "_run_batch", "_validate", "_flagged_by_valkey", "_insert", "_resolve_entries",
               "_explain_conflicts", "_store_rejections")

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.active = False
        self._undo = []

    def add(self, name: str, seconds: float, cpu: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu
        self.calls[name] = self.calls.get(name, 0) + 1

    def _patch(self, owner, attribute: str, name_of) -> None:
        original = getattr(owner, attribute)
        timers = self

        def timed(*args, **kwargs):
            name = name_of(args)
            if name is None:
                return original(*args, **kwargs)
            t, c = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                timers.add(name, time.perf_counter() - t, time.thread_time() - c)
        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def install(self) -> "PhaseTimers":
        from employee_app.services import duplicate_guard
        from employee_app.services.importer import pipeline

        for method in self.METHODS:
            self._patch(pipeline.ImportRunner, method, lambda args, m=method: m)
        self._patch(pipeline, "save_progress", lambda args: "save_progress")
        self._patch(duplicate_guard, "remember_values", lambda args: "remember_values (Valkey SADD)")

        def sql_name(args):
            if not self.active:
                return None
            query = args[1] if len(args) > 1 else None
            if query is pipeline.INSERT_SQL:
                return "INSERT ... ON CONFLICT + audit_log"
            return "other SQL"
        self._patch(psycopg.Cursor, "execute", sql_name)
        self._patch(psycopg.Connection, "commit", lambda args: "commit" if self.active else None)

        original_run = pipeline.ImportRunner.run

        def run(runner, *args, **kwargs):
            self.active = True
            try:
                return original_run(runner, *args, **kwargs)
            finally:
                self.active = False
        pipeline.ImportRunner.run = run
        self._undo.append((pipeline.ImportRunner, "run", original_run))
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

        run, batches, insert = get("run"), get("_run_batch"), get("_insert")
        statement, departments = get("INSERT ... ON CONFLICT + audit_log"), get("_resolve_entries")
        rows = [
            ("create_import (save the upload, UTF-8 check, sniff, sample)", create),
            ("reading the file: csv.reader + batching (run - batches)", minus(run, batches)),
            ("_validate (mapped_record + clean_employee, per row)", get("_validate")),
            ("_flagged_by_valkey (SMISMEMBER)", get("_flagged_by_valkey")),
            ("_insert: departments", departments),
            ("_insert: TRUNCATE + COPY into staging (rows built in Python, JSON)",
             minus(insert, statement, departments)),
            ("_insert: INSERT ... ON CONFLICT + audit_log statement", statement),
            ("_explain_conflicts (SELECT the holders)", get("_explain_conflicts")),
            ("_store_rejections (COPY)", get("_store_rejections")),
            ("save_progress (UPDATE imports)", get("save_progress")),
            ("commit", get("commit")),
            ("remember_values (Valkey SADD)", get("remember_values (Valkey SADD)")),
        ]
        accounted = minus((sum(r[1][0] for r in rows), sum(r[1][1] for r in rows)), create)
        rows.append(("rest of run_import (job bookkeeping, connections)", minus(total, create, run)))
        rows.append(("unaccounted inside run", minus(run, accounted)))
        print(f"\nWhere (b)'s {total[0]:.1f} s went ({self.calls.get('_run_batch', 0)} batches; timers around the "
              "pipeline's steps. Python CPU = this thread's CPU time in the step; the rest of the step's wall "
              "time is waiting for PostgreSQL or Valkey, or for a CPU on a busy machine):")
        print(f"  {'step':<68} {'wall s':>7} {'%':>6} {'Python CPU s':>13}")
        for label, (seconds, cpu) in rows:
            print(f"  {label:<68} {seconds:>7.1f} {100 * seconds / total[0]:>5.1f}% {cpu:>13.1f}")
        print(f"  {'total':<68} {total[0]:>7.1f} {100.0:>5.1f}% {total[1]:>13.1f}")
        print(f"  (SQL other than the INSERT inside the steps, e.g. TRUNCATE import_staging, the departments, "
              f"the holders of conflicts: {self.seconds.get('other SQL', 0.0):.1f} s wall)")


def check(pg_url: str, import_id: int, expected: dict, label: str) -> dict:
    """The import is done and its counts add up and match the file; fails loudly otherwise."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT status, rows_read, inserted, updated, duplicates, invalid, error, "
            "extract(epoch FROM started_at), extract(epoch FROM finished_at) FROM imports WHERE id = %s",
            (import_id,)).fetchone()
        employees = conn.execute("SELECT count(*) FROM employees").fetchone()[0]
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE import_id = %s", (import_id,)).fetchone()[0]
        rejected = conn.execute("SELECT kind, count(*) FROM import_rejections WHERE import_id = %s GROUP BY kind",
                                (import_id,)).fetchall()
    status, rows_read, inserted, updated, duplicates, invalid, error, started, finished = row
    rejected = dict(rejected)
    problems = []
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
    if employees != expected["valid"]:
        problems.append(f"employees holds {employees:,} rows, expected {expected['valid']:,}")
    if audited != inserted:
        problems.append(f"audit_log has {audited:,} entries for the import, expected {inserted:,}")
    if rejected.get("duplicate", 0) != duplicates or rejected.get("invalid", 0) != invalid:
        problems.append(f"import_rejections {rejected} do not match duplicates {duplicates}, invalid {invalid}")
    if problems:
        raise RuntimeError(f"{label}: the import is wrong: " + "; ".join(problems))
    print(f"  {label} checked: {rows_read:,} rows read = {inserted:,} inserted + {duplicates:,} duplicates + "
          f"{invalid:,} invalid; employees {employees:,}, audit entries {audited:,}, rejections stored "
          f"{sum(rejected.values()):,}")
    return {"started": float(started), "finished": float(finished)}


def case_a(bench: ImportBench, copy_path: Path, expected: dict) -> tuple[float, CpuMeter]:
    """Raw COPY of the valid, first-seen rows into a (LIKE employees
    INCLUDING ALL) table with the department foreign key added (LIKE does not
    copy foreign keys), from opening the file to the commit."""
    with psycopg.connect(bench.pg_url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE employees INCLUDING ALL)")
        for table, names in (("departments", DEPARTMENTS), ("jobs", JOB_TITLES)):
            column = "department_id" if table == "departments" else "job_id"
            conn.execute(f"ALTER TABLE {RAW_TABLE} ADD FOREIGN KEY ({column}) REFERENCES {table} (id) "
                         "ON DELETE RESTRICT")
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} (name) VALUES (%s)", [(name,) for name in names])
            stored = [tuple(r) for r in conn.execute(f"SELECT id, name FROM {table} ORDER BY id")]
            if stored != list(enumerate(names, start=1)):
                raise RuntimeError(f"{table} did not get ids 1..{len(names)} in order: the COPY file would not fit")
        indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", (RAW_TABLE,)).fetchone()[0]
        constraints = conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass",
                                   (RAW_TABLE,)).fetchone()[0]
        conn.commit()
        conn.execute("CHECKPOINT")
    copy_sql = (f"COPY {RAW_TABLE} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT csv, HEADER true)")
    with CpuMeter(bench) as cpu:
        t0 = time.perf_counter()
        with psycopg.connect(bench.pg_url) as conn:
            with open(copy_path, "rb") as f, conn.cursor() as cur, cur.copy(copy_sql) as copy:
                while chunk := f.read(1024 * 1024):
                    copy.write(chunk)
            conn.commit()
        seconds = time.perf_counter() - t0
    with psycopg.connect(bench.pg_url) as conn:
        count, generated = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE search_text LIKE '% e%') FROM {RAW_TABLE}").fetchone()
    if count != expected["valid"] or generated != count:
        raise RuntimeError(f"(a): {RAW_TABLE} holds {count:,} rows ({generated:,} with search_text), "
                           f"expected {expected['valid']:,}")
    print(f"  (a) checked: {count:,} rows in {RAW_TABLE} ({indexes} indexes, {constraints} constraints)")
    return seconds, cpu


def case_b(bench: ImportBench, csv_path: Path, expected: dict) -> tuple[float, tuple, PhaseTimers, CpuMeter]:
    from sqlalchemy import select

    from employee_app.extensions import db
    from employee_app.models import User
    from employee_app.services.importer import jobs

    timers = PhaseTimers().install()
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
    check(bench.pg_url, import_id, expected, "(b)")
    return seconds, created, timers, cpu


def case_c(bench: ImportBench, csv_path: Path, expected: dict) -> tuple[float, dict, TreeMemory, CpuMeter]:
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
    stamps = check(bench.pg_url, import_id, expected, "(c)")
    phases = {"upload": posted, "queue": stamps["started"] - (wall0 + posted),
              "run": stamps["finished"] - stamps["started"]}
    return seconds, phases, memory, cpu


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

def run(args) -> None:
    csv_path, copy_path, expected = generate(args.rows, args.seed, args.regenerate)
    rows = expected["rows"]
    bench = ImportBench(args)
    load_before = os.getloadavg()
    try:
        bench.start_servers()

        print("\n(a) raw COPY of the valid, first-seen rows ...", flush=True)
        bench.reset()
        seconds_a, cpu_a = case_a(bench, copy_path, expected)
        print(f"  (a) {seconds_a:.1f} s")

        print("\n(b) the service in this process: create_import + run_import ...", flush=True)
        bench.reset()
        seconds_b, created_b, timers, cpu_b = case_b(bench, csv_path, expected)
        print(f"  (b) {seconds_b:.1f} s")

        print("\n(c) HTTP upload + worker ...", flush=True)
        bench.reset()
        bench.app_url = bench.gunicorn("wsgi:app", ROOT, bench.env, "/healthz")
        bench.start_worker()
        print(f"  serving {bench.app_url} (gunicorn, 2 workers x 4 threads); worker pid {bench.worker.pid} ready")
        seconds_c, phases_c, memory, cpu_c = case_c(bench, csv_path, expected)
        print(f"  (c) {seconds_c:.1f} s")

        rate_a = expected["valid"] / seconds_a
        results = [
            ("(a) raw COPY (valid, first-seen rows)", expected["valid"], seconds_a, cpu_a),
            ("(b) service: create_import + run_import", rows, seconds_b, cpu_b),
            ("(c) HTTP upload + worker", rows, seconds_c, cpu_c),
        ]
        print(f"\nResults ({rows:,} rows in the file, {csv_path.stat().st_size / 1e6:.1f} MB; "
              f"{expected['valid']:,} to insert; load average before {load_before[0]:.2f}, "
              f"now {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs)")
        header = (f"{'case':<42} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'ratio to (a)':>13} "
                  f"{'app CPU s':>10} {'db CPU s':>9}")
        print(header)
        print("-" * len(header))
        for label, n, seconds, cpu in results:
            rate = n / seconds
            print(f"{label:<42} {n:>10,} {seconds:>8.1f} {rate:>9,.0f} {rate / rate_a:>13.2f} "
                  f"{cpu.app:>10.1f} {cpu.db:>9.1f}")
        ratio_b = rows / seconds_b / rate_a
        ratio_c = rows / seconds_c / rate_a
        print(f"b/a = {ratio_b:.2f}, c/a = {ratio_c:.2f} (rows/s over rows/s; (a) counts the rows it loads, "
              f"(b) and (c) the rows they read). Target b/a >= 0.5: {'MET' if ratio_b >= 0.5 else 'NOT MET'}.")
        print("app CPU = this script (a, b) or gunicorn + the worker and its work horse + this script (c); "
              "db CPU = PostgreSQL (all its processes) + Valkey. CPU seconds move less than wall seconds "
              "on a shared machine.")
        cpu_rate_a = expected["valid"] / (cpu_a.app + cpu_a.db)
        print(f"By CPU seconds (app + db: the wall time on an idle machine if the import's Python and PostgreSQL "
              f"took turns; its reader thread overlaps them, so this is a pessimistic bound): b/a = {rows / (cpu_b.app + cpu_b.db) / cpu_rate_a:.2f}, "
              f"c/a = {rows / (cpu_c.app + cpu_c.db) / cpu_rate_a:.2f}; the database side alone "
              f"(db CPU of (a) / db CPU): b {cpu_a.db / cpu_b.db:.2f}, c {cpu_a.db / cpu_c.db:.2f}.")
        print(f"(c) split: upload (POST until the 303, incl. create_import in gunicorn) {phases_c['upload']:.1f} s, "
              f"waiting for the worker (fork, create_app) {phases_c['queue']:.1f} s, run_import in the work "
              f"horse {phases_c['run']:.1f} s")
        print(f"Worker peak memory (RSS, sampled every 0.2 s, {memory.samples} samples): work horse "
              f"{memory.peak_child / 2**20:.0f} MB, worker main process {memory.peak_main / 2**20:.0f} MB, "
              f"whole tree {memory.peak_tree / 2**20:.0f} MB ({len(memory.child_pids)} horse(s) seen)")
        timers.report(timers.total, created_b)

        if args.profile_rows:
            bench.stop_worker()
            profile_service(bench, csv_path, min(args.profile_rows, rows))
    finally:
        bench.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the import file (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-mb", type=int, default=2000, help="IMPORT_MAX_MB for the app (default 2000)")
    parser.add_argument("--regenerate", action="store_true", help="write the import file again even if cached")
    parser.add_argument("--profile-rows", type=int, default=0,
                        help="at the end, cProfile (b) on the first this many rows (e.g. 100000; 0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep bench/out/run-*/ (the data) afterwards")
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run(args)
    except KeyboardInterrupt:
        print("Interrupted.")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
