"""What an import says it did is what it did: the status, the words on its
page, in the history and from the command line; cancelling at the mapping;
a headerless file's mapping remembered by its shape; the list's total right
after an import. Real HTTP, real worker."""
import importlib.util
import os
import re
import subprocess
import sys
from html import unescape

from sqlalchemy import text

from employee_app.extensions import db

from ..helpers import csrf_token
from .conftest import ROOT, csv_bytes, import_id_of, run_upload, upload, wait_for_import

HEADER = ["employee_id", "first_name", "last_name", "email"]
SURNAMES = ("Lovelace", "Hopper", "Turing")
BADGE_RE = re.compile(r'<tr id="import-(\d+)">.*?<span class="badge import-([a-z-]+)">([^<]+)</span>', re.S)
STORED_RE = re.compile(r'<tr id="import-(\d+)">.*?<td data-label="Stored" class="number stored">(.*?)</td>', re.S)


def people(count: int, start: int = 1) -> list[list[str]]:
    return [[f"P{n:05d}", "Ada", f"Name{n}", f"p{n}@example.com"] for n in range(start, start + count)]


def history(client) -> tuple[dict[int, tuple[str, str]], dict[int, str]]:
    """{import id: (badge class, badge words)}, {import id: the Stored cell's text}."""
    page = client.get("/imports")
    assert page.status_code == 200
    badges = {int(i): (css, words) for i, css, words in BADGE_RE.findall(page.text)}
    stored = {int(i): " ".join(re.sub(r"<[^>]+>", "", cell).split()) for i, cell in STORED_RE.findall(page.text)}
    return badges, stored


def headerless(rows: int, *, start: int = 1, extra_columns: int = 0) -> bytes:
    """No header row: an ID, a full name, an e-mail, a department, a hire date (and filler columns)."""
    return csv_bytes([[f"Q{n:04d}", f"Ada {SURNAMES[n % 3]}", f"q{n}@example.com", ["Sales", "Finance"][n % 2],
                       "2024-01-02", *[f"x{c}" for c in range(extra_columns)]] for n in range(start, start + rows)])


def mapping_page(client, import_id: int) -> str:
    page = client.get(f"/imports/{import_id}/mapping")
    assert page.status_code == 200, page.status_code
    return page.text


def selected(page: str) -> list[str]:
    return re.findall(r'<option value="([^"]+)" selected>', page)


def post_mapping(client, import_id: int, targets: list[str], token: str | None = None, headers=None, **fields):
    """The mapping form as the page sends it: a select per column, the header switch, the button pressed."""
    data = {"csrf_token": token or csrf_token(mapping_page(client, import_id)),
            **{f"column-{i}": t for i, t in enumerate(targets)}, **fields}
    return client.post(f"/imports/{import_id}/mapping", data=data, headers=headers)


def test_the_history_and_each_page_say_what_was_written(login, pg, worker):
    hr = login("hr")
    good = csv_bytes([HEADER] + people(1_980))
    bad = csv_bytes([HEADER] + people(1_980) + [["P99999", "No", "Mail", "not-an-address"]])
    checked, result = run_upload(hr, pg, good, "dry.csv", mode="dry_run")
    assert result["status"] == "checked"
    refused, result = run_upload(hr, pg, bad, "refused.csv", mode="all_or_nothing")
    assert result["status"] == "refused"
    done, result = run_upload(hr, pg, bad, "done.csv")
    assert (result["status"], result["inserted"], result["invalid"]) == ("done", 1_980, 1)
    cancelled = import_id_of(upload(hr, headerless(3), "cancel.csv"))
    assert hr.post(f"/imports/{cancelled}/cancel",
                   {"csrf_token": csrf_token(mapping_page(hr, cancelled))}).status_code == 303

    badges, stored = history(hr)
    assert badges == {checked: ("checked", "checked"), refused: ("refused", "refused"), done: ("done", "done"),
                      cancelled: ("cancelled", "cancelled")}
    assert stored == {checked: "0 1,980 would be added", refused: "0 1,980 valid (not written)",
                      done: "1,980", cancelled: "0"}
    page = hr.get("/imports").text
    assert "UTC" in page and not re.search(r"\d,\d{3} bytes", page)
    assert re.search(r'dry\.csv <span class="muted">\(\d+\.\d KB\)', page)

    dry = hr.get(f"/imports/{checked}").text
    assert "Would be added" in dry and "1,980 would be added + 0 duplicates + 0 invalid = 1,980 of 1,980" in dry
    assert "Dry run: nothing was written." in dry and "nserted" not in dry
    assert re.search(r'id="import-started">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<', dry)
    assert re.search(r'id="import-ended">(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d UTC<', dry)
    assert re.search(r'id="import-duration">\d+(\.\d)? s<', dry)
    not_written = hr.get(f"/imports/{refused}").text
    assert "Refused: nothing was written" in not_written and "nserted" not in not_written
    assert "1,980 valid (not written) + 0 duplicates + 1 invalid = 1,981 of 1,981 rows read." in not_written
    assert "Work e-mail" in not_written  # the rejected row's field, by its label
    assert pg.execute("SELECT count(*) FROM employees WHERE import_id IN (%s, %s)", (checked, refused)).fetchone() \
        == (0,)


