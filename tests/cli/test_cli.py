"""The flask CLI commands, run through Flask's CLI runner against the real servers."""
from sqlalchemy import text

from employee_app.extensions import db
from employee_app.services.duplicate_guard import IDS_KEY, READY_KEY


def test_create_user_reads_the_password_from_stdin(app, pg):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "Harriet", "--role", "hr", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert "Created hr account harriet" in result.output
    row = pg.execute("SELECT username, role, password_hash FROM users").fetchone()
    assert row[:2] == ("harriet", "hr") and row[2].startswith("scrypt:32768:8:1$")  # the full cost


def test_create_user_refuses_a_short_password_and_a_taken_name(app, pg):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["create-user", "ivan", "--role", "viewer", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    runner.invoke(args=["create-user", "ivan", "--role", "viewer", "--password-stdin"], input="a long password 1\n")
    again = runner.invoke(args=["create-user", "IVAN", "--role", "admin", "--password-stdin"],
                          input="a long password 2\n")
    assert again.exit_code != 0 and "already exists" in again.output
    assert pg.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_create_user_prompts_when_no_stdin_flag(app, pg):
    result = app.test_cli_runner().invoke(args=["create-user", "jo", "--role", "admin"],
                                          input="a long password 3\na long password 3\n")
    assert result.exit_code == 0, result.output
    assert pg.execute("SELECT role FROM users WHERE username = 'jo'").fetchone() == ("admin",)


def test_rebuild_index_fills_valkey_from_postgres(app, pg, valkey):
    pg.execute("INSERT INTO employees (employee_id, first_name, last_name, email)"
               " SELECT 'R' || n, 'F', 'L', 'r' || n || '@example.com' FROM generate_series(1, 2500) n")
    valkey.flushall()
    valkey.sadd(IDS_KEY, "STALE")
    result = app.test_cli_runner().invoke(args=["rebuild-index"])
    assert result.exit_code == 0 and "Indexed 2500 employees" in result.output
    assert valkey.scard(IDS_KEY) == 2500 and not valkey.sismember(IDS_KEY, "STALE")
    assert valkey.sismember(IDS_KEY, "R2500") and valkey.exists(READY_KEY)
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM employees")).scalar_one() == 2500


def test_account_changes_from_the_command_line_are_in_the_history(app, pg, login):
    """Attributed as the CLI's other changes: no account (none is logged in),
    source cli; the History says "command line". Never the password or token."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-user", "kim", "--role", "hr", "--password-stdin"],
                         input="a long password 4\n").exit_code == 0
    assert runner.invoke(args=["create-user", "kim", "--role", "hr", "--password-stdin"],
                         input="a long password 4\n").exit_code != 0  # taken: no entry
    assert runner.invoke(args=["set-password", "kim", "--password-stdin"],
                         input="a long password 5\n").exit_code == 0
    made = runner.invoke(args=["create-token", "kim", "payroll"])
    assert made.exit_code == 0
    kim = pg.execute("SELECT id FROM users WHERE username = 'kim'").fetchone()[0]
    assert pg.execute("SELECT entry_pk, entry_name, action, source, actor_id, actor_name, changes FROM audit_log"
                      " WHERE subject = 'account' ORDER BY id").fetchall() == [
        (kim, "kim", "create", "cli", None, None, {"username": [None, "kim"], "role": [None, "hr"]}),
        (kim, "kim", "update", "cli", None, None, {"password": [None, "set"]}),
        (kim, "kim", "update", "cli", None, None, {"api_token": [None, "payroll"]})]
    stored = "".join(row[0] for row in pg.execute("SELECT audit_log::text FROM audit_log"))
    assert "a long password" not in stored and made.output.strip() not in stored

    page = login("admin").get("/admin/audit", params={"subject": "account"}).text
    assert page.count('<span class="muted">command line</span>') == 3
    assert "Account created from the command line" in page and "New password set from the command line" in page
