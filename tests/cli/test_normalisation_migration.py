"""Migration 0004 brings stored IDs, e-mails and usernames to the form they
are now compared in, deletes nothing, and reports what it cannot change."""
import importlib.util
import logging


from employee_app.extensions import db

from ..conftest import ROOT


def migration():
    path = ROOT / "migrations" / "versions" / "0004_text_and_import_runs.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stored_values_are_normalised_and_collisions_reported_not_deleted(app, pg, caplog):
    # Values stored before the rules read text as a person does.
    for employee_id, email in (("E1", "ada@example.com"), ("E2", "ａｄａ@example.com"),
                               ("E3", "grace\u200b@example.com"), ("Ｅ４", "e4@example.com"), ("ß1", None)):
        pg.execute("INSERT INTO employees (employee_id, first_name, last_name, email) VALUES (%s, 'A', 'B', %s)",
                   (employee_id, email))
    pg.execute("INSERT INTO users (username, password_hash, role) VALUES ('ａｄｍｉｎ2', 'x', 'admin')")

    module = migration()
    with app.app_context(), caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        connection = db.session.connection()
        module._normalise_employees(connection)
        module._normalise_usernames(connection)
        db.session.commit()

    stored = dict(pg.execute("SELECT employee_id, email FROM employees").fetchall())
    assert stored["E3"] == "grace@example.com" and "E4" in stored and "Ｅ４" not in stored
    assert stored["E1"] == "ada@example.com" and stored["E2"] == "ａｄａ@example.com"  # kept, reported
    assert "ß1" in stored  # kept, reported
    assert pg.execute("SELECT count(*) FROM employees").fetchone()[0] == 5
    assert pg.execute("SELECT username FROM users").fetchone()[0] == "admin2"
    audited = pg.execute("SELECT employee_id, source, changes FROM audit_log ORDER BY id").fetchall()
    assert [(row[0], row[1]) for row in audited] == [("E3", "cli"), ("E4", "cli")]
    assert audited[1][2] == {"employee_id": ["Ｅ４", "E4"]}

    report = caplog.text
    assert "employees 'E2' and 'E1' hold the same email once normalised" in report
    assert "employee 'ß1': its employee_id would now be refused" in report
    assert "ada@example.com" not in report  # the pair is named by ID, not by e-mail
