"""upload retention: when a finished import's uploaded file was deleted

Revision ID: 0011_upload_retention
Revises: 0010_bulk_imports
Create Date: 2026-12-08 09:00:00.000000

`flask prune-uploads --older-than 30d` deletes the stored upload files of
finished imports past the retention; their counts and rejected rows stay.
imports.upload_deleted_at records when, for the import's page ("the
uploaded file was deleted on ...") and so that nothing starts an import
whose file is gone.
"""
from alembic import op
import sqlalchemy as sa

revision = '0011_upload_retention'
down_revision = '0010_bulk_imports'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("imports", sa.Column("upload_deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column("imports", "upload_deleted_at")
