"""Transient database errors are run again (services/retry.py), on the
suite's real PostgreSQL: a connection the server ended mid-operation, a
serialization failure, a deadlock. A unique violation, and work that sent a
COMMIT, are never run again."""
import logging
import threading
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from employee_app.extensions import db
from employee_app.services import employees
from employee_app.services.retry import retry_transient

from ..helpers import employee

INSERT_E1 = text("INSERT INTO employees (employee_id, first_name, last_name, hire_date, status) "
                 "VALUES ('E1', 'Ada', 'Lovelace', '2024-03-01', 'active')")


def counted(work):
    """work(attempt) under @retry_transient; returns (run, attempts list)."""
    attempts = []

    @retry_transient
    def run():
        attempts.append(len(attempts) + 1)
        return work(len(attempts))
    return run, attempts


def test_a_connection_ended_by_the_server_is_run_again(app):
    def work(attempt):
        if attempt == 1:  # 57P01: "terminating connection due to administrator command"
            db.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return db.session.execute(text("SELECT 42")).scalar()

    with app.app_context():
        run, attempts = counted(work)
        assert run() == 42 and attempts == [1, 2]


@pytest.mark.parametrize("state", ["40001", "40P01"])
def test_serialization_failures_and_deadlocks_are_run_again(app, state):
    def work(attempt):
        if attempt < 3:
            db.session.execute(text(f"DO $$ BEGIN RAISE EXCEPTION 'aborted' USING ERRCODE = '{state}'; END $$"))
        return "done"

    with app.app_context():
        run, attempts = counted(work)
        assert run() == "done" and attempts == [1, 2, 3]


def test_a_unique_violation_is_never_run_again(app):
    def work(attempt):
        db.session.execute(INSERT_E1)
        db.session.commit()

    with app.app_context():
        db.session.execute(INSERT_E1)
        db.session.commit()
        run, attempts = counted(work)
        with pytest.raises(IntegrityError) as raised:
            run()
        assert raised.value.orig.sqlstate == "23505" and attempts == [1]
        db.session.rollback()


def test_work_that_sent_a_commit_is_not_run_again(app):
    def work(attempt):
        db.session.execute(INSERT_E1)
        db.session.commit()
        db.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with app.app_context():
        run, attempts = counted(work)
        with pytest.raises(DBAPIError):
            run()
        db.session.rollback()
        assert attempts == [1]
        assert db.session.execute(text("SELECT count(*) FROM employees")).scalar() == 1


def test_other_errors_and_the_last_attempt_are_raised(app):
    with app.app_context():
        run, attempts = counted(lambda attempt: db.session.execute(text("SELECT 1/0")))
        with pytest.raises(DBAPIError):
            run()
        assert attempts == [1]
        db.session.rollback()
        run, attempts = counted(lambda attempt: db.session.execute(
            text("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$")))
        with pytest.raises(DBAPIError):
            run()
        assert attempts == [1, 2, 3, 4]
        db.session.rollback()


def test_adding_an_employee_survives_its_connection_ended_mid_insert(app, database_url, pg, caplog):
    """The INSERT waits on a lock; meanwhile its backend is terminated (as a
    failover or an administrator would); the service runs the whole
    transaction again and the record is stored once, with one history entry."""
    locker = psycopg.connect(database_url)
    locker.execute("LOCK TABLE employees IN SHARE MODE")  # an INSERT waits for it
    outcome = {}

    def add():
        with app.app_context():
            try:
                outcome["employee"] = employees.create_employee(employee("E7")).employee_id
            except Exception as error:  # reported by the assertions below
                outcome["error"] = error
            finally:
                db.session.remove()

    caplog.set_level(logging.WARNING, logger="employee_app.services.retry")
    adder = threading.Thread(target=add)
    adder.start()
    try:
        waiting = wait_for_backend_waiting_on_lock(pg)
        pg.execute("SELECT pg_terminate_backend(%s)", (waiting,))
    finally:
        locker.commit()  # the lock goes: the second attempt's INSERT proceeds
        locker.close()
    adder.join(30)
    assert outcome == {"employee": "E7"}
    assert pg.execute("SELECT count(*) FROM employees WHERE employee_id = 'E7'").fetchone()[0] == 1
    assert pg.execute("SELECT count(*) FROM audit_log WHERE employee_id = 'E7'").fetchone()[0] == 1
    assert any("create_employee: transient database error" in r.getMessage() for r in caplog.records)


def wait_for_backend_waiting_on_lock(pg, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = pg.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         "AND datname = current_database()").fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError("no backend waited on the lock")
