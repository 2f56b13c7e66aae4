"""Adding, editing, deleting, finding and listing employees.

Every change writes its audit entry (services/audit.py) in the same
transaction, and writes Valkey only after PostgreSQL has committed."""
import re
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from sqlalchemy import (BigInteger, Date, Integer, String, and_, bindparam, func, literal, or_, select, text,
                        tuple_)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .. import clock, metrics
from ..extensions import db
from ..models import STATUSES, AuditEntry, Department, Employee, Job, User
from ..models.employee import (HIRE_DATE_OR_EARLIEST, HIRE_DATE_OR_LATEST, LAST_DAY_UNLESS_TERMINATED,
                               NATURAL_ID_KEY)
from ..valkey_store import ValkeyUnavailable, get_store
from . import audit, db_errors, duplicate_guard, lists, short_cache
from .employee_rules import EMPLOYEE_ID_RE, clean_employee, clean_one_field, normalize_email, normalize_employee_id
from .errors import DuplicateError, InvalidInput, ServiceError
from .pagination import BIGINT_MAX, BIGINT_MIN, INTEGER_MAX, INTEGER_MIN, Cursor, decode_cursor, encode_cursor
from .retry import retry_transient

STORED_FIELDS = ("employee_id", "first_name", "last_name", "email", "phone",
                 "employment_type", "location", "hire_date", "status", "termination_date")


@retry_transient
def create_employee(raw: dict, *, actor: User | None = None, source: str = "form",
                    before_commit=None) -> Employee:
    """Validate, refuse a duplicate before writing, insert with its audit
    entry, then index in Valkey. before_commit(employee), if given, runs
    just before the COMMIT (the API keeps its Idempotency-Key answer then).

    Raises InvalidInput (422) or DuplicateError (409)."""
    try:
        values = clean_employee(raw)
    except InvalidInput as error:
        raise _with_taken_values(raw, error) from None
    keys = {"employee_id": values["employee_id"], "email": values["email"]}
    taken = duplicate_guard.find_taken(keys)
    if taken:
        raise _duplicate(taken, source)

    employee = Employee(**{name: values[name] for name in STORED_FIELDS})
    try:
        employee.department = lists.entry(lists.DEPARTMENTS, values["department"], source=source, actor=actor)
        employee.job = lists.entry(lists.JOBS, values["job_title"], source=source, actor=actor)
        db.session.add(employee)
        db.session.flush()
        audit.record(employee_pk=employee.id, employee_id=employee.employee_id, action="create",
                     source=source, changes=audit.creation_changes(audit.snapshot(employee)), actor=actor)
        if before_commit is not None:
            before_commit(employee)
        db.session.commit()
    except (IntegrityError, DataError) as exc:
        db.session.rollback()
        raise _refusal(exc, keys, source) from None
    duplicate_guard.remember_values([keys])
    return employee


# The add form carries a token of its own (one per page load). Its add is
# remembered in Valkey under it for REPEAT_SECONDS, so that the same form
# sent again (a double click, a resend) is known for the add it already
# made, not refused as a new person with a taken ID. Without Valkey it is
# refused as before (409): nothing is ever added twice either way.
FORM_ADD_KEY = "form-add:{}"
FORM_TOKEN_RE = re.compile(r"[0-9a-f]{32}")
REPEAT_SECONDS = 300


def remember_form_add(token: str | None, employee: Employee) -> None:
    """Called before the add's COMMIT, so that a second send held up by the
    first one's unique index finds it once that commits."""
    if FORM_TOKEN_RE.fullmatch(token or ""):
        try:
            get_store().run(lambda client: client.set(FORM_ADD_KEY.format(token), employee.employee_id,
                                                      ex=REPEAT_SECONDS))
        except ValkeyUnavailable:
            pass


def added_by_this_form(token: str | None, raw: dict, error: DuplicateError) -> Employee | None:
    """The record this very form added, if that is all the refusal is about:
    every taken value held by it, unchanged since, holding exactly these
    values. None for a real duplicate."""
    holders = {taken.existing_employee_id for taken in error.taken}
    if len(holders) != 1 or not FORM_TOKEN_RE.fullmatch(token or ""):
        return None
    try:
        added = get_store().run(lambda client: client.get(FORM_ADD_KEY.format(token)))
    except ValkeyUnavailable:
        return None
    if added is None or added not in holders:
        return None
    employee = db.session.execute(select(Employee).where(Employee.employee_id == added)).scalar()
    if employee is None or employee.version != 1 or not _holds(employee, clean_employee(raw)):
        return None
    return employee


def _duplicate(taken: list, source: str) -> DuplicateError:
    """The refusal of a duplicate, counted by its path (form, edit) for /metrics."""
    metrics.duplicate_refused(source)
    return DuplicateError(taken)


