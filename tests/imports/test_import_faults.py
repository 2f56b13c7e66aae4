"""Imports under concurrency and faults: never a duplicate, never a lost row."""
import subprocess
import sys
import time

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
    valkey.flushall()
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (second,)).fetchone()[0] == "running"
    result = wait_for_import(pg, second, 120)
    assert result["status"] == "done"
    assert (result["inserted"], result["duplicates"], result["invalid"]) == (55_000, 5_000, 0)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 60_000 and no_duplicates_stored(pg)


def test_a_worker_killed_mid_import_leaves_it_failed_and_a_rerun_adds_no_duplicates(login, pg, start_worker):
    hr = login("hr")
    crashed = start_worker()
    import_id = import_id_of(upload(hr, staff_file(60_000), "big.csv"))
    wait_until_running(pg, import_id)
    crashed.kill()

    # The page notices the dead worker (no heartbeat) and says what was committed.
    deadline = time.monotonic() + 30
    while "failed" not in (page := hr.get(f"/imports/{import_id}").text).split('id="import-status"')[1][:60]:
        assert time.monotonic() < deadline, ("the import was never marked failed", pg.execute("SELECT status, rows_read, job_id FROM imports").fetchall())
        time.sleep(0.5)
    row = wait_for_import(pg, import_id)
    assert row["status"] == "failed" and row["inserted"] < 60_000
    stored = pg.execute("SELECT count(*) FROM employees").fetchone()[0]
    assert stored == row["inserted"]  # the counters were committed with the rows
    assert f"{row['inserted']:,} rows were added before it stopped" in page

    start_worker()
    page = hr.get(f"/imports/{import_id}")
    retry = hr.post(f"/imports/{import_id}/retry", {"csrf_token": page.text.split('name="csrf_token" value="')[-1].split('"')[0]})
    assert retry.status_code == 303
    time.sleep(0.2)
    result = wait_for_import(pg, import_id, 120)
    assert result["status"] == "done"
    assert (result["rows_read"], result["inserted"], result["duplicates"], result["invalid"]) == (60_000, 60_000, 0, 0)
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 60_000 and no_duplicates_stored(pg)


def test_import_from_the_command_line(app_env, pg, tmp_path):
    path = tmp_path / "staff.csv"
    path.write_bytes(staff_file(1_500))
    bad = tmp_path / "noid.csv"
    bad.write_text("first_name,last_name\nAda,Lovelace\n")
    env = dict(__import__("os").environ, **app_env)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "import-csv", str(path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1,500 inserted, 0 duplicates, 0 invalid of 1,500 rows" in done.stdout
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 1_500
    refused = subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "import-csv", str(bad)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "no employee_id column" in refused.stderr
