"""APP_TIMEZONE: when "today" turns for the rules, the reports and the
forms' defaults (clock.py)."""
from datetime import date, datetime, timedelta, timezone

import pytest

from employee_app import clock
from employee_app.services.employee_rules import clean_employee
from employee_app.services.errors import InvalidInput

# UTC+14 and UTC-11: 25 hours apart, so their dates always differ.
EARLIEST, LATEST = "Pacific/Pago_Pago", "Pacific/Kiritimati"


@pytest.fixture
def zone():
    yield clock.configure
    clock.configure("")


def test_today_is_the_companys_date(zone):
    zone(EARLIEST)
    behind = clock.today()
    zone(LATEST)
    ahead = clock.today()
    assert ahead - behind in (timedelta(days=1), timedelta(days=2))
    assert behind <= datetime.now(timezone.utc).date() <= ahead
    zone("")
    assert clock.today() == date.today()  # unset: the server's own date, as before


def test_a_last_day_that_is_today_in_the_company_still_counts_as_employed(zone):
    """HR in the zone behind adds someone whose last day is their today: the
    server's UTC date may be a day later, the company's is not."""
    zone(EARLIEST)
    their_today = clock.today().isoformat()
    record = {"employee_id": "E1", "first_name": "A", "last_name": "B", "status": "active",
              "hire_date": "2020-01-06", "termination_date": their_today}
    assert clean_employee(record)["termination_date"].isoformat() == their_today
    zone(LATEST)  # a company whose today is later: that last day has passed
    with pytest.raises(InvalidInput) as refused:
        clean_employee(record)
    assert "has passed" in refused.value.errors["status"]


@pytest.mark.parametrize("name", ["Not/AZone", "../../etc/passwd", "Europe/Berlin\x00", "x" * 5000,
                                  "Europe/Berlin\u200b", "/etc/localtime"])
def test_a_name_that_is_no_time_zone_stops_the_start_saying_what_to_write(name):
    with pytest.raises(RuntimeError, match="is not a time zone: write an IANA name such as Europe/Berlin"):
        clock.checked_zone(name)


def test_a_time_zone_name_is_taken_as_given():
    assert clock.checked_zone(" America/New_York ") == "America/New_York"
    assert clock.checked_zone("") == ""


def test_moments_are_shown_in_the_companys_zone_with_its_abbreviation(zone):
    winter, summer = datetime(2026, 1, 15, 3, 30, tzinfo=timezone.utc), datetime(2026, 7, 1, 2, 0, tzinfo=timezone.utc)
    assert clock.local_time(winter) == "2026-01-15 03:30 UTC"  # unset: UTC, saying so
    assert clock.local_time(winter.replace(tzinfo=None)) == "2026-01-15 03:30 UTC"  # naive: stored as UTC
    assert clock.local_time(None) == ""
    zone("America/New_York")
    assert clock.local_time(winter) == "2026-01-14 22:30 EST"
    assert clock.local_time(summer, seconds=True) == "2026-06-30 22:00:00 EDT"
    assert clock.local_time(summer, date_shown=False) == "22:00 EDT"
    assert clock.display_zone_name() == "America/New_York"
    zone("Asia/Dubai")  # the zone's data has no letters: '+04' is shown as UTC+04
    assert clock.local_time(winter) == "2026-01-15 07:30 UTC+04"
    zone("Asia/Kathmandu")
    assert clock.local_time(winter) == "2026-01-15 09:15 UTC+0545"


def test_a_company_day_starts_at_its_own_midnight_across_daylight_saving(zone):
    zone("America/New_York")
    utc = timezone.utc
    assert clock.start_of_day(date(2026, 3, 8)).astimezone(utc) == datetime(2026, 3, 8, 5, tzinfo=utc)
    assert clock.start_of_day(date(2026, 3, 9)).astimezone(utc) == datetime(2026, 3, 9, 4, tzinfo=utc)
    zone("")
    assert clock.start_of_day(date(2026, 3, 8)) == datetime(2026, 3, 8, tzinfo=utc)
