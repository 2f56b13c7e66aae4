"""flask prune-uploads --older-than AGE: the stored files of finished
imports past the retention go; their counts and rejected rows stay, their
pages say so, and a failed one can no longer be run again."""
import io
import os
import subprocess
import sys

import pytest

from employee_app.services.importer import jobs

from ..conftest import ROOT
from ..helpers import csrf_token

FILE = b"employee_id,first_name,last_name\nE1,Ada,Lovelace\nE1,Ada,Again\nE2,Alan,Turing\n"


def make_import(app, name: str, *, run: bool = True) -> tuple[int, str]:
    with app.app_context():
        job = jobs.create_import(io.BytesIO(FILE.replace(b"E", name.encode()[:1])), f"{name}.csv",
                                 mode="valid_rows", on_existing="skip", user=None, queue=False)
        if run:
            jobs.run_import(job.id)
        return job.id, job.stored_path


def age(pg, import_id: int, days: int, status: str | None = None) -> None:
    """Make the import `days` old (finished then, if it finished), as if time passed."""
    pg.execute("UPDATE imports SET created_at = now() - make_interval(days => %s + 1),"
               " finished_at = CASE WHEN finished_at IS NOT NULL THEN now() - make_interval(days => %s) END"
               " WHERE id = %s", (days, days, import_id))
    if status == "failed":
        pg.execute("UPDATE imports SET status = 'failed', error = 'the worker running it stopped before it"
                   " finished' WHERE id = %s", (import_id,))
    elif status:
        pg.execute("UPDATE imports SET status = %s, finished_at = NULL WHERE id = %s", (status, import_id))


def prune(app_env, older_than: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "prune-uploads",
                           "--older-than", older_than], cwd=ROOT, env=dict(os.environ, **app_env),
                          capture_output=True, text=True, timeout=60)


def test_prune_uploads_deletes_old_finished_files_and_keeps_their_reports(app, app_env, pg, login):
    old_done, old_done_path = make_import(app, "A")
    old_failed, old_failed_path = make_import(app, "B")
    recent, recent_path = make_import(app, "C")
    waiting, waiting_path = make_import(app, "D", run=False)  # never started: not finished
    age(pg, old_done, 40)
    age(pg, old_failed, 31, status="failed")
    age(pg, recent, 10)
    age(pg, waiting, 60, status="queued")
    counts_before = pg.execute("SELECT id, inserted, duplicates FROM imports ORDER BY id").fetchall()

    result = prune(app_env, "30d")
    assert result.returncode == 0, result.stderr
    assert "Deleted the uploaded files of 2 finished imports (2 files," in result.stdout
    assert not os.path.exists(old_done_path) and not os.path.exists(old_failed_path)
    assert os.path.exists(recent_path) and os.path.exists(waiting_path)
    assert pg.execute("SELECT id, inserted, duplicates FROM imports ORDER BY id").fetchall() == counts_before
    assert pg.execute("SELECT count(*) FROM import_rejections WHERE import_id = %s",
                      (old_done,)).fetchone()[0] == 1
    again = prune(app_env, "30d")  # nothing left to do: says so, exits 0
    assert again.returncode == 0 and "of 0 finished imports" in again.stdout

    hr = login("hr")
    page = hr.get(f"/imports/{old_done}")
    assert page.status_code == 200
    assert "The uploaded file was deleted on" in page.text and "(retention)" in page.text
    assert 'id="count-read">3<' in page.text and 'id="count-duplicates">1<' in page.text  # the counts stay
    rejected = hr.get(f"/imports/{old_done}/rejected.csv")
    assert rejected.status_code == 200 and "A1" in rejected.text  # the rejected row is still there

    failed_page = hr.get(f"/imports/{old_failed}")
    assert "cannot be run again" in failed_page.text and 'id="import-retry"' not in failed_page.text
    refused = hr.post(f"/imports/{old_failed}/retry", {"csrf_token": csrf_token(failed_page.text)})
    assert refused.status_code == 409 and "was deleted (retention)" in refused.text
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (old_failed,)).fetchone() == ("failed",)
    assert "was deleted" not in hr.get(f"/imports/{recent}").text

    hours = prune(app_env, "12h")  # a shorter retention reaches the recent one too
    assert hours.returncode == 0 and "of 1 finished import (1 file," in hours.stdout
    assert not os.path.exists(recent_path) and os.path.exists(waiting_path)


def test_an_upload_left_at_the_column_mapping_past_the_retention_is_cancelled_and_its_file_deleted(
        app, app_env, pg, login):
    """Nobody came back to map its columns: it no longer waits on the lists,
    its page says why, and it cannot be started."""
    abandoned, abandoned_path = make_import(app, "M", run=False)
    fresh, fresh_path = make_import(app, "N", run=False)
    age(pg, abandoned, 31, status="mapping")
    age(pg, fresh, 2, status="mapping")

    result = prune(app_env, "30d")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Cancelled 1 upload left at the column mapping for longer than that.",
        f"Deleted the uploaded files of 1 finished import (1 file, {len(FILE)} bytes)."]
    assert not os.path.exists(abandoned_path) and os.path.exists(fresh_path)
    assert pg.execute("SELECT id, status, rows_read FROM imports ORDER BY id").fetchall() == [
        (abandoned, "cancelled", 0), (fresh, "mapping", 0)]

    hr = login("hr")
    page = hr.get(f"/imports/{abandoned}").text
    assert ("Cancelled at the column mapping (nobody mapped its columns within the upload retention, 30 days): "
            "nothing was written, and the uploaded file was deleted.") in page
    mapping = hr.get(f"/imports/{abandoned}/mapping")  # an old link: to the import's page
    assert mapping.status_code == 303 and mapping.headers["Location"] == f"/imports/{abandoned}"
    assert "column mapping" in hr.get(f"/imports/{fresh}").text  # still waiting, its file kept

    hours = prune(app_env, "36h")  # the fresh one is 2 days old: past 36 hours
    assert "Cancelled 1 upload" in hours.stdout
    assert "nobody mapped its columns within the upload retention, 36 hours" in hr.get(f"/imports/{fresh}").text


@pytest.mark.parametrize("value, words", [
    ("30", "whole number and a unit"), ("-5d", "whole number and a unit"), ("30x", "whole number and a unit"),
    ("", "whole number and a unit"), ("３０d", "whole number and a unit"), ("1.5d", "whole number and a unit"),
    ("30d; rm -rf /", "whole number and a unit"), ("9999999d", "whole number and a unit"),
    ("0h", "at least 1h"), ("999999w", "at most 100 years"),
])
def test_prune_uploads_refuses_hostile_retentions(app, value, words):
    result = app.test_cli_runner().invoke(args=["prune-uploads", "--older-than", value])
    assert result.exit_code != 0 and words in result.output, result.output


def test_prune_uploads_needs_a_retention(app):
    result = app.test_cli_runner().invoke(args=["prune-uploads"])
    assert result.exit_code != 0 and "--older-than" in result.output