def _refusal(error: IntegrityError | DataError, keys: dict, source: str) -> DuplicateError | InvalidInput:
    """A write PostgreSQL refused: a duplicate (409) for a unique constraint,
    else invalid input (422) in words, never the driver's message."""
    taken = duplicate_guard.taken_from_violation(error, keys)
    if taken is not None:
        return _duplicate(taken, source)
    _, field_name, reason = db_errors.row_refusal(error)
    return InvalidInput({field_name or "employee_id": reason})


def _with_taken_values(raw: dict, error: InvalidInput) -> InvalidInput:
    """A form with invalid fields also says, at once, that its ID or e-mail
    is taken (instead of only after the other fields are fixed)."""
    keys = {"employee_id": normalize_employee_id(raw.get("employee_id")),
            "email": normalize_email(raw.get("email"))}
    keys = {name: value for name, value in keys.items() if value and name not in error.errors}
    error.taken = duplicate_guard.find_taken(keys) if keys else []
    for taken in error.taken:
        error.errors[taken.field] = taken.message
    return error


@retry_transient
def get_employee(employee_id: str) -> Employee | None:
    employee_id = normalize_employee_id(employee_id)
    if not _possible_id(employee_id):
        return None
    return db.session.execute(select(Employee).where(Employee.employee_id == employee_id)).scalar_one_or_none()


def _possible_id(employee_id: str) -> bool:
    """Could a stored record have this (canonical) ID? Anything else, e.g. a
    NUL byte typed into a URL, matches nothing without asking PostgreSQL."""
    return 0 < len(employee_id) <= 32 and EMPLOYEE_ID_RE.match(employee_id) is not None


def list_departments() -> list[Department]:
    return list(db.session.execute(select(Department).order_by(func.lower(Department.name))).scalars())


@dataclass(frozen=True)
class DepartmentChoice:
    id: int
    name: str


_department_choices = short_cache.ShortCache()


def department_choices() -> list[DepartmentChoice]:
    """The departments for the list page's filter, alphabetically without
    regard to case; up to short_cache.SHORT_CACHE_SECONDS old."""
    return _department_choices.get(lambda: [
        DepartmentChoice(*row) for row in
        _read(select(Department.id, Department.name).order_by(func.lower(Department.name)))])


def check_employee_id(raw: str) -> Employee | None:
    """As-you-type check: the employee holding this ID, answered from Valkey
    and confirmed by PostgreSQL on a hit."""
    employee_id = normalize_employee_id(raw)
    if not _possible_id(employee_id):
        return None
    taken = duplicate_guard.find_taken({"employee_id": employee_id})
    return get_employee(employee_id) if taken else None


# --- editing and deleting: optimistic locking on the version column --------

class EmployeeGone(ServiceError):
    """The record no longer exists (deleted meanwhile)."""


@dataclass
class Conflict:
    """What happened to a record since someone opened it."""

    pk: int
    employee: Employee | None  # as stored now; None if it was deleted
    current: dict | None  # its values now (audit.snapshot)
    opened: dict | None  # its values when the person opened it; None if unknown
    since: list[AuditEntry] = field(default_factory=list)  # the changes since, oldest first
    mark: int = 0  # the newest audit entry id now: the `seen` of a new attempt

    @property
    def deleted(self) -> bool:
        return self.employee is None


class EditConflict(ServiceError):
    """The record changed (or went) after the person opened it: nothing was written."""

    def __init__(self, conflict: Conflict):
        super().__init__("The record was changed by someone else after you opened it.")
        self.conflict = conflict


class AlreadySaved(Exception):
    """A save from an older version whose values the record already holds:
    the same form sent twice (a double click, a resend), the first of which
    saved it. Nothing to write, and nothing to resolve."""

    def __init__(self, employee: Employee):
        super().__init__("The record already holds these values.")
        self.employee = employee


def _holds(employee: Employee, values: dict) -> bool:
    """Does the record hold exactly these cleaned values (as its history would show them)?"""
    return audit.snapshot(employee) == {name: audit.json_value(values[name]) for name in audit.AUDITED_FIELDS}


def _with_mark(*conditions) -> tuple[Employee, int] | None:
    """An employee and its newest audit entry id, read in one statement (one
    snapshot), so that the version and the mark belong together."""
    mark = (select(func.coalesce(func.max(AuditEntry.id), 0))
            .where(AuditEntry.employee_pk == Employee.id).scalar_subquery())
    row = db.session.execute(
        select(Employee, mark).where(*conditions).execution_options(populate_existing=True)
    ).first()
    return (row[0], row[1]) if row else None


@retry_transient
def get_for_edit(employee_id: str) -> tuple[Employee, int] | None:
    """The employee to show on an edit or delete page, with the audit mark
    the page carries (see load_conflict)."""
    employee_id = normalize_employee_id(employee_id)
    return _with_mark(Employee.employee_id == employee_id) if _possible_id(employee_id) else None


