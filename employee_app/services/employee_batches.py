"""A batch of up to 1,000 new employees from the API, through the import's
batch path (services/importer/pipeline.py): the same rules, the same
repeats-inside-the-batch check, one Valkey round trip, COPY straight in when
Valkey vouched, else staging + INSERT ... ON CONFLICT DO NOTHING, and
PostgreSQL's constraints deciding between concurrent batches.

What differs from an import: the rows are JSON items (their index plays
the row number), nothing is tied to an import job, each record created gets
its own audit entry (source 'api', the token's owner), the refusals are
returned to the caller instead of stored, and the caller's request is one
transaction (atomic: rolled back unless every item was created).
"""
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ..extensions import db
from ..models import User
from . import audit
from .employee_rules import normalize_employee_id
from .importer.pipeline import STAGING_DDL, Batch, ImportRunner, Settings, _as_json
from .retry import retry_transient

MAX_ITEMS = 1000
SOURCE = "api"


@dataclass
class ItemOutcome:
    """One item's end: created (or, in a refused atomic batch, valid),
    duplicate or invalid."""

    index: int
    status: str
    employee_id: str | None = None
    errors: dict[str, str] | None = None
    existing: dict[str, str] | None = None  # field -> the employee ID of the stored record holding it
    earlier: dict[str, int] | None = None  # field -> the index of the earlier item holding it


@dataclass
class BatchOutcome:
    items: list[ItemOutcome]
    stored: bool
    created_pks: list[int] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)


class _ApiBatchRunner(ImportRunner):
    """The import's per-batch core over JSON items, with the API's hooks."""

    entry_source = SOURCE

    def __init__(self, conn, actor: User):
        settings = Settings(import_id=None, mode="api", mapping=[], has_header=False, file_format=None,
                            path="", actor_id=actor.id, actor_name=actor.username)
        super().__init__(settings, conn, side_conn=None)
        self.rejections = []
        self.created: dict[int, tuple[int, dict]] = {}  # item index -> (primary key, values)

    def write(self, items: list[tuple[dict, dict[str, str]]]) -> Batch:
        """The items as one batch of the import's core, written (not committed)."""
        self.conn.execute(STAGING_DDL)
        batch = self._prepare(Batch(rows=[(index, item, None) for index, item in enumerate(items)],
                                    last_row=len(items) - 1))
        # Stored in the order of their IDs: concurrent batches that share IDs
        # then wait on each other in one order and do not deadlock (clients
        # send overlapping batches in any order).
        batch.valid.sort(key=lambda row: row[1]["employee_id"])
        self._write_with_retries(batch)
        return batch

    def _raw_record(self, item: tuple[dict, dict[str, str]]) -> tuple[dict, dict[str, str]]:
        return item  # (the API shaped it already: its fields, and what did not fit)

    def _also_on(self, earlier: int) -> str:
        return f"is also in item {earlier} of this batch"

    def _store_rejections(self, rejections) -> None:
        self.rejections = rejections  # (a deadlock's retry writes the batch again: the last word counts)

    def _record_history(self, batch: Batch, inserted_rows: set[int]) -> None:
        """An audit entry per record created (source 'api', the create's
        values), written by one COPY in the batch's transaction: the
        change feed reads them as creates."""
        self.created = {}
        if not inserted_rows:
            return
        values_by_row = {number: values for number, values, _ in batch.valid if number in inserted_rows}
        pk_by_id = dict(self.conn.execute("SELECT employee_id, id FROM employees WHERE employee_id = ANY(%s)",
                                          ([values["employee_id"] for values in values_by_row.values()],)))
        self.created = {number: (pk_by_id[values["employee_id"]], values) for number, values in values_by_row.items()}
        actor = (self.settings.actor_id, self.settings.actor_name)
        with self.conn.cursor().copy("COPY audit_log (actor_id, actor_name, employee_pk, employee_id, action,"
                                     " source, changes) FROM STDIN") as copy:
            for pk, values in self.created.values():
                copy.write_row((*actor, pk, values["employee_id"], "create", SOURCE,
                                json.dumps(audit.creation_changes(_as_json(values)))))

    def outcome(self, batch: Batch, atomic: bool) -> BatchOutcome:
        refused = bool(self.rejections)
        created_status = "valid" if atomic and refused else "created"
        items = {number: ItemOutcome(number, created_status, employee_id=values["employee_id"])
                 for number, (_, values) in self.created.items()}
        ids = {number: values["employee_id"] for number, values, _ in batch.valid}
        for rejection in self.rejections:
            item = ItemOutcome(rejection.row_number, rejection.kind)
            if rejection.kind == "invalid":
                item.errors = rejection.errors or {rejection.field or "record": rejection.error}
            else:
                # (a repeat of an earlier item never reached batch.valid)
                item.employee_id = ids.get(rejection.row_number) or normalize_employee_id(
                    batch.rows[rejection.row_number][1][0].get("employee_id"))
                field_name = rejection.field or "employee_id"
                item.errors = {field_name: rejection.error}
                if rejection.holder is None:
                    pass  # refused by PostgreSQL, its holder unknown (changed at that moment): no link
                elif rejection.in_this_file:
                    item.earlier = {field_name: rejection.holder}
                else:
                    item.existing = {field_name: rejection.holder}
            items[rejection.row_number] = item
        ordered = [items[number] for number, _, _ in batch.rows]
        stored = bool(self.created) and not (atomic and refused)
        return BatchOutcome(ordered, stored, [pk for pk, _ in self.created.values()] if stored else [])


@retry_transient
def create_batch(items: list[tuple[dict, dict[str, str]]], *, atomic: bool, actor: User,
                 before_commit: Callable[[BatchOutcome], None] | None = None) -> BatchOutcome:
    """Store the items that are new (all or none when atomic) in one
    transaction; every item's outcome in the request's order. An item is
    (its raw fields, the problems of their shape per field).

    before_commit(outcome) runs just before COMMIT when something is to be
    stored (the Idempotency-Key's answer is kept then: services/idempotency.py)."""
    conn = db.session.connection().connection.driver_connection  # the session's transaction
    runner = _ApiBatchRunner(conn, actor)
    batch = runner.write(items)
    outcome = runner.outcome(batch, atomic)
    if not outcome.stored:
        db.session.rollback()
        return outcome
    if before_commit is not None:
        before_commit(outcome)
    db.session.commit()
    runner.tell_valkey()
    return outcome
