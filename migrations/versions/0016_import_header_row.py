"""title rows above an uploaded file's header

Revision ID: 0016_import_header_row
Revises: 0015_natural_id_without_regex
Create Date: 2026-11-28 04:40:00.000000

Files exported from other HR systems often start with a title ("Staff
list, March 2026", "Exported by ...") above the header. The import skips
those rows (mapping.title_rows) and remembers where the header is, so that
the worker, a resumed run and the rejected rows' header all start from the
same row as the upload did: the row of the header (or of the first data
row), numbered as rejected rows are; 0 when no title was skipped.
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_import_header_row'
down_revision = '0015_natural_id_without_regex'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('imports', sa.Column('header_row', sa.BigInteger(), server_default='0', nullable=False))


def downgrade():
    op.drop_column('imports', 'header_row')
