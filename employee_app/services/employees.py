"""Adding, finding and listing employees."""
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, Integer, func, literal, select, text, tuple_
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import STATUSES, Department, Employee, User
from . import duplicate_guard
from .employee_rules import clean_employee, normalize_employee_id
from .errors import DuplicateError
from .pagination import Cursor, decode_cursor, encode_cursor

STORED_FIELDS = ("employee_id", "first_name", "last_name", "email", "phone", "job_title",
                 "employment_type", "location", "hire_date", "status", "termination_date")


def create_employee(raw: dict, *, actor: User | None = None) -> Employee:
    """Validate, refuse a duplicate before writing, insert, then index in Valkey.

    Raises InvalidInput (422) or DuplicateError (409)."""
    values = clean_employee(raw)
    keys = {"employee_id": values["employee_id"], "email": values["email"]}
    taken = duplicate_guard.find_taken(keys)
    if taken:
        raise DuplicateError(taken)

    employee = Employee(**{field: values[field] for field in STORED_FIELDS})
    try:
        employee.department_id = ensure_department(values["department"])
        db.session.add(employee)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        taken = duplicate_guard.taken_from_violation(exc, keys)
        if taken is None:
            raise
        raise DuplicateError(taken) from exc
    duplicate_guard.remember_values([keys])
    return employee


def ensure_department(name: str | None) -> int | None:
    """The id of the department with this name (any case), created if new.

    Runs in the caller's transaction; concurrent creators meet in ON CONFLICT."""
    if not name:
        return None
    db.session.execute(
        text("INSERT INTO departments (name) VALUES (:name) ON CONFLICT ((lower(name))) DO NOTHING"),
        {"name": name},
    )
    return db.session.execute(
        select(Department.id).where(func.lower(Department.name) == name.lower())
    ).scalar_one()


def get_employee(employee_id: str) -> Employee | None:
    return db.session.execute(
        select(Employee).where(Employee.employee_id == normalize_employee_id(employee_id))
    ).scalar_one_or_none()


def list_departments() -> list[Department]:
    return list(db.session.execute(select(Department).order_by(func.lower(Department.name))).scalars())


def check_employee_id(raw: str) -> Employee | None:
    """As-you-type check: the employee holding this ID, answered from Valkey
    and confirmed by PostgreSQL on a hit."""
    employee_id = normalize_employee_id(raw)
    if not employee_id:
        return None
    taken = duplicate_guard.find_taken({"employee_id": employee_id})
    return get_employee(employee_id) if taken else None


# --- the list page: search, filter, sort, keyset pagination -----------------

# Each sort is a tuple of columns ending in a unique one, matching an index in
# models/employee.py, so any page is an index range scan (no OFFSET).
SORTS = {
    "employee_id": (Employee.employee_id,),
    "name": (Employee.last_name, Employee.first_name, Employee.id),
    "hire_date": (func.coalesce(Employee.hire_date, text("'9999-12-31'::date")), Employee.id),
    "status": (Employee.status, Employee.last_name, Employee.first_name, Employee.id),
}
COUNT_CAP = 1000


@dataclass
class EmployeeQuery:
    q: str = ""
    department_id: int | None = None
    status: str | None = None
    sort: str = "name"
    descending: bool = False
    cursor: str | None = None  # an encoded Cursor from a previous page
    per_page: int = 50

    def __post_init__(self):
        self.q = (self.q or "").strip()[:100]
        if self.sort not in SORTS:
            self.sort = "name"
        if self.status not in STATUSES:
            self.status = None


@dataclass
class EmployeePage:
    rows: list[Employee]
    next_cursor: str | None
    prev_cursor: str | None
    total: int  # exact up to COUNT_CAP, or an estimate
    total_is_estimate: bool
    total_is_capped: bool


# A search walks the sort order's index for at most this many rows looking
# for a page of matches; when they are rarer than that (or all sort late),
# it collects the matches through the trigram index and sorts only those.
SEARCH_WINDOW = 20_000
SHORT_QUERY = 3  # below this, the search matches whole words only


def _search_condition(q: str):
    """search_text LIKE a pattern the trigram index can answer: a substring
    from 3 characters, a whole word (ID, first or last name) below that."""
    if not q:
        return None
    literal_text = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if len(q) < SHORT_QUERY:
        return Employee.search_text.like(f"% {literal_text} %")
    return Employee.search_text.like(f"%{literal_text}%")


def _filters(query: EmployeeQuery) -> list:
    conditions = []
    if query.department_id:
        conditions.append(Employee.department_id == query.department_id)
    if query.status:
        conditions.append(Employee.status == query.status)
    return conditions


