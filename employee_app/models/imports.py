from datetime import datetime

from sqlalchemy import (ARRAY, BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index,
                        Integer, String, Text, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

IMPORT_MODES = ("valid_rows", "all_or_nothing", "dry_run")
ON_EXISTING = ("skip", "update")
# uploaded -> (mapping -> cancelled) -> queued -> running -> an outcome:
# done (rows stored), checked (a dry run: nothing written), refused (all or
# nothing with problems: nothing written) or failed.
IMPORT_STATUSES = ("mapping", "queued", "running", "done", "checked", "refused", "cancelled", "failed")
FINISHED_STATUSES = ("done", "checked", "refused", "cancelled", "failed")


class ImportJob(db.Model):
    """One uploaded file and what its import did, row counts included."""
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(String(32))
    delimiter: Mapped[str | None] = mapped_column(String(1))
    mode: Mapped[str] = mapped_column(String(16))
    on_existing: Mapped[str] = mapped_column(String(8), server_default="skip")
    has_header: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # The file's row (as rejected rows number them) where its header is, when
    # rows of a title above it ("Staff list, March 2026") are skipped; 0: none.
    header_row: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # The file's columns (in order) mapped to employee fields or "ignore".
    mapping: Mapped[list | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Counts: inserted + updated + duplicates + invalid = rows_read when done.
    # A dry run or a refused all-or-nothing writes nothing: there inserted and
    # updated count the rows that would have been (pages say so in words).
    rows_read: Mapped[int] = mapped_column(BigInteger, server_default="0")
    inserted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated: Mapped[int] = mapped_column(BigInteger, server_default="0")
    duplicates: Mapped[int] = mapped_column(BigInteger, server_default="0")
    invalid: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_rows_estimate: Mapped[int | None] = mapped_column(BigInteger)
    # The file's record number up to which rows are committed: a rerun after a
    # crash continues from here (committed in the same transaction as the rows).
    resume_row: Mapped[int] = mapped_column(BigInteger, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    # Written by the running worker every IMPORT_WORKER_HEARTBEAT seconds (and
    # when the import is queued): a running import whose heartbeat stopped
    # lost its worker. Kept in PostgreSQL so that a Valkey flush or restart
    # (which loses the queue's own records) never passes for a dead worker.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When prune-uploads deleted the uploaded file (retention): the counts and
    # rejected rows stay, nothing needing the file can start any more.
    upload_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The id of the upload's request (request_ids.py): the worker's log lines
    # for this import carry it. NULL from the command line.
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        CheckConstraint(f"mode IN {IMPORT_MODES!r}", name="ck_imports_mode"),
        CheckConstraint(f"on_existing IN {ON_EXISTING!r}", name="ck_imports_on_existing"),
        CheckConstraint(f"status IN {IMPORT_STATUSES!r}", name="ck_imports_status"),
        Index("ix_imports_created", "created_at"),
    )


class ImportRejection(db.Model):
    """A row the import did not store, with why, in the file's own cells."""
    __tablename__ = "import_rejections"

    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True)
    row_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # 1 = the file's first line
    kind: Mapped[str] = mapped_column(String(16))  # duplicate | invalid
    field: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str] = mapped_column(Text)
    cells: Mapped[list[str]] = mapped_column(ARRAY(Text))

    __table_args__ = (CheckConstraint("kind IN ('duplicate', 'invalid')", name="ck_import_rejections_kind"),)


class ColumnMapping(db.Model):
    """A confirmed mapping, remembered for files with the same headers, or
    for headerless files of the same shape (mapping.header_key, shape_key)."""
    __tablename__ = "column_mappings"

    header_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # a sha256: see mapping.py
    mapping: Mapped[list] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
