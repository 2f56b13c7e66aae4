"""Logs carry what failed, never the personal data a database or Valkey
error quotes. Real errors from the suite's PostgreSQL and Valkey."""
import logging

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from employee_app.extensions import db
from employee_app.logs import PrivateFormatter

EMAIL = "ada.secret@example.com"


def record_of(error: BaseException, logger: str = "employee_app") -> logging.LogRecord:
    """The record of log.exception("it failed") with this error."""
    try:
        raise error
    except BaseException:
        return logging.LogRecord(logger, logging.ERROR, __file__, 1, "it failed", None,
                                 exc_info=__import__("sys").exc_info())


def logged(error: BaseException) -> str:
    """What the app's log handler writes for log.exception(...) with this error."""
    return PrivateFormatter("%(message)s").format(record_of(error))


def insert_twice(pg) -> psycopg.Error:
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name, email) VALUES ('E1', 'Ada', 'L', %s)",
               (EMAIL,))
    with pytest.raises(psycopg.errors.UniqueViolation) as error:
        pg.execute("INSERT INTO employees (employee_id, first_name, last_name, email)"
                   " VALUES ('E2', 'Ada', 'L', %s)", (EMAIL,))
    assert EMAIL in str(error.value)  # what the driver says, and the log must not
    return error.value


def test_a_driver_error_is_logged_by_its_kind_and_constraint_not_its_values(pg):
    text_logged = logged(insert_twice(pg))
    assert "Traceback (most recent call last)" in text_logged
    assert "UniqueViolation (SQLSTATE 23505) on employees, constraint uq_employees_email" in text_logged
    assert EMAIL not in text_logged and "Ada" not in text_logged.split("Traceback")[1].split("\n")[-1]


def test_an_orm_error_and_an_error_raised_from_one_are_logged_without_values(app, pg):
    insert_twice(pg)
    with app.app_context():
        with pytest.raises(IntegrityError) as error:
            db.session.execute(text("INSERT INTO employees (employee_id, first_name, last_name, email)"
                                    " VALUES ('E3', :first, 'Hopper', :email)"), {"first": "Grace", "email": EMAIL})
        db.session.rollback()
    assert "Grace" not in str(error.value)  # hide_parameters: no statement values in the error
    try:
        raise RuntimeError("saving failed") from error.value
    except RuntimeError as chained:
        text_logged = logged(chained)
    assert EMAIL not in text_logged
    assert "uq_employees_email" in text_logged and "RuntimeError: saving failed" in text_logged


def test_a_valkey_pipeline_error_is_logged_without_the_command(valkey):
    import valkey as valkey_lib

    valkey.set("a-string", "x")
    pipe = valkey.pipeline(transaction=False)
    pipe.sadd("a-string", EMAIL)  # wrong type: the error quotes the command
    with pytest.raises(valkey_lib.exceptions.ResponseError) as error:
        pipe.execute()
    assert EMAIL in str(error.value)
    text_logged = logged(error.value)
    assert EMAIL not in text_logged and "ResponseError" in text_logged


def test_json_lines_keep_the_tracebacks_private_too(pg, valkey):
    """LOG_FORMAT=json: one JSON object, the traceback in exc_info, with the
    same words in place of the values a database or Valkey error quotes."""
    import json

    import valkey as valkey_lib

    from employee_app import request_ids
    from employee_app.logs import PrivateJsonFormatter

    def json_logged(error: BaseException) -> dict:
        line = PrivateJsonFormatter().format(record_of(error, "employee_app.x"))
        assert "\n" not in line and EMAIL not in line
        return json.loads(line)

    token = request_ids.use("req-1")
    try:
        logged_db = json_logged(insert_twice(pg))
    finally:
        request_ids.reset(token)
    assert (logged_db["level"], logged_db["logger"], logged_db["message"], logged_db["request_id"]) == \
        ("ERROR", "employee_app.x", "it failed", "req-1")
    assert "UniqueViolation (SQLSTATE 23505) on employees, constraint uq_employees_email" in logged_db["exc_info"]

    valkey.set("a-string", "x")
    pipe = valkey.pipeline(transaction=False)
    pipe.sadd("a-string", EMAIL)
    with pytest.raises(valkey_lib.exceptions.ResponseError) as error:
        pipe.execute()
    logged_valkey = json_logged(error.value)
    assert "ResponseError" in logged_valkey["exc_info"] and "request_id" not in logged_valkey
