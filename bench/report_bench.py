#!/usr/bin/env python3
"""Report-page benchmark: the report pages and the home page on a large
table, against a bare Flask baseline measured in the same run (issue 10).

    .venv/bin/python bench/report_bench.py                            # 1,000,000 employees, 100 requests each
    .venv/bin/python bench/report_bench.py --rows 20000 --requests 20 # quick check

What it does (everything on this machine, nothing left running afterwards):

1. starts an embedded PostgreSQL (durability off) and Valkey under
   bench/out/run-*/ and applies the real Alembic migrations (list_bench.Bench);
2. creates 12 departments and 180 jobs, both with codes, and COPYs --rows
   synthetic employees (hire dates over the 30 years up to today, ~12%
   terminated with a termination date on or after the hire date, a few
   terminated without one, ~4% on leave, a few without a hire date, a
   department or a job) with the secondary indexes of employees dropped for
   the load and re-created from their exact definitions. COPY fires the
   statement-level triggers of migration 0009, which append the load's rows
   to the summary tables (headcount_changes, hires_by_quarter) unmerged;
   then, as at the end of an import, services/reports.compact_summaries()
   merges them; then VACUUM ANALYZE, the Valkey index rebuild, an admin,
   and, once no autovacuum worker runs, VACUUM again until every page of
   employees and of the summary tables is all-visible (the settled state);
3. serves the real app (wsgi:app) and the bare Flask app (one indexed
   SELECT) with gunicorn, 2 workers x 4 threads each;
4. logs in as the admin and times, one request at a time, cases interleaved
   in a random order each round: the home page, each report page (HTML and
   CSV), the headcount today and 10 years ago, hires and leavers, and the
   bare page; twice: between edits (each process holds the figures of the
   current generation), then with one employee's hire date changed (an
   UPDATE through psycopg, outside the timing) before each report GET, so
   that every GET merges the edit's summary rows and reads its figures
   afresh;
5. prints median / p95 and their ratios to the bare page, whether every
   report page's median is within 5x of the bare page's in each run, the statements
   slower than --slow-ms while measuring (auto_explain), and the plain
   alternative: the same aggregates computed straight from employees
   (GROUP BY / FILTER / date_trunc), timed through psycopg and explained,
   next to the app's summary-table queries, whose results they must equal;
6. stops gunicorn, Valkey and PostgreSQL, on success, error or Ctrl-C.
"""
import argparse
import os
import random
import re
import signal
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_bench import (ADMIN_PASSWORD, DEPARTMENTS, JOB_TITLES, Bench, Data, get_ok,  # noqa: E402
                        login, measure, parse_auto_explain, slow_statements, statistics_of,
                        zipf_weights)

import psycopg  # noqa: E402
import requests  # noqa: E402

COPY_SQL = ("COPY employees (employee_id, first_name, last_name, email, department_id, job_id, "
            "hire_date, status, termination_date) FROM STDIN")
GOAL = 5.0  # every report page's median within GOAL x the bare page's

# 12 departments (codes D1 ... D12: natural order puts D2 before D10) and
# 180 jobs: 24 titles x grades I to VIII, the first 180 (codes J1 ... J180).
REPORT_DEPARTMENTS = ["Engineering", "Sales", "Customer Support", "Operations", "Marketing", "Finance",
                      "Product", "Human Resources", "Logistics", "Legal", "Research", "Procurement"]
assert set(REPORT_DEPARTMENTS) <= set(DEPARTMENTS)
GRADES = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]
JOB_COUNT = 180

NO_HIRE_DATE = 0.002
NO_DEPARTMENT = 0.005
NO_JOB = 0.005
STATUS_WEIGHTS = (("active", 84), ("on_leave", 4), ("terminated", 12))
UNDATED_TERMINATED = 0.03  # of the terminated: no termination date


def department_rows() -> list[tuple[str, str]]:
    return [(name, f"D{n}") for n, name in enumerate(REPORT_DEPARTMENTS, 1)]


