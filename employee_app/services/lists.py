"""The two lists employee records refer to: departments and jobs.

Each entry has a name (unique without regard to case) and an optional code
(unique the same way), e.g. another system's department number. A record's
department or job is given by name on the forms and in files (a name not in
the list yet creates its entry), or by code in an import.

Admins add, rename, recode and delete entries here (one at a time, or a
whole list from a file: list_uploads.py); each change writes its audit entry
in the same transaction. Departments and jobs share every line of it: a
ListKind says what differs.
"""
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Department, Employee, Job, User
from ..models.employee import CODE_LENGTH
from . import audit, db_errors, short_cache, text_rules
from .employee_rules import LONGEST_BEFORE_NORMALISING, FieldProblem, normalize_list_name, shown
from .errors import InvalidInput, ServiceError
from .text_rules import TextProblem


@dataclass(frozen=True)
class ListKind:
    """What differs between the two lists."""

    model: type
    table: str  # also the list's address: /departments, /jobs
    field: str  # the employee field that names an entry (form, file, audit)
    column: str  # the employee column that refers to an entry
    label: str  # one entry, in words; also the audit log's subject
    plural: str
    code_field: str  # the import target that gives an entry by its code

    @property
    def title(self) -> str:
        return self.plural.capitalize()

    @property
    def code_label(self) -> str:
        return f"{self.label.capitalize()} code"

    @property
    def name_length(self) -> int:
        return self.model.__table__.c.name.type.length

    @property
    def employee_column(self):
        return getattr(Employee, self.column)


DEPARTMENTS = ListKind(Department, "departments", "department", "department_id", "department", "departments",
                       "department_code")
JOBS = ListKind(Job, "jobs", "job_title", "job_id", "job", "jobs", "job_code")
KINDS = (DEPARTMENTS, JOBS)
KIND_BY_TABLE = {kind.table: kind for kind in KINDS}
# A transaction that changes a list holds this advisory lock, (class, kind):
# two admins' changes (an upload checks the whole list, then writes) never
# interleave. The forms' and imports' new names meet in ON CONFLICT instead.
LIST_LOCK_CLASS = 7_002


# --- names and codes as stored ------------------------------------------------

def clean_name(kind: ListKind, raw: str | None) -> str | None:
    """An entry's name as stored (the employee fields' rules for a department
    or job name), None when empty. Raises FieldProblem, to follow a label."""
    value = (raw or "").strip()
    if value and len(value) <= LONGEST_BEFORE_NORMALISING * kind.name_length:
        try:
            value = normalize_list_name(text_rules.entry_name_text(value)) or ""
        except TextProblem as problem:
            raise FieldProblem(str(problem)) from None
    if len(value) > kind.name_length:
        raise FieldProblem(f"is longer than {kind.name_length} characters.")
    return value or None


def clean_code(raw: str | None) -> str | None:
    """A code as stored and compared (identifier text: invisible characters
    removed, full-width forms made plain, trimmed; case kept, compared
    without it), None when empty. Raises FieldProblem."""
    value = (raw or "").strip()
    if value and len(value) <= LONGEST_BEFORE_NORMALISING * CODE_LENGTH:
        try:
            value = text_rules.identifier_text(value)
        except TextProblem as problem:
            raise FieldProblem(str(problem)) from None
    if len(value) > CODE_LENGTH:
        raise FieldProblem(f"is longer than {CODE_LENGTH} characters.")
    return value or None


def _cleaned(kind: ListKind, raw_name: str | None, raw_code: str | None) -> tuple[str, str | None]:
    """(name, code) from a form, or InvalidInput with a message per field."""
    errors, name, code = {}, None, None
    try:
        name = clean_name(kind, raw_name)
        if name is None:
            errors["name"] = "Name is required."
    except FieldProblem as problem:
        errors["name"] = f"Name {problem}"
    try:
        code = clean_code(raw_code)
    except FieldProblem as problem:
        errors["code"] = f"Code {problem}"
    if errors:
        raise InvalidInput(errors)
    return name, code


