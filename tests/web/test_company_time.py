"""APP_TIMEZONE also says how stored moments are shown: HR staff in New York
read a change made at 22:30 their time as 22:30 EST, and 'changes from 14
January' means their 14 January, not UTC's (which began 5 hours earlier)."""
import csv
import io

import pytest

from ..conftest import gunicorn_serving
from ..helpers import PASSWORD, HttpClient, employee

NEW_YORK = "America/New_York"


@pytest.fixture(scope="module")
def new_york_server(app_env):
    """The same app and database, served by a gunicorn that runs in New York time."""
    with gunicorn_serving({**app_env, "APP_TIMEZONE": NEW_YORK}, workers=1, threads=4) as base_url:
        yield base_url


def logged_in(base_url: str, make_user, role: str = "admin") -> HttpClient:
    make_user(f"{role}-ny", role)
    client = HttpClient(base_url)
    client.login(f"{role}-ny", PASSWORD)
    return client


def test_history_shows_company_time_and_filters_by_company_days(new_york_server, live_server, make_user, pg):
    admin = logged_in(new_york_server, make_user)
    assert admin.submit("/employees/new", employee("E1")).status_code == 303
    # The change happened at 03:30 UTC on 15 January: 22:30 on the 14th in New York.
    pg.execute("UPDATE audit_log SET at = '2026-01-15 03:30:00+00'")
    pg.execute("UPDATE employees SET created_at = '2026-07-01 02:00:00+00'")  # 22:00 EDT on 30 June

    history = admin.get("/admin/audit").text
    assert "2026-01-14 22:30 EST" in history and "03:30 UTC" not in history
    assert f"are {NEW_YORK} time" in history
    assert "E1" in admin.get("/admin/audit", params={"from": "2026-01-14", "to": "2026-01-14"}).text
    # UTC's 15 January holds the change; New York's does not.
    assert "No changes match" in admin.get("/admin/audit", params={"from": "2026-01-15"}).text
    assert "<dd>2026-06-30 22:00 EDT</dd>" in admin.get("/employees/E1").text
    assert "2026-01-14 22:30 EST" in admin.get("/").text  # the overview's latest changes

    # The History CSV: at_utc for programs, at_local as the pages show it.
    exported = list(csv.DictReader(io.StringIO(admin.get("/admin/audit.csv").content.decode("utf-8-sig"))))
    assert {(row["at_utc"], row["at_local"]) for row in exported if row["employee_id"] == "E1"} == {
        ("2026-01-15 03:30:00", "2026-01-14 22:30:00 EST")}

    # The same data served without APP_TIMEZONE: UTC, saying so.
    utc_admin = HttpClient(live_server)
    utc_admin.login("admin-ny", PASSWORD)
    assert "2026-01-15 03:30 UTC" in utc_admin.get("/admin/audit").text
    assert "E1" not in utc_admin.get("/admin/audit", params={"from": "2026-01-14", "to": "2026-01-14"}).text


@pytest.mark.parametrize("day", ["２０２６-01-14", "2026-01-14" * 300, "2026-02-30", "14/01/2026"])
def test_a_day_that_is_no_date_is_refused_in_company_time_too(new_york_server, make_user, day):
    admin = logged_in(new_york_server, make_user)
    answer = admin.get("/admin/audit", params={"from": day})
    assert answer.status_code == 422 and "is not a date (use YYYY-MM-DD)" in answer.text


def test_the_calendars_ends_and_invisible_characters_are_no_error(new_york_server, make_user):
    """The first and last days a date can name: New York's midnight of
    1 January of year 1 is still in year 1 in UTC, but the day after
    31 December 9999 does not exist."""
    admin = logged_in(new_york_server, make_user)
    assert admin.submit("/employees/new", employee("E1")).status_code == 303
    for params in ({"from": "0001-01-01", "to": "9999-12-31"}, {"from": "\u200b0001-01-01\x00"},
                   {"to": "9999-12-31"}):
        answer = admin.get("/admin/audit", params=params)
        assert answer.status_code == 200 and "E1" in answer.text, params
    assert "E1" in admin.get("/admin/audit.csv", params={"to": "9999-12-31"}).text