def job_rows() -> list[tuple[str, str]]:
    names = [f"{title} {grade}" for grade in GRADES for title in JOB_TITLES][:JOB_COUNT]
    return [(name, f"J{n}") for n, name in enumerate(names, 1)]


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class ReportData:
    """Names as list_bench's Data (same seed, same names); departments and
    jobs with Zipf-like sizes; dates and statuses as described above."""

    def __init__(self, seed: int):
        self.names = Data(seed)
        self.rng = self.names.rng
        self.counts = {"no_hire_date": 0, "no_department": 0, "no_job": 0, "terminated_dated": 0,
                       "terminated_undated": 0, "on_leave": 0, "active": 0}

    def batches(self, rows: int, department_ids: list[int], job_ids: list[int], batch: int = 50_000):
        rng, names, counts = self.rng, self.names, self.counts
        today = date.today()
        span = 30 * 365
        epoch = today - timedelta(days=span)
        department_ids = department_ids[:]
        job_ids = job_ids[:]
        rng.shuffle(department_ids)  # sizes independent of name order
        rng.shuffle(job_ids)
        department_weights = zipf_weights(len(department_ids), 0.8)
        job_weights = zipf_weights(len(job_ids), 0.6)
        status_values = [s for s, _ in STATUS_WEIGHTS]
        status_weights = [w for _, w in STATUS_WEIGHTS]
        for start in range(1, rows + 1, batch):
            n = min(batch, rows + 1 - start)
            lasts = rng.choices(names.last_names, names.last_weights, k=n)
            firsts = rng.choices(names.first_names, names.first_weights, k=n)
            departments = rng.choices(department_ids, department_weights, k=n)
            jobs = rng.choices(job_ids, job_weights, k=n)
            statuses = rng.choices(status_values, status_weights, k=n)
            lines = []
            for i in range(n):
                number = start + i
                first, last, status = firsts[i], lasts[i], statuses[i]
                department = r"\N" if rng.random() < NO_DEPARTMENT else str(departments[i])
                job = r"\N" if rng.random() < NO_JOB else str(jobs[i])
                counts["no_department"] += department == r"\N"
                counts["no_job"] += job == r"\N"
                terminated = r"\N"
                if rng.random() < NO_HIRE_DATE:
                    hired = r"\N"
                    counts["no_hire_date"] += 1
                    if status == "terminated":
                        counts["terminated_undated"] += 1
                    else:
                        counts[status] += 1
                else:
                    day = epoch + timedelta(days=rng.randrange(span + 1))
                    hired = day.isoformat()
                    if status == "terminated":
                        if rng.random() < UNDATED_TERMINATED:
                            counts["terminated_undated"] += 1
                        else:
                            terminated = (day + timedelta(days=rng.randrange((today - day).days + 1))).isoformat()
                            counts["terminated_dated"] += 1
                    else:
                        counts[status] += 1
                lines.append("\t".join((
                    f"E{number:07d}", first, last, f"{first}.{last}.{number}@example.com".lower(),
                    department, job, hired, status, terminated)))
            yield "\n".join(lines) + "\n"