def load_conflict(pk: int, seen: int | None) -> Conflict:
    """The record now, and what changed since the page that showed it was
    opened (`seen`: the newest audit entry id then)."""
    found = _with_mark(Employee.id == pk)
    employee, mark = found if found else (None, audit.latest_entry_id(pk))
    current = audit.snapshot(employee) if employee is not None else None
    if seen is None:
        return Conflict(pk, employee, current, None, [], mark)
    since = [entry for entry in audit.entries_since(pk, seen) if entry.id <= mark]
    if employee is None and since and since[-1].action == "delete":
        current = audit.state_before(None, since[-1:])  # the values it had when deleted
    return Conflict(pk, employee, current, audit.state_before(current, since), since, mark)


@retry_transient
def update_employee(pk: int, raw: dict, *, expected_version: int, seen: int | None = None,
                    actor: User | None = None, source: str = "edit",
                    repeat_ok: bool = False) -> tuple[Employee, dict]:
    """Save an edited record if it is still at the version the person opened.

    The UPDATE carries `WHERE id = :pk AND version = :expected_version` (the
    model's version_id_col), so of two saves from the same version exactly one
    wins, across processes. Returns (employee, {field: [old, new]}); the
    changes are empty when nothing differed (nothing is written then).
    Raises InvalidInput (422), DuplicateError (409), EditConflict (409);
    with repeat_ok (the edit form), AlreadySaved instead of EditConflict
    when the newer record already holds exactly these values."""
    values = clean_employee(raw)
    employee = db.session.get(Employee, pk, populate_existing=True)
    if employee is None or employee.version != expected_version:
        _refuse_stale(employee, values, pk, seen, repeat_ok)

    before = audit.snapshot(employee)
    old_keys = {"employee_id": employee.employee_id, "email": employee.email}
    new_keys = {"employee_id": values["employee_id"], "email": values["email"]}
    changed_keys = {name: value for name, value in new_keys.items() if value and value != old_keys[name]}
    if changed_keys:
        taken = duplicate_guard.find_taken(changed_keys, exclude_pk=pk)
        if taken:
            db.session.rollback()
            raise _duplicate(taken, source)

    try:
        # The entries before any change: one UPDATE, one version step.
        department = lists.entry(lists.DEPARTMENTS, values["department"], source=source, actor=actor)
        job = lists.entry(lists.JOBS, values["job_title"], source=source, actor=actor)
        for name in STORED_FIELDS:
            setattr(employee, name, values[name])
        employee.department = department
        employee.job = job
        changes = audit.diff(before, audit.snapshot(employee))
        if not changes:
            db.session.rollback()
            return employee, {}
        db.session.flush()  # UPDATE ... WHERE id = :pk AND version = :expected_version
        audit.record(employee_pk=pk, employee_id=employee.employee_id, action="update",
                     source=source, changes=changes, actor=actor)
        db.session.commit()
    except StaleDataError:  # another save committed first
        db.session.rollback()
        _refuse_stale(db.session.get(Employee, pk, populate_existing=True), values, pk, seen, repeat_ok)
    except (IntegrityError, DataError) as exc:  # a unique value taken meanwhile, or a value refused
        db.session.rollback()
        raise _refusal(exc, new_keys, source) from None

    gone = {name: value for name, value in old_keys.items() if value and value != new_keys[name]}
    if changed_keys:
        duplicate_guard.remember_values([changed_keys])
    if gone:
        duplicate_guard.forget_values([gone])
    return employee, changes


def _refuse_stale(employee: Employee | None, values: dict, pk: int, seen: int | None, repeat_ok: bool):
    """The record moved on since the form was opened: AlreadySaved if it
    holds these very values (and the caller takes that), else EditConflict."""
    already = repeat_ok and employee is not None and _holds(employee, values)
    db.session.rollback()
    if already:
        raise AlreadySaved(employee)
    raise EditConflict(load_conflict(pk, seen))


@retry_transient
def delete_employee(pk: int, *, expected_version: int, seen: int | None = None,
                    actor: User | None = None, source: str = "delete") -> dict:
    """Delete the record if it is still at the version the confirmation page
    showed; the audit entry (with every old value) is written in the same
    transaction and remains. Returns the deleted values.
    Raises EmployeeGone, EditConflict."""
    employee = db.session.get(Employee, pk, populate_existing=True)
    if employee is None:
        db.session.rollback()
        raise EmployeeGone(f"Employee record {pk} does not exist.")
    if employee.version != expected_version:
        db.session.rollback()
        raise EditConflict(load_conflict(pk, seen))
    before = audit.snapshot(employee)
    keys = {"employee_id": employee.employee_id, "email": employee.email}
    # A record an import created keeps its import and row on its delete
    # entry: the change feed still gives its creation (services/change_feed.py).
    origin = {"import_id": employee.import_id, "import_row": employee.import_row}
    try:
        db.session.delete(employee)
        db.session.flush()  # DELETE ... WHERE id = :pk AND version = :expected_version
    except StaleDataError:
        db.session.rollback()
        raise EditConflict(load_conflict(pk, seen)) from None
    audit.record(employee_pk=pk, employee_id=keys["employee_id"], action="delete", source=source,
                 changes=audit.deletion_changes(before), actor=actor,
                 **(origin if origin["import_row"] is not None else {}))
    db.session.commit()
    duplicate_guard.forget_values([keys])
    return before


