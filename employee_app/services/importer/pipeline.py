"""The import itself: a file's rows into employees at COPY speed, every row
ending as inserted, duplicate or invalid.

Per batch, in a reader thread: validate (employee_rules) -> drop repeats
inside the batch -> one Valkey round trip for the batch's IDs and e-mails
(and a look at the IDs and e-mails of the few batches before it, which
Valkey may not hold yet). Then, while the reader prepares the next batch:
rows Valkey or those batches flag are explained from PostgreSQL (a
duplicate, or a stale hit that goes in after all) -> the others are COPied
straight into employees when Valkey vouched for the batch; if PostgreSQL
refuses that COPY (a row stored by someone else since Valkey answered, a
value a constraint refuses), the batch goes the careful way: COPY into a
staging table -> INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING ->
the rows not returned are duplicates, explained -> commit, with the
import's counters and resume point -> add the new IDs and e-mails to Valkey.

PostgreSQL's unique constraints decide; Valkey only spares the database
rows it already knows are taken, and a hit is confirmed before a row is
called a duplicate.

History: a record created by an import carries import_id and import_row;
the import writes one audit entry of its own (subject 'import') in the
transaction of its first stored rows, and a record's page derives "created
by import #N, row R" with its first values from them (services/audit.py).
An update by an import writes an entry per record with old and new values.
"""
import contextvars
import itertools
import gc
import json
import logging
import queue
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .. import audit, change_feed, db_errors, duplicate_guard, lists
from ..employee_rules import RULES_BY_NAME, clean_employee, shown
from ..errors import InvalidInput
from ...valkey_store import ValkeyUnavailable, get_store
from .files import MAX_ROW_CHARS, FileFormat, read_records
from .mapping import CODE_TARGETS, mapped_record

log = logging.getLogger(__name__)

BATCH_ROWS = 5_000
# Tries of one batch that meets a deadlock (another writer inserting the same keys).
DEADLOCK_ATTEMPTS = 5
# Rejection reasons name fields as the forms do.
ID_LABEL, EMAIL_LABEL = RULES_BY_NAME["employee_id"].label, RULES_BY_NAME["email"].label
# The fields an import writes, in the staging table's and the COPY's order.
COLUMNS = ("employee_id", "first_name", "last_name", "email", "phone", "department_id", "job_id",
           "employment_type", "location", "hire_date", "status", "termination_date")
# The columns that refer to a list entry (services/lists.py), and the field
# of a row that names it.
ENTRY_COLUMNS = {"department_id": lists.DEPARTMENTS, "job_id": lists.JOBS}

# The IDs and e-mails of this many batches before the one being prepared are
# looked at besides Valkey: the reader runs ahead of the commits (and so of
# the Valkey writes after them) by up to the queue's depth plus the batch
# being written, and the Valkey writes of the batch before that may still
# be on their way (ImportRunner._tell_valkey_soon).
PREFETCH_DEPTH = 2
RECENT_BATCHES = PREFETCH_DEPTH + 3

STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS import_staging (
    row_number bigint, employee_id text, first_name text, last_name text, email text, phone text,
    department_id integer, job_id integer, employment_type text, location text, hire_date date,
    status text, termination_date date
)"""

_COLUMN_LIST = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
# A record from an import carries its import and row; one from elsewhere (an
# API batch, services/employee_batches.py) neither.
INSERT_SQL = sql.SQL("""
INSERT INTO employees ({columns}, import_id, import_row)
SELECT {columns}, %(import_id)s, row_number FROM import_staging ORDER BY row_number
ON CONFLICT DO NOTHING
RETURNING employee_id, email
""").format(columns=_COLUMN_LIST)
# (in the order of the IDs: concurrent API batches sharing IDs then wait on
# each other in one order instead of deadlocking)
PLAIN_INSERT_SQL = sql.SQL("""
INSERT INTO employees ({columns})
SELECT {columns} FROM import_staging ORDER BY employee_id
ON CONFLICT DO NOTHING
RETURNING employee_id, email
""").format(columns=_COLUMN_LIST)
STAGING_COPY_SQL = sql.SQL("COPY import_staging (row_number, {columns}) FROM STDIN").format(columns=_COLUMN_LIST)
DIRECT_COPY_SQL = sql.SQL("COPY employees ({columns}, import_id, import_row) FROM STDIN").format(columns=_COLUMN_LIST)
PLAIN_COPY_SQL = sql.SQL("COPY employees ({columns}) FROM STDIN").format(columns=_COLUMN_LIST)

@dataclass
class Settings:
    import_id: int
    mode: str  # valid_rows | all_or_nothing | dry_run
    mapping: list[str]
    has_header: bool
    file_format: FileFormat
    path: str
    actor_id: int | None
    actor_name: str | None
    resume_row: int = 0
    filename: str = ""
    on_existing: str = "skip"  # or "update": a row whose ID exists updates that record (admins)
    header_row: int = 0  # the row of the header when a title above it is skipped


@dataclass
class Counts:
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    invalid: int = 0
    updated: int = 0

    def add(self, other: "Counts") -> None:
        self.rows_read += other.rows_read
        self.inserted += other.inserted
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.invalid += other.invalid


@dataclass
class Rejection:
    row_number: int
    kind: str  # duplicate | invalid
    field: str | None
    error: str
    cells: list[str]
    in_this_file: bool = False  # a repeat of an earlier row of the same file
    errors: dict[str, str] | None = None  # an invalid row's message per field
    # Who holds the value of a duplicate: the stored record's employee ID, or
    # (in_this_file) the number of the earlier row.
    holder: str | int | None = None


@dataclass
class Batch:
    rows: list[tuple[int, list[str], str | None]]  # record number, cells, a problem reading it
    last_row: int
    valid: list[tuple[int, dict, list[str]]] = field(default_factory=list)  # number, values, cells
    rejections: list[Rejection] = field(default_factory=list)
    # Row numbers whose ID or e-mail Valkey knows, or a batch before this
    # one holds: explained from PostgreSQL before the rest is written.
    flagged: set[int] = field(default_factory=set)
    vouched: bool = False  # Valkey answered, with its sets ready: the unflagged rows are new
    # Each valid row's line of DIRECT_COPY_SQL, by row number, built in the
    # reader thread for the rows whose list entries were known then (at
    # entries_epoch): the main thread only joins them.
    lines: dict[int, str] = field(default_factory=dict)
    entries_epoch: int = -1


class ImportRunner:
    """Runs one import on its own psycopg connection (autocommit off).

    Its per-batch core (_prepare, then _write_with_retries) also serves the
    API's batches (services/employee_batches.py), which override the hooks
    marked "hook" below: where a row's values come from, how an earlier row
    is named, the history written, and where rejections go."""

    # The audit source of the departments and jobs its rows add (the API's batches: api).
    entry_source = "import"

    def __init__(self, settings: Settings, conn: psycopg.Connection, side_conn: psycopg.Connection,
                 counts: Counts | None = None, on_batch=None):
        self.settings = settings
        self.conn = conn
        # Rows are committed batch by batch only in the default mode; the
        # others keep one transaction and write progress and rejections on
        # a side connection (autocommit) so the page can follow them.
        self.commits = settings.mode == "valid_rows"
        self.side_conn = side_conn
        self.on_batch = on_batch  # callable(Counts) after each batch, e.g. a terminal progress bar
        # Each list's entries met so far: lower-cased name -> id.
        self.entry_ids: dict[str, dict[str, int]] = {kind.table: {} for kind in lists.KINDS}
        # Each list's codes met so far: lower-cased code -> (id, name). Entries
        # that existed before the import: a rollback never undoes them.
        self.entry_codes: dict[str, dict[str, tuple[int, str]]] = {kind.table: {} for kind in lists.KINDS}
        # Bumped when entry_ids is cleared (a rollback): lines a batch built
        # with ids from before may name entries that are gone.
        self.entries_epoch = 0
        # The entries this batch added (id -> lower-cased name), and the names
        # its stored and updated rows use: an entry no row of it uses (its
        # rows were duplicates or refused) is taken out again before the
        # commit (_drop_unused_entries), so that skipped rows add nothing.
        self.created_entries: dict[str, dict[int, str]] = {kind.table: {} for kind in lists.KINDS}
        self.updated_entry_names: dict[str, set[str]] = {kind.table: set() for kind in lists.KINDS}
        # Whether the file gives any list entry by its code (most files do not).
        self.codes = any(target in CODE_TARGETS for target in settings.mapping)
        self.store = get_store()
        self.counts = counts or Counts()
        self.last_row = settings.resume_row
        self.remembered: list[tuple[str, str | None]] = []  # (ID, e-mail) of the rows stored in this batch
        self.forgotten: list[dict] = []  # e-mails an update released
        self.valkey_writer: ThreadPoolExecutor | None = None  # while run() runs
        self.valkey_told: Future | None = None  # the last batch's Valkey writes, on their way
        # The IDs and e-mails of the last batches prepared (reader thread).
        self.recent: deque[set[str]] = deque(maxlen=RECENT_BATCHES)
        # Whether the import's own audit entry is written: with its first
        # stored rows (a rerun after committed rows finds it there).
        self.announced = self.counts.inserted > 0
        self.direct_copies = self.staged_batches = 0  # how the batches went in (for logs and the bench)
        from_import = settings.import_id is not None
        self.insert_sql = INSERT_SQL if from_import else PLAIN_INSERT_SQL
        self.direct_copy_sql = DIRECT_COPY_SQL if from_import else PLAIN_COPY_SQL

    def run(self) -> Counts:
        self.conn.execute(STAGING_DDL)
        # Reading and validating (pure Python) run a batch ahead in a thread,
        # while this thread waits for PostgreSQL, which releases the GIL:
        # on two cores the import's Python and SQL then overlap.
        with fewer_collections(), prompt_switches(), \
                ThreadPoolExecutor(1, thread_name_prefix="import-valkey") as self.valkey_writer:
            for batch in prefetched(self._validated_batches(), depth=PREFETCH_DEPTH):
                self._run_batch(batch)
            self._told_valkey()
        log.info("import %s: %d batches copied straight in, %d through the staging table",
                 self.settings.import_id, self.direct_copies, self.staged_batches)
        return self.counts

    def _validated_batches(self):
        rows: list[tuple[int, list[str], str | None]] = []
        for record in self._data_rows():
            rows.append(record)
            if len(rows) >= BATCH_ROWS:
                yield self._prepare(Batch(rows=rows, last_row=record[0]))
                rows = []
        if rows:
            yield self._prepare(Batch(rows=rows, last_row=rows[-1][0]))

    def _prepare(self, batch: Batch) -> Batch:
        """The reader thread's part: validate, then ask Valkey about the
        batch's IDs and e-mails, and flag the rows that repeat one of the
        last batches (not committed yet, or committed but not yet in
        Valkey): those are explained from PostgreSQL, after those batches."""
        self._validate(batch)
        ids = [values["employee_id"] for _, values, _ in batch.valid]
        emails = [values["email"] for _, values, _ in batch.valid]
        batch.flagged, batch.vouched = self._flagged_by_valkey(batch.valid, ids, emails)
        keys = set(ids)
        keys.update(email for email in emails if email)
        repeated: set[str] = set()  # (an ID never holds "@": one set holds both kinds)
        for earlier in self.recent:
            repeated |= keys & earlier
        if repeated:
            batch.flagged.update(row[0] for row, employee_id, email in zip(batch.valid, ids, emails)
                                 if employee_id in repeated or (email and email in repeated))
        self.recent.append(keys)
        if not self.codes:
            batch.entries_epoch = self.entries_epoch
            batch.lines = self._copy_lines(batch.valid)
        return batch

    def _data_rows(self):
        """The file's records after its title and header (the first
        non-blank records, when it has them) and after the rows a previous
        run committed."""
        records = read_records(self.settings.path, self.settings.file_format)
        if self.settings.header_row:  # the rows of a title above it
            records = itertools.dropwhile(lambda record: record[0] < self.settings.header_row, records)
        if self.settings.has_header:
            next(records, None)
        resume_row = self.settings.resume_row
        if not resume_row:
            yield from records
            return
        for record in records:
            if record[0] > resume_row:
                yield record

    def _run_batch(self, batch: Batch) -> None:
        counts = self._write_with_retries(batch)
        self.counts.add(counts)
        self.last_row = batch.last_row
        if self.commits:
            self._tell_valkey_soon()
        else:
            save_progress(self.side_conn, self.settings.import_id, self.counts, 0)
        self.remembered, self.forgotten = [], []
        if self.on_batch:
            self.on_batch(self.counts)

    def tell_valkey(self) -> None:
        """After the commit: the IDs and e-mails stored into the duplicate
        guard's sets, the e-mails an update released out of them."""
        _tell_valkey(self.remembered, self.forgotten)

    def _tell_valkey_soon(self) -> None:
        """tell_valkey on the import's Valkey thread: a batch's writes (10 to
        20 ms) then overlap the next batch's COPY instead of delaying it.
        One batch at a time and in order (an e-mail an update released may
        be taken again by a later row); RECENT_BATCHES covers the batch
        still being told."""
        self._told_valkey()
        self.valkey_told = self.valkey_writer.submit(contextvars.copy_context().run, _tell_valkey,
                                                     self.remembered, self.forgotten)

    def _told_valkey(self) -> None:
        """Wait for the last batch's Valkey writes (and raise what they raised)."""
        told, self.valkey_told = self.valkey_told, None
        if told is not None:
            told.result()

    def _write_with_retries(self, batch: Batch) -> Counts:
        """Write a prepared batch: its counts (committed in the import's
        default mode; otherwise its savepoint is released, the caller
        commits)."""
        self._resolve_codes(batch)
        # Each batch runs in a savepoint, so that a retry (or, in the modes
        # that keep one transaction, any failure of this batch) undoes this
        # batch alone, never the batches before it.
        announced = self.announced
        for attempt in range(DEADLOCK_ATTEMPTS):
            self.conn.execute("SAVEPOINT batch")
            try:
                counts = self._write(batch)
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_ATTEMPTS - 1:
                    # Still deadlocking: PostgreSQL's own error goes up, a
                    # transient one (the worker runs the import again from
                    # its last committed batch; the API answers 503).
                    raise
                # Another import inserting the same keys in another order:
                # undo this batch and try it again.
                self.conn.execute("ROLLBACK TO SAVEPOINT batch")
                self.conn.execute("RELEASE SAVEPOINT batch")
                self._forget_entries()
                self.remembered, self.forgotten = [], []
                self.announced = announced
                log.warning("import %s: deadlock, retrying batch ending at row %s",
                            self.settings.import_id, batch.last_row)
                time.sleep(0.1 * (attempt + 1))
        return counts

    # --- 1. validate, and drop repeats inside the batch ---------------------

    def _validate(self, batch: Batch) -> Batch:
        seen_ids: dict[str, int] = {}
        seen_emails: dict[str, int] = {}
        for number, cells, problem in batch.rows:
            if problem:  # past a size limit: refused whole, its cells cut short
                batch.rejections.append(Rejection(number, "invalid", None, problem, cells))
                continue
            raw, errors = self._raw_record(cells)
            try:
                if errors:
                    raise InvalidInput(errors)
                values = clean_employee(raw)
            except InvalidInput as exc:
                fields = {**exc.errors, **errors}
                batch.rejections.append(Rejection(number, "invalid", next(iter(fields)),
                                                  " ".join(fields.values()), cells, errors=fields))
                continue
            if self.codes:
                values.update({target: raw.get(target) for target in CODE_TARGETS})
            employee_id, email = values["employee_id"], values["email"]
            if employee_id in seen_ids:
                earlier = seen_ids[employee_id]
                batch.rejections.append(Rejection(
                    number, "duplicate", "employee_id", f"{ID_LABEL} {employee_id} {self._also_on(earlier)}.",
                    cells, in_this_file=True, holder=earlier))
                continue
            if email and email in seen_emails:
                earlier = seen_emails[email]
                batch.rejections.append(Rejection(
                    number, "duplicate", "email", f"{EMAIL_LABEL} {email} {self._also_on(earlier)}.", cells,
                    in_this_file=True, holder=earlier))
                continue
            seen_ids[employee_id] = number
            if email:
                seen_emails[email] = number
            batch.valid.append((number, values, cells))
        return batch

    def _raw_record(self, cells) -> tuple[dict, dict[str, str]]:
        """(hook) A row's raw field values and the errors met reading them."""
        return mapped_record(cells, self.settings.mapping)

    def _also_on(self, earlier: int) -> str:
        """(hook) The words for a value an earlier row holds."""
        return f"is also on row {earlier} of this file"

    # --- 2. write: Valkey filter, COPY, INSERT ... ON CONFLICT ---------------

    def _write(self, batch: Batch) -> Counts:
        rejections = list(batch.rejections)
        to_stage = batch.valid
        flagged = batch.flagged
        if flagged:
            # Valkey's hits are confirmed in PostgreSQL like any other conflict.
            to_stage = [row for row in to_stage if row[0] not in flagged]
            rejections += self._explain_conflicts([row for row in batch.valid if row[0] in flagged], stale_ok=True)
            # Rows Valkey flagged but PostgreSQL does not hold go in after all.
            rejected = {r.row_number for r in rejections}
            to_stage += [row for row in batch.valid if row[0] in flagged and row[0] not in rejected]

        inserted_rows, refused = set(), []
        if to_stage:
            copied = self._copy_direct(to_stage, batch) if batch.vouched else None
            if copied is not None:
                inserted_rows = copied
                self.direct_copies += 1
            else:
                inserted_rows, refused = self._insert_isolating(to_stage)
                self.staged_batches += 1
        rejections += refused
        refused_rows = {r.row_number for r in refused}
        conflicts = [row for row in to_stage if row[0] not in inserted_rows and row[0] not in refused_rows]
        conflict_rejections = self._explain_conflicts(conflicts, stale_ok=False)
        # A row this import stored itself at this very row number (a run that
        # stopped after its COPY but before its bookkeeping) is not a duplicate.
        rejected_numbers = {r.row_number for r in conflict_rejections}
        inserted_rows |= {row[0] for row in conflicts if row[0] not in rejected_numbers}
        rejections += conflict_rejections
        updated = 0
        if self.settings.on_existing == "update":
            rejections, updated = self._update_existing(batch, rejections)
        self._record_new_entries(self._drop_unused_entries(batch, inserted_rows))

        counts = Counts(rows_read=len(batch.rows), inserted=len(inserted_rows), updated=updated,
                        duplicates=sum(1 for r in rejections if r.kind == "duplicate"),
                        invalid=sum(1 for r in rejections if r.kind == "invalid"))
        assert counts.inserted + counts.updated + counts.duplicates + counts.invalid == counts.rows_read, \
            "a row went missing"
        self._record_history(batch, inserted_rows)
        self._store_rejections(rejections)
        if self.commits:
            total = Counts(**vars(self.counts))
            total.add(counts)
            save_progress(self.conn, self.settings.import_id, total, batch.last_row)
            self.conn.commit()
        else:
            self.conn.execute("RELEASE SAVEPOINT batch")
        return counts

    def _flagged_by_valkey(self, rows, ids: list[str], emails: list[str | None]) -> tuple[set[int], bool]:
        """Row numbers whose ID or e-mail Valkey says is taken, and whether
        Valkey vouches for the others (it answered, its sets ready): one
        round trip."""
        if not rows:
            return set(), False
        emails = [email or "" for email in emails]

        def ask(client):
            pipe = client.pipeline(transaction=False)
            pipe.exists(duplicate_guard.READY_KEY)
            pipe.smismember(duplicate_guard.IDS_KEY, ids)
            pipe.smismember(duplicate_guard.EMAILS_KEY, emails)
            return pipe.execute()
        try:
            ready, id_hits, email_hits = self.store.run(ask)  # runs in the reader thread: no app context
        except ValkeyUnavailable:
            return set(), False
        if not ready:  # the sets are being rebuilt: PostgreSQL alone decides
            return set(), False
        return {row[0] for row, id_hit, email_hit in zip(rows, id_hits, email_hits)
                if id_hit or (email_hit and row[1]["email"])}, True

    def _copy_direct(self, rows, batch: Batch) -> set[int] | None:
        """COPY the rows straight into employees: the row numbers stored, or
        None (nothing stored) if PostgreSQL refused the COPY: a row someone
        stored since Valkey answered, or a value a constraint refuses. The
        caller then takes the staging table's way, which finds them."""
        data = self._prepared_text(rows, batch)
        if data is None:  # a list entry not met before (or codes): look them up, add the new ones
            self._resolve_entries(rows)
            data = "".join(self._copy_lines(rows, resolved=True).values())
        self.conn.execute("SAVEPOINT direct")
        try:
            with self.conn.cursor().copy(self.direct_copy_sql) as copy:
                copy.write(data)
        except db_errors.ROW_ERRORS as exc:
            self.conn.execute("ROLLBACK TO SAVEPOINT direct")
            self.conn.execute("RELEASE SAVEPOINT direct")
            log.info("import %s: the batch ending at row %s goes through the staging table (%s)",
                     self.settings.import_id, rows[-1][0], db_errors.describe(exc))
            return None
        self.conn.execute("RELEASE SAVEPOINT direct")
        self.remembered += [(values["employee_id"], values["email"]) for _, values, _ in rows]
        return {row[0] for row in rows}

    def _prepared_text(self, rows, batch: Batch) -> str | None:
        """The rows' COPY text from the lines the reader thread built, or
        None if one is missing (its department or job was not met then) or
        the ids they hold may be gone (a rollback since)."""
        if self.codes or batch.entries_epoch != self.entries_epoch:
            return None
        lines = batch.lines
        try:
            return "".join([lines[row[0]] for row in rows])
        except KeyError:
            return None

    def _copy_lines(self, rows, resolved: bool = False) -> dict[int, str]:
        """Row number -> the row's line in COPY's text format, for
        DIRECT_COPY_SQL: built with a join per row (psycopg's write_row
        costs several times more per row). A row with a backslash, tab or
        line break in a value is escaped value by value. Unless resolved,
        a row that names a department or job not met before is left out
        (_resolve_entries first, then). Runs in the reader thread too:
        its share of the import's Python, off the thread that waits for
        PostgreSQL."""
        import_id = self.settings.import_id
        row_values = self._row_values if self.codes else self._named_row_values()
        lines = {}
        for number, values, _ in rows:
            fields = row_values(values)
            if not resolved and ((fields[5] is None and values["department"])
                                 or (fields[6] is None and values["job_title"])):
                continue
            line = "\t".join([_NULL if f is None else f if type(f) is str else str(f) for f in fields])
            # Only the NULLs' backslashes, and no tab but the separators.
            if line.count("\\") != fields.count(None) or line.count("\t") != _LAST_FIELD \
                    or "\n" in line or "\r" in line:
                line = "\t".join([_NULL if f is None else _escaped(str(f)) for f in fields])
            lines[number] = f"{line}\t{import_id}\t{number}\n" if import_id is not None else line + "\n"
        return lines

    def _named_row_values(self):
        """_row_values for files that give no code (the common case), its
        lookups inlined."""
        departments, jobs = self.entry_ids[lists.DEPARTMENTS.table], self.entry_ids[lists.JOBS.table]

        def row_values(v: dict) -> tuple:
            department, job = v["department"], v["job_title"]
            return (v["employee_id"], v["first_name"], v["last_name"], v["email"], v["phone"],
                    departments.get(department.lower()) if department else None,
                    jobs.get(job.lower()) if job else None, v["employment_type"], v["location"],
                    v["hire_date"], v["status"], v["termination_date"])
        return row_values

    def _row_values(self, values: dict) -> tuple:
        """A row's values in COLUMNS order, its list entries by id."""
        return (values["employee_id"], values["first_name"], values["last_name"], values["email"], values["phone"],
                self._entry_id(lists.DEPARTMENTS, values), self._entry_id(lists.JOBS, values),
                values["employment_type"], values["location"], values["hire_date"], values["status"],
                values["termination_date"])

    def _record_history(self, batch: Batch, inserted_rows: set[int]) -> None:
        """(hook) The history of the rows stored: the import's own entry
        with its first stored rows (the records carry import_id and row),
        and the batch's mark that the change feed expands into its creates."""
        if inserted_rows and not self.announced:
            self._announce()
        change_feed.mark_import_batch(self.conn, self.settings.import_id, inserted_rows)

    def _announce(self) -> None:
        """The import's own audit entry (who, when, which file), in the
        transaction of its first stored rows: the records it creates carry
        import_id and import_row instead of an entry each."""
        self.conn.execute(
            "INSERT INTO audit_log (actor_id, actor_name, subject, action, source, import_id, changes)"
            " VALUES (%s, %s, 'import', 'create', 'import', %s, %s)",
            (self.settings.actor_id, self.settings.actor_name, self.settings.import_id,
             json.dumps({"file": [None, self.settings.filename]} if self.settings.filename else {})))
        self.announced = True

    def _insert_isolating(self, rows) -> tuple[set[int], list[Rejection]]:
        """Insert rows: (row numbers stored, rejections). A row PostgreSQL
        refuses for its values (a duplicate is not refused: ON CONFLICT skips
        it) is found by halving the rows and rejected alone, with the reason
        in words; the other rows are stored."""
        self.conn.execute("SAVEPOINT rows")
        try:
            returned = self._insert(rows)
        except db_errors.ROW_ERRORS as exc:
            self.conn.execute("ROLLBACK TO SAVEPOINT rows")
            self.conn.execute("RELEASE SAVEPOINT rows")
            self._forget_entries()  # departments created in the savepoint are gone
            if len(rows) > 1:
                half = len(rows) // 2
                first, first_refused = self._insert_isolating(rows[:half])
                second, second_refused = self._insert_isolating(rows[half:])
                return first | second, first_refused + second_refused
            number, _, cells = rows[0]
            kind, field_name, reason = db_errors.row_refusal(exc)
            log.warning("import %s: row %s refused by PostgreSQL: %s", self.settings.import_id, number,
                        db_errors.describe(exc))
            return set(), [Rejection(number, kind, field_name, reason, cells)]
        self.conn.execute("RELEASE SAVEPOINT rows")
        self.remembered += [(employee_id, email) for employee_id, email in returned]
        row_of = {values["employee_id"]: number for number, values, _ in rows}
        return {row_of[employee_id] for employee_id, _ in returned}, []

    def _insert(self, rows) -> list[tuple[str, str | None]]:
        """COPY the rows into the staging table, INSERT ... ON CONFLICT DO
        NOTHING: the (ID, e-mail) stored."""
        self._resolve_entries(rows)
        cur = self.conn.cursor()
        cur.execute("TRUNCATE import_staging")
        with cur.copy(STAGING_COPY_SQL) as copy:
            for number, values, _ in rows:
                copy.write_row((number,) + self._row_values(values))
        return cur.execute(self.insert_sql, {"import_id": self.settings.import_id}).fetchall()

    def _resolve_entries(self, rows) -> None:
        """The ids of the departments and jobs the rows name (and do not give
        by code), new names added to their list (concurrent imports meet in
        ON CONFLICT, in one order of names) as the first row that names each
        spells it (the list and its History show that spelling)."""
        for kind in lists.KINDS:
            known = self.entry_ids[kind.table]
            if self.codes:
                names = dict.fromkeys(row[1][kind.field] for row in rows
                                      if row[1][kind.field] and not row[1].get(kind.code_field))
            else:
                names = dict.fromkeys(row[1][kind.field] for row in rows)
                names.pop(None, None)
                names.pop("", None)
            first: dict[str, str] = {}  # lower-cased -> the first spelling, in the rows' order
            for name in names:
                first.setdefault(name.lower(), name)
            missing = sorted((name for lower, name in first.items() if lower not in known), key=str.lower)
            if not missing:
                continue
            created = self.conn.execute(
                sql.SQL("INSERT INTO {} (name) SELECT unnest(%s::text[]) ON CONFLICT ((lower(name))) DO NOTHING"
                        " RETURNING id, lower(name)").format(sql.Identifier(kind.table)), (missing,)).fetchall()
            self.created_entries[kind.table].update(created)
            for entry_id, name in self.conn.execute(
                    sql.SQL("SELECT id, name FROM {} WHERE lower(name) = ANY(%s)").format(sql.Identifier(kind.table)),
                    ([name.lower() for name in missing],)):
                known[name.lower()] = entry_id

    def _entry_id(self, kind: lists.ListKind, values: dict) -> int | None:
        if self.codes and (code := values.get(kind.code_field)):
            return self.entry_codes[kind.table][code.lower()][0]
        name = values[kind.field]
        return self.entry_ids[kind.table].get(name.lower()) if name else None

    def _resolve_codes(self, batch: Batch) -> None:
        """Rows that give a department or job by its code: the entry's name
        takes the row's place (its spelling in the list; the audit entry
        records it). One query per list for the codes not met before. A
        code not in the list makes the row invalid, and so does a row that
        also names another entry: a code and a name that disagree may mean
        either, and the row is not guessed at."""
        if not self.codes:
            return
        for kind in lists.KINDS:
            known = self.entry_codes[kind.table]
            missing = list({code.lower() for _, values, _ in batch.valid
                            if (code := values.get(kind.code_field)) and code.lower() not in known})
            if missing:
                for entry_id, code, name in self.conn.execute(
                        sql.SQL("SELECT id, code, name FROM {} WHERE lower(code) = ANY(%s)").format(
                            sql.Identifier(kind.table)), (missing,)):
                    known[code.lower()] = (entry_id, name)
        resolved = []
        for row in batch.valid:
            number, values, cells = row
            problems = {}
            for kind in lists.KINDS:
                if not (code := values.get(kind.code_field)):
                    continue
                found = self.entry_codes[kind.table].get(code.lower())
                named = values[kind.field]
                if found is None:
                    problems[kind.code_field] = f"{kind.code_label} {shown(code)} is not in the {kind.plural} list."
                elif named and named.lower() != found[1].lower():
                    problems[kind.code_field] = (f"{kind.code_label} {code} is {found[1]} in the {kind.plural} list, "
                                                 f"but the row's {RULES_BY_NAME[kind.field].label.lower()} is "
                                                 f"{shown(named)}.")
                else:
                    values[kind.field] = found[1]
            if problems:
                batch.rejections.append(Rejection(number, "invalid", next(iter(problems)), " ".join(problems.values()),
                                                  cells))
            else:
                resolved.append(row)
        batch.valid = resolved

    def _drop_unused_entries(self, batch: Batch, inserted_rows: set[int]) -> dict[str, list[int]]:
        """Take out the departments and jobs this batch added that none of
        its stored or updated rows uses: named only by rows skipped as
        duplicates or refused (the staging table's way resolves names before
        ON CONFLICT decides; a direct COPY that fails leaves them too). No
        other transaction can use an entry before this one commits. Returns
        the ids of the others, by list (some may be gone with a savepoint)."""
        created = {table: entries for table, entries in self.created_entries.items() if entries}
        used = self.updated_entry_names
        self.created_entries = {kind.table: {} for kind in lists.KINDS}
        self.updated_entry_names = {kind.table: set() for kind in lists.KINDS}
        if not created:
            return {}
        dropped, kept = False, {}
        for kind in lists.KINDS:
            entries = created.get(kind.table)
            if not entries:
                continue
            names = used[kind.table] | {name.lower() for number, values, _ in batch.valid
                                        if number in inserted_rows and (name := values[kind.field])}
            unused = [entry_id for entry_id, name in entries.items() if name not in names]
            kept[kind.table] = [entry_id for entry_id in entries if entry_id not in unused]
            if unused:  # checked against employees too: the rule above is this method's, not PostgreSQL's
                gone = self.conn.execute(sql.SQL(
                    "DELETE FROM {list} WHERE id = ANY(%s) AND NOT EXISTS"
                    " (SELECT 1 FROM employees WHERE {column} = {list}.id) RETURNING id").format(
                        list=sql.Identifier(kind.table), column=sql.Identifier(kind.column)),
                    (unused,)).fetchall()
                dropped |= bool(gone)
                kept[kind.table] += sorted(set(unused) - {entry_id for entry_id, in gone})
        if dropped:
            self._forget_entries()
        return kept

    def _record_new_entries(self, created: dict[str, list[int]]) -> None:
        """One audit entry per department or job this batch added and kept
        (subject the list's, action create, this runner's entry_source, the
        import's id and account), in the batch's transaction: one INSERT per
        list, whatever the rows. Entries a savepoint's rollback undid are
        not in their table any more and get none."""
        for kind in lists.KINDS:
            if created.get(kind.table):
                self.conn.execute(sql.SQL(
                    "INSERT INTO audit_log (actor_id, actor_name, subject, entry_pk, entry_name, action, source,"
                    " import_id, changes) SELECT %s, %s, %s, id, name, 'create', %s, %s,"
                    " jsonb_build_object('name', jsonb_build_array(NULL, name)) FROM {} WHERE id = ANY(%s)"
                    " ORDER BY id").format(sql.Identifier(kind.table)),
                    (self.settings.actor_id, self.settings.actor_name, kind.label, self.entry_source,
                     self.settings.import_id, created[kind.table]))

    def _forget_entries(self) -> None:
        """After a rollback: entries created in it are gone (they are looked up again)."""
        self.entries_epoch += 1
        for known in self.entry_ids.values():
            known.clear()

    def _explain_conflicts(self, rows, *, stale_ok: bool) -> list[Rejection]:
        """A duplicate rejection for each row whose ID or e-mail a stored
        employee holds. With stale_ok, rows nobody holds are left out (a stale
        Valkey hit); otherwise such a row (its holder vanished in between)
        is still reported, never lost."""
        if not rows:
            return []
        ids = [row[1]["employee_id"] for row in rows]
        emails = [row[1]["email"] for row in rows if row[1]["email"]]
        holders_by_id, holders_by_email = {}, {}
        for employee_id, email, first, last, import_id, import_row in self.conn.execute(
                "SELECT employee_id, email, first_name, last_name, import_id, import_row FROM employees"
                " WHERE employee_id = ANY(%s) OR email = ANY(%s)", (ids, emails)):
            holder = (employee_id, f"{first} {last}", import_id, import_row)
            holders_by_id[employee_id] = holder
            if email:
                holders_by_email[email] = holder
        rejections, stale = [], {}
        import_id = self.settings.import_id
        for number, values, cells in rows:
            holder = holders_by_id.get(values["employee_id"]) or holders_by_email.get(values["email"])
            if import_id is not None and holder and holder[2] == import_id and holder[3] == number:
                continue  # stored by this import from this very row: not a duplicate of itself
            if values["employee_id"] in holders_by_id:
                holder, what = holders_by_id[values["employee_id"]], f"{ID_LABEL} {values['employee_id']}"
                field_name = "employee_id"
            elif values["email"] and values["email"] in holders_by_email:
                holder, what = holders_by_email[values["email"]], f"{EMAIL_LABEL} {values['email']}"
                field_name = "email"
            else:
                if stale_ok:
                    stale[values["employee_id"]] = values["email"]
                else:
                    rejections.append(Rejection(
                        number, "duplicate", "employee_id",
                        f"{ID_LABEL} {values['employee_id']} conflicted with a record changed at the same moment;"
                        " upload the row again.", cells))
                continue
            employee_id, name, holder_import, import_row = holder
            in_this_file = import_id is not None and holder_import == import_id and import_row != number
            if in_this_file:
                error = f"{what} {self._also_on(import_row)}."
            elif field_name == "email":
                error = f"{what} already exists (employee {employee_id}, {name})."
            else:
                error = f"{what} already exists ({name})."
            rejections.append(Rejection(number, "duplicate", field_name, error, cells, in_this_file,
                                        holder=import_row if in_this_file else employee_id))
        if stale:
            duplicate_guard.forget_values([{"employee_id": k, "email": v} for k, v in stale.items()])
        return rejections

    def _update_existing(self, batch: Batch, rejections: list[Rejection]) -> tuple[list[Rejection], int]:
        """on_existing=update: a row whose employee ID a record from elsewhere
        holds updates that record (the e-mail still through the guard), with
        an audit entry of what changed. Returns (rejections left, updated)."""
        values_by_row = {row[0]: row[1] for row in batch.valid}
        keep, updated = [], 0
        for rejection in rejections:
            values = values_by_row.get(rejection.row_number)
            if values is None or rejection.field != "employee_id" or rejection.in_this_file:
                keep.append(rejection)
                continue
            self.conn.execute("SAVEPOINT row")
            try:
                problem = self._update_one(values)
            except db_errors.ROW_ERRORS as exc:  # refused for its values: this row alone
                self.conn.execute("ROLLBACK TO SAVEPOINT row")
                self.conn.execute("RELEASE SAVEPOINT row")
                self._forget_entries()
                kind, field_name, reason = db_errors.row_refusal(exc)
                log.warning("import %s: update from row %s refused by PostgreSQL: %s", self.settings.import_id,
                            rejection.row_number, db_errors.describe(exc))
                keep.append(Rejection(rejection.row_number, kind, field_name, reason, rejection.cells))
                continue
            self.conn.execute("RELEASE SAVEPOINT row")
            if problem:
                keep.append(Rejection(rejection.row_number, "duplicate", "email", problem, rejection.cells))
            else:
                updated += 1
        return keep, updated

    def _update_one(self, values: dict) -> str | None:
        plain = [c for c in COLUMNS if c not in ENTRY_COLUMNS]
        old = self.conn.execute(
            "SELECT e.id, e.email, d.name, j.name, " + ", ".join(f"e.{c}" for c in plain) +
            " FROM employees e LEFT JOIN departments d ON d.id = e.department_id"
            " LEFT JOIN jobs j ON j.id = e.job_id"
            " WHERE e.employee_id = %s FOR UPDATE OF e", (values["employee_id"],)).fetchone()
        if old is None:
            return "The record was deleted while the file was imported; upload the row again."
        pk, old_email = old[0], old[1]
        before = dict(zip(plain, old[4:]), department=old[2], job_title=old[3])
        if values["email"] and values["email"] != old_email:
            holder = self.conn.execute("SELECT employee_id FROM employees WHERE email = %s AND id <> %s",
                                       (values["email"], pk)).fetchone()
            if holder:
                return f"{EMAIL_LABEL} {values['email']} already exists (employee {holder[0]})."
        changes = audit.diff(_as_json(before), _as_json(values))
        if not changes:
            return None
        self._resolve_entries([(0, values, None)])
        for kind in lists.KINDS:
            if values[kind.field]:
                self.updated_entry_names[kind.table].add(values[kind.field].lower())
        assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in COLUMNS)
        self.conn.execute(sql.SQL("UPDATE employees SET {}, version = version + 1, updated_at = now()"
                                  " WHERE id = %s").format(assignments),
                          [*(self._entry_id(ENTRY_COLUMNS[c], values) if c in ENTRY_COLUMNS else values[c]
                             for c in COLUMNS), pk])
        self.conn.execute(
            "INSERT INTO audit_log (actor_id, actor_name, employee_pk, employee_id, action, source, import_id,"
            " changes) VALUES (%s, %s, %s, %s, 'update', 'import', %s, %s)",
            (self.settings.actor_id, self.settings.actor_name, pk, values["employee_id"],
             self.settings.import_id, json.dumps(changes)))
        if "email" in changes:
            self.forgotten.append({"employee_id": None, "email": old_email})
            self.remembered.append((values["employee_id"], values["email"]))
        return None

    def _store_rejections(self, rejections: list[Rejection]) -> None:
        """(hook) The batch's rejections into import_rejections, for the report."""
        if not rejections:
            return
        conn = self.conn if self.commits else self.side_conn
        with conn.cursor().copy("COPY import_rejections (import_id, row_number, kind, field, error, cells)"
                                " FROM STDIN") as copy:
            for r in rejections:
                copy.write_row((self.settings.import_id, r.row_number, r.kind, r.field, storable(r.error),
                                [storable(cell) for cell in bounded(r.cells)]))


