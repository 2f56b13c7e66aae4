"""/readyz says "not ready" (503) while the database's schema is behind the
code's migrations, as during an upgrade before `flask db upgrade` ran, or
on a database never migrated."""
import pytest

from employee_app import create_app
from employee_app.config import database_url
from employee_app.extensions import db
from employee_app.health import script_head


def test_readyz_is_not_ready_while_migrations_are_behind(app, pg):
    with app.app_context():
        head = script_head()
    older = "0009_report_summaries"
    fresh = create_app({"TESTING": True})  # its own readiness cache
    client = fresh.test_client()
    pg.execute("UPDATE alembic_version SET version_num = %s", (older,))
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503 and behind.headers["Retry-After"]
        assert behind.json == {"status": "not ready", "database": "ok", "migrations": "behind", "valkey": "ok"}
    finally:
        pg.execute("UPDATE alembic_version SET version_num = %s", (head,))
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["migrations"] == "ok"
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_serves_on_a_database_a_newer_release_migrated(app, pg):
    """A rolling upgrade migrates first: the old release keeps serving."""
    with app.app_context():
        head = script_head()
    client = create_app({"TESTING": True}).test_client()
    pg.execute("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'")
    try:
        ahead = client.get("/readyz")
    finally:
        pg.execute("UPDATE alembic_version SET version_num = %s", (head,))
    assert ahead.status_code == 200
    assert ahead.json == {"status": "ok", "database": "ok", "migrations": "ahead", "valkey": "ok"}


def test_readyz_is_not_ready_on_a_database_never_migrated(app, postgres_server, pg):
    if postgres_server is None:
        pytest.skip("TEST_DATABASE_URL names a server where this suite creates no databases")
    pg.execute('DROP DATABASE IF EXISTS "employee_app_empty" WITH (FORCE)')
    pg.execute('CREATE DATABASE "employee_app_empty"')
    try:
        fresh = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url(
            postgres_server.url("employee_app_empty"))})
        with fresh.app_context():
            ready = fresh.test_client().get("/readyz")
            db.engine.dispose()  # let the database go
        assert ready.status_code == 503
        assert ready.json == {"status": "not ready", "database": "ok", "migrations": "behind", "valkey": "ok"}
    finally:
        pg.execute('DROP DATABASE IF EXISTS "employee_app_empty" WITH (FORCE)')
