"""employees, departments and users

Revision ID: 0001_initial
Revises: 
Create Date: 2026-11-22 22:02:52.421978

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Trigram indexes make substring search ("%smith%") fast on a million rows.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("name = btrim(name) AND name <> ''", name='ck_departments_name_trimmed'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index('uq_departments_name_lower', [sa.literal_column('lower(name)')], unique=True)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'hr', 'viewer')", name='ck_users_role'),
    sa.CheckConstraint("username = lower(btrim(username)) AND username <> ''", name='ck_users_username_canonical'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('employees',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('employee_id', sa.String(length=32), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('job_title', sa.String(length=120), nullable=True),
    sa.Column('employment_type', sa.String(length=16), nullable=True),
    sa.Column('location', sa.String(length=120), nullable=True),
    sa.Column('hire_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('termination_date', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('search_text', sa.String(), sa.Computed("' ' || lower(employee_id || ' ' || first_name || ' ' || last_name || ' ' || coalesce(email, '')) || ' '", persisted=True), nullable=False),
    sa.CheckConstraint("employee_id = upper(btrim(employee_id)) AND employee_id <> ''", name='ck_employees_employee_id_canonical'),
    sa.CheckConstraint("employment_type IS NULL OR employment_type IN ('full_time', 'part_time', 'contractor', 'temporary', 'intern')", name='ck_employees_employment_type'),
    sa.CheckConstraint("status IN ('active', 'on_leave', 'terminated')", name='ck_employees_status'),
    sa.CheckConstraint('email = lower(btrim(email))', name='ck_employees_email_canonical'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email', name='uq_employees_email'),
    sa.UniqueConstraint('employee_id', name='uq_employees_employee_id')
    )
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.create_index('ix_employees_department_name', ['department_id', 'last_name', 'first_name', 'id'], unique=False)
        batch_op.create_index('ix_employees_hire_date', [sa.literal_column("coalesce(hire_date, '9999-12-31'::date)"), 'id'], unique=False)
        batch_op.create_index('ix_employees_name', ['last_name', 'first_name', 'id'], unique=False)
        batch_op.create_index('ix_employees_search_trgm', ['search_text'], unique=False, postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
        batch_op.create_index('ix_employees_status_name', ['status', 'last_name', 'first_name', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_index('ix_employees_status_name')
        batch_op.drop_index('ix_employees_search_trgm', postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
        batch_op.drop_index('ix_employees_name')
        batch_op.drop_index('ix_employees_hire_date')
        batch_op.drop_index('ix_employees_department_name')

    op.drop_table('employees')
    op.drop_table('users')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index('uq_departments_name_lower')

    op.drop_table('departments')
