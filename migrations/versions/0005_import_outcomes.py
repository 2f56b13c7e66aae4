"""import outcomes that tell the truth: checked, refused, cancelled

Revision ID: 0005_import_outcomes
Revises: 0004_text_and_import_runs
Create Date: 2026-12-04 09:00:00.000000

An import used to end as "done" whether or not it wrote anything. Now a dry
run ends as "checked" and an all-or-nothing import with problems as
"refused" (both wrote nothing), and an import waiting at the column mapping
can be "cancelled". Past imports are given the status they should have had;
the downgrade folds them back ("cancelled" becomes "failed").
"""
from alembic import op

revision = '0005_import_outcomes'
down_revision = '0004_text_and_import_runs'
branch_labels = None
depends_on = None

OLD_STATUSES = "('mapping', 'queued', 'running', 'done', 'failed')"
NEW_STATUSES = "('mapping', 'queued', 'running', 'done', 'checked', 'refused', 'cancelled', 'failed')"


def upgrade():
    op.drop_constraint('ck_imports_status', 'imports', type_='check')
    op.create_check_constraint('ck_imports_status', 'imports', f"status IN {NEW_STATUSES}")
    op.execute("UPDATE imports SET status = 'checked' WHERE status = 'done' AND mode = 'dry_run'")
    op.execute("UPDATE imports SET status = 'refused' WHERE status = 'done' AND mode = 'all_or_nothing'"
               " AND duplicates + invalid > 0")


def downgrade():
    op.execute("UPDATE imports SET status = 'done' WHERE status IN ('checked', 'refused')")
    op.execute("UPDATE imports SET status = 'failed', error = coalesce(error, 'it was cancelled')"
               " WHERE status = 'cancelled'")
    op.drop_constraint('ck_imports_status', 'imports', type_='check')
    op.create_check_constraint('ck_imports_status', 'imports', f"status IN {OLD_STATUSES}")
