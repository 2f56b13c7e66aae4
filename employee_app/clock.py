"""The company's calendar: when "today" turns.

APP_TIMEZONE names the company's time zone (an IANA name such as
America/New_York). A rule such as "the termination date has passed" then
turns at the company's midnight, not at the server's (UTC in a container):
HR staff in New York adding someone whose last day is today at 23:48 were
refused, as it was already tomorrow in UTC. Unset, today is the server's own
date, as before. (Stored times are still shown in UTC, saying so.)

Set once per process by configure() (create_app): the import's reader
thread checks rows without an app context.
"""
from datetime import date, datetime, tzinfo
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


def today() -> date:
    """Today's date in the company's time zone."""
    return datetime.now(_zone).date() if _zone is not None else date.today()