class ReportBench(Bench):
    """list_bench's servers, gunicorn and clean-up; its own data."""

    def load(self) -> None:
        from employee_app.extensions import db
        from employee_app.services import duplicate_guard, reports, users

        rows = self.args.rows
        data = ReportData(self.args.seed)
        t0 = time.perf_counter()
        with psycopg.connect(self.pg_url) as conn:
            department_ids = [conn.execute("INSERT INTO departments (name, code) VALUES (%s, %s) RETURNING id",
                                           row).fetchone()[0] for row in department_rows()]
            job_ids = [conn.execute("INSERT INTO jobs (name, code) VALUES (%s, %s) RETURNING id",
                                    row).fetchone()[0] for row in job_rows()]
            # Secondary indexes (not those behind PK/UNIQUE constraints) are
            # built once after COPY, as list_bench does.
            dropped = conn.execute("""
                SELECT i.relname, pg_get_indexdef(i.oid)
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                WHERE x.indrelid = 'employees'::regclass
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
                ORDER BY 1""").fetchall()
            for name, _ in dropped:
                conn.execute(f'DROP INDEX "{name}"')
            with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
                for chunk in data.batches(rows, department_ids, job_ids):
                    copy.write(chunk)
            t_copy = time.perf_counter()
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 2")
            for name, definition in dropped:
                conn.execute(definition)
            after = conn.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = ANY(%s) ORDER BY 1",
                ([name for name, _ in dropped],)).fetchall()
            assert after == dropped, "re-created indexes differ from the migration's"
            conn.commit()
            t_index = time.perf_counter()
            waiting = {table: conn.execute(f"SELECT count(*) FILTER (WHERE NOT merged), count(*) FROM {table}")
                       .fetchone() for table in ("headcount_changes", "hires_by_quarter")}
        print(f"COPY of {rows:,} employees (the statement triggers of migration 0009 included): "
              f"{t_copy - t0:.1f} s; {len(dropped)} indexes re-created: {t_index - t_copy:.1f} s")
        print("  summary rows after COPY: " + ", ".join(
            f"{table} {unmerged:,} unmerged of {total:,}" for table, (unmerged, total) in waiting.items()))

        # The state after an import: its last step merges the summaries.
        t = time.perf_counter()
        with self.app.app_context():
            if not reports.compact_summaries():
                raise RuntimeError("compact_summaries() found another merge running")
            db.session.remove()
        t_merge = time.perf_counter()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            # synchronous_commit is off here: until the WAL writer flushes the
            # commit records of the COPY and of the merge, VACUUM may not mark
            # their pages all-visible. CHECKPOINT flushes them.
            conn.execute("CHECKPOINT")
            for table in ("employees", "departments", "jobs", "headcount_changes", "hires_by_quarter"):
                conn.execute(f"VACUUM ANALYZE {table}")
            sizes = {table: conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE NOT merged), pg_size_pretty(pg_table_size('{table}')),"
                f" pg_size_pretty(pg_indexes_size('{table}')) FROM {table}").fetchone()
                for table in ("headcount_changes", "hires_by_quarter")}
            size = conn.execute("SELECT pg_size_pretty(pg_table_size('employees')), "
                                "pg_size_pretty(pg_indexes_size('employees'))").fetchone()
        t_vacuum = time.perf_counter()
        with self.app.app_context():
            indexed = duplicate_guard.rebuild_index()
            users.create_user("admin", ADMIN_PASSWORD, "admin")
            db.session.remove()
        t_valkey = time.perf_counter()
        print(f"compact_summaries() after the load: {t_merge - t:.1f} s; VACUUM ANALYZE {t_vacuum - t_merge:.1f} s; "
              f"Valkey index rebuild {t_valkey - t_vacuum:.1f} s ({indexed:,} employees)")
        print(f"  employees: table {size[0]}, its indexes {size[1]}")
        for table, (total, unmerged, table_size, index_size) in sizes.items():
            print(f"  {table}: {total:,} rows ({unmerged} unmerged), table {table_size}, its indexes {index_size}")
        self.settle()
        c = data.counts
        print(f"  data: {c['active']:,} active, {c['on_leave']:,} on leave, {c['terminated_dated']:,} terminated "
              f"with a termination date, {c['terminated_undated']:,} without; {c['no_hire_date']:,} without a "
              f"hire date, {c['no_department']:,} without a department, {c['no_job']:,} without a job")

    def settle(self, timeout: float = 180) -> None:
        """The state an import settles into once autovacuum has been by (the
        summaries' thresholds are 10,000 rows, migration 0009): every page of
        employees and of the summary tables all-visible. Checked, as this
        matters for the plans: with few all-visible pages the index-only
        scans of the summaries are costed with a heap fetch per row, and the
        planner may pick a parallel plan for HEADCOUNT_SQL, whose worker
        start-up costs ~10 ms on this machine, several times the query. Seen
        here: without the CHECKPOINT in load() (synchronous_commit is off) the
        load's VACUUM marked no page of employees all-visible; with it, the
        pages the merge wrote into the summary tables still stay unmarked
        until a second VACUUM moments later. Until all pages are all-visible
        (or timeout seconds): wait until no autovacuum worker runs, VACUUM
        again."""
        tables = ("employees", "headcount_changes", "hires_by_quarter")

        def visibility(conn) -> dict[str, tuple[int, int]]:
            return {name: (pages, visible) for name, pages, visible in conn.execute(
                "SELECT relname, relpages, relallvisible FROM pg_class WHERE relname = ANY(%s)",
                (list(tables),))}

        t0 = time.perf_counter()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            before = after = visibility(conn)
            while not all(visible >= pages for pages, visible in after.values()):
                if time.perf_counter() - t0 > timeout:
                    print(f"  (not all pages all-visible after {timeout:g} s)")
                    break
                if conn.execute("SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                                " AND datname = current_database()").fetchone() is None:
                    for table in tables:
                        conn.execute(f"VACUUM {table}")
                    after = visibility(conn)
                else:
                    time.sleep(1)
        shown = lambda v: ", ".join(f"{name} {v[name][1]:,}/{v[name][0]:,}" for name in tables)  # noqa: E731
        print(f"  all-visible pages after the load's VACUUM: {shown(before)}"
              + ("" if before == after else f"; after waiting for autovacuum and VACUUM again "
                 f"({time.perf_counter() - t0:.0f} s): {shown(after)}"))


# --- the plain alternative: the same aggregates straight from employees -----------

# The hire-date index is on coalesce(hire_date, '9999-12-31') (the list's
# order): written that way, a year's range can use it.
HIRED = "coalesce(e.hire_date, '9999-12-31'::date)"

PLAIN = {
    "hires by quarter": f"""
        SELECT d.name AS department, j.name AS job,
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 1) AS q1,
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 2) AS q2,
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 3) AS q3,
               count(*) FILTER (WHERE extract(quarter FROM e.hire_date) = 4) AS q4
        FROM employees e JOIN departments d ON d.id = e.department_id JOIN jobs j ON j.id = e.job_id
        WHERE {HIRED} >= %(year_start)s AND {HIRED} < %(next_year)s
        GROUP BY d.id, d.name, j.id, j.name
        ORDER BY lower(d.name), d.id, lower(j.name), j.id""",
    "departments above the mean": f"""
        WITH hired AS (
            SELECT e.department_id, count(*) AS hired FROM employees e
            WHERE {HIRED} >= %(year_start)s AND {HIRED} < %(next_year)s GROUP BY e.department_id),
        listed AS (SELECT d.code, d.name, coalesce(h.hired, 0) AS hired
                   FROM departments d LEFT JOIN hired h ON h.department_id = d.id)
        SELECT code, name, hired FROM listed WHERE hired > (SELECT avg(hired) FROM listed)
        ORDER BY hired DESC, name""",
    "headcount today": """
        SELECT coalesce(d.name, 'No department') AS department,
               count(*) FILTER (WHERE e.status = 'active') AS active,
               count(*) FILTER (WHERE e.status = 'on_leave') AS on_leave,
               count(*) FILTER (WHERE e.status = 'terminated') AS left_since
        FROM employees e LEFT JOIN departments d ON d.id = e.department_id
        WHERE e.hire_date <= %(today)s AND (e.termination_date IS NULL OR e.termination_date >= %(today)s)
          AND NOT (e.status = 'terminated' AND e.termination_date IS NULL)
        GROUP BY d.id, d.name ORDER BY d.id IS NULL, lower(d.name), d.id""",
    "headcount 10 years ago": """
        SELECT coalesce(d.name, 'No department') AS department,
               count(*) FILTER (WHERE e.status = 'active') AS active,
               count(*) FILTER (WHERE e.status = 'on_leave') AS on_leave,
               count(*) FILTER (WHERE e.status = 'terminated') AS left_since
        FROM employees e LEFT JOIN departments d ON d.id = e.department_id
        WHERE e.hire_date <= %(past)s AND (e.termination_date IS NULL OR e.termination_date >= %(past)s)
          AND NOT (e.status = 'terminated' AND e.termination_date IS NULL)
        GROUP BY d.id, d.name ORDER BY d.id IS NULL, lower(d.name), d.id""",
    "hires and leavers (24 months)": f"""
        WITH changes AS (
            SELECT date_trunc('month', e.hire_date)::date AS month, 1 AS hires, 0 AS leavers FROM employees e
            WHERE {HIRED} >= %(first_month)s AND {HIRED} < %(next_month)s
            UNION ALL
            SELECT date_trunc('month', e.termination_date)::date, 0, 1 FROM employees e
            WHERE e.termination_date >= %(first_month)s AND e.termination_date < %(next_month)s)
        SELECT m.month::date AS month, coalesce(sum(c.hires), 0) AS hires, coalesce(sum(c.leavers), 0) AS leavers
        FROM generate_series(%(first_month)s::date, %(this_month)s::date, interval '1 month') AS m(month)
        LEFT JOIN changes c ON c.month = m.month::date
        GROUP BY m.month ORDER BY m.month""",
    "years with hires (year picker)": """
        SELECT DISTINCT extract(year FROM e.hire_date)::int AS year FROM employees e
        WHERE e.hire_date IS NOT NULL ORDER BY 1 DESC""",
}


def summary_side(name: str, p: dict):
    """The app's answer for PLAIN[name], read from the summary tables by
    services/reports (inside an app context), as comparable rows."""
    from sqlalchemy import text

    from employee_app.extensions import db
    from employee_app.services import reports

    if name == "hires by quarter":
        # The page's query without its LIMIT (what the CSV reads), plus the
        # chart's per-department query, as hires_by_quarter() runs both.
        rows = db.session.execute(text(reports.QUARTER_ROWS_SQL),
                                  {"year": p["year"], "limit": None, "offset": 0}).all()
        db.session.execute(text(reports.QUARTER_DEPARTMENTS_SQL), {"year": p["year"]}).all()
        return [(r.department, r.job, r.q1, r.q2, r.q3, r.q4) for r in rows]
    if name == "departments above the mean":
        return sorted((r.code, r.name, r.hired) for r in reports.departments_above_mean(p["year"]).rows)
    if name.startswith("headcount"):
        report = reports.headcount(p["today"] if name.endswith("today") else p["past"])
        return [(r.department, r.active, r.on_leave, r.left_since) for r in report.rows]
    if name.startswith("hires and leavers"):
        return [(r.month, r.hires, r.leavers) for r in reports.hires_and_leavers(p["today"])]
    if name.startswith("years with hires"):
        return [(y,) for y in reports.years_with_hires()]
    raise KeyError(name)


def comparable(name: str, rows: list) -> list:
    if name == "departments above the mean":
        return sorted(tuple(r) for r in rows)
    if name.startswith("years with hires"):
        return [r[0] for r in rows]
    if name.startswith("headcount"):
        return [tuple(r) for r in rows if sum(r[1:]) > 0]
    return [tuple(r) for r in rows]


SCAN_NODE_RE = re.compile(r"((?:Parallel )?(?:Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)"
                          r"(?: using \S+)? on employees)")


def plain_alternative(bench, params: dict, runs: int, bare_median: float) -> list[str]:
    """Time each plain aggregate (median of `runs` executions through
    psycopg) and its summary-table counterpart (the service, in this
    process); EXPLAIN ANALYZE the plain one; compare the results."""
    from employee_app.extensions import db

    mismatches = []
    print(f"\nThe plain alternative: each report's aggregate straight from employees (GROUP BY / FILTER / "
          f"date_trunc), median of {runs} runs through psycopg, against the app's queries on the summary "
          "tables (services/reports, in this process, same runs); EXPLAIN ANALYZE of the plain one once:")
    header = f"{'aggregate':<32} {'plain ms':>9} {'summary ms':>11} {'plain/summary':>14} {'plain/bare page':>16}"
    print(header)
    print("-" * len(header))
    plans = {}
    with psycopg.connect(bench.pg_url, autocommit=True) as conn, bench.app.app_context():
        for name, sql in PLAIN.items():
            plain_times, summary_times = [], []
            for _ in range(runs):
                t = time.perf_counter()
                plain_rows = conn.execute(sql, params).fetchall()
                plain_times.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                summary_rows = summary_side(name, params)
                summary_times.append((time.perf_counter() - t) * 1000)
                db.session.rollback()
            plain_ms, summary_ms = statistics.median(plain_times), statistics.median(summary_times)
            print(f"{name:<32} {plain_ms:>9.1f} {summary_ms:>11.1f} {plain_ms / summary_ms:>14.1f} "
                  f"{plain_ms / bare_median:>16.1f}")
            if comparable(name, plain_rows) != comparable(name, summary_rows):
                a, b = comparable(name, plain_rows), comparable(name, summary_rows)
                diff = [(x, y) for x, y in zip(a, b) if x != y][:3]
                mismatches.append(f"{name}: plain {len(a)} rows, summary {len(b)} rows; first differences "
                                  f"(plain, summary): {diff}")
            plans[name] = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, params)]
        db.session.remove()
    print("(plain/bare page: the plain query alone, before any login check or template, in bare-page medians; "
          f"{GOAL:g} is the whole page's budget.)")
    print("\nPlans of the plain aggregates (their scans of employees, and the execution time):")
    for name, lines in plans.items():
        scans = sorted({m.group(1) for line in lines for m in [SCAN_NODE_RE.search(line)] if m})
        executed = next((line for line in lines if line.startswith("Execution Time")), "?")
        jit = next((line.strip() for line in lines if line.strip().startswith("Timing: Generation")), None)
        print(f"  {name}: {'; '.join(scans) or '?'}; {executed.lower()}" + (f" (JIT {jit})" if jit else ""))
    if mismatches:
        print("\nSummary tables vs plain aggregates: MISMATCH in\n  " + "\n  ".join(mismatches))
    else:
        print(f"\nSummary tables vs plain aggregates: the same answers in all {len(PLAIN)} "
              "(after the load and the timed edits)")
    return mismatches


