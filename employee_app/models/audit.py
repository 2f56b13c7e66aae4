from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

AUDIT_ACTIONS = ("create", "update", "delete")
# Which path made the change: the add form, an import, the admin edit form,
# the delete page, a bulk action on the list; a list entry's page (or the
# list page's add form), a list upload; the API; an admin's Accounts pages,
# one's own Change password page, the API tokens page (migration 0018).
AUDIT_SOURCES = ("form", "import", "edit", "delete", "bulk", "cli", "list", "list_upload", "api",
                 "accounts", "password", "tokens")
# What changed: an employee, an entry of one of the lists employees refer to
# (services/lists.py: a ListKind's label), or the employees an import created
# (one entry per import; each record carries import_id and import_row), or
# an account (entry_pk: its users row, entry_name: its username; migration 0018).
AUDIT_SUBJECTS = ("employee", "department", "job", "import", "account")


class AuditEntry(db.Model):
    """One change to one employee, list entry or account, written in the same
    transaction as the change.

    An employee's entry names it by employee_pk and employee_id (the business
    ID at the time); a list entry's by entry_pk and entry_name (its name at
    the time). No foreign keys: the history outlives a deleted record."""
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str | None] = mapped_column(String(64))  # kept if the account goes
    subject: Mapped[str] = mapped_column(String(16), server_default="employee")
    employee_pk: Mapped[int | None] = mapped_column(BigInteger)
    employee_id: Mapped[str | None] = mapped_column(String(32))  # the business ID at the time
    entry_pk: Mapped[int | None] = mapped_column(Integer)
    entry_name: Mapped[str | None] = mapped_column(String(120))  # the list entry's name at the time
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    import_id: Mapped[int | None] = mapped_column(BigInteger)
    # On the delete entry of a record an import created: its row, so the
    # change feed still finds that record's creation (migration 0014).
    import_row: Mapped[int | None] = mapped_column(BigInteger)
    # Not mapped: txid (xid8, the writing transaction), by which the change
    # feed orders entries in commit order (migration 0014, services/change_feed.py).
    # {field: [old, new]}; for a create, old is null; for a delete, new is null.
    changes: Mapped[dict] = mapped_column(JSONB, server_default="{}")

    __table_args__ = (
        CheckConstraint(f"action IN {AUDIT_ACTIONS!r}", name="ck_audit_log_action"),
        CheckConstraint(f"source IN {AUDIT_SOURCES!r}", name="ck_audit_log_source"),
        CheckConstraint(f"subject IN {AUDIT_SUBJECTS!r}", name="ck_audit_log_subject"),
        CheckConstraint(
            "CASE subject"
            " WHEN 'employee' THEN employee_pk IS NOT NULL AND employee_id IS NOT NULL AND entry_pk IS NULL"
            " WHEN 'import' THEN import_id IS NOT NULL AND employee_pk IS NULL AND entry_pk IS NULL"
            " ELSE entry_pk IS NOT NULL AND entry_name IS NOT NULL AND employee_pk IS NULL END",
            name="ck_audit_log_subject_named"),
        Index("ix_audit_log_employee", "employee_pk", "id"),
        Index("ix_audit_log_employee_id", "employee_id"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor_id", "at"),
        # An entry's history, and the history page filtered to list changes:
        # a few rows among millions of employee entries.
        Index("ix_audit_log_entry", "subject", "entry_pk", "id", postgresql_where=text("entry_pk IS NOT NULL")),
        Index("ix_audit_log_entries_at", "at", "id", postgresql_where=text("entry_pk IS NOT NULL")),
        # An import's own entry (migration 0010).
        Index("ix_audit_log_import", "import_id", postgresql_where=text("subject = 'import'")),
        Index("ix_audit_log_deleted_import_row", "import_id", "import_row",
              postgresql_where=text("import_row IS NOT NULL")),
    )
