"""Liveness and readiness, both JSON, both public.

/healthz: the process answers. No database or Valkey call, so that a
PostgreSQL outage never gets the app container restarted (a restart would
not bring the database back).

/readyz: whether this instance can serve: PostgreSQL answers and its schema
is at the migrations' head ("not ready", 503, otherwise: a load balancer
sends no traffic, the compose stack waits), and Valkey answers ("degraded",
200, when it does not: the app runs on PostgreSQL alone).
"""
import os
import threading
import time

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

from .extensions import db
from .security import public
from .valkey_store import get_store

bp = Blueprint("health", __name__)

# A database found at the head is believed at the head this long: the
# revision is asked again after that, PostgreSQL itself on every call.
AT_HEAD_SECONDS = 30


@bp.route("/healthz")
@public
def healthz():
    return jsonify(status="ok")


@bp.route("/readyz")
@public
def readyz():
    database, migrations = _database_state()
    valkey = "ok" if get_store().ping() else "down"
    if database != "ok" or migrations not in SERVABLE:
        status, code = "not ready", 503
    else:
        status, code = ("ok" if valkey == "ok" else "degraded"), 200
    response = jsonify(status=status, database=database, migrations=migrations, valkey=valkey)
    if code == 503:
        response.headers["Retry-After"] = "5"
    return response, code


# "ahead": the database was migrated by a newer release than this process
# runs, as in a rolling upgrade (migrations first, then the code): each
# migration keeps the previous release working, so this one still serves.
SERVABLE = ("ok", "ahead")


def _database_state() -> tuple[str, str]:
    """("ok" | "down", "ok" | "behind" | "ahead" | "unknown")."""
    at_head = current_app.extensions.setdefault("readiness_at_head", _Recent())
    try:
        if at_head.recently():
            db.session.execute(text("SELECT 1"))
            return "ok", "ok"
        revision = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except ProgrammingError:  # no alembic_version: a database never migrated
        db.session.rollback()
        return "ok", "behind"
    except SQLAlchemyError:
        db.session.rollback()
        return "down", "unknown"
    finally:
        db.session.commit()  # end the read-only transaction: the connection goes back to the pool
    scripts = migration_scripts()
    if revision == scripts.get_current_head():
        at_head.note()
        return "ok", "ok"
    return "ok", ("behind" if revision is None or _known(scripts, revision) else "ahead")


def _known(scripts, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return scripts.get_revision(revision) is not None
    except CommandError:  # a revision this code does not ship: a newer release's
        return False


class _Recent:
    """A moment remembered for AT_HEAD_SECONDS (per app, so per process)."""

    def __init__(self):
        self._until = 0.0
        self._lock = threading.Lock()

    def note(self) -> None:
        with self._lock:
            self._until = time.monotonic() + AT_HEAD_SECONDS

    def recently(self) -> bool:
        return time.monotonic() < self._until


_scripts: dict = {}


def migration_scripts():
    """The migration scripts this code ships (read once: they do not change
    while the process runs)."""
    if "scripts" not in _scripts:
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", os.path.join(os.path.dirname(current_app.root_path), "migrations"))
        _scripts["scripts"] = ScriptDirectory.from_config(config)
    return _scripts["scripts"]


def script_head() -> str | None:
    """The newest revision among the migration scripts."""
    return migration_scripts().get_current_head()