def test_the_command_line_says_what_was_written(app_env, pg, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(csv_bytes([HEADER] + people(1_500)))
    bad.write_bytes(csv_bytes([HEADER] + people(10) + [["P00001", "Ada", "Again", ""]]))
    env = dict(os.environ, **app_env)

    def import_csv(path, mode: str) -> str:
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "employee_app", "import-csv", str(path),
                               "--mode", mode], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = import_csv(good, "dry_run")
    assert "1,500 would be added + 0 duplicates + 0 invalid = 1,500 of 1,500 rows read." in out
    assert "Dry run: nothing was written." in out and "inserted" not in out
    out = import_csv(bad, "all_or_nothing")
    assert "10 valid (not written) + 1 duplicate + 0 invalid = 11 of 11 rows read." in out
    assert "Refused: nothing was written" in out and "inserted" not in out
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 0
    assert [s for s, in pg.execute("SELECT status FROM imports ORDER BY id")] == ["checked", "refused"]


def test_cancel_at_the_mapping_deletes_the_file_and_nothing_can_start_it(login, pg, worker):
    hr = login("hr")
    import_id = import_id_of(upload(hr, headerless(5), "nohead.csv"))
    stored_path = pg.execute("SELECT stored_path FROM imports WHERE id = %s", (import_id,)).fetchone()[0]
    assert os.path.exists(stored_path)
    token = csrf_token(mapping_page(hr, import_id))
    answer = hr.post(f"/imports/{import_id}/cancel", {"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/imports/{import_id}")
    assert not os.path.exists(stored_path)
    page = hr.get(f"/imports/{import_id}").text
    assert 'class="badge import-cancelled">cancelled<' in page
    assert "Cancelled at the column mapping: nothing was written, and the uploaded file was deleted." in page
    # A second click changes nothing; starting it, by any door, starts nothing.
    assert hr.post(f"/imports/{import_id}/cancel", {"csrf_token": token}).status_code == 303
    mapping = ["employee_id", "full_name", "email", "ignore", "hire_date"]
    assert post_mapping(hr, import_id, mapping, token).status_code == 303
    assert hr.post(f"/imports/{import_id}/retry", {"csrf_token": token}).status_code == 303
    said = unescape(hr.get(f"/imports/{import_id}").text)  # what a stale page's button gets told: the truth
    assert "This import was cancelled: upload the file again to import it." in said
    assert "started again already" not in said
    assert hr.get(f"/imports/{import_id}/mapping").status_code == 303
    assert hr.get(f"/imports/{import_id}/rejected.csv").status_code == 200  # its file is gone: no 500
    assert wait_for_import(pg, import_id)["status"] == "cancelled"
    assert pg.execute("SELECT job_id, started_at FROM imports WHERE id = %s", (import_id,)).fetchone() == (None, None)


def test_hostile_cancels_and_mapping_parameters_get_a_clear_4xx(login, pg, worker):
    hr = login("hr")
    token = csrf_token(hr.get("/imports/new").text)
    finished, _ = run_upload(hr, pg, csv_bytes([HEADER] + people(3)))
    answer = hr.post(f"/imports/{finished}/cancel", {"csrf_token": token})
    assert answer.status_code == 409 and f"Import #{finished} is done: only an import waiting" in answer.text
    assert hr.post("/imports/999999/cancel", {"csrf_token": token}).status_code == 404
    assert hr.post(f"/imports/{finished}/cancel").status_code == 400  # no CSRF token
    assert hr.get(f"/imports/{finished}/cancel").status_code == 405

    waiting = import_id_of(upload(hr, headerless(5), "nohead.csv"))
    targets = ["employee_id", "full_name", "email", "ignore", "hire_date"]
    for fields, reason in (({"has_header": "\x00"}, "The header switch has a value the page does not send."),
                           ({"has_header": "yes please"}, "The header switch has a value the page does not send."),
                           ({"action": "launch"}, "Not a valid choice"),
                           ({"action": "preview\x00"}, "Not a valid choice")):
        answer = post_mapping(hr, waiting, targets, **fields)
        assert answer.status_code == 400 and reason in answer.text, fields
    answer = post_mapping(hr, waiting, ["employee_id\x00", "full_name", "email", "ignore", "hire_date"])
    assert answer.status_code == 400 and "A column is mapped to something that is not a field." in answer.text
    assert "\x00" not in answer.text
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (waiting,)).fetchone()[0] == "mapping"

    # Once started (queued, running or done by now), it cannot be cancelled.
    assert post_mapping(hr, waiting, targets).status_code == 303
    answer = hr.post(f"/imports/{waiting}/cancel", {"csrf_token": token})
    assert answer.status_code == 409 and "only an import waiting for its column mapping can be cancelled" in answer.text