# --- bulk actions on the list ------------------------------------------------

BULK_FIELDS = ("status", "department")
MAX_BULK = 1000


@dataclass
class BulkResult:
    field: str
    value: str | None
    changed: list[str]  # employee IDs given the value
    unchanged: list[str]  # already had the value
    missing: list[str]  # selected, but no longer exist
    last_day: date | None = None  # terminated: the termination date given to...
    dated: list[str] = field(default_factory=list)  # ...these, who had none


def bulk_update(employee_ids: list[str], field_name: str, value: str | None, *,
                termination_date: str | None = None, actor: User | None = None) -> BulkResult:
    """Set one field (status or department) on the selected employees in one
    transaction, one audit entry (source 'bulk') per changed record. Setting
    the status to terminated needs a termination date, given to those of
    them who have none (a date already there is their real last day).

    The rows are locked (SELECT ... FOR UPDATE, in id order) so that a
    concurrent edit waits, then sees the new version. Raises InvalidInput."""
    if field_name not in BULK_FIELDS:
        raise InvalidInput({"action": "Choose an action: set status or set department."})
    ids = list(dict.fromkeys(i for i in (normalize_employee_id(raw) for raw in employee_ids) if i))
    impossible = [i for i in ids if not _possible_id(i)]
    ids = [i for i in ids if _possible_id(i)]
    if not ids and not impossible:
        raise InvalidInput({"ids": "Select at least one employee."})
    if len(ids) > MAX_BULK:
        raise InvalidInput({"ids": f"Select at most {MAX_BULK} employees at a time."})
    if field_name == "department" and not (value or "").strip():
        raise InvalidInput({"department": "Type the department to move the selected employees to."})
    last_day = None
    if field_name == "status" and clean_one_field("status", value) == "terminated":
        last_day = clean_one_field("termination_date", termination_date)
        if last_day is None:
            raise InvalidInput({"termination_date": "Type the termination date (the last day) to give the "
                                                    "selected employees who have none."})

    rows = db.session.execute(
        select(Employee).where(Employee.employee_id.in_(ids)).order_by(Employee.id)
        .with_for_update(of=Employee).execution_options(populate_existing=True)
    ).scalars().all()
    result = BulkResult(field_name, value, [], [], [], last_day)
    found = {employee.employee_id for employee in rows}
    result.missing = [i for i in ids if i not in found] + [repr(i)[1:-1][:40] for i in impossible]
    department: Department | None = None
    refused: list[str] = []  # each selected record the change cannot apply to, with why
    try:
        for employee in rows:
            before = audit.snapshot(employee)
            new_values = {field_name: value}
            if last_day is not None and before["termination_date"] is None:
                new_values["termination_date"] = last_day.isoformat()
            try:
                values = clean_employee(dict(before, **new_values))
            except InvalidInput as error:
                why = error.errors.get(field_name) or "; ".join(error.errors.values())
                refused.append(f"{employee.employee_id}: {why}")
                continue
            if refused:  # nothing is changed: only the others' problems are still looked for
                continue
            if field_name == "status":
                employee.status = values["status"]
                result.value = values["status"]
                if "termination_date" in new_values:
                    employee.termination_date = values["termination_date"]
                    result.dated.append(employee.employee_id)
            else:
                if department is None:
                    department = lists.entry(lists.DEPARTMENTS, values["department"], source="bulk",
                                             actor=actor)
                    result.value = department.name
                employee.department = department
            changes = audit.diff(before, audit.snapshot(employee))
            (result.changed if field_name in changes else result.unchanged).append(employee.employee_id)
            if not changes:
                continue
            db.session.flush()
            audit.record(employee_pk=employee.id, employee_id=employee.employee_id, action="update",
                         source="bulk", changes=changes, actor=actor)
        if refused:
            raise InvalidInput({field_name: _refused_records(refused)})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


# A refused bulk change names this many of the records it cannot apply to.
REFUSED_SHOWN = 5


def _refused_records(refused: list[str]) -> str:
    """Every record a bulk change cannot apply to, so that all are fixed in
    one go (up to REFUSED_SHOWN, then how many more)."""
    listed = " ".join(refused[:REFUSED_SHOWN])
    more = len(refused) - REFUSED_SHOWN
    if len(refused) == 1:
        return listed
    return f"{len(refused)} of the selected cannot take it. {listed}" + (f" And {more} more." if more > 0 else "")


# --- the list page: search, filter, sort, keyset pagination -----------------

