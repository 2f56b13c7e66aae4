"""Hostile files over real HTTP: each is refused with a reason, or its bad
row rejected alone, and neither a web worker nor an import worker grows by
more than a few tens of MB (psutil, sampled while it works)."""
import os
import threading
import time

import psutil
import pytest

from ..workbooks import write_workbook
from .conftest import csv_bytes, import_id_of, upload, wait_for_import

# How much a process may grow while it handles one hostile file. The
# readers before the limits grew by 1.5 to 2.9 GB on these files.
GROWTH_LIMIT_MB = 64
HEADER = ["employee_id", "first_name", "last_name", "email"]


class PeakMemory:
    """While the block runs, sample the RSS of some processes and of their
    children (an import's work horse is forked per job) every 5 ms:
    grown_mb is the most one of the first grew, peak_mb the largest RSS seen."""

    def __init__(self, processes: list[psutil.Process]):
        self.processes = processes
        self.start = {process.pid: process.memory_info().rss for process in processes}
        self.grown_mb = self.peak_mb = 0.0
        self._done = threading.Event()

    def _sample(self):
        while not self._done.is_set():
            for parent in self.processes:
                for process in [parent, *parent.children(recursive=True)]:
                    try:
                        rss = process.memory_info().rss
                    except psutil.NoSuchProcess:  # a work horse that just ended
                        continue
                    self.peak_mb = max(self.peak_mb, rss / 2**20)
                    if process.pid in self.start:
                        self.grown_mb = max(self.grown_mb, (rss - self.start[process.pid]) / 2**20)
            time.sleep(0.005)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def web_workers() -> list[psutil.Process]:
    """The suite's gunicorn worker processes."""
    gunicorns = [p for p in psutil.Process().children(recursive=True) if "gunicorn" in " ".join(p.cmdline())]
    return [p for p in gunicorns if p.parent() in gunicorns]


def report(name: str, peak: PeakMemory) -> None:
    print(f"\nPEAK {name}: {peak.grown_mb:.1f} MB")  # figures for the team (pytest -s)
    assert peak.grown_mb < GROWTH_LIMIT_MB, f"{name}: grew by {peak.grown_mb:.0f} MB"


@pytest.fixture
def uploads_left(app_env):
    """The files an upload left in UPLOAD_DIR: a refused one leaves none."""
    before = set(os.listdir(app_env["UPLOAD_DIR"]))
    return lambda: set(os.listdir(app_env["UPLOAD_DIR"])) - before


@pytest.mark.parametrize("name, line", [
    # 18 MB: the suite's upload limit is 20 MB (a 50 MB file is refused for its size).
    ("18 MB line of 9 million tiny cells", b"a," * (9 * 2**20)),
    ("10 MB line", b"x" * (10 * 2**20)),
])
def test_a_csv_with_a_line_of_megabytes_is_refused_before_it_is_kept(login, uploads_left, name, line):
    hr = login("hr")
    content = b"employee_id,first_name,last_name\nE1,Ada,Lovelace\n" + line + b"\n"
    with PeakMemory(web_workers()) as peak:
        response = upload(hr, content)
    report(f"web worker, {name}", peak)
    assert response.status_code == 413
    assert f"Line 3 is {len(line):,} characters long; a row may hold at most 1,048,576." in response.text
    assert not uploads_left()


def test_a_row_of_5000_columns_deep_in_a_file_is_rejected_alone_by_the_worker(login, pg, worker):
    hr = login("hr")
    rows = [HEADER] + [[f"E{n}", "Ada", f"Name{n}", f"e{n}@example.com"] for n in range(1, 1_001)]

    def import_measured(content: bytes) -> tuple[int, dict, float]:
        with PeakMemory([psutil.Process(worker.process.pid)]) as peak:
            import_id = import_id_of(upload(hr, content))
            result = wait_for_import(pg, import_id)
        return import_id, result, peak.peak_mb

    # The same import without the hostile row: what a work horse costs anyway.
    _, _, baseline = import_measured(csv_bytes(rows))
    pg.execute("TRUNCATE employees CASCADE")
    rows[600] = ["W1"] + ["x" * 100] * 5_000  # past the rows the upload looks at: the worker meets it
    import_id, result, peak = import_measured(csv_bytes(rows))
    print(f"\nPEAK import worker (largest RSS): {baseline:.1f} MB for 1,000 plain rows, "
          f"{peak:.1f} MB with a row of 5,000 columns")
    assert peak < baseline + 32
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 999, 1)
    error = pg.execute("SELECT error FROM import_rejections WHERE import_id = %s", (import_id,)).fetchone()[0]
    assert error == "Row 601 has more than 200 columns (5,001 found)."


def test_an_xlsx_whose_cell_expands_to_300_mb_is_refused_before_it_is_kept(login, uploads_left, tmp_path):
    hr = login("hr")
    chunk = b"a" * 2**20
    path = write_workbook(tmp_path / "bomb.xlsx", [b'<row r="1"><c r="A1" t="inlineStr"><is><t>', *[chunk] * 300,
                                                   b'</t></is></c></row>'])
    with PeakMemory(web_workers()) as peak:
        response = upload(hr, open(path, "rb").read(), "bomb.xlsx")
    report("web worker, XLSX with a 300 MB cell", peak)
    assert response.status_code == 413 and "it looks like a ZIP bomb and is refused" in response.text
    assert not uploads_left()


def test_an_xlsx_with_three_million_cells_in_a_row_is_refused(login, uploads_left, tmp_path):
    hr = login("hr")
    block = b"<c><v>1</v></c>" * 100_000
    path = write_workbook(tmp_path / "wide.xlsx", [b'<row r="1">', *[block] * 30, b"</row>"])
    with PeakMemory(web_workers()) as peak:
        response = upload(hr, open(path, "rb").read(), "wide.xlsx")
    report("web worker, XLSX with 3 million cells in a row", peak)
    assert response.status_code == 413 and "more than 100 times its size" in response.text
    assert not uploads_left()


def test_an_xlsx_claiming_every_column_of_excel_shows_the_columns_it_has(login, tmp_path):
    hr = login("hr")
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>Q{r}</t></is></c>'
                   f'<c r="B{r}" t="inlineStr"><is><t>Ada Lovelace{r}</t></is></c>'
                   f'<c r="C{r}"><v>{r}</v></c></row>' for r in range(1, 21))
    path = write_workbook(tmp_path / "claims.xlsx", rows, dimension='<dimension ref="A1:XFD1048576"/>')
    with PeakMemory(web_workers()) as peak:
        response = upload(hr, open(path, "rb").read(), "claims.xlsx")
        mapping = hr.get(response.headers["Location"])
    report("web worker, XLSX claiming A1:XFD1048576", peak)
    assert response.status_code == 303 and mapping.status_code == 200
    assert mapping.text.count("<select") == 3
    assert len(mapping.content) < 100_000
