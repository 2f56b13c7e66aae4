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
  PostgreSQL in the background and swapped in atomically;
- when a write to the sets fails (Valkey down or hung), the fact is kept in
  PostgreSQL (valkey_index_state.missed_writes_since), where every process
  and every retry sees it: the first process that finds Valkey answering
  again withdraws the sets' "ready" mark and starts a rebuild, and only a
  rebuild that began after the miss clears it.
"""
import logging
import threading
import time
import uuid
from datetime import datetime

from flask import current_app
from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Employee
from ..valkey_store import VALKEY_ERRORS, ValkeyUnavailable, get_store
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
# A rebuild holds its lock this long past its last sign of life, and its
# temporary sets live this long: a rebuild that dies leaves nothing for long.
REBUILD_LOCK_SECONDS = 60
REBUILD_TMP_SECONDS = 600
# How often a process looks in PostgreSQL for writes another process missed.
MISSED_WRITES_CHECK_SECONDS = 1.0
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


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
    _repair_if_writes_were_missed(client)
    pipe = client.pipeline(transaction=False)
    pipe.exists(READY_KEY)
    for field, value in values.items():
        pipe.sismember(SET_KEYS[field], value)
    ready, *answers = pipe.execute()
    if not ready:
        return None
    return dict(zip(values, (bool(a) for a in answers)))


def _repair_if_writes_were_missed(client) -> None:
    """If writes to the sets were missed after the present sets were built,
    withdraw their "ready" mark (everyone then asks PostgreSQL) and rebuild.
    Looked up in PostgreSQL at most every few seconds per process, at once
    in the process that missed a write."""
    store = get_store()
    now = time.monotonic()
    if not store.repair_due and now < store.next_missed_writes_check:
        return
    store.next_missed_writes_check = now + MISSED_WRITES_CHECK_SECONDS
    missed = db.session.execute(text("SELECT missed_writes_since FROM valkey_index_state")).scalar()
    if missed is not None:
        built = client.get(READY_KEY)
        if built is None or missed > datetime.fromisoformat(built):
            client.delete(READY_KEY)  # raises if Valkey is away again: the fact stays for the next try
            schedule_rebuild()
    store.repair_due = False


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


def remember_keys(ids: list[str], emails: list[str]) -> None:
    """remember_values for an import's batch: its IDs and (non-empty) e-mails as lists."""
    _write_members("sadd", {"employee_id": ids, "email": emails})


def _write_sets(command: str, records: list[dict[str, str | None]]) -> None:
    _write_members(command, {field: [r[field] for r in records if r.get(field)] for field in SET_KEYS})


def _write_members(command: str, members: dict[str, list[str]]) -> None:
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
        note_missed_writes()


def note_missed_writes() -> None:
    """Keep in PostgreSQL that the sets miss a write (see the module's doc),
    and withdraw their "ready" mark at once if Valkey takes that (it may
    answer but refuse writes, e.g. when out of memory)."""
    store = get_store()
    store.repair_due = True
    with db.engine.connect() as conn:  # its own transaction: the caller's has committed already
        conn.execute(text("UPDATE valkey_index_state SET missed_writes_since = coalesce(missed_writes_since, now())"))
        conn.commit()
    try:
        store.run(lambda client: client.delete(READY_KEY))
    except ValkeyUnavailable:
        pass  # unreachable: the next call that reaches Valkey does it


def _forget_stale(stale: dict[str, str]) -> None:
    log.info("Removing %d stale Valkey entries", len(stale))
    forget_values([stale])


def schedule_rebuild() -> bool:
    """Start a background rebuild unless one is running somewhere already."""
    store = get_store()
    try:
        running = store.run(lambda client: client.exists(REBUILD_LOCK_KEY))
    except ValkeyUnavailable:
        return False
    if running:
        return False
    app = current_app._get_current_object()

    def run():
        with app.app_context():
            try:
                rebuild_index()
            except RebuildRunning:
                pass
            except Exception as exc:  # logged; the next miss schedules another try
                log.warning("Rebuilding the Valkey employee index failed: %s", type(exc).__name__)
            finally:
                db.session.remove()

    threading.Thread(target=run, name="rebuild-employee-index", daemon=True).start()
    return True


class RebuildRunning(Exception):
    """Another process is rebuilding the sets right now."""


def rebuild_index() -> int:
    """Fill fresh sets from PostgreSQL and swap them in atomically.

    Returns the number of employees indexed; raises RebuildRunning if another
    rebuild holds the lock. Runs on a client with its own, longer timeout
    (VALKEY_REBUILD_TIMEOUT): bulk writes under load take longer than the
    quick checks' VALKEY_TIMEOUT. The lock is refreshed while the rebuild
    works and released at the end whatever happens; the temporary sets
    expire if it dies. Writes that commit while the rebuild reads are
    caught up after the swap."""
    client = get_store().rebuild_client()
    token = uuid.uuid4().hex
    if not client.set(REBUILD_LOCK_KEY, token, nx=True, ex=REBUILD_LOCK_SECONDS):
        raise RebuildRunning("A rebuild of the Valkey index is running already.")
    tmp_keys = {field: f"{key}:rebuild:{token}" for field, key in SET_KEYS.items()}
    try:
        return _rebuild(client, tmp_keys)
    finally:
        try:
            client.delete(*tmp_keys.values())
            client.eval(_RELEASE_LOCK, 1, REBUILD_LOCK_KEY, token)
        except VALKEY_ERRORS:  # the lock and the temporary sets expire on their own
            pass


def _rebuild(client, tmp_keys: dict[str, str]) -> int:
    started, read_from = db.session.execute(
        text("SELECT clock_timestamp(), clock_timestamp() - interval '1 minute'")).one()
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
        for key in tmp_keys.values():
            pipe.expire(key, REBUILD_TMP_SECONDS)
        pipe.expire(REBUILD_LOCK_KEY, REBUILD_LOCK_SECONDS)
        pipe.execute()
        filled["employee_id"] += len(ids)
        filled["email"] += len(emails)
        count += len(batch)
    db.session.rollback()

    pipe = client.pipeline(transaction=True)
    for field, key in SET_KEYS.items():
        if filled[field]:
            pipe.rename(tmp_keys[field], key)
            pipe.persist(key)  # RENAME keeps the temporary set's expiry
        else:
            pipe.delete(key)
    pipe.set(READY_KEY, started.isoformat())  # what the sets hold: PostgreSQL as of then
    pipe.execute()

    recent = db.session.execute(
        select(Employee.employee_id, Employee.email).where(Employee.updated_at >= read_from)
    ).all()
    remember_values([{"employee_id": r.employee_id, "email": r.email} for r in recent])
    # Writes missed before this rebuild began are in what it read.
    db.session.execute(text("UPDATE valkey_index_state SET missed_writes_since = NULL"
                            " WHERE missed_writes_since <= :started"), {"started": started})
    db.session.commit()
    log.info("Valkey employee index rebuilt: %d employees", count)
    return count
