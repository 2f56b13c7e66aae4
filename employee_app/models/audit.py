from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

AUDIT_ACTIONS = ("create", "update", "delete")
# Which path made the change: the add form, an import, the admin edit form,
# the delete page, a bulk action on the list.
AUDIT_SOURCES = ("form", "import", "edit", "delete", "bulk", "cli")


class AuditEntry(db.Model):
    """One change to one employee, written in the same transaction as the change.

    No foreign key to employees: the history outlives a deleted record."""
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str | None] = mapped_column(String(64))  # kept if the account goes
    employee_pk: Mapped[int] = mapped_column(BigInteger)
    employee_id: Mapped[str] = mapped_column(String(32))  # the business ID at the time
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    import_id: Mapped[int | None] = mapped_column(BigInteger)
    # {field: [old, new]}; for a create, old is null; for a delete, new is null.
    changes: Mapped[dict] = mapped_column(JSONB, server_default="{}")

    __table_args__ = (
        CheckConstraint(f"action IN {AUDIT_ACTIONS!r}", name="ck_audit_log_action"),
        CheckConstraint(f"source IN {AUDIT_SOURCES!r}", name="ck_audit_log_source"),
        Index("ix_audit_log_employee", "employee_pk", "id"),
        Index("ix_audit_log_employee_id", "employee_id"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor_id", "at"),
    )
