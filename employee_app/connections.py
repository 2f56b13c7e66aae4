"""Database connections that died while they waited in the pool.

PostgreSQL ends idle connections now and then: a restart, a failover, an
administrator's pg_terminate_backend, an idle timeout. SQLAlchemy's
pool_pre_ping would find them with a `SELECT 1` round trip on every checkout,
that is on every request. Instead:

- at checkout, the socket is polled without waiting (no round trip): a server
  that ended the connection has sent its goodbye (an error message, then end
  of file), so an idle connection with anything to read is dead, and the pool
  opens a fresh one in its place (DisconnectionError);
- a GET or HEAD that meets a dead connection anyway (it died between the
  checkout and the query, or the server is gone without a word) is run once
  more: SQLAlchemy has then dropped the dead connection (and every other one
  opened before it), and reading pages again changes nothing. Other methods
  are never repeated: the error page says what happened.
"""
import logging
import select

from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError

from .extensions import db

log = logging.getLogger(__name__)
REPEATABLE_METHODS = ("GET", "HEAD")


def closed_by_server(dbapi_connection) -> bool:
    """Whether this idle connection has something to read, which only a
    server that ended it sends (or it is closed on our side already)."""
    try:
        if dbapi_connection.closed:
            return True
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except Exception:  # no socket to look at: as good as dead
        return True


def _check_on_checkout(dbapi_connection, connection_record, connection_proxy) -> None:
    if closed_by_server(dbapi_connection):
        log.warning("A pooled database connection was closed by the server; opening a new one.")
        raise DisconnectionError("the server closed this connection while it was idle")


def dispatch_again_if_disconnected(dispatch):
    """Run the view; on a GET or HEAD whose database connection turned out to
    be dead, once more on a fresh one."""
    try:
        return dispatch()
    except DBAPIError as error:
        if not (error.connection_invalidated and request.method in REPEATABLE_METHODS):
            raise
        log.warning("The database connection was lost during %s %s; trying once more.",
                    request.method, request.endpoint)
        db.session.rollback()
        return dispatch()


def init_app(app: Flask) -> None:
    with app.app_context():
        for engine in db.engines.values():
            event.listen(engine, "checkout", _check_on_checkout)
