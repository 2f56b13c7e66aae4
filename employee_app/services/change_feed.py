"""The change feed (GET /api/v1/changes): every create, edit and delete of
an employee, in commit order, read from the audit log.

Order and gaps. Audit ids are taken before commit, so "id > cursor" would
skip an entry whose transaction commits late. Migration 0014 numbers the
transactions that write audit entries in COMMIT order (audit_commits.seq,
taken at commit under an advisory lock that is released only once the
commit is visible), and the feed reads (seq, id): a position is never
filled in behind a cursor later. Within a transaction, entries keep their
id order.

Imports. An import writes no entry per record; each committed batch writes
one row of import_feed_batches (mark_import_batch), which the feed expands
here into that batch's records, by import row, each as a create with the
values it was created with: its values now with every later change undone,
as the record's page shows its creation (audit.import_creation). A record
deleted since is found by the import and row its delete entry keeps.

Not in the feed: the departments' and jobs' own entries (renaming a
department changes no employee entry, so a create's department is the
entry's name now), an import's own entry (its records stand for it), and
the accounts' entries (who may log in is not employee data; the History
shows them to admins)."""
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, joinedload

from ..extensions import db
from ..models import AuditEntry, Employee, ImportJob, User
from . import audit
from .pagination import BIGINT_MAX, Cursor, decode_cursor, encode_cursor


@dataclass(frozen=True)
class Position:
    """Where a consumer is: the commit's number, the entry (or import
    batch) id in it, and within an import batch the last import row given."""

    seq: int = 0
    id: int = 0
    row: int = 0

    def token(self) -> str:
        return encode_cursor(Cursor([self.seq, self.id, self.row], False))


class BadPosition(ValueError):
    """A cursor the feed did not write (tampered, truncated, from elsewhere)."""


def decode_position(token: str | None) -> Position:
    if not token:
        return Position()
    cursor = decode_cursor(token, 3)
    if cursor is None or cursor.backwards or not all(isinstance(v, int) and 0 <= v < BIGINT_MAX
                                                     for v in cursor.values):
        raise BadPosition(token)
    return Position(*cursor.values)


@dataclass
class Change:
    position: Position
    entry: int | None  # the audit entry's id; None for a record an import batch created
    record: int  # the employee's row id: stays the same when its employee ID changes
    employee_id: str  # the employee ID at the time
    action: str
    source: str
    actor: str | None
    at: datetime
    changes: dict
    import_id: int | None
    import_row: int | None


# The next items after a position, in (commit, id) order: audit entries of
# employees, and import batches. Each commit's items are read by the
# (txid, id) indexes from the position on, with their own LIMIT, so a commit
# of a million entries (the history before migration 0014 is one) costs one
# page, not a sort or a scan.
_ITEMS = text("""
SELECT c.seq, item.id, item.is_batch
FROM (SELECT seq, txid FROM audit_commits WHERE seq >= :seq ORDER BY seq LIMIT :window) c
CROSS JOIN LATERAL (
    (SELECT a.id, false AS is_batch FROM audit_log a
     WHERE a.txid = c.txid AND a.subject = 'employee'
       AND a.id >= CASE WHEN c.seq = :seq THEN :first_entry ELSE 0 END
     ORDER BY a.id LIMIT :limit)
    UNION ALL
    (SELECT b.id, true FROM import_feed_batches b
     WHERE b.txid = c.txid AND b.id >= CASE WHEN c.seq = :seq THEN :first_batch ELSE 0 END
     ORDER BY b.id LIMIT :limit)
) item
ORDER BY c.seq, item.id
LIMIT :limit""")

# The last commit the page's window of commits reached.
_LAST_SEQ = text("SELECT max(seq) FROM (SELECT seq FROM audit_commits WHERE seq >= :seq ORDER BY seq LIMIT :window) c")

# One import batch's records from an import row on: those stored, and those
# deleted since (their delete entry keeps the import and row).
_BATCH_RECORDS = text("""
(SELECT id AS pk, import_row FROM employees
 WHERE import_id = :import_id AND import_row > :after AND import_row <= :last
 ORDER BY import_row LIMIT :limit)
UNION ALL
(SELECT employee_pk, import_row FROM audit_log
 WHERE import_id = :import_id AND import_row > :after AND import_row <= :last AND import_row IS NOT NULL
 ORDER BY import_row LIMIT :limit)
ORDER BY import_row LIMIT :limit""")

_BATCH = text("SELECT import_id, first_row, last_row, at FROM import_feed_batches WHERE id = :id")


@dataclass
class Page:
    changes: list[Change]
    next: Position  # where to read on: after this page, or `after` again when nothing is new


