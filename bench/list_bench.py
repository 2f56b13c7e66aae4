#!/usr/bin/env python3
"""List-page benchmark: the employees list on a large table, against a bare
Flask baseline measured in the same run.

    .venv/bin/python bench/list_bench.py                       # 1,000,000 rows, 200 requests each
    .venv/bin/python bench/list_bench.py --rows 20000 --requests 30   # quick check

What it does (everything on this machine, nothing left running afterwards):

1. starts an embedded PostgreSQL (durability OFF: fsync, synchronous_commit
   and full_page_writes, as in the test suite) and an embedded Valkey, with
   their data under bench/out/run-*/, and applies the real Alembic migrations;
2. loads --rows synthetic employees with COPY (secondary indexes are dropped
   for the load and re-created from their exact definitions afterwards, unless
   --load-with-indexes), then VACUUM ANALYZE, then rebuilds the Valkey index;
3. serves the real app (wsgi:app) and a bare Flask app (one indexed SELECT
   through psycopg, no login, no template) with gunicorn, 2 workers x 4
   threads each, on free ports;
4. logs in and times, one request at a time, GETs of: (a) /employees,
   (b) a substring search for part of a common last name, (c) the
   name-ordered list at page --page (a keyset cursor computed outside the
   timing), (d) the bare page; two extra searches: (e) a substring that
   matches nothing and (f) part of a common last name that sorts late; and
   the list's other orders and counts: (g) the largest status filter (counted
   up to 50,000, then PostgreSQL's estimate: "about 880,000"), (h) hire
   dates newest first, (i) IDs in natural order;
5. prints median / p95 and their ratios to the bare page, EXPLAIN ANALYZE of
   the queries behind (b), (c) and (e) to (i) (custom plan, and the generic
   plan that a prepared statement may switch to), the plans of any statement
   that took longer than --slow-ms while the app was being measured
   (auto_explain), and how the search plans change over --reanalyze fresh
   ANALYZE samples (the planner's choice for (b) and (f) is not stable);
6. stops gunicorn, Valkey and PostgreSQL, on success, error or Ctrl-C.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402

from employee_app.devservers import EmbeddedPostgres, EmbeddedValkey, free_port  # noqa: E402

SECRET_KEY = "bench-secret-key-not-for-production"
ADMIN_PASSWORD = "bench horse battery staple"
PER_PAGE = 50
COPY_SQL = ("COPY employees (employee_id, first_name, last_name, email, department_id, "
            "job_id, hire_date, status) FROM STDIN")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FIRST_ROW_RE = re.compile(r'href="/employees/(E\d+)[?"]')  # a row's link may carry the list's parameters
RESULT_COUNT_RE = re.compile(r'id="result-count"[^>]*>\s*(.*?)\s*</p>', re.S)

BARE_APP = '''\
"""Bare Flask baseline: one indexed SELECT through psycopg, a tiny HTML string."""
import os
import random
import threading

import psycopg
from flask import Flask
from markupsafe import escape

app = Flask(__name__)
URL = os.environ["BARE_DATABASE_URL"]
MAX_ID = int(os.environ["BARE_MAX_ID"])
_local = threading.local()


def connection():
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(URL, autocommit=True)
    return conn


@app.route("/")
def index():
    employee_id = "E%07d" % random.randint(1, MAX_ID)
    row = connection().execute(
        "SELECT employee_id, first_name, last_name FROM employees WHERE employee_id = %s",
        (employee_id,),
    ).fetchone()
    return "<!doctype html><title>bare</title><p>%s %s %s</p>" % tuple(escape(v) for v in row)
'''

# The fair baseline for the list page (issue 11): one keyset SELECT of 50
# rows (with the department and job names the list shows) and the app's own
# layout, templates/base.html, rendered by Jinja around a plain table of
# them. No login, no session, no CSRF signing, no ORM: what a hand-written
# Flask page showing the same rows in the same layout costs.
BARE_LAYOUT_APP = '''\
"""Bare Flask page with the app's layout: one keyset SELECT of 50 rows, base.html."""
import os
import random
import threading

import psycopg
from flask import Flask, render_template
from jinja2 import ChoiceLoader, FileSystemLoader

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ["BARE_ROOT"]
app = Flask(__name__, static_folder=os.path.join(ROOT, "static"))
app.jinja_loader = ChoiceLoader([FileSystemLoader(HERE), FileSystemLoader(os.path.join(ROOT, "templates"))])
URL = os.environ["BARE_DATABASE_URL"]
NAMES = os.environ["BARE_LAST_NAMES"].split(",")
_local = threading.local()
# The layout's menu links: the same endpoints (and so url_for calls) as the app's.
ENDPOINTS = {"home.dashboard": "/", "employees.index": "/employees", "lists.index": "/<kind>",
             "reports.index": "/reports", "employees.new": "/employees/new", "imports.index": "/imports",
             "audit.index": "/audit", "admin.users_index": "/admin/users",
             "auth.change_password": "/account/password", "auth.tokens": "/account/tokens",
             "auth.logout": "/logout"}


class Admin:
    """Who the layout shows as logged in (the bench logs in as an admin)."""
    is_authenticated = True
    username = "admin"
    role = "admin"

    def has_role(self, *roles):
        return self.role in roles


# No bulk import is loading (the app reads that from a per-process cache).
# kept_fragment renders its block every time: the baseline pays the whole
# layout, as it did before the app kept its menu (employee_app/fragments.py).
app.jinja_env.globals.update(current_user=Admin(), csrf_token=lambda: "bare-page-token", bulk_loading=lambda: None,
                             kept_fragment=lambda *key, same=(), caller: caller(),
                             role_label=lambda role: "Administrator")
for endpoint, rule in ENDPOINTS.items():
    app.add_url_rule(rule, endpoint=endpoint, view_func=lambda **_: "")

