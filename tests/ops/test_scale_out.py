"""Scale-out on one machine: two app instances, each `gunicorn wsgi:app` with
2 processes x 4 threads (the Containerfile's defaults), and two import workers,
all on the suite's one PostgreSQL and one Valkey.

While both workers import overlapping files uploaded to both instances at
once, threads add employees of the same IDs and e-mails (some of them in the
files) through both instances. Afterwards: no ID or e-mail is stored twice,
every add was answered 303 or 409 (and a 409 names a record really stored),
every row of each import is counted once (inserted + duplicates + invalid),
and the table holds exactly what the imports and the adds say they stored."""
import os
import re
import signal
import threading
import time

import pytest

from ..conftest import start_gunicorn, stop_gunicorn
from ..helpers import PASSWORD, HttpClient, csrf_token, employee
from ..imports.conftest import csv_bytes, import_id_of, upload, wait_for_import

GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4  # the Containerfile's CMD defaults
HEADER = ["employee_id", "first_name", "last_name", "email", "department", "hire_date"]
# Both files start with the same 3,000 rows, in the same order, so that the two
# workers insert the same IDs at the same moment; then 3,000 rows of their own.
SHARED = list(range(3000, 6000))
FILE_A, FILE_B = SHARED + list(range(0, 3000)), SHARED + list(range(6000, 9000))
INVALID_EVERY = 50  # every 50th row of a file has an e-mail that cannot be stored
ADD_THREADS = 8  # half of them on each instance
COPIES_PER_TARGET = 4  # each add is sent this many times, on both instances


@pytest.fixture
def instances(app_env):
    """Two gunicorn instances with the production process and thread counts."""
    env = dict(os.environ, **app_env)
    started = []
    try:
        for _ in range(2):
            started.append(start_gunicorn(env, GUNICORN_WORKERS, GUNICORN_THREADS))
        yield [base_url for _, base_url in started]
    finally:
        for process, _ in started:
            stop_gunicorn(process)


def file_rows(numbers: list[int]) -> tuple[list[list[str]], set[int]]:
    """A file's rows (header first) and the numbers of its invalid rows."""
    rows, invalid = [HEADER], set()
    for n in numbers:
        email = f"s{n}@example.com"
        if n % INVALID_EVERY == 7:
            email, _ = "not-an-address", invalid.add(n)
        rows.append([f"S{n:05d}", "Grace", f"Row{n}", email, "Operations", "2024-02-01"])
    return rows, invalid


def add_targets() -> list[tuple[str, str]]:
    """(employee ID, e-mail) pairs to add, each sent COPIES_PER_TARGET times:
    new IDs; other IDs under those same e-mails; and rows of both files."""
    fresh = [(f"F{k:04d}", f"f{k}@example.com") for k in range(16)]
    same_emails = [(f"G{k:04d}", f"f{k}@example.com") for k in range(16)]
    in_both_files = [(f"S{n:05d}", f"s{n}@example.com") for n in SHARED[::200]]
    return fresh + same_emails + in_both_files


