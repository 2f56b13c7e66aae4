"""Database connections that PostgreSQL ended while they waited in the app's
pool (a restart, an administrator, an idle timeout) never reach a person as
a 500: the pool finds them at checkout without a round trip, and a GET that
meets one anyway runs once more (employee_app/connections.py)."""
from sqlalchemy import event

from employee_app.extensions import db

from ..helpers import employee


def end_every_other_connection(pg) -> int:
    """pg_terminate_backend on every other connection to the database (the
    app's in gunicorn and in this process), waiting until each has ended."""
    return len(pg.execute("""
        SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    """).fetchall())


def test_after_postgresql_ends_the_apps_connections_the_next_requests_work(login, pg):
    viewer, hr = login("viewer"), login("hr")
    assert hr.submit("/employees/new", employee("E1")).status_code == 303
    for _ in range(8):  # connections in the pools of both app processes
        assert viewer.get("/employees").status_code == 200
    assert end_every_other_connection(pg) > 0

    statuses = [viewer.get("/employees").status_code for _ in range(8)]
    assert statuses == [200] * 8
    assert hr.submit("/employees/new", employee("E2", email="e2@example.com")).status_code == 303
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 2


def test_a_get_whose_connection_dies_after_checkout_runs_once_more(app, login, pg):
    """The connection passes the checkout check, then dies before its first
    query: the page is read again on a fresh connection."""
    live = login("viewer")
    browser = app.test_client()
    browser.set_cookie("session", live.session.cookies.get("session"))
    ended = []

    def end_it_after_checkout(dbapi_connection, connection_record, connection_proxy):
        if not ended:  # once
            pid = dbapi_connection.info.backend_pid
            ended.append(pg.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0])

    with app.app_context():
        engine = db.engine
    end_every_other_connection(pg)  # the next checkout in this process opens a connection
    event.listen(engine, "checkout", end_it_after_checkout)  # after the app's own check
    try:
        response = browser.get("/employees")
    finally:
        event.remove(engine, "checkout", end_it_after_checkout)
    assert ended == [True]
    assert response.status_code == 200 and "No employee records yet" in response.text
