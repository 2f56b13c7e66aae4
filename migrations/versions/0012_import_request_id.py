"""the request id of the upload that created an import

Revision ID: 0012_import_request_id
Revises: 0011_upload_retention
Create Date: 2026-11-27 11:00:00.000000

The worker's log lines for an import carry the request id of the upload
that created it (request_ids.py), so an operator follows one upload from
the web request to the end of its import. At most 128 characters from a
safe set, checked before it is stored; NULL for imports made before, or
from the command line.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_import_request_id'
down_revision = '0011_upload_retention'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('imports', sa.Column('request_id', sa.String(128), nullable=True))


def downgrade():
    op.drop_column('imports', 'request_id')
