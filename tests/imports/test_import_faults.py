"""Imports under concurrency and faults: never a duplicate, never a lost row."""
import subprocess
import sys
import time

from ..helpers import csrf_token
from .conftest import ROOT, csv_bytes, import_id_of, upload, wait_for_import

HEADER = ["employee_id", "first_name", "last_name", "email"]


def staff_file(count: int, start: int = 1) -> bytes:
    return csv_bytes([HEADER] + [[f"E{n:06d}", "Ada", f"Name{n}", f"p{n}@example.com"]
                                 for n in range(start, start + count)])


def no_duplicates_stored(pg) -> bool:
    total, ids, emails = pg.execute(
        "SELECT count(*), count(DISTINCT upper(employee_id)), count(DISTINCT lower(email)) FROM employees").fetchone()
    return total == ids == emails


def wait_until_running(pg, import_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while pg.execute("SELECT rows_read FROM imports WHERE id = %s", (import_id,)).fetchone()[0] == 0:
        assert time.monotonic() < deadline, "the import never started"
        time.sleep(0.02)


def test_the_same_file_imported_twice_at_once_by_two_workers(login, pg, start_worker):
    start_worker()
    start_worker()
    hr = login("hr")
    content = staff_file(20_000)
    first = import_id_of(upload(hr, content, "a.csv"))
    second = import_id_of(upload(hr, content, "b.csv"))
    a, b = wait_for_import(pg, first, 120), wait_for_import(pg, second, 120)
    assert a["status"] == b["status"] == "done"
    assert a["inserted"] + b["inserted"] == 20_000
    assert a["duplicates"] + b["duplicates"] == 20_000
    assert a["invalid"] == b["invalid"] == 0
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 20_000 and no_duplicates_stored(pg)


def test_valkey_flushed_in_the_middle_of_an_import(login, pg, valkey, worker):
    hr = login("hr")
    first = import_id_of(upload(hr, staff_file(5_000), "first.csv"))
    assert wait_for_import(pg, first)["inserted"] == 5_000
    # The second file adds 55,000 new rows, then repeats all of the first.
    rows = [HEADER] + [[f"E{n:06d}", "Ada", f"Name{n}", f"p{n}@example.com"] for n in range(5_001, 60_001)]
    rows += [[f"e{n:06d}", "Ada", f"Name{n}", f"P{n}@example.com"] for n in range(1, 5_001)]
    second = import_id_of(upload(hr, csv_bytes(rows), "second.csv"))
    wait_until_running(pg, second)
    valkey.flushall()  # the queue's own records of the running job go too
    # Looking at the import (which checks whether its worker is alive) does
    # not take the flush for a dead worker.
    assert "running" in status_badge(hr.get(f"/imports/{second}").text)
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (second,)).fetchone()[0] == "running"
    result = wait_for_import(pg, second, 120)
    assert result["status"] == "done"
    assert (result["inserted"], result["duplicates"], result["invalid"]) == (55_000, 5_000, 0)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 60_000 and no_duplicates_stored(pg)


def status_badge(page: str) -> str:
    return page.split('id="import-status"')[1][:80]


def counts_match_the_table(pg, import_id: int, rows: int) -> dict:
    """The import's counters add up to the file's rows, and what it says it
    inserted is what the table holds from it; no row is its own duplicate."""
    result = wait_for_import(pg, import_id, 120)
    assert result["status"] == "done", result
    assert result["rows_read"] == rows
    assert result["inserted"] + result["duplicates"] + result["invalid"] == rows
    stored = pg.execute("SELECT count(*) FROM employees WHERE import_id = %s", (import_id,)).fetchone()[0]
    assert stored == result["inserted"]
    own = pg.execute("SELECT count(*) FROM import_rejections r JOIN employees e ON e.import_id = r.import_id"
                     " AND e.import_row = r.row_number WHERE r.import_id = %s", (import_id,)).fetchone()[0]
    assert own == 0, "rows this import stored are reported as rejected"
    assert no_duplicates_stored(pg)
    return result