SQL = """SELECT e.employee_id, e.first_name, e.last_name, e.email, d.name, j.name, e.hire_date, e.status
FROM employees e LEFT JOIN departments d ON d.id = e.department_id LEFT JOIN jobs j ON j.id = e.job_id
WHERE (e.last_name, e.first_name, e.id) > (%s, '', 0) ORDER BY e.last_name, e.first_name, e.id LIMIT 50"""


def connection():
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(URL, autocommit=True)
    return conn


@app.route("/bare")
def index():
    rows = connection().execute(SQL, (random.choice(NAMES),)).fetchall()
    return render_template("bare_list.html", rows=rows)
'''
BARE_LAYOUT_TEMPLATE = """\
{% extends "base.html" %}
{% block title %}Employees{% endblock %}
{% block content %}
<h1>Employees</h1>
<table class="striped">
  <thead><tr><th>ID</th><th>Name</th><th>E-mail</th><th>Department</th><th>Job title</th><th>Hire date</th><th>Status</th></tr></thead>
  <tbody>
  {% for r in rows %}
    <tr><td><a href="/employees/{{ r[0] }}">{{ r[0] }}</a></td><td>{{ r[2] }}, {{ r[1] }}</td><td>{{ r[3] }}</td>
      <td>{{ r[4] or '' }}</td><td>{{ r[5] or '' }}</td><td>{{ r[6] or '' }}</td><td>{{ r[7] }}</td></tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}
"""


# --- synthetic data ----------------------------------------------------------

ONSETS = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n",
          "p", "pr", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "y", "z"]
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "ie"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "nd", "rt", "ck", "th", "ll", "ng"]
DEPARTMENTS = [
    "Accounting", "Administration", "Business Development", "Compliance", "Customer Success",
    "Customer Support", "Data Science", "Design", "Engineering", "Facilities", "Finance",
    "Human Resources", "Infrastructure", "Internal Audit", "IT Support", "Legal", "Logistics",
    "Marketing", "Operations", "Partnerships", "Payroll", "Procurement", "Product",
    "Public Relations", "Quality Assurance", "Research", "Sales", "Security", "Training",
    "Treasury",
]
JOB_TITLES = [
    "Analyst", "Senior Analyst", "Associate", "Coordinator", "Specialist", "Senior Specialist",
    "Engineer", "Senior Engineer", "Staff Engineer", "Manager", "Senior Manager", "Director",
    "Consultant", "Administrator", "Technician", "Officer", "Assistant", "Team Lead",
    "Account Executive", "Designer", "Accountant", "Recruiter", "Architect", "Intern",
]
STATUSES = (("active", 88), ("on_leave", 4), ("terminated", 8))


def make_names(rng: random.Random, count: int, syllables: tuple[int, ...]) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        parts = []
        for _ in range(rng.choice(syllables)):
            parts.append(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS))
        name = "".join(parts)
        if 4 <= len(name) <= 12:
            names.add(name.capitalize())
    result = sorted(names)
    rng.shuffle(result)  # popularity (list order) independent of alphabetical order
    return result


def zipf_weights(count: int, exponent: float) -> list[float]:
    return [1 / (rank ** exponent) for rank in range(1, count + 1)]


class Data:
    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.rng = rng
        # A few hundred of each; Zipf-like popularity (the commonest last name
        # is ~2.5% of employees, the 100th ~0.25%), like real name frequencies.
        self.last_names = make_names(rng, 400, (2, 2, 3))
        self.first_names = make_names(rng, 300, (1, 2, 2))
        self.last_weights = zipf_weights(len(self.last_names), 0.5)
        self.first_weights = zipf_weights(len(self.first_names), 0.5)

    def batches(self, rows: int, department_ids: list[int], job_ids: list[int], batch: int = 50_000):
        """Yield COPY text chunks (tab-separated; the data has no tab,
        newline or backslash, so no escaping is needed)."""
        rng = self.rng
        today = date.today()
        epoch = today - timedelta(days=30 * 365)
        status_values = [s for s, _ in STATUSES]
        status_weights = [w for _, w in STATUSES]
        for start in range(1, rows + 1, batch):
            n = min(batch, rows + 1 - start)
            lasts = rng.choices(self.last_names, self.last_weights, k=n)
            firsts = rng.choices(self.first_names, self.first_weights, k=n)
            statuses = rng.choices(status_values, status_weights, k=n)
            lines = []
            for i in range(n):
                number = start + i
                first, last = firsts[i], lasts[i]
                hired = epoch + timedelta(days=rng.randrange(30 * 365))
                lines.append("\t".join((
                    f"E{number:07d}", first, last,
                    f"{first}.{last}.{number}@example.com".lower(),
                    str(rng.choice(department_ids)), str(rng.choice(job_ids)),
                    hired.isoformat(), statuses[i],
                )))
            yield "\n".join(lines) + "\n"


# --- servers -----------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.run_dir = OUT / datetime.now().strftime("run-%Y%m%d-%H%M%S")
        self.postgres: EmbeddedPostgres | None = None
        self.valkey: EmbeddedValkey | None = None
        self.processes: list[subprocess.Popen] = []
        self.masters: dict[str, int] = {}  # each gunicorn's address -> its master's pid
        self.app = None
        self.env: dict[str, str] = {}
        self.pg_url = ""
        self.log_offset = 0

    # 1. servers, database, migrations
    def start_servers(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir()
        print(f"Data directory: {self.run_dir}" + ("" if self.args.keep else " (removed at the end; --keep keeps it)"))
        self.postgres = EmbeddedPostgres(self.run_dir / "pgdata").start()
        self.postgres.tune_for_tests()
        print("PostgreSQL (embedded) started. NOTE: durability is OFF (fsync, synchronous_commit, "
              "full_page_writes = off) for fast loading; the app's reads are unaffected, writes would be.")
        self.pg_url = self.postgres.ensure_database("employee_bench")
        self.valkey = EmbeddedValkey(self.run_dir / "valkey", persist=False).start()
        print(f"Valkey (embedded) started: {self.valkey.url}")
        self.env = {"DATABASE_URL": self.pg_url, "VALKEY_URL": self.valkey.url,
                    "SECRET_KEY": SECRET_KEY}
        os.environ.update(self.env)

        from flask_migrate import upgrade

        from employee_app import create_app

        self.app = create_app()
        with self.app.app_context():
            upgrade()
        print("Migrations applied.")
        with psycopg.connect(self.pg_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            # current_setting() gives each value in its unit ("1GB"), not
            # pg_settings' count of the unit's multiples (8kB pages).
            settings = {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
                        for name in ("shared_buffers", "work_mem", "effective_cache_size", "jit",
                                     "random_page_cost")}
        print(f"PostgreSQL {version}; " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))

    # 2. data
    def load(self) -> None:
        rows = self.args.rows
        data = Data(self.args.seed)
        t0 = time.perf_counter()
        with psycopg.connect(self.pg_url) as conn:
            department_ids = [
                conn.execute("INSERT INTO departments (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
                for name in DEPARTMENTS
            ]
            job_ids = [conn.execute("INSERT INTO jobs (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
                       for name in JOB_TITLES]
            dropped = []
            if not self.args.load_with_indexes:
                # Secondary indexes (not the ones behind PK/UNIQUE constraints)
                # are built once after COPY instead of row by row.
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
            print(f"COPY of {rows:,} employees: {t_copy - t0:.1f} s")
            if dropped:
                conn.execute("SET maintenance_work_mem = '1GB'")
                conn.execute("SET max_parallel_maintenance_workers = 2")
                for name, definition in dropped:
                    t = time.perf_counter()
                    conn.execute(definition)
                    print(f"  index {name}: {time.perf_counter() - t:.1f} s")
                after = conn.execute(
                    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = ANY(%s) ORDER BY 1",
                    ([name for name, _ in dropped],)).fetchall()
                assert after == dropped, "re-created indexes differ from the migration's"
            conn.commit()
        t_index = time.perf_counter()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE employees")
            conn.execute("VACUUM ANALYZE departments")
            size = conn.execute(
                "SELECT pg_size_pretty(pg_table_size('employees')), "
                "pg_size_pretty(pg_indexes_size('employees'))").fetchone()
        t_vacuum = time.perf_counter()

        from employee_app.extensions import db
        from employee_app.services import duplicate_guard, users

        with self.app.app_context():
            indexed = duplicate_guard.rebuild_index()
            users.create_user("admin", ADMIN_PASSWORD, "admin")
            db.session.remove()
        t_valkey = time.perf_counter()
        print(f"Load: {t_vacuum - t0:.1f} s in PostgreSQL (COPY {t_copy - t0:.1f} s, indexes "
              f"{t_index - t_copy:.1f} s, VACUUM ANALYZE {t_vacuum - t_index:.1f} s), "
              f"Valkey index rebuild {t_valkey - t_vacuum:.1f} s ({indexed:,} employees); "
              f"table {size[0]}, its indexes {size[1]}")
        self.data = data

    def enable_auto_explain(self) -> None:
        """Log the plan of any statement slower than --slow-ms in the app's
        (and the baseline's) connections, which are opened after this."""
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute("LOAD 'auto_explain'")
            conn.execute("ALTER SYSTEM SET session_preload_libraries = 'auto_explain'")
            conn.execute(f"ALTER SYSTEM SET auto_explain.log_min_duration = '{int(self.args.slow_ms)}ms'")
            conn.execute("SELECT pg_reload_conf()")
        log = self.postgres.data_dir / "log"
        self.log_offset = log.stat().st_size if log.exists() else 0

    # 3. gunicorn
    def cpu_snapshot(self) -> tuple[float, float]:
        """CPU seconds so far of the servers (every gunicorn this bench
        started) and of the database side (PostgreSQL's process tree and
        Valkey)."""
        postmaster = int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])
        return (sum(tree_cpu(p.pid) for p in self.processes if p.poll() is None),
                tree_cpu(postmaster) + tree_cpu(self.valkey.process.pid))

    def gunicorn(self, module: str, cwd: Path, env: dict, health: str) -> str:
        port = free_port()
        process = subprocess.Popen(
            # Every server with the app's gunicorn.conf.py (the bare pages run
            # in another directory, where gunicorn would not find it), so the
            # baselines pay its access-log line per request as the app does;
            # the lines go to /dev/null instead of into the bench's output.
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
             "--workers", "2", "--threads", "4", "--access-logfile", "/dev/null",
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning", module],
            cwd=cwd, env=dict(os.environ, **env),
            start_new_session=True,  # Ctrl-C reaches only this script, which stops it
        )
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        self.masters[base] = process.pid
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + health, timeout=2).status_code == 200:
                    return base
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {module} did not start")
            time.sleep(0.1)

    def serve(self, layout: bool = True) -> None:
        """The app and the bare page (d); with layout, the bare page with the
        layout (j) too, which needs this bench's data (its last names)."""
        self.app_url = self.gunicorn("wsgi:app", ROOT, self.env, "/healthz")
        bare_dir = self.run_dir / "bare"
        bare_dir.mkdir()
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        self.bare_url = self.gunicorn("bare_app:app", bare_dir, {
            "BARE_DATABASE_URL": self.pg_url, "BARE_MAX_ID": str(self.args.rows)}, "/")
        if not layout:
            print(f"Serving: app {self.app_url}, bare baseline {self.bare_url} (gunicorn, 2 workers x 4 threads each)")
            return
        (bare_dir / "bare_layout_app.py").write_text(BARE_LAYOUT_APP)
        (bare_dir / "bare_list.html").write_text(BARE_LAYOUT_TEMPLATE)
        self.bare_layout_url = self.gunicorn("bare_layout_app:app", bare_dir, {
            "BARE_DATABASE_URL": self.pg_url, "BARE_ROOT": str(ROOT),
            "BARE_LAST_NAMES": ",".join(self.data.last_names)}, "/bare")
        print(f"Serving: app {self.app_url}, bare baselines {self.bare_url} and {self.bare_layout_url}/bare "
              "(gunicorn, 2 workers x 4 threads each)")

    def stop(self) -> None:
        """Every step runs even if an earlier one fails (or stdout is gone)."""
        steps = [self._stop_gunicorn, self._dispose_engine]
        if self.valkey:
            steps.append(self.valkey.stop)
        if self.postgres:
            steps.append(self.postgres.stop)
        if not self.args.keep:
            steps.append(lambda: shutil.rmtree(self.run_dir, ignore_errors=True))
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep stopping the rest
                errors.append(exc)
        self.valkey = self.postgres = None
        try:
            print("Stopped gunicorn, Valkey and PostgreSQL."
                  + (f" (errors while stopping: {errors})" if errors else ""), flush=True)
        except OSError:
            pass

    def _stop_gunicorn(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def _dispose_engine(self) -> None:
        if self.app is not None:
            from employee_app.extensions import db
            with self.app.app_context():
                db.engine.dispose()


# --- measuring ---------------------------------------------------------------

def get_ok(session: requests.Session, url: str) -> requests.Response:
    response = session.get(url, allow_redirects=False, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} -> {response.status_code} (expected 200)")
    return response


def login(base: str) -> requests.Session:
    session = requests.Session()
    page = get_ok(session, base + "/login")
    match = CSRF_RE.search(page.text)
    if not match:
        raise RuntimeError("no csrf_token on /login")
    from html import unescape
    response = session.post(base + "/login", data={
        "csrf_token": unescape(match.group(1)), "username": "admin", "password": ADMIN_PASSWORD,
    }, allow_redirects=False, timeout=60)
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code}")
    return session


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # nearest rank
    return ordered[int(rank) - 1]


def measure(cases: dict, requests_each: int, warmup: int, rng: random.Random,
            slow_ms: float, prepare: dict | None = None) -> dict[str, list[float]]:
    """cases: key -> (session, url). Sequential GETs, the cases interleaved in
    a random order each round, so that noise from the shared machine lands on
    all of them alike. A case whose warm-up median exceeds slow_ms gets only
    max(20, requests_each // 10) timed requests, so that one pathological
    case does not stretch the run by many minutes. prepare: key -> a
    callable run before each GET of that case (warm-up too), outside the
    timing."""
    prepare = prepare or {}
    wanted = {}
    for key, (session, url) in cases.items():
        warm = []
        for _ in range(max(1, warmup)):
            if key in prepare:
                prepare[key]()
            t = time.perf_counter()
            get_ok(session, url)
            warm.append((time.perf_counter() - t) * 1000)
        slow = sorted(warm)[len(warm) // 2] > slow_ms
        wanted[key] = min(requests_each, max(20, requests_each // 10)) if slow else requests_each
    times: dict[str, list[float]] = {key: [] for key in cases}
    keys = list(cases)
    for _ in range(requests_each):
        rng.shuffle(keys)
        for key in keys:
            if len(times[key]) >= wanted[key]:
                continue
            session, url = cases[key]
            if key in prepare:
                prepare[key]()
            t = time.perf_counter()
            get_ok(session, url)
            times[key].append((time.perf_counter() - t) * 1000)
    return times


# --- throughput: 16 keep-alive connections at once ------------------------------

WRK_LATENCY_RE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_TOTAL_RE = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMG]?B) read")
WRK_ERRORS_RE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
WRK_SOCKET_RE = re.compile(r"Socket errors: (.*)")
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
UNIT_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def workers_cpu(master: int) -> dict[int, float]:
    """CPU seconds so far of each worker of a gunicorn master, by pid."""
    return {worker.pid: tree_cpu(worker.pid) for worker in psutil.Process(master).children()}


# A run in which one gunicorn worker did less than this share of the work:
# its connections (all opened at once, kept alive) went mostly to the other
# worker, whose GIL then limits the run to about one CPU.
BALANCED_SHARE = 0.25


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


def wrk(url: str, seconds: float, connections: int, cookie: str | None) -> dict:
    """One wrk run (one thread: it costs the machine little CPU next to the
    servers); its req/s, p50 and p99 in ms, and bytes per response."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
               # The browser that logged in: Flask-Login's session protection
               # compares the User-Agent; another one would rewrite the
               # session cookie on every response.
               "-H", f"User-Agent: {requests.utils.default_user_agent()}"]
    if cookie:
        command += ["-H", f"Cookie: session={cookie}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    errors = WRK_ERRORS_RE.search(output)
    if errors:
        raise RuntimeError(f"wrk {url}: {errors.group(1)} responses were not 2xx or 3xx:\n{output}")
    latency = {p: float(v) * UNIT_MS[u] for p, v, u in WRK_LATENCY_RE.findall(output)}
    total = WRK_TOTAL_RE.search(output)
    requests_done = int(total.group(1))
    elapsed_s = float(total.group(2)) * UNIT_MS[total.group(3)] / 1000
    socket_errors = WRK_SOCKET_RE.search(output)
    return {"rps": requests_done / elapsed_s, "p50": latency["50"], "p99": latency["99"],
            "requests": requests_done,
            "bytes": float(total.group(4)) * UNIT_BYTES[total.group(5)] / max(1, requests_done),
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def throughput(targets: dict, rounds: int, seconds: float, connections: int, rng: random.Random,
               cpu_snapshot, masters: dict) -> dict:
    """targets: key -> (url, cookie or None, bytes of one full page). Each
    round runs every target once for `seconds`, in a random order, after a
    short warm-up of each: the shared machine's noise lands on all alike.
    cpu_snapshot() -> (servers', database's CPU seconds so far): each run's
    CPU per request, which a busy neighbour moves far less than req/s.
    masters: key -> the pid of the gunicorn serving it: each run's share of
    the work per worker (see BALANCED_SHARE).
    Returns key -> list of wrk results (with the load average at its start)."""
    for url, cookie, _ in targets.values():
        wrk(url, 2, connections, cookie)
    results: dict[str, list[dict]] = {key: [] for key in targets}
    keys = list(targets)
    for number in range(rounds):
        rng.shuffle(keys)
        for key in keys:
            url, cookie, page_bytes = targets[key]
            load = os.getloadavg()[0]
            cpu_before, workers_before = cpu_snapshot(), workers_cpu(masters[key])
            result = wrk(url, seconds, connections, cookie)
            cpu_after, workers_after = cpu_snapshot(), workers_cpu(masters[key])
            used = [workers_after[pid] - workers_before.get(pid, 0.0) for pid in workers_after]
            result["shares"] = [u / max(sum(used), 1e-9) for u in used]
            result["balanced"] = min(result["shares"]) >= BALANCED_SHARE
            result["load"] = load
            result["app_cpu_ms"], result["db_cpu_ms"] = (1000 * (after - before) / max(1, result["requests"])
                                                         for before, after in zip(cpu_before, cpu_after))
            # A response much smaller than the page is a redirect (a lost
            # session) or an error page: the figures would be meaningless.
            if result["bytes"] < 0.9 * page_bytes:
                raise RuntimeError(f"{key}: {result['bytes']:.0f} bytes per response, the page has {page_bytes}")
            results[key].append(result)
            print(f"  round {number + 1} {key}: {result['rps']:7.1f} req/s, p50 {result['p50']:6.2f} ms, "
                  f"p99 {result['p99']:6.2f} ms, CPU per request {result['app_cpu_ms']:.2f} ms servers + "
                  f"{result['db_cpu_ms']:.2f} ms database, workers' shares "
                  + "/".join(f"{share:.0%}" for share in result["shares"])
                  + ("" if result["balanced"] else " (unbalanced)") + f", load average {load:.2f}"
                  + (f", socket errors: {result['socket_errors']}" if result["socket_errors"] else ""),
                  flush=True)
    return results


# --- plans -------------------------------------------------------------------

def capture_queries(app, query) -> list[tuple[str, dict]]:
    """The SQL (and parameters) search_employees runs for this query."""
    from sqlalchemy import event

    from employee_app.extensions import db
    from employee_app.services.employees import search_employees

    captured = []

    def before(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            search_employees(query)
        finally:
            event.remove(engine, "before_cursor_execute", before)
            db.session.remove()
    # Not the app's own EXPLAIN (the estimate of a large filter's count).
    return [(s, p) for s, p in captured if "reltuples" not in s and s.strip() != "select pg_catalog.version()"
            and not s.lstrip().startswith("EXPLAIN")]


def query_kind(statement: str) -> str:
    """What a captured statement of the list is, for the printed plans."""
    if 'WITH "window"' in statement:
        return "window (rows in sort order, matches among them)"
    if "WITH found" in statement:
        return "all matches (trigram index), counted and sorted"
    return "count" if "count(" in statement else "rows"


def explain(pg_url: str, statement: str, parameters) -> tuple[list[str], list[str]]:
    """EXPLAIN ANALYZE with the values inlined (a custom plan), and of the
    generic plan a server-side prepared statement may switch to (psycopg
    prepares a statement after 5 executions on a connection; PostgreSQL may
    then keep one plan for every parameter value)."""
    names = re.findall(r"%\((\w+)\)s", statement)
    parameters = parameters or {}
    with psycopg.connect(pg_url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        cur = conn.cursor()
        literal_sql = cur.mogrify(statement, parameters)
        custom = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + literal_sql)]
        numbered = statement
        order = list(dict.fromkeys(names))
        for i, name in enumerate(order, 1):
            numbered = numbered.replace(f"%({name})s", f"${i}")
        conn.execute("PREPARE bench_stmt AS " + numbered.replace("%%", "%"))
        conn.execute("SET plan_cache_mode = force_generic_plan")
        args = ", ".join(["%s"] * len(order))
        execute = cur.mogrify(f"EXECUTE bench_stmt({args})", [parameters[n] for n in order]) if order \
            else "EXECUTE bench_stmt"
        generic = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + execute)]
    return custom, generic


SCAN_RE = re.compile(r"((?:Parallel )?Seq Scan|Index Scan using \S+|Index Only Scan using \S+|"
                     r"Bitmap Heap Scan) on employees\s+\(cost=[^ ]+ rows=(\d+)")


def plan_stability(bench, queries: dict, times: int) -> list[str]:
    """The planner's choice rests on ANALYZE's random sample of 30,000 rows:
    re-ANALYZE several times and tally the scan each search query gets, with
    the actual time of each distinct plan (EXPLAIN ANALYZE, once per plan)."""
    print(f"\nPlan stability: {times} x ANALYZE employees (a fresh random sample each time), "
          "then EXPLAIN of each search query (estimated matches in brackets):")
    statements = {label: [(query_kind(st), st, pa)
                          for st, pa in capture_queries(bench.app, query) if "FROM employees" in st]
                  for label, query in queries.items()}
    tallies: dict[tuple[str, str], dict[str, list]] = {}
    seq_scans = []
    with psycopg.connect(bench.pg_url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        cur = conn.cursor()
        for _ in range(times):
            conn.execute("ANALYZE employees")
            for label, items in statements.items():
                for kind, statement, parameters in items:
                    sql = cur.mogrify(statement, parameters)
                    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql))
                    match = SCAN_RE.search(plan)
                    scan = match.group(1) if match else "?"
                    entry = tallies.setdefault((label, kind), {}).setdefault(scan, [0, [], None])
                    entry[0] += 1
                    entry[1].append(int(match.group(2)) if match else 0)
                    if entry[2] is None:
                        analyzed = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql)]
                        entry[2] = next((line for line in analyzed if line.startswith("Execution Time")), "?")
    for (label, kind), scans in tallies.items():
        print(f"  {label} - {kind} query:")
        for scan, (count, estimates, executed) in sorted(scans.items(), key=lambda kv: -kv[1][0]):
            print(f"      {count:>2}/{times}  {scan} [{min(estimates):,}-{max(estimates):,}]  "
                  f"({executed.lower()} with that plan)")
            if "Seq Scan" in scan:
                seq_scans.append(f"plan stability: {label} {kind} query, {count}/{times} samples")
    return seq_scans


def plan_summary(lines: list[str], limit: int = 14) -> str:
    body = [line for line in lines if not line.startswith(("Planning Time", "Execution Time"))]
    times = [line for line in lines if line.startswith(("Planning Time", "Execution Time"))]
    shown = body[:limit] + (["  ..."] if len(body) > limit else []) + times
    return "\n".join("      " + line for line in shown)


def parse_auto_explain(entry: str) -> tuple[str, str, list[str]]:
    """(query text on one line, "Query Parameters" line, plan lines)."""
    lines = [line.strip() for line in entry.split("\n")[1:]]
    query, parameters, plan, in_plan = [], "", [], False
    for line in lines:
        if in_plan:
            plan.append(line)
        elif line.startswith("Query Parameters:"):
            parameters = line[len("Query Parameters:"):].strip()
        elif "(cost=" in line:
            in_plan = True
            plan.append(line)
        else:
            query.append(line.removeprefix("Query Text:").strip())
    return " ".join(" ".join(query).split()), parameters, plan


def slow_statements(log_path: Path, offset: int) -> list[tuple[float, str]]:
    """auto_explain entries (duration ms, text) logged after offset."""
    if not log_path.exists():
        return []
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    entries, current = [], []
    for line in text.splitlines():
        if re.match(r"^\d{4}-\d\d-\d\d \d", line):
            if current:
                entries.append("\n".join(current))
            current = [line]
        elif current:
            current.append(line)
    if current:
        entries.append("\n".join(current))
    found = []
    for entry in entries:
        match = re.search(r"duration: ([\d.]+) ms\s+plan:", entry)
        if match:
            found.append((float(match.group(1)), entry))
    return found


# --- the run -----------------------------------------------------------------

def pick_search_terms(pg_url: str, rows: int, q: str | None) -> tuple[str, str, str]:
    """(b): 5 letters of the commonest last name; (f): of the commonest last
    name that sorts late (>= 75% of rows before it by name), where a plan
    that walks the name index and filters is at its worst."""
    with psycopg.connect(pg_url) as conn:
        top = conn.execute("""
            WITH c AS (SELECT last_name, count(*) AS n FROM employees GROUP BY last_name),
                 w AS (SELECT last_name, n, sum(n) OVER (ORDER BY last_name) - n AS before FROM c)
            SELECT last_name, n, before FROM w ORDER BY n DESC, last_name LIMIT 40""").fetchall()
    common = top[0]
    late = next((t for t in top if t[2] >= 0.75 * rows), top[-1])
    for label, (name, n, before) in (("Commonest last name", common), ("Commonest late-sorting", late)):
        print(f"{label}: {name} ({n:,} employees; {100 * before / rows:.0f}% of rows sort before it by name)")
    return q or common[0][:5].lower(), late[0][:5].lower(), "qxzjv"


def run(args) -> None:
    from employee_app.services.employees import EmployeeQuery
    from employee_app.services.pagination import Cursor, encode_cursor

    bench = Bench(args)
    rng = random.Random(args.seed + 1)
    load_before = os.getloadavg()
    try:
        bench.start_servers()
        bench.load()

        q, late_q, rare_q = pick_search_terms(bench.pg_url, args.rows, args.q)
        page = args.page
        if page * PER_PAGE >= args.rows - PER_PAGE:
            page = max(1, (args.rows - 1) // PER_PAGE // 2)
            print(f"(--rows {args.rows}: page {args.page} does not exist; using page {page})")
        offset = page * PER_PAGE
        with psycopg.connect(bench.pg_url) as conn:
            # Outside the timing: the sort key of the row before the page, and
            # the row the page must start with.
            key_row, first_row = conn.execute(
                "SELECT last_name, first_name, id, employee_id FROM employees "
                "ORDER BY last_name, first_name, id OFFSET %s LIMIT 2", (offset - 1,)).fetchall()
            in_sql = {term: conn.execute("SELECT count(*) FROM employees WHERE search_text LIKE %s",
                                         (f"%{term}%",)).fetchone()[0] for term in (q, late_q, rare_q)}
            active = conn.execute("SELECT count(*) FROM employees WHERE status = 'active'").fetchone()[0]
        token = encode_cursor(Cursor([key_row[0], key_row[1], key_row[2]], False))
        expected_first = first_row[3]
        print(f"Page {page:,} by name: cursor after row {offset - 1:,} "
              f"({key_row[0]}, {key_row[1]}, id {key_row[2]}); expected first row {expected_first}")

        bench.enable_auto_explain()
        bench.serve()
        app_session = login(bench.app_url)
        bare_session = requests.Session()

        # key -> (label, session, url, query for EXPLAIN or None)
        cases = {
            "a": ("(a) /employees (first page)", app_session, "/employees", None),
            "b": (f"(b) search q={q}", app_session, f"/employees?q={q}",
                  EmployeeQuery(q=q, sort="name", per_page=PER_PAGE)),
            "c": (f"(c) page {page:,} by name (cursor)", app_session, f"/employees?sort=name&cursor={token}",
                  EmployeeQuery(sort="name", cursor=token, per_page=PER_PAGE)),
            "d": ("(d) bare Flask + 1 SELECT", bare_session, "/", None),
            "j": ("(j) bare: 50 rows + base.html", bare_session, "/bare", None),
            "e": (f"(e) search q={rare_q} (no match)", app_session, f"/employees?q={rare_q}",
                  EmployeeQuery(q=rare_q, sort="name", per_page=PER_PAGE)),
            "f": (f"(f) search q={late_q} (late name)", app_session, f"/employees?q={late_q}",
                  EmployeeQuery(q=late_q, sort="name", per_page=PER_PAGE)),
            "g": ("(g) status=active (estimated count)", app_session, "/employees?status=active",
                  EmployeeQuery(status="active", per_page=PER_PAGE)),
            "h": ("(h) hire date, newest first", app_session, "/employees?sort=hire_date&dir=desc",
                  EmployeeQuery(sort="hire_date", descending=True, per_page=PER_PAGE)),
            "i": ("(i) ID, natural order", app_session, "/employees?sort=employee_id",
                  EmployeeQuery(sort="employee_id", per_page=PER_PAGE)),
        }
        base = {"d": bench.bare_url, "j": bench.bare_layout_url}
        urls = {key: (session, base.get(key, bench.app_url) + path)
                for key, (_, session, path, _) in cases.items()}

        # Checks, once, outside the timing.
        for key, term in (("b", q), ("e", rare_q), ("f", late_q)):
            found = RESULT_COUNT_RE.search(get_ok(*urls[key]).text)
            reported = " ".join(found.group(1).split()) if found else "?"
            print(f"{cases[key][0]}: the page reports {reported!r} (SQL: {in_sql[term]:,} rows match)")
        found = RESULT_COUNT_RE.search(get_ok(*urls["g"]).text)
        print(f"{cases['g'][0]}: the page reports {' '.join(found.group(1).split()) if found else '?'!r} "
              f"(SQL: {active:,} rows)")
        deep = FIRST_ROW_RE.search(get_ok(app_session, urls["c"][1]).text)
        shown = deep.group(1) if deep else None
        if shown != expected_first:
            raise RuntimeError(f"page {page}: first row {shown}, expected {expected_first}")
        print(f"(c) page {page:,} shows {shown} first, as expected")

        print(f"\nMeasuring: {args.requests} sequential GETs per case after {args.warmup} warm-up requests, "
              "cases interleaved in random order ...", flush=True)
        t = time.perf_counter()
        times = measure(urls, args.requests, args.warmup, rng, args.slow_case_ms)
        elapsed = time.perf_counter() - t
        slow = slow_statements(bench.postgres.data_dir / "log", bench.log_offset)

        bare_med, bare_p95 = statistics_of(times["d"])
        layout_med, _ = statistics_of(times["j"])
        print(f"\nResults ({args.rows:,} rows, {args.requests} requests per case, {elapsed:.0f} s; "
              f"load average before {load_before[0]:.2f}, now {os.getloadavg()[0]:.2f}; "
              f"{os.cpu_count()} CPUs)")
        header = (f"{'case':<38} {'n':>4} {'median ms':>10} {'p95 ms':>9} {'min':>7} {'max':>8} "
                  f"{'med/bare':>9} {'p95/bare':>9} {'med/(j)':>8}")
        print(header)
        print("-" * len(header))
        for key, (label, *_) in cases.items():
            med, p95 = statistics_of(times[key])
            print(f"{label:<38} {len(times[key]):>4} {med:>10.2f} {p95:>9.2f} {min(times[key]):>7.2f} "
                  f"{max(times[key]):>8.2f} {med / bare_med:>9.2f} {p95 / bare_p95:>9.2f} {med / layout_med:>8.2f}")
        print("(a)-(d) are the cases asked for; (e) and (f) extra searches; (g)-(i) the filter count and "
              "the other orders; (j) the bare page with the app's layout (the list page's fair baseline). "
              "med/bare and p95/bare are against (d), med/(j) against (j), measured in the same "
              "interleaved rounds.")
        slowest = max((statistics_of(times[k])[0] / layout_med, cases[k][0]) for k in "abcefghi")
        print(f"Slowest list case against (j): {slowest[0]:.2f}x, {slowest[1]} (target: every case within 5x)")
        if any(len(v) < args.requests for v in times.values()):
            print(f"(n < {args.requests}: the case's warm-up median was over {args.slow_case_ms:g} ms, "
                  "so it was timed fewer times.)")

        if args.tp_rounds:
            run_throughput(args, bench, app_session, urls, cases, rng)

        # Plans, after the timing.
        print("\nPlans of the queries the app runs (EXPLAIN (ANALYZE, BUFFERS OFF)); custom = the "
              "planner sees the values, generic = the plan a prepared statement can settle on:")
        seq_scans = []
        for key, (label, _, _, query) in cases.items():
            if query is None:
                continue
            for statement, parameters in capture_queries(bench.app, query):
                if "FROM employees" not in statement:
                    continue
                kind = query_kind(statement)
                custom, generic = explain(bench.pg_url, statement, parameters)
                for mode, lines in (("custom", custom), ("generic", generic)):
                    print(f"\n  {label} - {kind} query, {mode} plan:")
                    print(plan_summary(lines))
                    if any("Seq Scan on employees" in line for line in lines):
                        seq_scans.append(f"{label} {kind} query ({mode} plan)")
        print("\n  The SQL of (c), as the app sends it:")
        statement = capture_queries(bench.app, cases["c"][3])[0][0]
        print(textwrap.indent(textwrap.fill(" ".join(statement.split()), 110), "      "))

        print(f"\nStatements slower than {args.slow_ms:g} ms while measuring (auto_explain): {len(slow)}")
        groups: dict[tuple[str, str], list[tuple[float, str, list[str]]]] = {}
        for duration, entry in slow:
            query, parameters, plan = parse_auto_explain(entry)
            shape = "\n".join(re.sub(r"\(cost=[^)]*\)|'[^']*'", "", line) for line in plan)
            groups.setdefault((query, shape), []).append((duration, parameters, plan))
        for (query, _), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            items.sort(key=lambda item: item[0])
            duration, parameters, plan = items[-1]
            print(f"\n  {len(items)} x, {items[0][0]:.0f}-{duration:.0f} ms: ...{query[-220:]}")
            print(f"      slowest: {parameters or '(no parameters)'}")
            print("\n".join("      " + line for line in plan[:14]))
            if any("Seq Scan on employees" in "\n".join(item[2]) for item in items):
                seq_scans.append(f"auto_explain ({len(items)} x): ...{query[-100:]} [{parameters}]")
        if args.reanalyze:
            seq_scans += plan_stability(bench, {cases[k][0]: cases[k][3] for k in ("b", "e", "f")},
                                        args.reanalyze)
        if seq_scans:
            print("\nSeq Scan on employees: YES, in:\n  " + "\n  ".join(seq_scans))
        else:
            print("\nSeq Scan on employees: none (in any plan above or in the slow-statement log)")
    finally:
        bench.stop()


def run_throughput(args, bench, app_session, urls, cases, rng) -> None:
    """The list page against the bare pages at --connections keep-alive
    connections at once, in the same run (wrk)."""
    import statistics

    if shutil.which("wrk") is None:
        print("\nThroughput: skipped, wrk is not installed (apt-get install wrk).")
        return
    # The cookie as the browser holds it after a page (with its CSRF token):
    # one the app does not have to rewrite on every response.
    get_ok(*urls["a"])
    cookie = app_session.cookies.get("session")
    targets = {key: (urls[key][1], cookie if key not in ("d", "j") else None,
                     len(get_ok(*urls[key]).content)) for key in ("a", "j", "d")}
    print(f"\nThroughput: {args.connections} keep-alive connections (wrk, one thread), {args.tp_rounds} "
          f"rounds of {args.tp_seconds:g} s per case, cases in random order each round ...", flush=True)
    masters = {key: next(pid for base, pid in bench.masters.items() if url.startswith(base + "/"))
               for key, (url, _, _) in targets.items()}
    results = throughput(targets, args.tp_rounds, args.tp_seconds, args.connections, rng, bench.cpu_snapshot,
                         masters)
    header = (f"{'case':<38} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'KB/page':>8} {'CPU ms/req':>11}"
              "   req/s of each round")
    print(f"\nThroughput at {args.connections} connections (medians of {args.tp_rounds} rounds; "
          f"load average {min(r['load'] for v in results.values() for r in v):.2f} to "
          f"{max(r['load'] for v in results.values() for r in v):.2f} at the rounds' start; "
          f"{os.cpu_count()} CPUs)")
    print(header)
    print("-" * len(header))
    medians = {}
    for key, runs in results.items():
        medians[key] = {name: statistics.median(r[name] for r in runs) for name in ("rps", "p50", "p99", "bytes")}
        medians[key]["cpu_ms"] = statistics.median(r["app_cpu_ms"] + r["db_cpu_ms"] for r in runs)
        m = medians[key]
        print(f"{cases[key][0]:<38} {m['rps']:>8.1f} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['bytes'] / 1024:>8.1f} "
              f"{m['cpu_ms']:>11.2f}   " + ", ".join(f"{r['rps']:.0f}" for r in runs))
    ratio = medians["a"]["rps"] / medians["j"]["rps"]
    print(f"(a)/(j) throughput: {ratio:.2f}x (target >= 0.5); (a)/(d): "
          f"{medians['a']['rps'] / medians['d']['rps']:.2f}x")
    # On a machine the servers saturate, req/s is about CPUs / CPU per
    # request: the same ratio without the neighbours' noise in it.
    print(f"(j)/(a) CPU per request (servers + database): {medians['j']['cpu_ms'] / medians['a']['cpu_ms']:.2f}x "
          f"({medians['a']['cpu_ms']:.2f} ms against {medians['j']['cpu_ms']:.2f} ms): the throughput ratio the "
          f"{os.cpu_count()} CPUs allow when nothing else runs on them")
    # gunicorn hands connections to whichever worker accepts first: wrk's 16,
    # opened at once, sometimes all go to one worker for the whole run.
    balanced = {key: [r["rps"] for r in runs if r["balanced"]] for key, runs in results.items()}
    unbalanced = sum(not r["balanced"] for runs in results.values() for r in runs)
    if unbalanced:
        print(f"{unbalanced} of {sum(map(len, results.values()))} runs unbalanced (one gunicorn worker did less "
              f"than {BALANCED_SHARE:.0%} of the work)" + (
                  f"; (a)/(j) over the balanced runs only: "
                  f"{statistics.median(balanced['a']) / statistics.median(balanced['j']):.2f}x "
                  f"({len(balanced['a'])} and {len(balanced['j'])} runs)"
                  if balanced["a"] and balanced["j"] else ""))


def statistics_of(values: list[float]) -> tuple[float, float]:
    import statistics
    return statistics.median(values), percentile(values, 95)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="employees to load (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed GETs per case (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed GETs per case first (default 10)")
    parser.add_argument("--page", type=int, default=5000, help="the deep page for (c) (default 5,000)")
    parser.add_argument("--q", help="the search term for (b) (default: 5 letters of the commonest last name)")
    parser.add_argument("--slow-ms", type=float, default=50, help="log plans of statements slower than this")
    parser.add_argument("--slow-case-ms", type=float, default=1000,
                        help="a case slower than this in warm-up is timed max(20, requests/10) times")
    parser.add_argument("--reanalyze", type=int, default=10,
                        help="at the end, re-ANALYZE this many times and tally the search plans (0: skip)")
    parser.add_argument("--connections", type=int, default=16,
                        help="concurrent keep-alive connections of the throughput case (default 16)")
    parser.add_argument("--tp-rounds", type=int, default=3,
                        help="throughput rounds, each case once per round (default 3; 0 skips the case)")
    parser.add_argument("--tp-seconds", type=float, default=10, help="seconds of each throughput run (default 10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--load-with-indexes", action="store_true",
                        help="COPY into the fully indexed table (slower) instead of building indexes after")
    parser.add_argument("--keep", action="store_true", help="keep bench/out/run-*/ (the data) afterwards")
    args = parser.parse_args()
    if args.rows < 2 * PER_PAGE + 2:
        parser.error("--rows must be at least 102")
    return run_stoppably(run, args)


def run_stoppably(run, args) -> int:
    """run(args), stopped by SIGTERM as by Ctrl-C (run's `finally` stops the
    servers); the exit status."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run(args)
    except KeyboardInterrupt:
        print("Interrupted.")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