_NULL = "\\N"  # COPY's text format: NULL
_LAST_FIELD = len(COLUMNS) - 1  # tabs between a row's values


def _escaped(text: str) -> str:
    """A value in COPY's text format (dates and numbers print as COPY reads them)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def bounded(cells: list[str]) -> list[str]:
    """A rejected row's cells, cut to MAX_ROW_CHARS characters in all."""
    if sum(map(len, cells)) <= MAX_ROW_CHARS:
        return cells
    kept, room = [], MAX_ROW_CHARS
    for cell in cells:
        kept.append(cell[:room])
        room -= len(kept[-1])
    return kept


def storable(text: str) -> str:
    """Text PostgreSQL can keep whatever a file held: a NUL (which no text
    column accepts) becomes U+FFFD, the mark of a character that was lost."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


@contextmanager
def fewer_collections(threshold: int = 100_000):
    """Python's cyclic garbage collector runs every 700 new container
    objects and walks the young ones; the batches in flight hold some
    200,000 (each row's cells, its values, its tuple), which it walks again
    and again: a quarter of the reader's CPU (measured: 32 against 24 us per
    row read, mapped and validated). The rows make no reference cycles (their
    memory goes back by reference counting), so while an import runs the
    collector runs every `threshold` new objects instead."""
    old = gc.get_threshold()
    gc.set_threshold(threshold, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


@contextmanager
def prompt_switches(interval: float = 0.001):
    """The main thread spends most of an import waiting for PostgreSQL; each
    time an answer comes back it needs the GIL, which the reader thread
    (busy validating) gives up only after sys.getswitchinterval(), 5 ms by
    default. Some twenty waits a batch, at up to 5 ms each, leave
    PostgreSQL idle for up to 0.1 s of every batch: while an import runs,
    the reader lets go after `interval` instead. (Process-wide, like the
    collector's threshold: an import runs in a work horse of its own.)"""
    old = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def prefetched(items, depth: int):
    """Iterate over items produced by a background thread, up to depth ahead.
    An error in the producer is raised here; leaving the loop stops it."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(("end", done))
        except BaseException as exc:  # handed to the consumer
            buffer.put(("error", exc))

    producer = threading.Thread(target=produce, name="import-reader", daemon=True)
    producer.start()
    try:
        while True:
            kind, item = buffer.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)


def _tell_valkey(remembered: list[tuple[str, str | None]], forgotten: list[dict]) -> None:
    duplicate_guard.forget_values(forgotten)
    duplicate_guard.remember_keys([k[0] for k in remembered], [k[1] for k in remembered if k[1]])


def _as_json(values: dict) -> dict:
    return {name: audit.json_value(values.get(name)) for name in audit.AUDITED_FIELDS}


def save_progress(conn: psycopg.Connection, import_id: int, counts: Counts, last_row: int) -> None:
    conn.execute(
        "UPDATE imports SET rows_read = %s, inserted = %s, updated = %s, duplicates = %s, invalid = %s,"
        " resume_row = %s WHERE id = %s",
        (counts.rows_read, counts.inserted, counts.updated, counts.duplicates, counts.invalid, last_row,
         import_id))