# Each sort is a tuple of columns ending in a unique one, matching an index in
# models/employee.py, so any page is an index range scan (no OFFSET).
SORTS = {
    "employee_id": NATURAL_ID_KEY,
    "name": (Employee.last_name, Employee.first_name, Employee.id),
    "hire_date": (HIRE_DATE_OR_LATEST, Employee.id),
    "status": (Employee.status, Employee.last_name, Employee.first_name, Employee.id),
}
# Sorts whose descending order has a key of its own: records without a hire
# date stay last, so descending they count as the earliest date.
DESCENDING_SORTS = {"hire_date": (HIRE_DATE_OR_EARLIEST, Employee.id)}
COUNT_CAP = 1000
MAX_SEARCH_LENGTH = 100


def _read(statement):
    """Run one of the list's reads in the session's transaction through its
    Core connection: for plain rows the ORM's execution layer cost more than
    PostgreSQL's answer."""
    return db.session.connection().execute(statement)


def _sort_labels(columns) -> list:
    return [c.label(f"sort_{i}") for i, c in enumerate(columns)]


# The SQL of the list's plain pages (no search) by their shape, compiled once:
# (sort, its direction, the direction read, a department filter, a status
# filter, the attention filter, a cursor) -> (SQL, the statement's own
# constant parameters).
_plain_sql: dict[tuple, tuple[str, dict]] = {}


def _plain_rows(query: "EmployeeQuery", descending: bool, after: list | None, limit: int) -> list:
    """The next `limit` rows of the list without a search, in one SELECT.

    The most loaded page, so it skips what the other reads pay for: the
    statement is built and compiled once per shape, and it runs on a Core
    connection outside a transaction block: one round trip instead of three
    (BEGIN, the SELECT, the ROLLBACK at the end of the request), and none of
    the ORM session's bookkeeping. Together that was a fifth of the page's
    cost under load. Errors are SQLAlchemy's as elsewhere (connections.py
    repeats a GET whose connection was lost)."""
    columns = query.sort_key
    shape = (query.sort, query.descending, descending, query.department_id is not None,
             query.status is not None, query.attention, after is not None)
    compiled = _plain_sql.get(shape)
    if compiled is None:
        conditions = []
        if query.department_id is not None:
            conditions.append(Employee.department_id == bindparam("department_id", type_=Integer))
        if query.status is not None:
            conditions.append(Employee.status == bindparam("status", type_=String))
        if query.attention == PAST_LAST_DAY:
            conditions.append(past_last_day_condition(bindparam("today", type_=Date)))
        elif query.attention == NO_HIRE_DATE:
            conditions.append(Employee.hire_date.is_(None))
        if after is not None:
            key = tuple_(*columns)
            bound = tuple_(*(bindparam(f"after_{i}", type_=c.type) for i, c in enumerate(columns)))
            conditions.append(key < bound if descending else key > bound)
        statement = (_listed(*_sort_labels(columns)).where(*conditions)
                     .order_by(*(c.desc() if descending else c.asc() for c in columns))
                     .limit(bindparam("limit", type_=Integer)))
        sql = statement.compile(dialect=db.engine.dialect)
        compiled = _plain_sql[shape] = (str(sql), dict(sql.params))
    sql, params = compiled
    params = {**params, "limit": limit, "department_id": query.department_id, "status": query.status,
              "today": query.today, **{f"after_{i}": value for i, value in enumerate(after or ())}}
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.exec_driver_sql(sql, params).all()


# The list's "needs attention" filters (?attention=...): records that someone
# has to correct. past_last_day: still active or on leave after the
# termination date (employee_rules.past_last_day). no_hire_date: no hire
# date, so no report counts them (nothing says since when they are employed;
# read from ix_employees_no_hire_date).
PAST_LAST_DAY = "past_last_day"
NO_HIRE_DATE = "no_hire_date"
ATTENTIONS = (PAST_LAST_DAY, NO_HIRE_DATE)


@dataclass
class EmployeeQuery:
    q: str = ""
    department_id: int | None = None
    status: str | None = None
    attention: str | None = None  # one of ATTENTIONS
    sort: str = "name"
    descending: bool = False
    cursor: str | None = None  # an encoded Cursor from a previous page
    start: int | None = None  # the position of the cursor's page in the list, as its link says
    per_page: int = 50
    today: date = field(default_factory=clock.today)  # what past_last_day compares with

    def __post_init__(self):
        self.q = (self.q or "").strip()[:MAX_SEARCH_LENGTH]
        if self.sort not in SORTS:
            self.sort = "name"
        if self.status not in STATUSES:
            self.status = None
        if self.attention not in ATTENTIONS:
            self.attention = None

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.department_id or self.status or self.attention)

    @property
    def sort_key(self) -> tuple:
        if self.descending and self.sort in DESCENDING_SORTS:
            return DESCENDING_SORTS[self.sort]
        return SORTS[self.sort]


class ListedEmployee(NamedTuple):
    """What the list page shows of an employee: a plain row (SQLAlchemy Core
    and a tuple, not an ORM object), with its department's and job's names."""

    id: int
    employee_id: str
    first_name: str
    last_name: str
    email: str | None
    department_name: str | None
    job_title: str | None
    hire_date: date | None
    status: str
    termination_date: date | None  # with the status: still active after the last day? (list_rows)