def read_changes(after: Position, limit: int) -> Page:
    """Up to `limit` changes after `after`, oldest first, read in one
    snapshot (REPEATABLE READ): a record and its later entries agree."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=conn) as session:
            return _Reader(session).read(after, limit)


class _Reader:
    def __init__(self, session: Session):
        self.session = session
        self.import_actors: dict[int, str | None] = {}

    def read(self, after: Position, limit: int) -> Page:
        # The commits read: the one the position is in, and `limit` after it.
        window = {"seq": after.seq, "window": limit + 1}
        # In the position's own commit: the entries after its id, and its
        # import batch again when the position is inside it (row > 0).
        items = self.session.execute(_ITEMS, {**window, "limit": limit, "first_entry": after.id + 1,
                                              "first_batch": after.id if after.row else after.id + 1}).all()
        last_seq = self.session.execute(_LAST_SEQ, window).scalar()
        entries = self._entries([item.id for item in items if not item.is_batch])
        changes: list[Change] = []
        for seq, item_id, is_batch in items:
            if len(changes) >= limit:
                break
            if not is_batch:
                changes.append(_entry_change(Position(seq, item_id), entries[item_id]))
                continue
            from_row = after.row if (seq, item_id) == (after.seq, after.id) else 0
            changes += self._batch_changes(seq, item_id, from_row, limit - len(changes))
        return Page(changes, _next(after, limit, items, changes, last_seq))

    def _entries(self, ids: list[int]) -> dict:
        """The entries' columns as rows (no ORM objects: a fifth of a page's time)."""
        if not ids:
            return {}
        return {entry.id: entry for entry in self.session.execute(
            select(*_ENTRY_COLUMNS).where(AuditEntry.id == any_(_ids(ids))))}

    def _batch_changes(self, seq: int, batch_id: int, from_row: int, limit: int) -> list[Change]:
        batch = self.session.execute(_BATCH, {"id": batch_id}).one()
        rows = self.session.execute(_BATCH_RECORDS, {
            "import_id": batch.import_id, "after": max(from_row, batch.first_row - 1), "last": batch.last_row,
            "limit": limit}).all()
        if not rows:
            return []
        pks = [row.pk for row in rows]
        stored = {employee.id: employee for employee in self.session.execute(
            select(Employee).where(Employee.id == any_(_ids(pks)))
            .options(joinedload(Employee.department), joinedload(Employee.job))).scalars()}
        later: dict[int, list] = {pk: [] for pk in pks}
        for entry in self.session.execute(
                select(AuditEntry.employee_pk, AuditEntry.action, AuditEntry.changes)
                .where(AuditEntry.employee_pk == any_(_ids(pks)), AuditEntry.subject == "employee")
                .order_by(AuditEntry.id)):
            later[entry.employee_pk].append(entry)
        actor = self._import_actor(batch.import_id)
        changes = []
        for pk, import_row in rows:
            current = audit.snapshot(stored[pk]) if pk in stored else None
            first = audit.state_before(current, later[pk])
            if first is None:  # it has a create entry of its own (imports before migration 0010)
                continue
            changes.append(Change(
                position=Position(seq, batch_id, import_row), entry=None, record=pk,
                employee_id=first["employee_id"], action="create", source="import", actor=actor, at=batch.at,
                changes=audit.creation_changes(first), import_id=batch.import_id, import_row=import_row))
        return changes

    def _import_actor(self, import_id: int) -> str | None:
        """Who ran the import: its own entry's actor, else its uploader."""
        if import_id not in self.import_actors:
            name = self.session.execute(
                select(AuditEntry.actor_name).where(AuditEntry.subject == "import", AuditEntry.import_id == import_id)
                .order_by(AuditEntry.id).limit(1)).scalar()
            if name is None:
                name = self.session.execute(select(User.username).join(ImportJob, ImportJob.user_id == User.id)
                                            .where(ImportJob.id == import_id)).scalar()
            self.import_actors[import_id] = name
        return self.import_actors[import_id]


def _next(after: Position, limit: int, items: list, changes: list[Change], last_seq: int | None) -> Position:
    if len(changes) >= limit:  # full: on from its last change (within an import batch, its row)
        return changes[-1].position
    if len(items) >= limit:  # every item read, but some gave no change: on after the last item
        return Position(items[-1].seq, items[-1].id)
    if last_seq is not None and (changes or last_seq > after.seq):
        # Every commit up to last_seq is read (a commit with no employee
        # change too, so a run of them never holds a consumer in place).
        return Position(last_seq + 1)
    return after


def _pair(value) -> list:
    """[old, new] as text or null, whatever an old entry holds (the answer's
    shape is checked: a number there would be a 500)."""
    pair = (value + [None, None])[:2] if isinstance(value, list) else [None, value]
    return [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in pair]


def _ids(ids: list[int]):
    """A list of ids as one array parameter (`= ANY(:ids)`): `IN` binds, and
    SQLAlchemy coerces, each of a thousand values."""
    return bindparam("ids", ids, type_=ARRAY(BigInteger))


_ENTRY_COLUMNS = (AuditEntry.id, AuditEntry.employee_pk, AuditEntry.employee_id, AuditEntry.action,
                  AuditEntry.source, AuditEntry.actor_name, AuditEntry.at, AuditEntry.changes,
                  AuditEntry.import_id, AuditEntry.import_row)


def _entry_change(position: Position, entry) -> Change:
    return Change(position=position, entry=entry.id, record=entry.employee_pk, employee_id=entry.employee_id,
                  action=entry.action, source=entry.source, actor=entry.actor_name, at=entry.at,
                  changes={name: _pair(value) for name, value in (entry.changes or {}).items()},
                  import_id=entry.import_id, import_row=entry.import_row)


_MARK_BATCH = ("INSERT INTO import_feed_batches (import_id, first_row, last_row) VALUES (%s, %s, %s)"
               " ON CONFLICT (import_id, first_row) DO NOTHING")


def mark_import_batch(conn, import_id: int | None, rows: set[int]) -> None:
    """In an import batch's transaction (psycopg): the feed's one row for the
    records it created (row numbers `rows`), numbered in commit order with
    the audit entries (a rerun of a committed batch adds nothing). Records
    stored without an import (import_id None) need audit entries of their own."""
    if rows and import_id is not None:
        conn.execute(_MARK_BATCH, (import_id, min(rows), max(rows)))
