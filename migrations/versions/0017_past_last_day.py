"""find the records still active or on leave after their termination date

Revision ID: 0017_past_last_day
Revises: 0016_import_header_row
Create Date: 2026-11-28 10:00:00.000000

A termination date typed ahead for someone who gave notice is allowed; once
it has passed, the record (still active or on leave) disagrees with itself
and its next edit is refused until the status is set to terminated. The
list filters on such records and the home page counts them, by the
expression models/employee.py calls LAST_DAY_UNLESS_TERMINATED: the
termination date of someone not terminated, NULL for everyone else.

- ix_employees_past_last_day holds that expression where it is not NULL:
  the few people who gave notice or are past their last day, not the
  million others; `expression < today` is a range scan of it.
- st_employees_last_day_unless_terminated: statistics on the expression
  (a partial index gets none), so that the planner knows how few rows
  match. Estimated from status and termination date apart, a fifth of the
  table would seem to match, and a page of them would walk the whole name
  index (41 ms for 31 rows of 200,000; 0.2 ms with these).

Built in the migration's transaction, like 0015's index: writes to employees
wait for one scan of the table and the ANALYZE. The index is a secondary
one: a bulk import drops and rebuilds it like the others (its definition is
read from PostgreSQL).
"""
from alembic import op

revision = '0017_past_last_day'
down_revision = '0016_import_header_row'
branch_labels = None
depends_on = None

EXPRESSION = "(CASE WHEN status <> 'terminated' THEN termination_date END)"


def upgrade():
    op.execute(f"CREATE INDEX ix_employees_past_last_day ON employees ({EXPRESSION})"
               f" WHERE {EXPRESSION} IS NOT NULL")
    op.execute(f"CREATE STATISTICS st_employees_last_day_unless_terminated ON {EXPRESSION} FROM employees")
    op.execute("ANALYZE employees")  # the statistics now, not at autovacuum's next visit


def downgrade():
    # A bulk load that died with the index dropped kept its definition there.
    op.execute("DELETE FROM bulk_load_indexes WHERE name = 'ix_employees_past_last_day'")
    op.execute("DROP INDEX IF EXISTS ix_employees_past_last_day")
    op.execute("DROP STATISTICS IF EXISTS st_employees_last_day_unless_terminated")