LIST_COLUMNS = (Employee.id, Employee.employee_id, Employee.first_name, Employee.last_name, Employee.email,
                Department.name.label("department_name"), Job.name.label("job_title"), Employee.hire_date,
                Employee.status, Employee.termination_date)


def _listed(*sort_labels):
    """SELECT the list's columns, then the sort key (for the cursors)."""
    return (select(*LIST_COLUMNS, *sort_labels).select_from(Employee)
            .outerjoin(Department, Department.id == Employee.department_id)
            .outerjoin(Job, Job.id == Employee.job_id))


@dataclass
class EmployeePage:
    rows: list[ListedEmployee]
    next_cursor: str | None
    prev_cursor: str | None
    first_row: int | None  # the position of rows[0] in the list, from 1; None if the link did not say
    prev_start: int | None  # the first_row of the previous and next pages
    next_start: int | None
    total: int  # exact; up to COUNT_CAP for a search; or an estimate of the whole table
    total_is_estimate: bool
    total_is_capped: bool

    @property
    def last_row(self) -> int | None:
        return self.first_row + len(self.rows) - 1 if self.first_row else None


# A search first reads this many rows in the sort order (from the page's
# start) and keeps the matches: a common term (a popular name) finds its
# page there, and more than COUNT_CAP matches in it settle the count, with
# no trigram index scan at all. When the window holds too few matches (a
# rare term, or one that sorts late), every match is collected through the
# trigram index and only those are sorted. More than COUNT_CAP, so that the
# window can prove "more than 1,000".
SEARCH_WINDOW = 2_000
SHORT_QUERY = 3  # below this, the search matches whole words only


# "Vogt, Harold" and "vogt harold" find Harold Vogt: words separated by
# spaces or commas each match on their own, in any order (at most this many,
# the longest first: more adds cost, not precision).
SEARCH_WORDS_RE = re.compile(r"[^\s,]+")
MAX_SEARCH_WORDS = 5


def _literal(text_: str) -> str:
    """text_ as a LIKE pattern's literal part (no wildcards)."""
    return text_.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_condition(q: str):
    """search_text LIKE a pattern the trigram index can answer: a substring
    from 3 characters, a whole word (ID, first or last name) below that.
    Several words: the text as typed ("Harold V", matched as one substring
    so it can be typed letter by letter), or each word, a short one as a
    word's start."""
    if not q:
        return None
    words = sorted(set(SEARCH_WORDS_RE.findall(q.lower())), key=lambda word: (-len(word), word))
    if len(words) < 2:
        term = words[0] if words else q  # "Smith," is Smith; only commas match nothing
        if len(term) < SHORT_QUERY:
            return Employee.search_text.like(f"% {_literal(term)} %")
        return Employee.search_text.like(f"%{_literal(term)}%")
    each_word = [Employee.search_text.like(f"%{_literal(word)}%" if len(word) >= SHORT_QUERY
                                           else f"% {_literal(word)}%") for word in words[:MAX_SEARCH_WORDS]]
    return or_(Employee.search_text.like(f"%{_literal(q)}%"), and_(*each_word))


def past_last_day_condition(today):
    """employee_rules.past_last_day in SQL: active or on leave, and the
    termination date before `today` (a date, or a bound parameter), read
    from ix_employees_past_last_day (models/employee.py)."""
    return LAST_DAY_UNLESS_TERMINATED < today


def _filters(query: EmployeeQuery) -> list:
    conditions = []
    if query.department_id:
        conditions.append(Employee.department_id == query.department_id)
    if query.status:
        conditions.append(Employee.status == query.status)
    if query.attention == PAST_LAST_DAY:
        conditions.append(past_last_day_condition(query.today))
    elif query.attention == NO_HIRE_DATE:
        conditions.append(Employee.hire_date.is_(None))
    return conditions


@retry_transient
def count_past_last_day(today: date) -> tuple[int, bool]:
    """How many records are still active or on leave after their termination
    date, for the home page: (count, is_capped), counted up to
    FILTER_COUNT_CAP in one statement, a range of ix_employees_past_last_day
    (its statistics lead the planner there: no SET enable_seqscan first)."""
    capped = select(Employee.id).where(past_last_day_condition(today)).limit(FILTER_COUNT_CAP + 1).subquery()
    count = _read(select(func.count()).select_from(capped)).scalar_one()
    return min(count, FILTER_COUNT_CAP), count > FILTER_COUNT_CAP