def search_employees(query: EmployeeQuery) -> EmployeePage:
    columns = SORTS[query.sort]
    conditions = _filters(query)
    matches = _search_condition(query.q)
    cursor = decode_cursor(query.cursor, len(columns))
    after = _typed(columns, cursor.values) if cursor else None
    if after is None:
        cursor = None
    # Walking backwards (the "previous" link) reverses the order, then the rows.
    backwards = cursor is not None and cursor.backwards
    descending = query.descending != backwards

    bounds = list(conditions)
    if cursor is not None:
        key, bound = tuple_(*columns), tuple_(*after)
        bounds.append(key < bound if descending else key > bound)
    order = [c.desc() if descending else c.asc() for c in columns]
    limit = query.per_page + 1
    labels = [c.label(f"sort_{i}") for i, c in enumerate(columns)]
    if matches is None:
        stmt = select(Employee, *labels).where(*bounds).order_by(*order).limit(limit)
        results = db.session.execute(stmt).all()
    else:
        results = _search_page(bounds, matches, labels, descending, limit)
    has_more = len(results) > query.per_page
    results = results[: query.per_page]
    if backwards:
        results.reverse()

    more_after = has_more if not backwards else True
    more_before = cursor is not None if not backwards else has_more
    if cursor is None and not has_more:
        total, estimate, capped = len(results), False, False  # the whole result is on this page
    else:
        total, estimate, capped = _count(conditions if matches is None else [*conditions, matches])
    return EmployeePage(
        rows=[row[0] for row in results],
        next_cursor=_cursor_at(results[-1], backwards=False) if results and more_after else None,
        prev_cursor=_cursor_at(results[0], backwards=True) if results and more_before else None,
        total=total, total_is_estimate=estimate, total_is_capped=capped,
    )


def _search_page(bounds: list, matches, labels: list, descending: bool, limit: int) -> list:
    """The next `limit` matching rows in sort order, in two bounded steps, so
    that no search reads the whole table whatever the planner estimates."""
    def in_order(table):
        return [table.c[label.name].desc() if descending else table.c[label.name].asc()
                for label in labels]

    # 1. Walk the sort index for SEARCH_WINDOW rows and keep the matches:
    #    quick when matches are common and spread out.
    window = (select(Employee.id, matches.label("hit"), *labels).where(*bounds)
              .order_by(*(label.element.desc() if descending else label.element.asc()
                          for label in labels))
              .limit(SEARCH_WINDOW).subquery("window"))
    ids = db.session.execute(
        select(window.c.id).where(window.c.hit).order_by(*in_order(window)).limit(limit)
    ).scalars().all()
    if len(ids) < limit:
        # 2. Too few in the window: collect every match through the trigram
        #    index (MATERIALIZED keeps the planner from walking the sort index
        #    again) and sort just those.
        found = (select(Employee.id, *labels).where(*bounds, matches)
                 .cte("found").prefix_with("MATERIALIZED"))
        with _index_scans_only():
            ids = db.session.execute(
                select(found.c.id).order_by(*in_order(found)).limit(limit)
            ).scalars().all()
    if not ids:
        return []
    rows = db.session.execute(select(Employee, *labels).where(Employee.id.in_(ids))).all()
    position = {pk: i for i, pk in enumerate(ids)}
    return sorted(rows, key=lambda row: position[row[0].id])


@contextmanager
def _index_scans_only():
    """Make a sequential scan the planner's last resort for one statement."""
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    try:
        yield
    finally:
        db.session.execute(text("SET LOCAL enable_seqscan = on"))


def _cursor_at(row, *, backwards: bool) -> str:
    values = [v.isoformat() if isinstance(v, date) else v for v in row[1:]]
    return encode_cursor(Cursor(values, backwards))


def _typed(columns, values: list) -> list | None:
    """Cursor values as bound parameters of their column's type; None if a
    value does not fit (a tampered link shows the first page)."""
    typed = []
    for column, value in zip(columns, values):
        try:
            if isinstance(column.type, Date):
                value = date.fromisoformat(str(value))
            elif isinstance(column.type, Integer):
                value = int(value)
            else:
                value = str(value)
        except ValueError:
            return None
        typed.append(literal(value, type_=column.type))
    return typed


def _count(conditions: list) -> tuple[int, bool, bool]:
    """(count, is_estimate, is_capped): never a full count of a large table."""
    if not conditions:
        estimate = db.session.execute(
            text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'employees'::regclass")
        ).scalar_one()
        if estimate > COUNT_CAP:
            return estimate, True, False
    capped = select(Employee.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    with _index_scans_only():
        count = db.session.execute(select(func.count()).select_from(capped)).scalar_one()
    return min(count, COUNT_CAP), False, count > COUNT_CAP
