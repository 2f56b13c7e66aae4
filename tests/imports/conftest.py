"""Import tests: a real RQ worker process on the suite's Valkey, uploads over HTTP."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from employee_app.models.imports import FINISHED_STATUSES

from ..conftest import ROOT
from ..helpers import HttpClient, csrf_token

IMPORT_URL_RE = re.compile(r"/imports/(\d+)")


class Worker:
    """`flask --app employee_app worker` in its own process group."""

    def __init__(self, env: dict, log_path):
        self.env = env
        self.process = None
        self.log_path = log_path  # the worker's output, printed when a test fails

    def start(self) -> "Worker":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "employee_app", "worker"],
                cwd=ROOT, env=self.env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its work horse (RQ forks it into a session
        of its own): a crash, not a shutdown."""
        import psutil

        if self.process and self.process.poll() is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(app_env, tmp_path, request):
    """start_worker(**env): a worker with the app's environment, plus env
    (e.g. IMPORT_BULK_MIN_ROWS="1000" for bulk loads of small files, or
    another VALKEY_URL): env wins over the app's."""
    workers = []

    def start(**env) -> Worker:
        worker = Worker({**os.environ, **app_env, **env}, tmp_path / f"worker-{len(workers) + 1}.log").start()
        workers.append(worker)
        return worker
    yield start
    for worker in workers:
        worker.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for worker in workers:
            print(f"--- {worker.log_path.name} ---\n{worker.output()[-5000:]}")


@pytest.fixture
def worker(start_worker):
    return start_worker()


def upload(client: HttpClient, content: bytes, filename: str = "staff.csv", mode: str = "valid_rows",
           on_existing: str | None = None):
    """POST a file to /imports/new as the upload form does; returns the response."""
    page = client.get("/imports/new")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.text), "mode": mode}
    if on_existing:
        data["on_existing"] = on_existing
    return client.post("/imports/new", data=data, files={"file": (filename, content)})


def import_id_of(response) -> int:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return int(IMPORT_URL_RE.search(response.headers["Location"]).group(1))


def wait_for_import(pg, import_id: int, timeout: float = 60) -> dict:
    """The import's row once it has finished (done, checked, refused, cancelled or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        row = pg.execute("SELECT status, rows_read, inserted, updated, duplicates, invalid, error, resume_row"
                         " FROM imports WHERE id = %s", (import_id,)).fetchone()
        if row and row[0] in FINISHED_STATUSES:
            keys = ("status", "rows_read", "inserted", "updated", "duplicates", "invalid", "error", "resume_row")
            return dict(zip(keys, row))
        assert time.monotonic() < deadline, f"import {import_id} still {row and row[0]} after {timeout} s"
        time.sleep(0.1)


def run_upload(client, pg, content: bytes, filename: str = "staff.csv", **kwargs) -> tuple[int, dict]:
    """Upload a file whose headers need no mapping; wait for the worker to finish it."""
    import_id = import_id_of(upload(client, content, filename, **kwargs))
    return import_id, wait_for_import(pg, import_id)


def csv_bytes(rows: list[list[str]], delimiter: str = ",", line_end: str = "\n", bom: bool = False,
              encoding: str = "utf-8") -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=line_end).writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode(encoding)
