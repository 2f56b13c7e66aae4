"""The Valkey repair path: writes Valkey missed are never forgotten, and
rebuilds cannot get stuck. Real Valkey, made to refuse writes (out of
memory) or to hang (SIGSTOP); real HTTP through gunicorn's two processes."""
import threading
import time

import pytest

from employee_app.services import duplicate_guard
from employee_app.services.duplicate_guard import IDS_KEY, READY_KEY, REBUILD_LOCK_KEY
from employee_app.valkey_store import get_store

from ..helpers import employee


def wait_for(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def missed_writes_since(pg):
    return pg.execute("SELECT missed_writes_since FROM valkey_index_state").fetchone()[0]


@pytest.fixture
def valkey_refusing_writes(valkey):
    """Valkey answers but refuses every write (out of memory): the writes
    are really lost, unlike those sent to a hung server, which run late."""
    def refuse(on: bool):
        valkey.config_set("maxmemory-policy", "noeviction")
        valkey.config_set("maxmemory", "1" if on else "0")
    yield refuse
    refuse(False)


def test_writes_valkey_refused_are_never_reported_free_and_are_repaired(login, pg, valkey, valkey_refusing_writes):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1")).status_code == 303
    valkey_refusing_writes(True)
    for number in (2, 3, 4):
        assert hr.submit("/employees/new", employee(f"E{number}")).status_code == 303
    assert not valkey.sismember(IDS_KEY, "E2"), "the write was not refused: the test proves nothing"
    assert missed_writes_since(pg) is not None  # kept where every process and every retry sees it
    # No process, whichever answers, says an existing ID is free.
    for _ in range(12):
        for number in (2, 3, 4):
            check = hr.get("/employees/check-id", params={"employee_id": f"e{number}"})
            assert "already taken" in check.text, (number, check.text)
    assert hr.submit("/employees/new", employee("E3")).status_code == 409

    valkey_refusing_writes(False)
    # Once Valkey takes writes again, the sets are rebuilt and the fact is cleared.
    def repaired():
        hr.get("/employees/check-id", params={"employee_id": "E9"})  # someone typing
        return valkey.exists(READY_KEY) and valkey.sismember(IDS_KEY, "E4") and missed_writes_since(pg) is None
    wait_for(repaired)


def test_a_missed_write_is_remembered_across_processes_and_retries(app, login, pg, valkey, valkey_refusing_writes):
    hr = login("hr")
    valkey_refusing_writes(True)
    assert hr.submit("/employees/new", employee("E2")).status_code == 303
    valkey_refusing_writes(False)
    # Put the "ready" mark back by hand, as if the delete had never reached
    # Valkey: a process that never missed a write still finds the fact in
    # PostgreSQL and repairs the sets.
    valkey.set(READY_KEY, "2000-01-01T00:00:00+00:00")
    with app.app_context():
        assert duplicate_guard.find_taken({"employee_id": "E2"})[0].existing_employee_id == "E2"
    wait_for(lambda: valkey.sismember(IDS_KEY, "E2") and missed_writes_since(pg) is None)


def test_after_a_valkey_hang_the_sets_are_rebuilt_once_it_answers(login, pg, valkey, pause_valkey):
    hr = login("hr")
    built_before = valkey.get(READY_KEY)
    with pause_valkey():  # longer than VALKEY_TIMEOUT: each write after commit gives up
        assert hr.submit("/employees/new", employee("E1")).status_code == 303
        assert hr.submit("/employees/new", employee("E2")).status_code == 303
        assert missed_writes_since(pg) is not None
    # Valkey answers again: the next check anyone makes sets the repair going,
    # and the sets are rebuilt from PostgreSQL (newer than the hang).
    def rebuilt():
        assert "already taken" in hr.get("/employees/check-id", params={"employee_id": "e2"}).text
        return missed_writes_since(pg) is None and valkey.get(READY_KEY) not in (None, built_before)
    wait_for(rebuilt)
    assert valkey.sismember(IDS_KEY, "E1") and valkey.sismember(IDS_KEY, "E2")


def seed_employees(pg, count: int) -> None:
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name, email)"
               " SELECT 'R' || n, 'Ada', 'Name' || n, 'r' || n || '@example.com' FROM generate_series(1, %s) n",
               (count,))


def test_a_rebuild_that_fails_half_way_releases_its_lock_and_removes_its_sets(app, pg, valkey):
    seed_employees(pg, 60_000)
    before = valkey.info("memory")["used_memory"]
    valkey.config_set("maxmemory-policy", "noeviction")
    valkey.config_set("maxmemory", str(before + 600_000))  # full after a few batches
    try:
        with app.app_context(), pytest.raises(Exception) as failure:
            duplicate_guard.rebuild_index()
        assert "maxmemory" in str(failure.value)[-200:]
    finally:
        valkey.config_set("maxmemory", "0")
    assert not valkey.exists(REBUILD_LOCK_KEY)
    assert valkey.keys(f"{IDS_KEY}:rebuild:*") == [] and valkey.keys("employees:emails:rebuild:*") == []


def test_a_rebuild_outlasts_a_hang_longer_than_the_quick_timeout(app, pg, valkey, pause_valkey):
    seed_employees(pg, 20_000)
    valkey.delete(READY_KEY)
    with app.app_context():
        assert get_store().rebuild_timeout > 2 * app.config["VALKEY_TIMEOUT"]
        result = {}
        with pause_valkey():
            rebuilding = threading.Thread(target=lambda: result.update(count=_rebuild(app)))
            rebuilding.start()
            time.sleep(3 * app.config["VALKEY_TIMEOUT"])  # longer than a quick call may wait
        rebuilding.join(30)
    assert result.get("count") == 20_000
    assert valkey.exists(READY_KEY) and not valkey.exists(REBUILD_LOCK_KEY)
    # The swapped-in sets do not keep the temporary sets' expiry.
    assert valkey.ttl(IDS_KEY) == -1 and valkey.scard(IDS_KEY) == 20_000
    assert valkey.keys(f"{IDS_KEY}:rebuild:*") == []


def _rebuild(app) -> int:
    with app.app_context():
        return duplicate_guard.rebuild_index()
