"""the list's sorting and counts: natural ID order, no hire date last, exact filter counts

Revision ID: 0006_list_sorting
Revises: 0005_import_outcomes
Create Date: 2026-11-27 12:00:00.000000

Three indexes on employees (models/employee.py), on exactly the expressions
the list orders and counts by: IDs in natural order (2 before 10, E2 before
E10); records without a hire date last when sorting by hire date descending
too; exact counts of the status and department filters. On 1,000,000 rows
they take about 4 s to build and 85 MB; the app is not serving while
migrations run (the entrypoint applies them first), so they are built in the
migration's transaction.
"""
from alembic import op

revision = '0006_list_sorting'
down_revision = '0005_import_outcomes'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE INDEX ix_employees_employee_id_natural ON employees ("
               "regexp_replace(employee_id, '[0-9]{1,18}$', ''), "
               "coalesce(CAST(substring(employee_id FROM '[0-9]{1,18}$') AS bigint), -1), "
               "employee_id)")
    op.execute("CREATE INDEX ix_employees_hire_date_desc ON employees ("
               "coalesce(hire_date, '0001-01-01'::date) DESC, id DESC)")
    op.execute("CREATE INDEX ix_employees_status_department ON employees (status, department_id)")


def downgrade():
    op.drop_index('ix_employees_status_department', table_name='employees')
    op.drop_index('ix_employees_hire_date_desc', table_name='employees')
    op.drop_index('ix_employees_employee_id_natural', table_name='employees')