def crash_an_import(hr, pg, start_worker, rows: int) -> int:
    """Upload a file, SIGKILL its worker mid-import, wait for the page to say failed."""
    crashed = start_worker()
    import_id = import_id_of(upload(hr, staff_file(rows), "big.csv"))
    wait_until_running(pg, import_id)
    crashed.kill()
    deadline = time.monotonic() + 30
    while "failed" not in status_badge(hr.get(f"/imports/{import_id}").text):
        assert time.monotonic() < deadline, "the import was never marked failed"
        time.sleep(0.5)
    return import_id


def click_run_it_again(hr, import_id: int):
    page = hr.get(f"/imports/{import_id}")
    return hr.post(f"/imports/{import_id}/retry", {"csrf_token": csrf_token(page.text)})


def test_a_late_failure_callback_of_the_crashed_run_does_not_fail_the_rerun(login, pg, valkey, start_worker,
                                                                            app_env):
    from redis import Redis
    from rq.exceptions import AbandonedJobError
    from rq.job import Job
    from rq.timeouts import UnixSignalDeathPenalty

    hr = login("hr")
    import_id = crash_an_import(hr, pg, start_worker, 60_000)
    crashed_run = pg.execute("SELECT job_id FROM imports WHERE id = %s", (import_id,)).fetchone()[0]
    start_worker()
    assert click_run_it_again(hr, import_id).status_code == 303
    rerun = pg.execute("SELECT job_id FROM imports WHERE id = %s", (import_id,)).fetchone()[0]
    assert rerun != crashed_run
    # RQ's registry clean-up finds the crashed run's job abandoned (maybe
    # minutes later) and runs its failure callback: exactly this call.
    connection = Redis.from_url(app_env["VALKEY_URL"].replace("valkey://", "redis://"))
    old_job = Job.fetch(crashed_run, connection=connection)
    old_job.execute_failure_callback(UnixSignalDeathPenalty, AbandonedJobError, AbandonedJobError(), None)
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (import_id,)).fetchone()[0] in ("queued", "running")
    # A second click while the rerun works starts nothing.
    again = click_run_it_again(hr, import_id)
    assert again.status_code == 303 and "was started again already" in hr.get(f"/imports/{import_id}").text
    result = counts_match_the_table(pg, import_id, 60_000)
    assert result["inserted"] == 60_000
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 60_000


def test_a_double_click_on_start_runs_the_import_once(login, pg, valkey, pause_valkey, start_worker):
    from concurrent.futures import ThreadPoolExecutor

    hr = login("hr")
    page = hr.get("/imports/new")
    with pause_valkey():  # the upload cannot be queued
        started = time.monotonic()
        response = hr.post("/imports/new", data={"csrf_token": csrf_token(page.text), "mode": "valid_rows"},
                           files={"file": ("staff.csv", staff_file(20_000))})
        waited = time.monotonic() - started
    import_id = import_id_of(response)
    assert waited < 4, f"the upload waited {waited:.1f} s for a hung Valkey"
    page = hr.get(f"/imports/{import_id}").text
    assert "The import did not start: it could not be queued" in page and "Start it" in page
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (import_id,)).fetchone()[0] == "failed"

    start_worker()
    token = csrf_token(page)
    with ThreadPoolExecutor(2) as pool:  # two clicks at the same moment
        answers = list(pool.map(lambda _: hr.post(f"/imports/{import_id}/retry", {"csrf_token": token}), range(2)))
    assert [a.status_code for a in answers] == [303, 303]
    assert len(valkey.keys(f"rq:job:import-{import_id}-*")) == 1, "more than one run was queued"
    result = counts_match_the_table(pg, import_id, 20_000)
    assert result["inserted"] == 20_000


