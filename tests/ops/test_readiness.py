"""/readyz says "not ready" (503) while the database's schema is behind the
code's migrations, as during an upgrade before `flask db upgrade` ran."""
from employee_app import create_app
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
