"""the audit log records changes to accounts: who created an account, gave
or took a role, deactivated or reactivated it, set its password, made or
revoked its API tokens

Revision ID: 0018_account_audit
Revises: 0017_past_last_day
Create Date: 2026-11-28 12:00:00.000000

An account's entry is a list entry's shape (subject 'account', entry_pk the
users row, entry_name its username at the time), so the subject CHECK gains
'account' and the named CHECK needs no change; it uses the partial indexes
of list entries (ix_audit_log_entry, ix_audit_log_entries_at). The sources
gain the pages that change accounts: 'accounts' (an admin's Accounts pages),
'password' (Change password, one's own) and 'tokens' (API tokens); the
command line's changes are 'cli', as before. Passwords and tokens are never
in an entry: a password is 'set', a token is named.

The downgrade deletes the accounts' history: the older schema has no place
for it.
"""
from alembic import op

revision = '0018_account_audit'
down_revision = '0017_past_last_day'
branch_labels = None
depends_on = None

OLD_SUBJECTS = "('employee', 'department', 'job', 'import')"
NEW_SUBJECTS = "('employee', 'department', 'job', 'import', 'account')"
OLD_SOURCES = "('form', 'import', 'edit', 'delete', 'bulk', 'cli', 'list', 'list_upload', 'api')"
NEW_SOURCES = ("('form', 'import', 'edit', 'delete', 'bulk', 'cli', 'list', 'list_upload', 'api',"
               " 'accounts', 'password', 'tokens')")


def _constraints(subjects: str, sources: str) -> None:
    op.drop_constraint('ck_audit_log_subject', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_subject', 'audit_log', f"subject IN {subjects}")
    op.drop_constraint('ck_audit_log_source', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_source', 'audit_log', f"source IN {sources}")


def upgrade():
    _constraints(NEW_SUBJECTS, NEW_SOURCES)


def downgrade():
    op.execute("DELETE FROM audit_log WHERE subject = 'account'")
    _constraints(OLD_SUBJECTS, OLD_SOURCES)
