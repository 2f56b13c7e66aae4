"""The duplicate guard: one protocol for every path that stores employees.

PostgreSQL's unique constraints are the guarantee; Valkey holds the sets of
taken employee IDs and e-mails so that "already exists" is answered before any
SQL runs. The rules (DESIGN.md):

- a Valkey hit is confirmed in PostgreSQL before it is reported; a stale hit
  is removed from the set;
- a miss is trusted for the quick answer, and the INSERT's unique violation
  catches whatever Valkey missed (that value is then added to the set);
- Valkey is written only after PostgreSQL has committed;
- without Valkey everything runs on PostgreSQL alone (the app is "degraded");
- when the sets are missing (flushed, restarted empty) they are rebuilt from
  PostgreSQL in the background and swapped in atomically.
"""
import logging
import threading
import uuid

from flask import current_app
from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Employee
from ..valkey_store import ValkeyUnavailable, get_store
from .errors import Taken

log = logging.getLogger(__name__)

IDS_KEY = "employees:ids"
EMAILS_KEY = "employees:emails"
# Set by a completed rebuild; without it the sets are not trusted.
READY_KEY = "employees:index:ready"
REBUILD_LOCK_KEY = "employees:index:rebuild-lock"
SET_KEYS = {"employee_id": IDS_KEY, "email": EMAILS_KEY}
# Constraint name -> field, for reading unique violations.
CONSTRAINT_FIELDS = {"uq_employees_employee_id": "employee_id", "uq_employees_email": "email"}
REBUILD_BATCH = 10_000


def find_taken(values: dict[str, str | None], *, exclude_pk: int | None = None) -> list[Taken]:
    """Which of these values (employee_id, email) does another stored employee hold?"""
    values = {field: value for field, value in values.items() if value}
    store = get_store()
    try:
        hits = store.run(lambda client: _ask_index(client, values))
    except ValkeyUnavailable:
        return _taken_in_postgres(values, exclude_pk)

    if hits is None:  # the sets are missing: answer from PostgreSQL, repair them
        schedule_rebuild()
        taken = _taken_in_postgres(values, exclude_pk)
        remember_values([{t.field: t.value} for t in taken])
        return taken

    candidates = {field: values[field] for field, hit in hits.items() if hit}
    taken = _taken_in_postgres(candidates, exclude_pk) if candidates else []
    confirmed = {t.field for t in taken}
    stale = {field: value for field, value in candidates.items() if field not in confirmed}
    if stale and exclude_pk is None:
        _forget_stale(stale)
    return taken


def _ask_index(client, values: dict[str, str]) -> dict[str, bool] | None:
    store = get_store()
    if store.missed_writes:  # writes were lost while Valkey was down
        store.missed_writes = False
        client.delete(READY_KEY)
    pipe = client.pipeline(transaction=False)
    pipe.exists(READY_KEY)
    for field, value in values.items():
        pipe.sismember(SET_KEYS[field], value)
    ready, *answers = pipe.execute()
    if not ready:
        return None
    return dict(zip(values, (bool(a) for a in answers)))


def _taken_in_postgres(values: dict[str, str], exclude_pk: int | None) -> list[Taken]:
    if not values:
        return []
    conditions = [getattr(Employee, field) == value for field, value in values.items()]
    query = select(Employee.id, Employee.employee_id, Employee.email,
                   Employee.first_name, Employee.last_name).where(or_(*conditions))
    if exclude_pk is not None:
        query = query.where(Employee.id != exclude_pk)
    taken = []
    for row in db.session.execute(query):
        for field, value in values.items():
            if getattr(row, field) == value:
                taken.append(Taken(field, value, row.employee_id, f"{row.first_name} {row.last_name}"))
    return taken


