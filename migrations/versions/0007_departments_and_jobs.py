"""departments and jobs as managed lists: department codes, a jobs list that
employees refer to (the free-text job titles become entries, none lost)

Revision ID: 0007_departments_and_jobs
Revises: 0006_list_sorting
Create Date: 2026-11-27 06:00:00.000000

Each distinct job title (compared without regard to case and surrounding
spaces, as the list compares names) becomes one entry of `jobs`, and every
employee refers to the entry of its title. The downgrade writes the titles
back.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_departments_and_jobs'
down_revision = '0006_list_sorting'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('departments', sa.Column('code', sa.String(length=32), nullable=True))
    op.create_index('uq_departments_code_lower', 'departments', [sa.text('lower(code)')], unique=True)
    op.create_check_constraint('ck_departments_code_trimmed', 'departments',
                               "code IS NULL OR (code = btrim(code) AND code <> '')")
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("name = btrim(name) AND name <> ''", name='ck_jobs_name_trimmed'),
        sa.CheckConstraint("code IS NULL OR (code = btrim(code) AND code <> '')", name='ck_jobs_code_trimmed'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_jobs_name_lower', 'jobs', [sa.text('lower(name)')], unique=True)
    op.create_index('uq_jobs_code_lower', 'jobs', [sa.text('lower(code)')], unique=True)

    op.add_column('employees', sa.Column('job_id', sa.Integer(), nullable=True))
    op.create_foreign_key('employees_job_id_fkey', 'employees', 'jobs', ['job_id'], ['id'], ondelete='RESTRICT')
    # One entry per title; the spelling kept is the one most employees use.
    op.execute("""
        INSERT INTO jobs (name)
        SELECT DISTINCT ON (lower(btrim(job_title))) btrim(job_title)
        FROM employees WHERE btrim(coalesce(job_title, '')) <> ''
        GROUP BY btrim(job_title)
        ORDER BY lower(btrim(job_title)), count(*) DESC, btrim(job_title)
    """)
    op.execute("""
        UPDATE employees e SET job_id = j.id FROM jobs j
        WHERE btrim(coalesce(e.job_title, '')) <> '' AND lower(btrim(e.job_title)) = lower(j.name)
    """)
    op.drop_column('employees', 'job_title')
    op.create_index('ix_employees_job', 'employees', ['job_id'])


def downgrade():
    op.add_column('employees', sa.Column('job_title', sa.String(length=120), nullable=True))
    op.execute("UPDATE employees e SET job_title = j.name FROM jobs j WHERE j.id = e.job_id")
    op.drop_index('ix_employees_job', table_name='employees')
    op.drop_constraint('employees_job_id_fkey', 'employees', type_='foreignkey')
    op.drop_column('employees', 'job_id')
    op.drop_table('jobs')
    op.drop_constraint('ck_departments_code_trimmed', 'departments', type_='check')
    op.drop_index('uq_departments_code_lower', table_name='departments')
    op.drop_column('departments', 'code')