@retry_transient
def search_employees(query: EmployeeQuery) -> EmployeePage:
    columns = query.sort_key
    conditions = _filters(query)
    matches = _search_condition(query.q)
    cursor = decode_cursor(query.cursor, len(columns))
    after = _typed(columns, cursor.values) if cursor else None
    if after is None:
        cursor = None
    # Walking backwards (the "previous" link) reverses the order, then the rows.
    backwards = cursor is not None and cursor.backwards
    descending = query.descending != backwards

    limit = query.per_page + 1
    counted = None
    if matches is None:
        results = _plain_rows(query, descending, after if cursor is not None else None, limit)
    else:
        bounds = list(conditions)
        if cursor is not None:
            key, bound = tuple_(*columns), tuple_(*(literal(v, type_=c.type) for c, v in zip(columns, after)))
            bounds.append(key < bound if descending else key > bound)
        labels = _sort_labels(columns)
        results, counted = _search_page(conditions, bounds, matches, labels, descending, limit,
                                        from_start=cursor is None)
    has_more = len(results) > query.per_page
    results = results[: query.per_page]
    if backwards:
        results.reverse()

    more_after = has_more if not backwards else True
    more_before = cursor is not None if not backwards else has_more
    if counted:
        total, estimate, capped = counted
    elif cursor is None and not has_more:
        total, estimate, capped = len(results), False, False  # the whole result is on this page
    else:
        total, estimate, capped = _count(conditions, search=False)
    # A keyset page does not know its offset: its link says (start); a page
    # with nothing before it is the first.
    first_row = (query.start if more_before else 1) if results else None
    width = len(LIST_COLUMNS)  # then the sort key, for the cursors
    return EmployeePage(
        rows=[ListedEmployee._make(row[:width]) for row in results],
        next_cursor=_cursor_at(results[-1], backwards=False) if results and more_after else None,
        prev_cursor=_cursor_at(results[0], backwards=True) if results and more_before else None,
        first_row=first_row,
        prev_start=max(1, first_row - query.per_page) if first_row else None,
        next_start=first_row + len(results) if first_row else None,
        total=total, total_is_estimate=estimate, total_is_capped=capped,
    )


def _search_page(conditions: list, bounds: list, matches, labels: list, descending: bool, limit: int, *,
                 from_start: bool) -> tuple[list, tuple[int, bool, bool]]:
    """The next `limit` matching rows in sort order, and the search's count
    (count, is_estimate, is_capped), in bounded steps, so that no search reads
    the whole table whatever the planner estimates. `from_start`: the page is
    the first (bounds are the filters alone), so what is read counts all
    matches."""
    def in_order(table):
        return [table.c[label.name].desc() if descending else table.c[label.name].asc()
                for label in labels]

    def ids_in_order(table, *where):
        """The ids of the first `limit` rows of table in sort order, as an array."""
        first = select(table.c.id, *(table.c[label.name] for label in labels)).where(*where) \
            .order_by(*in_order(table)).limit(limit).subquery()
        return select(func.array_agg(aggregate_order_by(first.c.id, *in_order(first)))).scalar_subquery()

    _prefer_indexes()
    # 1. The window: the next SEARCH_WINDOW rows in sort order (an index range
    #    scan), how many it held, how many of them match, the first matches.
    window = (select(Employee.id, matches.label("hit"), *labels).where(*bounds)
              .order_by(*(label.element.desc() if descending else label.element.asc() for label in labels))
              .limit(SEARCH_WINDOW).cte("window").prefix_with("MATERIALIZED"))
    read, hits, ids = _read(select(
        select(func.count()).select_from(window).scalar_subquery(),
        select(func.count()).select_from(window).where(window.c.hit).scalar_subquery(),
        ids_in_order(window, window.c.hit))).one()
    ids = ids or []
    if hits > COUNT_CAP:
        counted = (COUNT_CAP, False, True)  # more than COUNT_CAP in the window alone
    elif read < SEARCH_WINDOW and from_start:
        counted = (hits, False, False)  # the window held every row: every match is in it
    elif read < SEARCH_WINDOW or len(ids) == limit:
        counted = _count([*conditions, matches], search=True)  # the page is complete
    else:
        # 2. Too few matches in the window: collect every match after the
        #    page's start through the trigram index (MATERIALIZED keeps the
        #    planner from walking the sort index again) and sort just those.
        found = select(Employee.id, *labels).where(*bounds, matches).cte("found").prefix_with("MATERIALIZED")
        total, ids = _read(select(select(func.count()).select_from(found).scalar_subquery(),
                                  ids_in_order(found))).one()
        ids = ids or []
        counted = ((min(total, COUNT_CAP), False, total > COUNT_CAP) if from_start
                   else _count([*conditions, matches], search=True))
    if not ids:
        return [], counted
    # One array parameter, not an IN list of 51: psycopg converts a statement
    # of more than 50 parameters anew on every call instead of from its cache.
    page_ids = bindparam("page_ids", ids, type_=ARRAY(Employee.id.type))
    rows = _read(_listed(*labels).where(Employee.id == func.any(page_ids))).all()
    position = {pk: i for i, pk in enumerate(ids)}
    return sorted(rows, key=lambda row: position[row.id]), counted


