"""The company's calendar: when "today" turns.

APP_TIMEZONE names the company's time zone (an IANA name such as
America/New_York). A rule such as "the termination date has passed" then
turns at the company's midnight, not at the server's (UTC in a container):
HR staff in New York adding someone whose last day is today at 23:48 were
refused, as it was already tomorrow in UTC. Unset, today is the server's own
date, as before.

The same zone is how stored moments are shown (local_time): "a change at
09:12" means 09:12 at the company, with its abbreviation (EST, CET, or
UTC+04 where the zone has no letters). Unset, moments are shown in UTC, as
the server stores them. Machines' formats (the API, the logs, the History
CSV's at_utc column) stay UTC.

Set once per process by configure() (create_app): the import's reader
thread checks rows without an app context.
"""
from datetime import date, datetime, time, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_zone: tzinfo | None = None  # None: the server's own date


def checked_zone(name: str) -> str:
    """APP_TIMEZONE as given, or a stop at start with what to write."""
    name = name.strip()
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
            raise RuntimeError(f"APP_TIMEZONE {name[:64]!r} is not a time zone: write an IANA name such as "
                               "Europe/Berlin or America/New_York (or leave it unset for the server's own).") \
                from None
    return name


def configure(name: str) -> None:
    global _zone
    _zone = ZoneInfo(name) if name else None


def display_zone() -> tzinfo:
    """Where moments are shown: the company's zone, or UTC when none is set."""
    return _zone if _zone is not None else timezone.utc


def display_zone_name() -> str:
    """'UTC', or the company's zone as set ('America/New_York'): what the
    pages' "times are …" notes say."""
    return str(_zone) if _zone is not None else "UTC"


def local(moment: datetime) -> datetime:
    """A stored moment (aware, or naive UTC) in the zone it is shown in."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(display_zone())


def _abbreviation(shown: datetime) -> str:
    """A moment already in its display zone: 'EST', 'CEST', 'UTC'; 'UTC+04'
    or 'UTC-03:30' where the zone's data has no letters for it ('+04')."""
    name = shown.tzname() or "UTC"
    return f"UTC{name}" if name[:1] in "+-" else name


def local_time(moment: datetime | None, *, seconds: bool = False, date_shown: bool = True) -> str:
    """'2026-12-04 09:03 EST' in the company's zone ('' for no moment)."""
    if moment is None:
        return ""
    shown = local(moment)
    pattern = ("%Y-%m-%d " if date_shown else "") + ("%H:%M:%S" if seconds else "%H:%M")
    return f"{shown.strftime(pattern)} {_abbreviation(shown)}"


def start_of_day(day: date) -> datetime:
    """The moment the company's day begins (its midnight; UTC's when unset),
    for a filter such as 'changes from 3 March' (DST-aware)."""
    return datetime.combine(day, time.min, tzinfo=display_zone())


def today() -> date:
    """Today's date in the company's time zone."""
    return datetime.now(_zone).date() if _zone is not None else date.today()