# --- the run -------------------------------------------------------------------------

class Editor:
    """One single-employee edit per call, through psycopg (the statement
    triggers append the edit's summary rows, unmerged): a random active or
    on-leave employee hired in `year` gets another hire date in that year."""

    def __init__(self, pg_url: str, year: int, rng: random.Random):
        self.conn = psycopg.connect(pg_url, autocommit=True)
        self.rng, self.year = rng, year
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
        self.ids = [r[0] for r in self.conn.execute(
            "SELECT employee_id FROM employees WHERE status <> 'terminated' AND hire_date >= %s "
            "AND hire_date < %s ORDER BY id LIMIT 5000", (start, end))]
        if not self.ids:
            raise RuntimeError(f"nobody to edit: no one not terminated was hired in {year}")
        self.days = (end - start).days
        self.edits = 0

    def __call__(self) -> None:
        day = date(self.year, 1, 1) + timedelta(days=self.rng.randrange(self.days))
        self.conn.execute("UPDATE employees SET hire_date = %s, version = version + 1, updated_at = now() "
                          "WHERE employee_id = %s", (day, self.rng.choice(self.ids)))
        self.edits += 1

    def waiting(self) -> int:
        return sum(self.conn.execute(f"SELECT count(*) FROM {table} WHERE NOT merged").fetchone()[0]
                   for table in ("headcount_changes", "hires_by_quarter"))

    def close(self) -> None:
        self.conn.close()


