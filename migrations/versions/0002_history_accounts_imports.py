"""audit log, account security, imports

Revision ID: 0002_history_accounts_imports
Revises: 0001_initial
Create Date: 2026-11-23 13:51:22.169576

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002_history_accounts_imports'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('column_mappings',
    sa.Column('header_key', sa.String(length=64), nullable=False),
    sa.Column('mapping', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('header_key')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=64), nullable=True),
    sa.Column('employee_pk', sa.BigInteger(), nullable=False),
    sa.Column('employee_id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('import_id', sa.BigInteger(), nullable=True),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.CheckConstraint("action IN ('create', 'update', 'delete')", name='ck_audit_log_action'),
    sa.CheckConstraint("source IN ('form', 'import', 'edit', 'delete', 'bulk', 'cli')", name='ck_audit_log_source'),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor', ['actor_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_log_employee', ['employee_pk', 'id'], unique=False)
        batch_op.create_index('ix_audit_log_employee_id', ['employee_id'], unique=False)

    op.create_table('imports',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('stored_path', sa.Text(), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_format', sa.String(length=8), nullable=False),
    sa.Column('encoding', sa.String(length=32), nullable=True),
    sa.Column('delimiter', sa.String(length=1), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('on_existing', sa.String(length=8), server_default='skip', nullable=False),
    sa.Column('has_header', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('mapping', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_read', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('inserted', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('duplicates', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('invalid', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('total_rows_estimate', sa.BigInteger(), nullable=True),
    sa.Column('resume_row', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("mode IN ('valid_rows', 'all_or_nothing', 'dry_run')", name='ck_imports_mode'),
    sa.CheckConstraint("on_existing IN ('skip', 'update')", name='ck_imports_on_existing'),
    sa.CheckConstraint("status IN ('mapping', 'queued', 'running', 'done', 'failed')", name='ck_imports_status'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index('ix_imports_created', ['created_at'], unique=False)

    op.create_table('import_rejections',
    sa.Column('import_id', sa.BigInteger(), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('cells', sa.ARRAY(sa.Text()), nullable=False),
    sa.CheckConstraint("kind IN ('duplicate', 'invalid')", name='ck_import_rejections_kind'),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'row_number')
    )
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('import_row', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('session_version')
        batch_op.drop_column('password_changed_at')

    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('import_row')
        batch_op.drop_column('import_id')
    op.drop_table('import_rejections')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index('ix_imports_created')

    op.drop_table('imports')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_employee_id')
        batch_op.drop_index('ix_audit_log_employee')
        batch_op.drop_index('ix_audit_log_at')
        batch_op.drop_index('ix_audit_log_actor')

    op.drop_table('audit_log')
    op.drop_table('column_mappings')