def test_two_instances_and_two_workers_store_no_duplicate_and_account_for_every_row(
        instances, start_worker, make_user, pg, valkey):
    workers = [start_worker(), start_worker()]
    deadline = time.monotonic() + 30
    while not all("Listening on" in worker.output() for worker in workers):  # both take jobs
        assert time.monotonic() < deadline, [worker.output()[-2000:] for worker in workers]
        time.sleep(0.1)
    make_user("hr-scale", "hr")
    clients = []
    for n in range(ADD_THREADS + 2):  # the adders, then one uploader per instance
        client = HttpClient(instances[n % 2])
        client.login("hr-scale", PASSWORD)
        clients.append(client)
    file_a, invalid_a = file_rows(FILE_A)
    file_b, invalid_b = file_rows(FILE_B)
    attempts = [target for target in add_targets() for _ in range(COPIES_PER_TARGET)]
    answers: dict[int, int] = {}  # attempt index -> HTTP status
    import_ids: dict[str, int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(ADD_THREADS + 2)

    def add(thread: int) -> None:
        client = clients[thread]
        start.wait()
        # Thread i takes attempts i, i + 8, ...: the copies of one target go to
        # four threads at once, two on each instance.
        for index in range(thread, len(attempts), ADD_THREADS):
            employee_id, email = attempts[index]
            page = client.get("/employees/new")
            response = client.post("/employees/new", {"csrf_token": csrf_token(page.text),
                                                      **employee(employee_id, email=email)})
            answers[index] = response.status_code

    def send_file(thread: int, name: str, rows) -> None:
        start.wait()
        import_ids[name] = import_id_of(upload(clients[thread], csv_bytes(rows), f"{name}.csv"))

    def guarded(work, *args):
        def run():
            try:
                work(*args)
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)
                start.abort()
        return threading.Thread(target=run)

    threads = [guarded(add, n) for n in range(ADD_THREADS)]
    threads += [guarded(send_file, ADD_THREADS, "a", file_a), guarded(send_file, ADD_THREADS + 1, "b", file_b)]
    # The workers are stopped (SIGSTOP) until both imports are queued, then
    # go on together: the imports run at the same time however far apart
    # the two uploads were answered under the adds' load (one import could
    # finish before the other was queued). Valkey hands each a job meanwhile.
    for worker in workers:
        os.killpg(worker.process.pid, signal.SIGSTOP)
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(import_ids) < 2 and not errors:
            assert time.monotonic() < deadline, "the two uploads were not both queued"
            time.sleep(0.02)
    finally:
        for worker in workers:
            os.killpg(worker.process.pid, signal.SIGCONT)
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    results = {name: wait_for_import(pg, import_id, timeout=180) for name, import_id in import_ids.items()}

    # Every add was answered: stored (303) or refused as a duplicate (409).
    assert sorted(answers) == list(range(len(attempts)))
    assert set(answers.values()) <= {303, 409}, sorted(set(answers.values()))
    # No ID and no e-mail is stored twice.
    assert pg.execute("SELECT employee_id FROM employees GROUP BY employee_id HAVING count(*) > 1").fetchall() == []
    assert pg.execute("SELECT lower(email) FROM employees WHERE email IS NOT NULL"
                      " GROUP BY lower(email) HAVING count(*) > 1").fetchall() == []
    stored = dict(pg.execute("SELECT employee_id, email FROM employees").fetchall())
    stored_emails = {email: employee_id for employee_id, email in stored.items() if email}
    added = {attempts[index] for index, status in answers.items() if status == 303}
    for employee_id, email in added:
        assert stored.get(employee_id) == email, (employee_id, email)
    # A 409 is never a false alarm: the ID or the e-mail is someone's.
    for index, status in answers.items():
        employee_id, email = attempts[index]
        if status == 409:
            assert employee_id in stored or email in stored_emails, (employee_id, email)
    # Of the copies of one add, one at most was stored; of the adds sharing an
    # e-mail (F and G), exactly one, since no file holds those e-mails.
    assert sum(status == 303 for status in answers.values()) == len(added)
    for k in range(16):
        assert len({target for target in added if target[1] == f"f{k}@example.com"}) == 1

    # Every row of each import is counted once; the rejected rows are listed.
    for name, numbers, invalid in (("a", FILE_A, invalid_a), ("b", FILE_B, invalid_b)):
        result = results[name]
        assert result["status"] == "done", (name, result)
        assert result["rows_read"] == len(numbers)
        assert result["inserted"] + result["duplicates"] + result["invalid"] == result["rows_read"], (name, result)
        assert (result["updated"], result["invalid"]) == (0, len(invalid)), (name, result)
        listed = pg.execute("SELECT kind, count(*) FROM import_rejections WHERE import_id = %s GROUP BY kind",
                            (import_ids[name],)).fetchall()
        assert dict(listed) == {key: value for key, value in
                                (("duplicate", result["duplicates"]), ("invalid", result["invalid"])) if value}
    # Each valid row of the two files is stored once, by one import or by an add.
    valid_rows = {f"S{n:05d}" for n in set(FILE_A) | set(FILE_B) if n not in invalid_a | invalid_b}
    assert valid_rows <= set(stored)
    assert len(stored) == results["a"]["inserted"] + results["b"]["inserted"] + len(added)
    # The duplicate guard's Valkey index holds exactly the stored IDs.
    assert valkey.scard("employees:ids") == len(stored)

    # The two workers shared the imports, at the same time: each ran one.
    (start_a, end_a), (start_b, end_b) = (
        pg.execute("SELECT started_at, finished_at FROM imports WHERE id = %s", (import_ids[name],)).fetchone()
        for name in ("a", "b"))
    assert start_a < end_b and start_b < end_a, "the imports ran one after the other"
    for worker in workers:
        ran = set(re.findall(r"run_import_job\((\d+)\)", worker.output()))
        assert len(ran) == 1, worker.output()[-3000:]
    assert {int(run) for worker in workers for run in re.findall(r"run_import_job\((\d+)\)", worker.output())} \
        == set(import_ids.values())
