"""The test harness: real servers, real HTTP.

Once per session: an embedded PostgreSQL (or the server in TEST_DATABASE_URL,
whose database is then used and wiped), an embedded valkey-server started
here, the Alembic migrations applied, and the app served by gunicorn (several
processes and threads) on a free port. Before each test: every table is
truncated, Valkey flushed and the (empty) index marked ready, as after a
fresh install.
"""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import psycopg
import pytest
import requests
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from employee_app import create_app
from employee_app.devservers import EmbeddedPostgres, EmbeddedValkey, free_port
from employee_app.extensions import db
from employee_app.services import audit, duplicate_guard, users
from employee_app.valkey_store import get_store

from .helpers import PASSWORD, HttpClient

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "test-secret-key-not-for-production"
METRICS_TOKEN = "test-metrics-token-not-for-production"
# The accounts make_user creates share one scrypt hash of PASSWORD at a low
# work factor, made once. At the app's cost every test account took 0.12 s
# to make and 0.11 s to check at each login: a fifth of the suite's time.
# Accounts made through the app (its pages, its CLI, a password change) are
# hashed at the real cost, and test_accounts / test_cli check that they are.
TEST_ACCOUNT_HASH = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """The embedded PostgreSQL, or None when TEST_DATABASE_URL names a server."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    postgres = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data").start()
    postgres.tune_for_tests()
    yield postgres
    postgres.stop()


@pytest.fixture(scope="session")
def database_url(postgres_server):
    if postgres_server is None:
        return os.environ["TEST_DATABASE_URL"]
    return postgres_server.ensure_database("employee_app_test")


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory):
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"), persist=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_env(database_url, valkey_server, tmp_path_factory) -> dict:
    """The environment the app runs with, in this process, in gunicorn and in
    import workers. Uploads are limited to 20 MB so the 413 test stays small."""
    return {"DATABASE_URL": database_url, "VALKEY_URL": valkey_server.url,
            "SECRET_KEY": SECRET_KEY, "VALKEY_TIMEOUT": "0.5",
            "UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")), "IMPORT_MAX_MB": "20",
            "IMPORT_WORKER_HEARTBEAT": "1", "METRICS_TOKEN": METRICS_TOKEN}


@pytest.fixture(scope="session")
def app(app_env):
    """An app in the test process, for setting up data and checking the database."""
    from flask_migrate import upgrade

    for key, value in app_env.items():
        os.environ[key] = value
    application = create_app({"TESTING": True})
    with application.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        upgrade()  # the real migrations, so they are tested too
    return application


@pytest.fixture(autouse=True)
def clean_state(request, app, valkey_server, database_url):
    """Every test starts on empty tables and an empty, ready Valkey index,
    the table with all its indexes (a bulk import a test stopped left none)."""
    from employee_app.services.importer import bulk

    if valkey_server.process is None:  # a test stopped Valkey and failed before restarting it
        valkey_server.start()
    bulk.recover(database_url)
    with app.app_context():
        db.session.execute(text("TRUNCATE employees, departments, jobs, users, audit_log, imports, import_rejections, column_mappings, audit_commits, import_feed_batches RESTART IDENTITY CASCADE"))
        db.session.execute(text("UPDATE valkey_index_state SET missed_writes_since = NULL"))
        db.session.commit()
        store = get_store()
        _wait_for_rebuilds(store)
        store.client.flushall()
        store.repair_due = False
        duplicate_guard.rebuild_index()
        yield
        db.session.remove()


def _wait_for_rebuilds(store, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while store.client.exists(duplicate_guard.REBUILD_LOCK_KEY) and time.monotonic() < deadline:
        time.sleep(0.05)


class Gunicorn:
    """The app served by gunicorn with the production settings
    (gunicorn.conf.py), on a free port; output to `log` (a file) if given."""

    def __init__(self, env: dict, *, workers: int = 2, threads: int = 8, log=None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = dict(env, GUNICORN_WORKERS=str(workers), GUNICORN_THREADS=str(threads))
        self.log = log
        self.process = None

    def start(self) -> "Gunicorn":
        output = open(self.log, "ab") if self.log else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}",
             # Idle connections stay open longer than any pause in a test, so a
             # client never reuses one the server is closing at that moment.
             "--keep-alive", "75", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=output, stderr=output,
        )
        if output:
            output.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def start_gunicorn(env: dict, workers: int, threads: int) -> tuple[Gunicorn, str]:
    """A started Gunicorn with this whole environment: (server, base URL)."""
    server = Gunicorn(env, workers=workers, threads=threads).start()
    return server, server.base_url


def stop_gunicorn(server: Gunicorn) -> None:
    server.stop()


@contextmanager
def gunicorn_serving(app_env: dict, workers: int = 2, threads: int = 8):
    """The app served by gunicorn with this environment (over the process's
    own), the access log and gunicorn's notices left out of the tests'
    output; yields its URL once /healthz answers, and stops it at the end."""
    server = Gunicorn(dict(os.environ, **app_env,
                           GUNICORN_CMD_ARGS="--access-logfile /dev/null --log-level warning"),
                      workers=workers, threads=threads)
    try:
        yield server.start().base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_server(app, app_env):
    """The app served by gunicorn: 2 processes x 8 threads, like production."""
    with gunicorn_serving(app_env) as base_url:
        yield base_url


@contextmanager
def unrecorded_accounts():
    """The accounts (and tokens) a test sets up are not changes anyone made:
    they write no audit entry, so that the tests count their own entries
    (tests/web/test_account_history.py checks the accounts' entries)."""
    with mock.patch.object(audit, "record_account_change", lambda *args, **kwargs: None):
        yield


@pytest.fixture
def make_user(app):
    def make(username: str, role: str):
        with app.app_context(), mock.patch.object(users, "_hash", lambda password: TEST_ACCOUNT_HASH), \
                unrecorded_accounts():
            user = users.create_user(username, PASSWORD, role)
            return user.username
    return make


@pytest.fixture
def login(live_server, make_user):
    """login(role) -> an HttpClient logged in as a new user with that role."""
    created: dict[str, str] = {}

    def log_in(role: str, username: str | None = None) -> HttpClient:
        username = username or f"{role}-user"
        if username not in created:
            created[username] = make_user(username, role)
        client = HttpClient(live_server)
        client.login(username, PASSWORD)
        return client
    return log_in


@pytest.fixture
def pg(database_url):
    """A plain psycopg connection, for checking what is really stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def postgres_outage(postgres_server):
    """postgres_outage(): a context manager inside which the suite's
    PostgreSQL is stopped (a fast shutdown, as an outage or a restart). It
    always starts again, same data, same address, so the tests after this
    one are unaffected whatever happens inside."""
    if postgres_server is None:
        pytest.skip("TEST_DATABASE_URL names a server this suite cannot stop and start")

    @contextmanager
    def outage():
        postgres_server.halt()
        try:
            yield
        finally:
            postgres_server.resume()
    return outage


@pytest.fixture
def pause_valkey(valkey_server):
    """pause_valkey(): a context manager inside which Valkey hangs (SIGSTOP:
    connections open, no answers, like a server stuck on a disk or in swap).
    It always resumes; commands sent meanwhile run when it does."""
    @contextmanager
    def paused():
        pid = valkey_server.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)
    return paused


@pytest.fixture
def valkey(valkey_server):
    import valkey as valkey_lib

    client = valkey_lib.Valkey.from_url(valkey_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (item.rep_call), so that
    fixtures can add what helps after a failure (e.g. a worker's log)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
