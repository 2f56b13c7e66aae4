"""The request id: one per request, in every log line the request causes,
returned in the X-Request-ID header, and kept on an import its upload
creates so that the worker's lines for that import carry it too.

An incoming X-Request-ID (from a proxy or a client tracing its calls) is
kept when it is sane: 1 to 128 characters from a small safe set. Anything
else (huge, NUL bytes, newlines, non-ASCII, spaces) could forge log lines
or blow them up, so it is replaced by a generated id and never logged."""
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
MAX_LENGTH = 128
SANE = re.compile(r"[A-Za-z0-9._:+/=-]{1,%d}" % MAX_LENGTH)

# Set per request (each gunicorn thread has its own context) and around an
# import's run in the worker; read by the log formatters.
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def sane_or_new(incoming: str | None) -> str:
    """The incoming id if it is sane, else a new one (32 hex digits)."""
    if incoming and SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current() -> str | None:
    return _current.get()


def use(request_id: str | None):
    """Make request_id the current one; returns the token for reset()."""
    return _current.set(request_id)


def reset(token) -> None:
    _current.reset(token)