# --- reading ------------------------------------------------------------------

@dataclass
class ListEntry:
    id: int
    name: str
    code: str | None
    active: int  # employees with status active
    employees: int | None = None  # all of them, whatever their status (an entry's page)


def entries_with_counts(kind: ListKind) -> list[ListEntry]:
    """Every entry, alphabetically without regard to case, with its number of
    active employees: one GROUP BY (an index-only scan of
    ix_employees_status_department for departments; ix_employees_job for jobs)."""
    column = kind.employee_column
    active = (select(column.label("entry_id"), func.count().label("active"))
              .where(Employee.status == "active", column.is_not(None)).group_by(column).subquery())
    rows = db.session.execute(
        select(kind.model.id, kind.model.name, kind.model.code, func.coalesce(active.c.active, 0))
        .outerjoin(active, active.c.entry_id == kind.model.id)
        .order_by(func.lower(kind.model.name), kind.model.id))
    return [ListEntry(*row) for row in rows]


def get_entry(kind: ListKind, entry_id: int) -> ListEntry | None:
    """One entry with its active employees and all of them."""
    found = db.session.get(kind.model, entry_id)
    if found is None:
        return None
    active, employees = _usage(kind, entry_id)
    return ListEntry(found.id, found.name, found.code, active, employees)


def _usage(kind: ListKind, entry_id: int) -> tuple[int, int]:
    """(active employees, all employees) of the entry."""
    return tuple(db.session.execute(
        select(func.count().filter(Employee.status == "active"), func.count())
        .where(kind.employee_column == entry_id)).one())


def names(kind: ListKind) -> list[str]:
    """Every entry's name, alphabetically without regard to case (for the
    forms' suggestions)."""
    return list(db.session.execute(select(kind.model.name).order_by(func.lower(kind.model.name))).scalars())


def all_entries(kind: ListKind) -> list:
    return list(db.session.execute(select(kind.model).order_by(func.lower(kind.model.name))).scalars())


# --- the forms and imports: an entry by name, created if new ------------------

def ensure_entry(kind: ListKind, name: str | None, *, source: str, actor: User | None = None) -> int | None:
    """The id of the entry with this name (any case), created if new, with
    its audit entry (action create, `source`: the path whose employee named
    it, e.g. form, edit, bulk, api) when this call created it.

    Runs in the caller's transaction; concurrent creators meet in ON CONFLICT,
    and only the one whose INSERT returned the row records it. A new entry
    shows in the list page's filter once the caller commits (short_cache)."""
    if not name:
        return None
    created = db.session.execute(
        text(f"INSERT INTO {kind.table} (name) VALUES (:name) ON CONFLICT ((lower(name))) DO NOTHING RETURNING id"),
        {"name": name},
    ).scalar_one_or_none()
    if created is not None:
        short_cache.changed_in_this_transaction()
        _record(kind, created, name, "create", audit.creation_changes({"name": name}), actor, source)
        return created
    return db.session.execute(
        select(kind.model.id).where(func.lower(kind.model.name) == name.lower())
    ).scalar_one()


def entry(kind: ListKind, name: str | None, *, source: str, actor: User | None = None):
    """The entry (a Department or a Job) with this name, created (and
    recorded) if new; None for no name."""
    entry_id = ensure_entry(kind, name, source=source, actor=actor)
    return db.session.get(kind.model, entry_id) if entry_id else None


# --- admins' changes ----------------------------------------------------------

