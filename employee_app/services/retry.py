"""Transient database errors, run again with exponential backoff and jitter.

A dropped connection, a server shutting down or failing over (SQLSTATE class
08, 57P01-57P03) and a transaction PostgreSQL aborted to break a
serialization failure or a deadlock (40001, 40P01) say nothing about the
request: the same work, run again from the start a moment later, usually
succeeds. Anything else (a unique violation above all: 23505 is an answer,
"duplicate", not a hiccup) is raised at once.

@retry_transient goes on a service function that is one whole transaction
(it begins with nothing pending and ends in its commit), so that a run again
is the same work from the start:

- before each new attempt the session is rolled back, and its objects are
  read again when next used;
- an attempt that sent a COMMIT is never run again: the work may be done
  already (the connection dropped before the server answered it, or what
  failed came after it, e.g. a note kept after the commit), and running it
  again could do it twice;
- nested retried functions do not multiply attempts: only the outermost
  retries;
- Valkey is written after commit (duplicate_guard), so an attempt that
  failed left nothing there.
"""
import functools
import logging
import random
import threading
import time

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from . import db_errors

log = logging.getLogger(__name__)

ATTEMPTS = 4  # the first run and three more
FIRST_DELAY = 0.05  # seconds; doubled each time, each delay drawn at random below its cap
MAX_DELAY = 1.0
# Transactions PostgreSQL aborted for the sake of others: nothing committed.
ABORTED_STATES = ("40001", "40P01")
# The server is going away (admin shutdown, crash shutdown, cannot connect now).
SHUTDOWN_STATES = ("57P01", "57P02", "57P03")


def _driver_error(error: BaseException) -> BaseException:
    return error.orig if isinstance(error, DBAPIError) and error.orig is not None else error


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection: no
    answer about the work itself (a 503, not a 500, if it lasts)."""
    original = _driver_error(error)
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = getattr(original, "sqlstate", None)
    if state:
        return state.startswith("08") or state in SHUTDOWN_STATES
    # Refused, unreachable, closed without a word: psycopg has no SQLSTATE then.
    return isinstance(original, psycopg.OperationalError)


def is_transient(error: BaseException) -> bool:
    """Worth running the same transaction again: never a constraint's answer."""
    if not db_errors.is_database_error(error):
        return False
    return is_unavailable(error) or getattr(_driver_error(error), "sqlstate", None) in ABORTED_STATES


_scope = threading.local()  # .depth: retried calls in progress; .committed: in this attempt


@event.listens_for(Engine, "commit")
def _commit_sent(conn) -> None:
    if getattr(_scope, "depth", 0):
        _scope.committed = True


def retry_transient(function=None, *, attempts: int = ATTEMPTS):
    """Decorator: run the function again on a transient error (see above)."""
    def decorator(work):
        @functools.wraps(work)
        def run(*args, **kwargs):
            if getattr(_scope, "depth", 0):  # an outer call retries the whole
                return work(*args, **kwargs)
            _scope.depth = 1
            try:
                for attempt in range(1, attempts + 1):
                    _scope.committed = False
                    try:
                        return work(*args, **kwargs)
                    except Exception as error:
                        if attempt == attempts or not is_transient(error) or _scope.committed:
                            raise
                        db.session.rollback()
                        delay = random.uniform(0, min(MAX_DELAY, FIRST_DELAY * 2 ** (attempt - 1)))
                        log.warning("%s: transient database error (%s); attempt %d of %d in %.0f ms.",
                                    work.__qualname__, db_errors.describe(error), attempt + 1, attempts,
                                    delay * 1000)
                        time.sleep(delay)
            finally:
                _scope.depth = 0
        return run
    return decorator(function) if function is not None else decorator
