"""the audit log records list changes too: a department's or a job's adds,
renames, recodes and deletes are entries beside the employees' changes

Revision ID: 0008_list_audit
Revises: 0007_departments_and_jobs
Create Date: 2026-11-28 06:00:00.000000

One log, one order (at, id), one page and one CSV: each entry names its
`subject` ('employee', 'department' or 'job'). An employee's entry keeps
employee_pk / employee_id (now nullable); a list entry's has entry_pk (the
departments or jobs row, no foreign key: the history outlives the entry) and
entry_name (its name at the time). A CHECK keeps each entry naming exactly
one of the two. Existing rows are employees' entries: the column default
says so without rewriting the table (PostgreSQL 11+). The two new indexes are
partial: list changes are a handful among millions of employee entries.

The downgrade deletes the list entries' history: the older schema has no
place for it.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_list_audit'
down_revision = '0007_departments_and_jobs'
branch_labels = None
depends_on = None

OLD_SOURCES = "('form', 'import', 'edit', 'delete', 'bulk', 'cli')"
NEW_SOURCES = "('form', 'import', 'edit', 'delete', 'bulk', 'cli', 'list', 'list_upload')"


def upgrade():
    op.add_column('audit_log', sa.Column('subject', sa.String(length=16), server_default='employee', nullable=False))
    op.add_column('audit_log', sa.Column('entry_pk', sa.Integer(), nullable=True))
    op.add_column('audit_log', sa.Column('entry_name', sa.String(length=120), nullable=True))
    op.alter_column('audit_log', 'employee_pk', existing_type=sa.BigInteger(), nullable=True)
    op.alter_column('audit_log', 'employee_id', existing_type=sa.String(length=32), nullable=True)
    op.create_check_constraint('ck_audit_log_subject', 'audit_log', "subject IN ('employee', 'department', 'job')")
    op.create_check_constraint(
        'ck_audit_log_subject_named', 'audit_log',
        "CASE WHEN subject = 'employee'"
        " THEN employee_pk IS NOT NULL AND employee_id IS NOT NULL AND entry_pk IS NULL"
        " ELSE entry_pk IS NOT NULL AND entry_name IS NOT NULL AND employee_pk IS NULL END")
    op.drop_constraint('ck_audit_log_source', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_source', 'audit_log', f"source IN {NEW_SOURCES}")
    op.create_index('ix_audit_log_entry', 'audit_log', ['subject', 'entry_pk', 'id'],
                    postgresql_where=sa.text('entry_pk IS NOT NULL'))
    op.create_index('ix_audit_log_entries_at', 'audit_log', ['at', 'id'],
                    postgresql_where=sa.text('entry_pk IS NOT NULL'))


def downgrade():
    op.execute("DELETE FROM audit_log WHERE subject <> 'employee'")
    op.drop_index('ix_audit_log_entries_at', table_name='audit_log')
    op.drop_index('ix_audit_log_entry', table_name='audit_log')
    op.drop_constraint('ck_audit_log_source', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_source', 'audit_log', f"source IN {OLD_SOURCES}")
    op.drop_constraint('ck_audit_log_subject_named', 'audit_log', type_='check')
    op.drop_constraint('ck_audit_log_subject', 'audit_log', type_='check')
    op.alter_column('audit_log', 'employee_id', existing_type=sa.String(length=32), nullable=False)
    op.alter_column('audit_log', 'employee_pk', existing_type=sa.BigInteger(), nullable=False)
    op.drop_column('audit_log', 'entry_name')
    op.drop_column('audit_log', 'entry_pk')
    op.drop_column('audit_log', 'subject')
