"""stored identifiers read as a person reads them; import heartbeats; the
Valkey index's "writes were missed" fact kept in PostgreSQL

Revision ID: 0004_text_and_import_runs
Revises: 0003_sessions
Create Date: 2026-11-27 09:00:00.000000

Employee IDs, work e-mails and usernames are now stored normalised
(services/text_rules.py: invisible characters removed, NFKC). This migration
brings stored values to that form. Nothing is deleted: a value whose
normalised form another record already holds is left as it is and reported
(the two records, by employee ID or username, never the e-mail itself), as
is a value the rules would now refuse. Each changed record gets an audit
entry (source "cli"), like any other change.
"""
import json
import logging

import sqlalchemy as sa
from alembic import op

revision = '0004_text_and_import_runs'
down_revision = '0003_sessions'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
NON_ASCII = "!~ '^[ -~]*$'"  # only values with a non-ASCII character can change


def upgrade():
    op.add_column('imports', sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'valkey_index_state',
        sa.Column('id', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        # Set when a write to the Valkey sets failed after PostgreSQL committed
        # (Valkey was down): the sets miss something until a rebuild that
        # started after this moment completes.
        sa.Column('missed_writes_since', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('id', name='ck_valkey_index_state_one_row'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO valkey_index_state (id) VALUES (true)")
    connection = op.get_bind()
    _normalise_employees(connection)
    _normalise_usernames(connection)


def downgrade():
    op.drop_table('valkey_index_state')
    op.drop_column('imports', 'heartbeat_at')


def _report(problems: list[str], what: str) -> None:
    if problems:
        log.warning("%d stored %s could not be normalised; nothing was deleted, fix them by hand:", len(problems), what)
        for line in problems:
            log.warning("  %s", line)


def _normalise_employees(connection) -> None:
    from employee_app.services.employee_rules import employee_id_text
    from employee_app.services.text_rules import TextProblem, lower_identifier

    rows = connection.execute(sa.text(
        f"SELECT id, employee_id, email FROM employees WHERE employee_id {NON_ASCII} OR email {NON_ASCII}"
        " ORDER BY id")).all()
    problems = []
    for pk, employee_id, email in rows:
        changes = {}
        for field, value, normalise in (("employee_id", employee_id, employee_id_text),
                                        ("email", email, lower_identifier)):
            if value is None:
                continue
            try:
                normalised = normalise(value)
            except TextProblem as problem:
                problems.append(f"employee {employee_id!r}: its {field} would now be refused ({problem})")
                continue
            if normalised != value:
                holder = connection.execute(sa.text(f"SELECT employee_id FROM employees WHERE {field} = :v"),
                                            {"v": normalised}).scalar()
                if holder is not None:
                    problems.append(f"employees {employee_id!r} and {holder!r} hold the same {field} once "
                                    "normalised: merge or correct one of them")
                    continue
                changes[field] = [value, normalised]
        if not changes:
            continue
        assignments = ", ".join(f"{field} = :{field}" for field in changes)
        connection.execute(sa.text(f"UPDATE employees SET {assignments}, version = version + 1,"
                                   " updated_at = now() WHERE id = :pk"),
                           {"pk": pk, **{field: pair[1] for field, pair in changes.items()}})
        connection.execute(sa.text(
            "INSERT INTO audit_log (employee_pk, employee_id, action, source, changes)"
            " VALUES (:pk, :employee_id, 'update', 'cli', CAST(:changes AS jsonb))"),
            {"pk": pk, "employee_id": changes.get("employee_id", [None, employee_id])[1],
             "changes": json.dumps(changes)})
    _report(problems, "employee values")


def _normalise_usernames(connection) -> None:
    from employee_app.services.users import normalize_username, username_problem

    rows = connection.execute(sa.text(f"SELECT id, username FROM users WHERE username {NON_ASCII}")).all()
    problems = []
    for pk, username in rows:
        normalised = normalize_username(username)
        problem = username_problem(normalised)
        if problem:
            problems.append(f"account {username!r}: {problem}")
        elif normalised != username:
            taken = connection.execute(sa.text("SELECT 1 FROM users WHERE username = :u"), {"u": normalised}).first()
            if taken:
                problems.append(f"accounts {username!r} and {normalised!r} are the same name once normalised")
            else:
                connection.execute(sa.text("UPDATE users SET username = :u WHERE id = :pk"),
                                   {"u": normalised, "pk": pk})
    _report(problems, "usernames")