def taken_from_violation(error: IntegrityError, values: dict[str, str | None]) -> list[Taken] | None:
    """Read a unique violation raised by an INSERT or UPDATE as a duplicate.

    Returns None when the error is not one of the employee unique constraints.
    The caller must have rolled the session back."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    field = CONSTRAINT_FIELDS.get(constraint)
    if field is None:
        return None
    value = values[field]
    taken = _taken_in_postgres({field: value}, None)
    if not taken:  # the holder was removed since: still a duplicate at that moment
        taken = [Taken(field, value, value if field == "employee_id" else "", "another employee")]
    remember_values([{field: value}])  # Valkey missed it: repair the set
    return taken


def remember_values(records: list[dict[str, str | None]]) -> None:
    """After commit: add the records' employee IDs and e-mails to the sets."""
    _write_sets("sadd", records)


def forget_values(records: list[dict[str, str | None]]) -> None:
    """After a delete (or an ID change) commits: drop the old values."""
    _write_sets("srem", records)


def _write_sets(command: str, records: list[dict[str, str | None]]) -> None:
    members = {field: [r[field] for r in records if r.get(field)] for field in SET_KEYS}
    if not any(members.values()):
        return
    store = get_store()

    def write(client):
        pipe = client.pipeline(transaction=False)
        for field, values in members.items():
            if values:
                getattr(pipe, command)(SET_KEYS[field], *values)
        pipe.execute()

    try:
        store.run(write)
    except ValkeyUnavailable:
        store.missed_writes = True


def _forget_stale(stale: dict[str, str]) -> None:
    log.info("Removing stale Valkey entries: %s", stale)
    forget_values([stale])


def schedule_rebuild() -> bool:
    """Start a background rebuild unless one is running somewhere already."""
    store = get_store()
    try:
        acquired = store.run(lambda client: client.set(REBUILD_LOCK_KEY, uuid.uuid4().hex, nx=True, ex=600))
    except ValkeyUnavailable:
        return False
    if not acquired:
        return False
    app = current_app._get_current_object()

    def run():
        with app.app_context():
            try:
                rebuild_index()
            except Exception:  # logged, the next miss schedules another try
                log.exception("Rebuilding the Valkey employee index failed")
            finally:
                try:
                    get_store().run(lambda client: client.delete(REBUILD_LOCK_KEY))
                except ValkeyUnavailable:
                    pass
                db.session.remove()

    threading.Thread(target=run, name="rebuild-employee-index", daemon=True).start()
    return True


def rebuild_index() -> int:
    """Fill fresh sets from PostgreSQL and swap them in atomically.

    Returns the number of employees indexed. Writes that commit while the
    rebuild reads are caught up after the swap."""
    client = get_store().client  # a rebuild without Valkey has nothing to do: let errors show
    suffix = uuid.uuid4().hex
    tmp_keys = {field: f"{key}:rebuild:{suffix}" for field, key in SET_KEYS.items()}
    started = db.session.execute(text("SELECT clock_timestamp() - interval '1 minute'")).scalar_one()
    filled = {field: 0 for field in SET_KEYS}
    count = 0
    rows = db.session.execute(
        select(Employee.employee_id, Employee.email).execution_options(yield_per=REBUILD_BATCH)
    )
    for batch in rows.partitions():
        pipe = client.pipeline(transaction=False)
        ids = [r.employee_id for r in batch]
        emails = [r.email for r in batch if r.email]
        pipe.sadd(tmp_keys["employee_id"], *ids)
        if emails:
            pipe.sadd(tmp_keys["email"], *emails)
        pipe.execute()
        filled["employee_id"] += len(ids)
        filled["email"] += len(emails)
        count += len(batch)
    db.session.rollback()

    pipe = client.pipeline(transaction=True)
    for field, key in SET_KEYS.items():
        if filled[field]:
            pipe.rename(tmp_keys[field], key)
        else:
            pipe.delete(key)
    pipe.set(READY_KEY, started.isoformat())
    pipe.execute()

    recent = db.session.execute(
        select(Employee.employee_id, Employee.email).where(Employee.updated_at >= started)
    ).all()
    db.session.rollback()
    remember_values([{"employee_id": r.employee_id, "email": r.email} for r in recent])
    log.info("Valkey employee index rebuilt: %d employees", count)
    return count
