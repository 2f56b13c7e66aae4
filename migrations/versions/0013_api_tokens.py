"""API tokens for other programs (issue 13)

Revision ID: 0013_api_tokens
Revises: 0012_import_request_id
Create Date: 2026-11-27 12:40:00.000000

A named token per row, stored only as the SHA-256 of the token; it acts
with its owner's role and goes with its owner's account. The audit log
gets the source 'api': records added through /api/v1.
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_api_tokens'
down_revision = '0012_import_request_id'
branch_labels = None
depends_on = None

OLD_SOURCES = "('form', 'import', 'edit', 'delete', 'bulk', 'cli', 'list', 'list_upload')"
NEW_SOURCES = "('form', 'import', 'edit', 'delete', 'bulk', 'cli', 'list', 'list_upload', 'api')"


def upgrade():
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('hint', sa.String(16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('token_hash', name='uq_api_tokens_token_hash'),
    )
    op.create_index('ix_api_tokens_user_id', 'api_tokens', ['user_id'])
    op.drop_constraint('ck_audit_log_source', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_source', 'audit_log', f"source IN {NEW_SOURCES}")


def downgrade():
    # The history of records added through the API stays, as made by the form.
    op.execute("UPDATE audit_log SET source = 'form' WHERE source = 'api'")
    op.drop_constraint('ck_audit_log_source', 'audit_log', type_='check')
    op.create_check_constraint('ck_audit_log_source', 'audit_log', f"source IN {OLD_SOURCES}")
    op.drop_index('ix_api_tokens_user_id', table_name='api_tokens')
    op.drop_table('api_tokens')