def run(args) -> int:
    bench = ReportBench(args)
    rng = random.Random(args.seed + 1)
    load_before = os.getloadavg()
    editor = None
    try:
        bench.start_servers()
        bench.load()

        today = date.today()
        year = today.year - 15  # a middle year of the 30
        past = years_before(today, 10)
        editor = Editor(bench.pg_url, year, random.Random(args.seed + 2))

        bench.enable_auto_explain()
        bench.serve(layout=False)  # the reports compare with the bare page (d) only
        app_session = login(bench.app_url)
        bare_session = requests.Session()

        # key -> (label, session, path, is a report page)
        cases = {
            "bare": ("bare Flask + 1 SELECT", bare_session, "/", False),
            "home": ("/ (home dashboard)", app_session, "/", True),
            "hbq": (f"hires by quarter {year}", app_session, f"/reports/hires-by-quarter?year={year}", True),
            "hbq.csv": (f"hires by quarter {year} .csv", app_session,
                        f"/reports/hires-by-quarter.csv?year={year}", True),
            "mean": (f"departments above mean {year}", app_session,
                     f"/reports/departments-above-mean?year={year}", True),
            "mean.csv": (f"departments above mean {year} .csv", app_session,
                         f"/reports/departments-above-mean.csv?year={year}", True),
            "head": ("headcount today", app_session, "/reports/headcount", True),
            "head10": (f"headcount {past}", app_session, f"/reports/headcount?date={past}", True),
            "months": ("hires and leavers (24 months)", app_session, "/reports/hires-and-leavers", True),
        }
        urls = {key: (session, (bench.bare_url if key == "bare" else bench.app_url) + path)
                for key, (_, session, path, _) in cases.items()}
        reports = [key for key, case in cases.items() if case[3]]

        # Checks, once, outside the timing.
        print("\nPages (each GET must answer 200):")
        for key, (label, *_) in cases.items():
            response = get_ok(*urls[key])
            kind = response.headers.get("Content-Type", "").split(";")[0]
            extra = f", {response.text.count(chr(10)) - 1:,} data lines" if kind == "text/csv" else ""
            print(f"  {label:<44} {len(response.content):>9,} bytes, {kind}{extra}")
        before = editor.waiting()
        editor()
        appended = editor.waiting() - before
        get_ok(*urls["hbq"])
        left = editor.waiting()
        print(f"One edit (UPDATE of one hire date) appended {appended} summary rows; after the report's GET "
              f"{left} are waiting (the before_request merge took them)")
        if appended <= 0 or left:
            raise RuntimeError("the edit case does not exercise the merge as intended")

        # Two runs, each against its own bare-page rounds: between edits (the
        # figures of the current generation are in each process's memory),
        # then every report GET right after an edit (the merge, a new
        # generation: every figure read from the summary tables again).
        t = time.perf_counter()
        print(f"\nMeasuring between edits: {args.requests} sequential GETs per case after {args.warmup} "
              "warm-up requests, cases interleaved in random order ...", flush=True)
        steady = measure(urls, args.requests, args.warmup, rng, args.slow_case_ms)
        print("Measuring right after an edit: before each report GET (outside the timing) one employee's "
              "hire date changes ...", flush=True)
        fresh = measure(urls, args.requests, args.warmup, rng, args.slow_case_ms,
                        prepare={key: editor for key in reports})
        elapsed = time.perf_counter() - t
        slow = slow_statements(bench.postgres.data_dir / "log", bench.log_offset)

        print(f"\nResults ({args.rows:,} employees, {args.requests} requests per case and run, {elapsed:.0f} s; "
              f"load average before {load_before[0]:.2f}, now {os.getloadavg()[0]:.2f}; "
              f"{os.cpu_count()} CPUs; {editor.edits} edits in all)")
        verdicts = []
        for title, times in (("Between edits", steady), ("Right after an edit (merge + figures read afresh)", fresh)):
            bare_med, bare_p95 = statistics_of(times["bare"])
            header = (f"{'case':<44} {'n':>4} {'median ms':>10} {'p95 ms':>9} {'min':>7} {'max':>8} "
                      f"{'med/bare':>9} {'p95/bare':>9}")
            print(f"\n{title}:\n{header}\n{'-' * len(header)}")
            ratios = {}
            for key, (label, *_) in cases.items():
                med, p95 = statistics_of(times[key])
                ratios[key] = med / bare_med
                print(f"{label:<44} {len(times[key]):>4} {med:>10.2f} {p95:>9.2f} {min(times[key]):>7.2f} "
                      f"{max(times[key]):>8.2f} {med / bare_med:>9.2f} {p95 / bare_p95:>9.2f}")
            if any(len(v) < args.requests for v in times.values()):
                print(f"(n < {args.requests}: the case's warm-up median was over {args.slow_case_ms:g} ms, "
                      "so it was timed fewer times.)")
            over = [cases[key][0] for key in reports if ratios[key] > GOAL]
            worst = max(reports, key=ratios.get)
            verdicts.append(f"{title}: every report page's median within {GOAL:g}x of the bare page's (home "
                            f"page and CSVs included): {'YES' if not over else 'NO'} (highest: {cases[worst][0]}, "
                            f"{ratios[worst]:.2f}x)" + (f"; over: {', '.join(over)}" if over else ""))
            if title == "Between edits":
                bare_median_steady = bare_med
        print("\nRatios are against the bare page measured in the same interleaved rounds.")
        print("\n".join(verdicts))

        print(f"\nStatements slower than {args.slow_ms:g} ms while measuring (auto_explain): {len(slow)}")
        groups: dict[str, list[float]] = {}
        for duration, entry in slow:
            query, _, _ = parse_auto_explain(entry)
            groups.setdefault(query, []).append(duration)
        for query, durations in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(durations)} x, {min(durations):.0f}-{max(durations):.0f} ms: ...{query[-200:]}")

        this_month = today.replace(day=1)
        from employee_app.services.reports import MONTHS_SHOWN, add_months
        params = {"year": year, "year_start": date(year, 1, 1), "next_year": date(year + 1, 1, 1),
                  "today": today, "past": past, "this_month": this_month,
                  "first_month": add_months(this_month, 1 - MONTHS_SHOWN), "next_month": add_months(this_month, 1)}
        mismatches = plain_alternative(bench, params, args.plain_runs, bare_median_steady)
        return 1 if mismatches else 0
    finally:
        if editor is not None:
            editor.close()
        bench.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="employees to load (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=100, help="timed GETs per case (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed GETs per case first (default 10)")
    parser.add_argument("--plain-runs", type=int, default=5,
                        help="runs of each plain aggregate and its summary-table query (default 5)")
    parser.add_argument("--slow-ms", type=float, default=50, help="log plans of statements slower than this")
    parser.add_argument("--slow-case-ms", type=float, default=1000,
                        help="a case slower than this in warm-up is timed max(20, requests/10) times")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep bench/out/run-*/ (the data) afterwards")
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows must be at least 1,000")
    # SIGTERM stops everything like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except KeyboardInterrupt:
        print("Interrupted.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