class EntryTaken(ServiceError):
    """The name or code is another entry's: {field: message}, and that entry
    ({field: (id, name)}) for a link."""

    def __init__(self, errors: dict[str, str], holders: dict[str, tuple[int, str]]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors
        self.holders = holders


class EntryInUse(ServiceError):
    """Employees refer to the entry: it cannot be deleted."""

    def __init__(self, message: str, employees: int):
        super().__init__(message)
        self.message = message
        self.employees = employees


class EntryChanged(ServiceError):
    """Someone else changed the entry since the form was opened."""

    def __init__(self, current):
        super().__init__("changed meanwhile")
        self.current = current


class EntryGone(ServiceError):
    """The entry does not exist (deleted meanwhile)."""


@contextmanager
def list_change(kind: ListKind):
    """A transaction holding the list's lock; committed at the end, rolled
    back on any error. A name or code that another transaction took between
    our check and our write (an employee form creating a department) is
    refused like any other taken value."""
    try:
        db.session.execute(select(func.pg_advisory_xact_lock(LIST_LOCK_CLASS, KINDS.index(kind))))
        short_cache.changed_in_this_transaction()  # the list page's filter shows the change
        yield
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if not isinstance(error.orig, psycopg.errors.UniqueViolation):
            raise
        field = "code" if "code" in (db_errors.constraint_of(error) or "") else "name"
        raise EntryTaken({field: f"This {field} was just given to another {kind.label}: "
                                 "open the list again to see it."}, {}) from None
    except BaseException:
        db.session.rollback()
        raise


def taken_message(kind: ListKind, field: str, value: str, holder_name: str) -> str:
    if field == "name":
        return f"The {kind.label} {holder_name} is already in the list."
    return f"Code {value} is already the code of {holder_name}."


def _refuse_taken(kind: ListKind, name: str, code: str | None, own_id: int | None = None) -> None:
    """EntryTaken if another entry holds the name or the code (any case)."""
    model = kind.model
    wanted = [func.lower(model.name) == name.lower()]
    if code:
        wanted.append(func.lower(model.code) == code.lower())
    errors, holders = {}, {}
    for holder in db.session.execute(select(model).where(or_(*wanted))).scalars():
        if holder.id == own_id:
            continue
        for field, value, theirs in (("name", name, holder.name), ("code", code, holder.code)):
            if value and theirs and value.lower() == theirs.lower():
                errors[field] = taken_message(kind, field, value, holder.name)
                holders[field] = (holder.id, holder.name)
    if errors:
        raise EntryTaken(errors, holders)


def _record(kind: ListKind, entry_id: int, name: str, action: str, changes: dict, actor: User | None,
            source: str = "list") -> None:
    audit.record_entry_change(subject=kind.label, entry_pk=entry_id, entry_name=name, action=action,
                              source=source, changes=changes, actor=actor)


def add_entry(kind: ListKind, raw_name: str | None, raw_code: str | None, *, actor: User | None):
    """A new entry. Raises InvalidInput (422) or EntryTaken (409)."""
    name, code = _cleaned(kind, raw_name, raw_code)
    with list_change(kind):
        _refuse_taken(kind, name, code)
        new = kind.model(name=name, code=code)
        db.session.add(new)
        db.session.flush()
        _record(kind, new.id, name, "create", audit.creation_changes({"name": name, "code": code}), actor)
    return new


def update_entry(kind: ListKind, entry_id: int, raw_name: str | None, raw_code: str | None, *,
                 opened: tuple[str, str], actor: User | None) -> dict:
    """Rename and/or recode an entry (an empty code removes it); returns
    {field: [old, new]}, empty if nothing changed. `opened` is (name, code)
    as the form showed them: if the entry changed since, nothing is
    overwritten (EntryChanged). Raises InvalidInput, EntryTaken, EntryGone."""
    name, code = _cleaned(kind, raw_name, raw_code)
    with list_change(kind):
        current = db.session.get(kind.model, entry_id, with_for_update=True)
        if current is None:
            raise EntryGone()
        if (current.name, current.code or "") != opened:
            raise EntryChanged(current)
        _refuse_taken(kind, name, code, own_id=entry_id)
        changes = audit.diff({"name": current.name, "code": current.code}, {"name": name, "code": code},
                             audit.LIST_FIELDS)
        if changes:
            current.name, current.code = name, code
            _record(kind, entry_id, name, "update", changes, actor)
    return changes


def delete_entry(kind: ListKind, entry_id: int, *, actor: User | None) -> str:
    """Delete an entry no employee refers to; returns its name. Raises
    EntryInUse (saying where it is used) or EntryGone."""
    try:
        with list_change(kind):
            current = db.session.get(kind.model, entry_id, with_for_update=True)
            if current is None:
                raise EntryGone()
            name = current.name
            _refuse_used(kind, entry_id, name)
            db.session.delete(current)
            _record(kind, entry_id, name, "delete", audit.deletion_changes({"name": name, "code": current.code}),
                    actor)
    except IntegrityError:  # the foreign key (RESTRICT): someone was given the entry meanwhile
        _refuse_used(kind, entry_id, name)
        raise
    return name


def merge_entry(kind: ListKind, entry_id: int, raw_target: str | None, *, actor: User | None
                ) -> tuple[str, tuple[int, str], int]:
    """Move every employee of the entry to another entry already in the list,
    then delete it: how a typo a file brought in ("Finanse") is folded into
    the right one. One transaction: an audit entry per moved employee
    (source list, the field's old and new name, their version stepped so an
    edit form opened before is not saved over it), then the entry's
    deletion. Returns (its name, the target's (id, name), how many moved). Raises
    InvalidInput ({"target": ...}: none, not in the list, itself), EntryGone."""
    try:
        target_name = clean_name(kind, raw_target)
    except FieldProblem as problem:
        raise InvalidInput({"target": f"The {kind.label} to move them to {problem}"}) from None
    if not target_name:
        raise InvalidInput({"target": f"Type the {kind.label} to move its employees to."})
    with list_change(kind):
        current = db.session.get(kind.model, entry_id, with_for_update=True)
        if current is None:
            raise EntryGone()
        target = db.session.execute(select(kind.model).where(func.lower(kind.model.name) == target_name.lower())
                                    .with_for_update()).scalar_one_or_none()
        if target is None:
            raise InvalidInput({"target": f"There is no {kind.label} {shown(target_name)} in the list: choose one "
                                          f"of the list (to give {shown(current.name)} another name, rename it)."})
        if target.id == current.id:
            raise InvalidInput({"target": f"Choose another {kind.label} than {shown(current.name)} itself."})
        name, code, kept = current.name, current.code, (target.id, target.name)
        actor_id, actor_name = audit.actor_fields(actor)
        moved = db.session.execute(text(f"""
            WITH moved AS (
                UPDATE employees SET {kind.column} = :target, version = version + 1, updated_at = now()
                WHERE {kind.column} = :source RETURNING id, employee_id)
            INSERT INTO audit_log (actor_id, actor_name, subject, employee_pk, employee_id, action, source, changes)
            SELECT :actor_id, :actor_name, 'employee', id, employee_id, 'update', 'list',
                   jsonb_build_object(CAST(:field AS text), jsonb_build_array(CAST(:old AS text), CAST(:new AS text)))
            FROM moved"""), {"target": target.id, "source": entry_id, "actor_id": actor_id, "actor_name": actor_name,
                             "field": kind.field, "old": name, "new": target.name}).rowcount
        db.session.delete(current)
        _record(kind, entry_id, name, "delete", audit.deletion_changes({"name": name, "code": code}), actor)
    return name, kept, moved


def _refuse_used(kind: ListKind, entry_id: int, name: str) -> None:
    employees = _usage(kind, entry_id)[1]
    if employees:
        people = f"{employees:,} employee{'' if employees == 1 else 's'}"
        raise EntryInUse(f"{shown(name)} is the {kind.label} of {people}: merge it into another {kind.label}, "
                         "or move them first.", employees)
