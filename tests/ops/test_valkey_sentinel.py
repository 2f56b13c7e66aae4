"""VALKEY_URL may name Sentinels instead of a server: the app asks them where
the primary is, and asks again after a failover, without a restart.

Real servers: the suite's valkey-server binary also runs as a Sentinel
(--sentinel), watching the suite's Valkey, or a primary and its replica
started here for the failover.
"""
import os
import signal
import subprocess
import time

import pytest
import valkey as valkey_lib

from employee_app import create_app
from employee_app.config import config_from_env
from employee_app.devservers import EmbeddedValkey, free_port, valkey_server_binary
from employee_app.services.duplicate_guard import IDS_KEY
from employee_app.services.importer.jobs import queue_connection
from employee_app.valkey_store import ValkeyStore
from employee_app.valkey_url import ValkeyUrlError

from ..conftest import gunicorn_serving
from ..helpers import PASSWORD, HttpClient, employee, wait_for
from ..imports.conftest import csv_bytes, run_upload, start_worker  # noqa: F401  (start_worker: a fixture)

SERVICE = "employee-app"


class Sentinel:
    """A valkey-server in Sentinel mode watching one primary (quorum 1, so
    that this one Sentinel may fail it over, a second after it stops)."""

    def __init__(self, data_dir, primary_port: int):
        self.port = free_port()
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Sentinel rewrites its configuration file as it learns: a file of its own.
        self.conf = self.data_dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.data_dir}\nlogfile {self.data_dir / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n")
        self.process = None

    def start(self) -> "Sentinel":
        self.process = subprocess.Popen([valkey_server_binary(), str(self.conf), "--sentinel"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = valkey_lib.Valkey(port=self.port, socket_timeout=1)
        wait_for(lambda: self._answers(client), timeout=10)
        return self

    @staticmethod
    def _answers(client) -> bool:
        try:
            return client.sentinel_get_master_addr_by_name(SERVICE) is not None
        except valkey_lib.exceptions.ConnectionError:
            return False

    def primary_port(self) -> int:
        host, port = valkey_lib.Valkey(port=self.port, socket_timeout=1).sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def url(self, scheme: str = "valkey+sentinel") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{SERVICE}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def sentinel(valkey_server, tmp_path_factory):
    watching = Sentinel(tmp_path_factory.mktemp("sentinel"), valkey_server.port).start()
    yield watching
    watching.stop()


def test_both_clients_built_from_a_sentinel_url_reach_the_primary(app, sentinel, valkey):
    store = ValkeyStore(sentinel.url(), timeout=0.5)
    store.run(lambda client: client.set("sentinel-check:guard", "from valkey-py"))
    assert store.ping()
    with app.app_context():
        queue = queue_connection(sentinel.url("redis+sentinel"), timeout=0.5)
        queue.set("sentinel-check:queue", "from redis-py")
    # Both wrote to the suite's Valkey, the primary the Sentinel watches.
    assert valkey.get("sentinel-check:guard") == "from valkey-py"
    assert valkey.get("sentinel-check:queue") == "from redis-py"


def test_the_app_and_a_worker_behind_a_sentinel_refuse_duplicates(app_env, sentinel, make_user, start_worker,
                                                                    pg, valkey):
    worker = start_worker(VALKEY_URL=sentinel.url())
    make_user("hr-sentinel", "hr")
    with gunicorn_serving(dict(app_env, VALKEY_URL=sentinel.url())) as base_url:
        client = HttpClient(base_url)
        client.login("hr-sentinel", PASSWORD)
        assert client.submit("/employees/new", employee("S-1001")).status_code == 303
        again = client.submit("/employees/new", employee("S-1001", first_name="Grace"))
        assert again.status_code == 409
        assert client.get("/readyz").json()["valkey"] == "ok"
        # An import queued through the Sentinel URL, taken by a worker that
        # found the queue through it too: the known ID is refused as a duplicate.
        rows = [["employee_id", "first_name", "last_name"], ["S-1001", "Ada", "Again"], ["S-1002", "Alan", "Turing"]]
        _, result = run_upload(client, pg, csv_bytes(rows))
    assert (result["status"], result["inserted"], result["duplicates"]) == ("done", 1, 1), result
    assert valkey.sismember(IDS_KEY, "S-1001") and valkey.sismember(IDS_KEY, "S-1002")
    # A warm shutdown interrupts the worker's wait for the next job; it
    # still exits at once (valkey_url._dropped_when_interrupted), as on a plain URL.
    os.killpg(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait(5) == 0, worker.output()[-2000:]


def test_the_guard_and_a_worker_follow_a_failover_without_a_restart(app_env, make_user, start_worker, pg,
                                                                     tmp_path):
    """A primary and its replica watched by a Sentinel; the primary stops,
    the Sentinel promotes the replica, and the running app writes its index
    to the new primary and keeps refusing duplicates; the running worker
    takes an import queued on the new primary."""
    primary = EmbeddedValkey(tmp_path / "primary", persist=False).start()
    replica = EmbeddedValkey(tmp_path / "replica", persist=False).start()
    watching = None
    try:
        replica_client = valkey_lib.Valkey(port=replica.port, decode_responses=True, socket_timeout=2)
        replica_client.replicaof("127.0.0.1", primary.port)
        wait_for(lambda: replica_client.info("replication").get("master_link_status") == "up", timeout=15)
        watching = Sentinel(tmp_path / "sentinel", primary.port).start()
        make_user("hr-failover", "hr")
        worker = start_worker(VALKEY_URL=watching.url())
        with gunicorn_serving(dict(app_env, VALKEY_URL=watching.url())) as base_url:
            client = HttpClient(base_url)
            client.login("hr-failover", PASSWORD)
            assert client.submit("/employees/new", employee("F-1")).status_code == 303
            wait_for(lambda: replica_client.sismember(IDS_KEY, "F-1"), timeout=10)
            # The worker is waiting for jobs on the old primary before it stops
            # (one still starting would wait for Valkey and start afterwards:
            # tests/imports/test_import_faults.py).
            wait_for(lambda: "Listening on" in worker.output(), timeout=30)

            primary.stop()
            wait_for(lambda: watching.primary_port() == replica.port, timeout=30)
            assert replica_client.info("replication")["role"] == "master"

            # The app, not restarted, adds through the new primary and refuses
            # duplicates, of a record from before the failover and of one after.
            def added(employee_id: str) -> bool:
                status = client.submit("/employees/new", employee(employee_id)).status_code
                assert status in (303, 409), status
                return replica_client.sismember(IDS_KEY, employee_id)
            # The first adds may land while the app's breaker still skips
            # Valkey (PostgreSQL alone, still correct): add until one reaches it.
            fresh_ids = (f"F-{number}" for number in range(100, 1000))
            wait_for(lambda: added(next(fresh_ids)), timeout=15)
            assert client.submit("/employees/new", employee("F-2")).status_code == 303
            assert replica_client.sismember(IDS_KEY, "F-2")
            assert client.submit("/employees/new", employee("F-2", first_name="Grace")).status_code == 409
            assert client.submit("/employees/new", employee("F-1", first_name="Grace")).status_code == 409
            assert client.get("/readyz").json()["valkey"] == "ok"
            rows = [["employee_id", "first_name", "last_name"], ["F-2", "Ada", "Again"], ["F-3", "Alan", "Turing"]]
            _, result = run_upload(client, pg, csv_bytes(rows))
            assert (result["status"], result["inserted"], result["duplicates"]) == ("done", 1, 1), \
                (result, worker.output()[-3000:])
            assert replica_client.sismember(IDS_KEY, "F-3")
    finally:
        if watching:
            watching.stop()
        replica.stop()
        primary.stop()


@pytest.mark.parametrize("url, fault", [
    ("valkey+sentinel:///employee-app/0", "names no Sentinel host"),
    ("valkey+sentinel://127.0.0.1:99999/employee-app/0", "port is not a number from 1 to 65535"),
    ("valkey+sentinel://127.0.0.1:26379/employee-app\x00/0", "control characters"),
    ("valkey+sentinel://127.0.0.1:26379/employee-app%00/0", "service name holds control characters"),
    ("redis+sentinel://127.0.0.1:26379/", "names no service"),
    ("redis+sentinel://127.0.0.1:26379/employee-app/zero", "database number is not a number"),
    ("valkey://127.0.0.1:port/0", "host or port cannot be read"),
    ("http://127.0.0.1:6379/0", "scheme is not one of"),
])
def test_a_url_that_cannot_work_is_refused_with_a_clear_message(app_env, url, fault):
    with pytest.raises(ValkeyUrlError, match=f"^VALKEY_URL is not usable: [^.]*{fault}") as refused:
        config_from_env(dict(app_env, VALKEY_URL=url))
    assert "\x00" not in str(refused.value)


def test_the_app_does_not_start_on_such_a_url_and_never_repeats_it(monkeypatch):
    """The URL may hold the password: the message names the fault only."""
    monkeypatch.setenv("VALKEY_URL", "valkey+sentinel://:hunter2-secret@127.0.0.1:26379/\n")
    with pytest.raises(ValkeyUrlError, match="control characters") as refused:
        create_app({"TESTING": True})
    assert "hunter2-secret" not in str(refused.value)


def test_plain_urls_pass_as_before(app_env):
    for url in ("valkey://localhost:6379/0", "valkeys://:pw@cache.internal:6380/1", "redis://127.0.0.1/0",
                "rediss://cache:6379/0", "unix:///run/valkey.sock?db=0"):
        assert config_from_env(dict(app_env, VALKEY_URL=url))["VALKEY_URL"] == url


def test_behind_a_sentinel_no_process_keeps_copies_of_session_answers(sentinel, valkey):
    """After a failover a listener could stay on the old primary and hear
    nothing of the new one's changes: behind Sentinel every check asks Valkey."""
    from employee_app.services.session_cache import TRACKED_PREFIXES

    plain = ValkeyStore(f"valkey://127.0.0.1:{sentinel.primary_port()}/0", timeout=0.5)
    watched = ValkeyStore(sentinel.url(), timeout=0.5)
    valkey.set("session:sentinel-check", "1")
    for store, keeps in ((plain, True), (watched, False)):
        copies = store.tracked(TRACKED_PREFIXES)
        deadline = time.monotonic() + 3
        kept = None
        while kept is None and time.monotonic() < deadline:
            copies.keep(copies.ticket(), ["session:sentinel-check"], ["1"])
            kept = copies.get(["session:sentinel-check"])
            time.sleep(0.05)
        assert (kept == ["1"]) is keeps
        copies.close()
