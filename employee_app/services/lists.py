"""The two lists employee records refer to: departments and jobs.

Each entry has a name (unique without regard to case) and an optional code
(unique the same way), e.g. another system's department number. A record's
department or job is given by name on the forms and in files; a name not in
the list yet creates its entry.
"""
from dataclasses import dataclass

from sqlalchemy import func, select, text

from ..extensions import db
from ..models import Department, Job


@dataclass(frozen=True)
class ListKind:
    """What differs between the two lists."""

    model: type
    table: str
    field: str  # the employee field that names an entry (form, file, audit)
    label: str  # one entry, in words
    plural: str


DEPARTMENTS = ListKind(Department, "departments", "department", "department", "departments")
JOBS = ListKind(Job, "jobs", "job_title", "job", "jobs")
KINDS = (DEPARTMENTS, JOBS)


def ensure_entry(kind: ListKind, name: str | None) -> int | None:
    """The id of the entry with this name (any case), created if new.

    Runs in the caller's transaction; concurrent creators meet in ON CONFLICT."""
    if not name:
        return None
    db.session.execute(
        text(f"INSERT INTO {kind.table} (name) VALUES (:name) ON CONFLICT ((lower(name))) DO NOTHING"),
        {"name": name},
    )
    return db.session.execute(
        select(kind.model.id).where(func.lower(kind.model.name) == name.lower())
    ).scalar_one()


def entry(kind: ListKind, name: str | None):
    """The entry (a Department or a Job) with this name, created if new; None for no name."""
    entry_id = ensure_entry(kind, name)
    return db.session.get(kind.model, entry_id) if entry_id else None


def names(kind: ListKind) -> list[str]:
    """Every entry's name, alphabetically without regard to case (for the
    forms' suggestions)."""
    return list(db.session.execute(select(kind.model.name).order_by(func.lower(kind.model.name))).scalars())


def all_entries(kind: ListKind) -> list:
    return list(db.session.execute(select(kind.model).order_by(func.lower(kind.model.name))).scalars())