def test_the_header_switch_without_javascript_shows_the_first_row_as_header_or_as_data(login, worker):
    hr = login("hr")
    import_id = import_id_of(upload(hr, headerless(5), "nohead.csv"))
    page = mapping_page(hr, import_id)
    assert page.count("Q0001") == 1 and 'class="column-header"' not in page  # the first row, once, as data
    targets = selected(page)
    as_header = post_mapping(hr, import_id, targets, has_header="y", action="preview")
    assert as_header.status_code == 200
    assert '<span class="column-header" id="column-0-header">Q0001</span>' in as_header.text \
        and as_header.text.count("Q0001") == 1
    assert selected(as_header.text) == targets  # the fields chosen stay chosen
    # The switch itself (htmx) gets the columns alone.
    partial = post_mapping(hr, import_id, targets, csrf_token(page), headers={"HX-Request": "true"}, action="preview")
    assert partial.status_code == 200 and "<html" not in partial.text
    assert partial.text.lstrip().startswith('<section id="mapping-columns"')


def test_a_headerless_mapping_is_offered_again_for_a_file_of_the_same_shape(login, pg, worker):
    hr = login("hr")
    first = import_id_of(upload(hr, headerless(40), "january.csv"))
    suggested = selected(mapping_page(hr, first))
    assert suggested == ["employee_id", "full_name", "email", "ignore", "hire_date"]
    confirmed = ["employee_id", "full_name", "email", "department", "hire_date"]  # the person adds one
    assert post_mapping(hr, first, confirmed).status_code == 303
    assert wait_for_import(pg, first)["inserted"] == 40

    # Next month's file: other people, the same shape. Offered, not imported unasked.
    second = import_id_of(upload(hr, headerless(25, start=1_000), "february.csv"))
    assert pg.execute("SELECT status FROM imports WHERE id = %s", (second,)).fetchone()[0] == "mapping"
    page = mapping_page(hr, second)
    assert selected(page) == confirmed
    assert 'id="remembered-mapping"' in page and "the mapping used last time for a file like this one" in page
    assert post_mapping(hr, second, confirmed).status_code == 303
    assert wait_for_import(pg, second)["inserted"] == 25
    assert pg.execute("SELECT count(*) FROM employees WHERE department_id IS NOT NULL").fetchone()[0] == 40 + 25

    # Another shape (one column more) gets the suggestion from its values.
    third = import_id_of(upload(hr, headerless(25, start=2_000, extra_columns=1), "other.csv"))
    page = mapping_page(hr, third)
    assert selected(page) == suggested + ["ignore"] and 'id="remembered-mapping"' not in page


def test_the_list_total_is_right_straight_after_a_large_import(login, pg, worker):
    hr = login("hr")
    _, result = run_upload(hr, pg, csv_bytes([HEADER] + people(20_000)))
    assert result["inserted"] == 20_000
    count = re.search(r'id="result-count"[^>]*>([^<]*)<', hr.get("/employees").text).group(1)
    assert "20,000" in count, count  # the estimate (pg_class.reltuples), brought up to date by the import


def test_migration_0005_gives_past_imports_the_status_they_should_have_had(app, pg):
    """Its upgrade and downgrade run alone (the migrations after it stay)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    spec = importlib.util.spec_from_file_location("migration_0005", ROOT / "migrations" / "versions" /
                                                  "0005_import_outcomes.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    def add(mode: str, status: str, invalid: int = 0) -> None:
        db.session.execute(text(
            "INSERT INTO imports (filename, stored_path, file_size, file_sha256, file_format, mode, status, invalid)"
            " VALUES ('f.csv', '/nowhere', 1, '', 'csv', :mode, :status, :invalid)"),
            {"mode": mode, "status": status, "invalid": invalid})

    def statuses() -> list[str]:
        return list(db.session.execute(text("SELECT status FROM imports ORDER BY id")).scalars())

    with app.app_context():
        with Operations.context(MigrationContext.configure(db.session.connection())):
            migration.downgrade()
            add("dry_run", "done")
            add("all_or_nothing", "done", invalid=2)
            add("all_or_nothing", "done")
            add("valid_rows", "done", invalid=2)
            migration.upgrade()
            assert statuses() == ["checked", "refused", "done", "done"]
            add("valid_rows", "cancelled")
            migration.downgrade()
            assert statuses() == ["done", "done", "done", "done", "failed"]
            migration.upgrade()
        db.session.commit()
    assert pg.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ck_imports_status'"
                      ).fetchone()[0].count("'") == 16  # the eight statuses of today