def test_a_worker_killed_mid_import_leaves_it_failed_and_a_rerun_adds_no_duplicates(login, pg, start_worker):
    hr = login("hr")
    # The page notices the dead worker (no heartbeat) and says what was committed.
    import_id = crash_an_import(hr, pg, start_worker, 60_000)
    page = hr.get(f"/imports/{import_id}").text
    row = wait_for_import(pg, import_id)
    assert row["status"] == "failed" and row["inserted"] < 60_000
    stored = pg.execute("SELECT count(*) FROM employees").fetchone()[0]
    assert stored == row["inserted"]  # the counters were committed with the rows
    assert f"{row['inserted']:,} rows were added before it stopped" in page

    start_worker()
    assert click_run_it_again(hr, import_id).status_code == 303
    result = counts_match_the_table(pg, import_id, 60_000)
    assert (result["inserted"], result["duplicates"], result["invalid"]) == (60_000, 0, 0)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 60_000


def test_import_from_the_command_line(app_env, pg, tmp_path):
    path = tmp_path / "staff.csv"
    path.write_bytes(staff_file(1_500))
    bad = tmp_path / "noid.csv"
    bad.write_text("first_name,last_name\nAda,Lovelace\n")
    env = dict(__import__("os").environ, **app_env)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "import-csv", str(path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1,500 inserted + 0 duplicates + 0 invalid = 1,500 of 1,500 rows read. 1,500 of 1,500 rows imported." \
        in done.stdout
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1_500
    refused = subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "import-csv", str(bad)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "no employee_id column" in refused.stderr


def test_valkey_writes_an_import_could_not_make_are_kept_as_missed(app, pg, valkey, monkeypatch, tmp_path):
    """An import tells Valkey each committed batch's keys on a thread of its
    own (pipeline.ImportRunner._tell_valkey_soon). When Valkey refuses
    those writes (out of memory) every row is still stored, and the miss is
    kept in PostgreSQL and the sets stop being called ready, as a refused
    write from a form is (tests/web/test_valkey_repair.py)."""
    from employee_app.services.duplicate_guard import IDS_KEY, READY_KEY
    from employee_app.services.importer import jobs, pipeline

    monkeypatch.setattr(pipeline, "BATCH_ROWS", 100)  # 12 batches, each told on the Valkey thread
    path = tmp_path / "staff.csv"
    path.write_bytes(staff_file(1_150))
    valkey.config_set("maxmemory-policy", "noeviction")
    valkey.config_set("maxmemory", "1")
    try:
        with path.open("rb") as stream:
            job = jobs.create_import(stream, "staff.csv", mode="valid_rows", on_existing="skip", user=None,
                                     queue=False)
        jobs.run_import(job.id)
        assert not valkey.sismember(IDS_KEY, "E000001"), "Valkey took the writes: the test proves nothing"
    finally:
        valkey.config_set("maxmemory", "0")
    assert pg.execute("SELECT status, inserted FROM imports WHERE id = %s", (job.id,)).fetchone() == ("done", 1_150)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1_150
    assert pg.execute("SELECT missed_writes_since FROM valkey_index_state").fetchone()[0] is not None
    assert not valkey.exists(READY_KEY)


def test_a_worker_started_while_valkey_is_down_waits_for_it_and_then_imports(app_env, make_user, pg,
                                                                               start_worker, tmp_path):
    """A worker that starts before Valkey (a restart, a failover, compose
    starting everything at once) waits for it instead of exiting."""
    from employee_app.devservers import EmbeddedValkey

    from ..conftest import gunicorn_serving
    from ..helpers import PASSWORD, HttpClient, wait_for
    from .conftest import run_upload

    late = EmbeddedValkey(tmp_path / "late-valkey", persist=False)  # its port is chosen; nothing listens yet
    worker = start_worker(VALKEY_URL=late.url)
    wait_for(lambda: worker.output().count("cannot reach Valkey to start") >= 2, timeout=30)
    assert worker.process.poll() is None, worker.output()
    late.start()
    try:
        make_user("hr-late", "hr")
        with gunicorn_serving(dict(app_env, VALKEY_URL=late.url)) as base_url:
            client = HttpClient(base_url)
            client.login("hr-late", PASSWORD)
            _, result = run_upload(client, pg, csv_bytes([HEADER, ["L-1", "Ada", "Lovelace", "l1@example.com"],
                                                          ["L-2", "Alan", "Turing", "l2@example.com"]]))
        assert (result["status"], result["inserted"]) == ("done", 2)
        assert "Traceback" not in worker.output()
    finally:
        late.stop()


def test_a_worker_start_that_fails_half_way_starts_again_under_a_new_name(valkey_server, monkeypatch):
    """A start that registered the worker and subscribed to its channel, and
    then lost Valkey, tries again: under a new name (RQ refuses a second
    start under a live name), with the first name marked dead."""
    from redis.exceptions import ConnectionError as ValkeyConnectionError
    from rq import Worker

    from employee_app.services.importer import jobs, worker as import_worker

    queue = jobs.get_queue(valkey_server.url)
    monkeypatch.setattr(import_worker, "FIRST_WAIT", 0.01)
    real_subscribe, failures = import_worker.ImportWorker.subscribe, []

    def subscribe_then_lose_valkey_once(self):
        real_subscribe(self)
        if not failures:
            failures.append(self.name)
            raise ValkeyConnectionError("Connection closed by server.")
    monkeypatch.setattr(import_worker.ImportWorker, "subscribe", subscribe_then_lose_valkey_once)

    started = import_worker.ImportWorker([queue], connection=queue.connection)
    started.bootstrap()
    try:
        assert failures and failures[0] != started.name
        live = {worker.name for worker in Worker.all(connection=queue.connection)}
        assert started.name in live and failures[0] not in live
        assert queue.connection.hexists(f"rq:worker:{failures[0]}", "death")
        assert started.pubsub_thread.is_alive()
    finally:
        started.register_death()
        started.unsubscribe()


def test_valkey_restarting_while_a_worker_imports_loses_neither_the_import_nor_the_worker(
        login, pg, valkey_server, worker):
    """Valkey stops for a moment mid-import (a restart, an upgrade): the
    import finishes with every row, and the same worker takes the next one."""
    hr = login("hr")
    first = import_id_of(upload(hr, staff_file(60_000), "first.csv"))
    wait_until_running(pg, first)
    valkey_server.stop()  # its data goes too: the queue, the sets (rebuilt from PostgreSQL)
    time.sleep(2.5)  # past two of the worker's heartbeats (IMPORT_WORKER_HEARTBEAT=1)
    valkey_server.start()
    result = wait_for_import(pg, first, 120)
    assert (result["status"], result["inserted"]) == ("done", 60_000), result
    second = import_id_of(upload(hr, staff_file(1_000, start=60_001), "second.csv"))
    assert wait_for_import(pg, second, 60)["inserted"] == 1_000
    assert worker.process.poll() is None, worker.output()[-3000:]
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 61_000 and no_duplicates_stored(pg)


def test_an_import_taken_from_the_queue_as_valkey_goes_is_failed_to_start_again(login, pg, valkey_server,
                                                                                 start_worker, monkeypatch):
    """A worker takes the job, then loses Valkey before it can start it (RQ
    records the start there). The worker goes on, and the import is not
    left 'queued' for ever: its page says what happened and offers to start
    it again, which imports every row."""
    from redis.exceptions import ConnectionError as ValkeyConnectionError
    from rq import Queue

    from employee_app.services.importer import jobs, worker as import_worker

    hr = login("hr")
    import_id = import_id_of(upload(hr, staff_file(1_000), "staff.csv"))  # no worker runs yet: it waits
    queue = jobs.get_queue(valkey_server.url)
    taken, _ = Queue.dequeue_any([queue], timeout=None, connection=queue.connection)

    def valkey_gone(self, job):
        raise ValkeyConnectionError("Connection closed by server.")
    monkeypatch.setattr(import_worker.ImportWorker, "prepare_execution", valkey_gone)
    taking = import_worker.ImportWorker([queue], connection=queue.connection)
    taking.execute_job(taken, queue)  # returns: the worker goes on

    assert wait_for_import(pg, import_id)["error"] == jobs.LOST_AT_START
    page = hr.get(f"/imports/{import_id}").text
    assert "not started" in status_badge(page) and "lost the job queue (Valkey)" in page and "Start it" in page
    start_worker()
    assert click_run_it_again(hr, import_id).status_code == 303
    assert counts_match_the_table(pg, import_id, 1_000)["inserted"] == 1_000