def _prefer_indexes() -> None:
    """Make a sequential scan the planner's last resort for the rest of this
    transaction (the request's): the list's searches and counts are bounded
    index reads, which a planner misled by its sample could otherwise turn
    into a scan of the whole table. Sent once per transaction: each SET was
    a round trip of its own."""
    session = db.session()
    if session.info.get("seqscan_off") is not session.get_transaction() or session.get_transaction() is None:
        _read(text("SET LOCAL enable_seqscan = off"))
        session.info["seqscan_off"] = session.get_transaction()


def cursor_fits(query: EmployeeQuery) -> bool:
    """Is the query's cursor one of this list's (its sort)? The list page
    shows the first page for a tampered link; a program is told (the API's 422)."""
    columns = query.sort_key
    cursor = decode_cursor(query.cursor, len(columns))
    return cursor is not None and _typed(columns, cursor.values) is not None


def _cursor_at(row, *, backwards: bool) -> str:
    values = [v.isoformat() if isinstance(v, date) else v for v in row[len(LIST_COLUMNS):]]
    return encode_cursor(Cursor(values, backwards))


def _typed(columns, values: list) -> list | None:
    """Cursor values (checked by decode_cursor) as values of their column's
    type; None if a value does not fit the column, e.g. a number beyond an
    integer's range (a tampered link shows the first page)."""
    typed = []
    for column, value in zip(columns, values):
        try:
            if isinstance(column.type, Date):
                value = date.fromisoformat(str(value))
            elif isinstance(column.type, Integer):
                value = int(value)
                low, high = ((BIGINT_MIN, BIGINT_MAX) if isinstance(column.type, BigInteger)
                             else (INTEGER_MIN, INTEGER_MAX))
                if not low <= value <= high:
                    return None
            else:
                value = str(value)
        except ValueError:
            return None
        typed.append(value)
    return typed


# The planner's estimate of the whole table (pg_class.reltuples), kept up to
# short_cache.SHORT_CACHE_SECONDS: it moves only with ANALYZE anyway.
_table_estimate = short_cache.ShortCache()


# A department or status filter is counted exactly up to this many rows
# (from an index alone: a few milliseconds); a larger one is shown as
# PostgreSQL's estimate, "about 880,000", instead of counting every entry
# (about 35 ms for 880,000 rows on a quiet machine, 90 under load).
FILTER_COUNT_CAP = 50_000


def _count(conditions: list, *, search: bool) -> tuple[int, bool, bool]:
    """(count, is_estimate, is_capped): never a full count of a large table.

    A search is counted up to COUNT_CAP (its matches are checked row by row);
    the status and department filters exactly up to FILTER_COUNT_CAP, from
    an index alone, and beyond that as the planner's estimate to two
    significant digits (or "more than FILTER_COUNT_CAP" should the estimate
    be lower than what was counted); the whole table like a filter, from the
    planner's estimate alone once that is past FILTER_COUNT_CAP (an estimate
    shown to the last digit would pass for a count, and go stale between
    ANALYZEs)."""
    if not search:
        if not conditions:
            estimate = _table_estimate.get(lambda: _read(
                text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'employees'::regclass")).scalar_one())
            if estimate > FILTER_COUNT_CAP:
                return _two_significant_digits(estimate), True, False
        count = _capped_count(conditions, FILTER_COUNT_CAP)
        if count <= FILTER_COUNT_CAP:
            return count, False, False
        estimate = _estimated_rows(conditions) if conditions else 0
        if estimate > FILTER_COUNT_CAP:
            return _two_significant_digits(estimate), True, False
        return FILTER_COUNT_CAP, False, True
    count = _capped_count(conditions, COUNT_CAP)
    return min(count, COUNT_CAP), False, count > COUNT_CAP


def _capped_count(conditions: list, cap: int) -> int:
    """The number of matching rows, counted up to cap + 1 (with conditions:
    from an index; without, the table is small: see _count)."""
    if conditions:
        _prefer_indexes()
    capped = select(Employee.id).where(*conditions).limit(cap + 1).subquery()
    return _read(select(func.count()).select_from(capped)).scalar_one()


def _estimated_rows(conditions: list) -> int:
    """The planner's estimate of the rows matching the filters (from the
    column statistics ANALYZE keeps), without reading them. The filters'
    values are a status from STATUSES, a department number and a date, so
    they are written into the EXPLAIN as literals."""
    statement = select(Employee.id).where(*conditions).compile(
        dialect=db.session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    plan = _read(text(f"EXPLAIN (FORMAT JSON) {statement}")).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def _two_significant_digits(number: int) -> int:
    """880,123 -> 880,000: an estimate shown no more exactly than it is."""
    return round(number, -(len(str(number)) - 2)) if number >= 100 else number


def filter_conditions(query: EmployeeQuery) -> list:
    """The WHERE conditions of the list page's search and filters (for the export)."""
    matches = _search_condition(query.q)
    return _filters(query) + ([matches] if matches is not None else [])
