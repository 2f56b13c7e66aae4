"""Bulk mode: a large import loads into employees without its secondary
indexes and without a report-summary row per batch, and puts both back at
its end.

Why: per row, maintaining the trigram index and the list's btrees costs
several times what building them once afterwards costs, and the summary
triggers write about three summary rows per employee when fed 5,000 rows at
a time, where one sum over the import's rows writes far fewer
(bench/README.md has the figures).

What never moves:
- Unique constraints (and the primary key) stay: the duplicate promise is
  PostgreSQL's, whatever mode loads the rows. Only indexes that back no
  constraint and are not unique are dropped.
- Every dropped index's exact definition (pg_get_indexdef) is kept in
  bulk_load_indexes, in the transaction that drops it, and an index is built
  again in the transaction that deletes its row: a load that dies (worker
  killed, database restarted) leaves the definitions, and the next worker
  start, the next import run or the page that notices the dead import
  builds them (recover()).
- One bulk load at a time: it holds BULK_LOCK (a session advisory lock, so
  it ends with the worker's connection, however the worker dies) from the
  drop to the last build; recovery takes the same lock, so it never builds
  an index a live load has just dropped. A second large import that starts
  meanwhile runs in the ordinary mode (and finds the indexes gone, which
  only makes it faster).
- Searches meanwhile read the same rows without the indexes (slower, still
  right), and the list and the reports say that an import is loading.
- The report summaries leave the rows of a loading import out
  (bulk_load_rows, migration 0010) and report_summaries_fold() adds them at
  its end, under a SHARE lock on employees. Until then the reports say that
  they do not count that import yet.

Building the indexes takes a SHARE lock on employees (as CREATE INDEX does):
reads go on, writes (a form, an edit) wait until each index is built. Two
connections build them side by side, the largest first.
"""
import contextvars
import logging
import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# pg_advisory_lock(class, id): the one bulk load, or recovery, at a time.
BULK_LOCK = (7_003, 1)
# A bulk load also needs the file to be a fair share of the table: building
# the indexes again reads the whole table, while keeping them costs per row.
MIN_SHARE_OF_TABLE = 0.2
# Connections that build the indexes side by side (each with no parallel
# workers of its own: on two cores two builds already fill the machine).
BUILD_CONNECTIONS = 2
# Dropping the indexes needs the table to itself for a moment: wait at most
# this long each time (every query on employees queues behind the waiting
# DROP), and give bulk mode up after DROP_ATTEMPTS.
DROP_LOCK_TIMEOUT = "2s"
DROP_ATTEMPTS = 5
# Building needs writers out of the way: each try waits this long, then
# lets the queued writers through before trying again.
BUILD_LOCK_TIMEOUT = "2s"
BUILD_RETRY_SECONDS = 0.5

SECONDARY_INDEXES_SQL = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'employees'::regclass AND NOT x.indisunique AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""


def wants_bulk(conn: psycopg.Connection, rows: int, min_rows: int) -> bool:
    """Whether an import of about `rows` rows should load in bulk: at least
    min_rows, and at least MIN_SHARE_OF_TABLE of the rows stored now (the
    planner's estimate: no count of a big table)."""
    if min_rows <= 0 or rows < min_rows:
        return False
    stored = conn.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'employees'::regclass"
                          ).fetchone()[0]
    return rows >= MIN_SHARE_OF_TABLE * stored


class BulkLoad:
    """One import's bulk load: begin() drops the indexes (False: bulk mode is
    not available now, load as usual), finish() builds them and folds the
    summaries. Holds its own autocommit connection, and on it BULK_LOCK,
    from begin() to finish() or close()."""

    def __init__(self, url: str, import_id: int, after_row: int):
        self.url, self.import_id, self.after_row = url, import_id, after_row
        self.conn: psycopg.Connection | None = None

    def begin(self) -> bool:
        try:
            return self._begin()
        except BaseException:
            self.close()
            raise

    def _begin(self) -> bool:
        self.conn = psycopg.connect(self.url, autocommit=True)
        if not _try_lock(self.conn):
            log.info("import %s: another bulk load is running; this one loads as usual", self.import_id)
            self.close()
            return False
        # What a dead load left: its rows into the summaries now (this load
        # keeps its own: a rerun continues them); its dropped indexes stay
        # dropped, built with this load's at its end.
        for (other,) in self.conn.execute("SELECT import_id FROM bulk_load_rows WHERE import_id <> %s",
                                          (self.import_id,)).fetchall():
            _fold(self.conn, other)
        for attempt in range(DROP_ATTEMPTS):
            try:
                with self.conn.transaction():
                    self.conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                    self._drop_indexes()
                return True
            except psycopg.errors.LockNotAvailable:
                log.info("import %s: employees busy, dropping its indexes again (attempt %d)", self.import_id,
                         attempt + 1)
                time.sleep(BUILD_RETRY_SECONDS * (attempt + 1))
        log.warning("import %s: the indexes could not be dropped (the table stayed busy); it loads as usual",
                    self.import_id)
        if self.conn.execute("SELECT EXISTS (SELECT 1 FROM bulk_load_indexes)").fetchone()[0]:
            # A dead load's indexes are still to be built: this load does it.
            self.conn.execute("INSERT INTO bulk_load_rows (import_id, after_row) VALUES (%s, %s)"
                              " ON CONFLICT (import_id) DO NOTHING", (self.import_id, self.after_row))
            return True
        self.close()
        return False

    def _drop_indexes(self) -> None:
        self.conn.execute("LOCK TABLE employees IN ACCESS EXCLUSIVE MODE")
        self.conn.execute("INSERT INTO bulk_load_rows (import_id, after_row) VALUES (%s, %s)"
                          " ON CONFLICT (import_id) DO NOTHING", (self.import_id, self.after_row))
        for name, definition in self.conn.execute(SECONDARY_INDEXES_SQL).fetchall():
            self.conn.execute("INSERT INTO bulk_load_indexes (name, definition, import_id) VALUES (%s, %s, %s)"
                              " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition,"
                              " import_id = excluded.import_id, dropped_at = now()",
                              (name, definition, self.import_id))
            self.conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))

    def finish(self, on_step=None) -> None:
        """Build the dropped indexes, fold the summaries, release the lock."""
        try:
            restore(self.url, on_step=on_step)
        finally:
            self.close()

    def close(self) -> None:
        """Release the lock (closing the connection does)."""
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def _try_lock(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT pg_try_advisory_lock(%s, %s)", BULK_LOCK).fetchone()[0]


def _fold(conn: psycopg.Connection, import_id: int) -> None:
    """The import's loaded rows into the report summaries (see migration 0010)."""
    while True:
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{BUILD_LOCK_TIMEOUT}'")
                conn.execute("SELECT report_summaries_fold(%s)", (import_id,))
            return
        except psycopg.errors.LockNotAvailable:
            time.sleep(BUILD_RETRY_SECONDS)


FOLD_COST = 30


@dataclass(order=True)
class _Step:
    cost: int
    name: str
    definition: str | None = None  # an index's; None: fold this import's rows
    import_id: int | None = None


def cost_of(definition: str) -> int:
    """A rough order of building times (largest first keeps the two
    builders busy to the end): on a million rows the trigram index takes
    13 s, the natural ID order (two regular expressions a row) 6 s, the
    fold 4 s (FOLD_COST), btrees 1 to 3.5 s, more with more columns."""
    if "USING gin" in definition:
        return 100
    if "regexp" in definition:
        return 45
    return 10 + 5 * definition.split("USING", 1)[-1].count(",")


def restore(url: str, on_step=None) -> int:
    """Build every index in bulk_load_indexes and fold every import in
    bulk_load_rows, on BUILD_CONNECTIONS connections side by side. The
    caller holds BULK_LOCK. Returns the number of steps done."""
    with psycopg.connect(url, autocommit=True) as conn:
        steps = [_Step(cost_of(definition), name, definition)
                 for name, definition in conn.execute("SELECT name, definition FROM bulk_load_indexes")]
        steps += [_Step(FOLD_COST, f"summaries of import {import_id}", None, import_id)
                  for (import_id,) in conn.execute("SELECT import_id FROM bulk_load_rows")]
    if not steps:
        return 0

    def run(conn: psycopg.Connection, step: _Step) -> None:
        started = time.perf_counter()
        if step.definition is None:
            _fold(conn, step.import_id)
        else:
            _build(conn, step.name, step.definition)
        log.info("bulk load: %s in %.1f s", step.name, time.perf_counter() - started)
        if on_step:
            on_step(step.name)

    side_by_side(url, sorted(steps, reverse=True), run)
    return len(steps)


def side_by_side(url: str, steps: list, run_step) -> None:
    """run_step(conn, step) for each step, in the given order, on
    BUILD_CONNECTIONS autocommit connections side by side (each with no
    parallel workers of its own). The first error stops the others taking
    new steps and is raised here."""
    queue, lock, errors = list(steps), threading.Lock(), []

    def builder():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET max_parallel_maintenance_workers = 0")
                while True:
                    with lock:
                        if not queue or errors:
                            return
                        step = queue.pop(0)
                    run_step(conn, step)
        except BaseException as exc:  # raised in the caller's thread below
            with lock:
                errors.append(exc)

    # Each thread in a copy of this context: their lines carry the import's request id.
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(builder,), name=f"bulk-build-{n}",
                                daemon=True)
               for n in range(min(BUILD_CONNECTIONS, len(queue)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _build(conn: psycopg.Connection, name: str, definition: str) -> None:
    """One index from its stored definition, in the transaction that deletes
    its row (an index someone built meanwhile is kept as it is)."""
    while True:
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{BUILD_LOCK_TIMEOUT}'")
                conn.execute("LOCK TABLE employees IN SHARE MODE")
                conn.execute("SET LOCAL lock_timeout = 0")
                exists = conn.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", (name,)).fetchone()[0]
                if not exists:
                    conn.execute(definition)
                conn.execute("DELETE FROM bulk_load_indexes WHERE name = %s", (name,))
            return
        except psycopg.errors.LockNotAvailable:
            time.sleep(BUILD_RETRY_SECONDS)


def recover(url: str) -> bool:
    """Put back what a dead bulk load left (its indexes, its rows in the
    summaries), unless a live load holds the lock. True if anything was done."""
    with psycopg.connect(url, autocommit=True) as conn:
        pending = conn.execute("SELECT EXISTS (SELECT 1 FROM bulk_load_indexes)"
                               " OR EXISTS (SELECT 1 FROM bulk_load_rows)").fetchone()[0]
        if not pending or not _try_lock(conn):
            return False
        try:
            done = restore(url)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", BULK_LOCK)
    if done:
        log.warning("bulk load recovery: %d indexes or summaries of a load that stopped were put back", done)
    return bool(done)


def recover_in_background(url: str) -> None:
    """recover() in a thread of its own (building indexes takes a while):
    for the web process, which notices a dead import while showing a page."""
    def run():
        try:
            recover(url)
        except Exception as exc:  # logged; the next worker start or import tries again
            log.warning("bulk load recovery failed: %s", type(exc).__name__)

    threading.Thread(target=run, name="bulk-load-recovery", daemon=True).start()


# --- what pages say while a bulk load runs -------------------------------------

@dataclass(frozen=True)
class Loading:
    import_id: int | None  # the import whose rows are loading (None: only indexes are being built)


_cache: dict[str, tuple[float, Loading | None]] = {}
_cache_lock = threading.Lock()
CACHE_SECONDS = 2.0


def loading(session) -> Loading | None:
    """The bulk load in progress, if any, as a page tells it; read at most
    every CACHE_SECONDS per process (a page shown meanwhile may be that late)."""
    now = time.monotonic()
    cached = _cache.get("state")
    if cached and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    from sqlalchemy import text

    row = session.execute(text(
        "SELECT (SELECT min(import_id) FROM bulk_load_rows),"
        " EXISTS (SELECT 1 FROM bulk_load_indexes) OR EXISTS (SELECT 1 FROM bulk_load_rows)")).one()
    state = Loading(row[0]) if row[1] else None
    with _cache_lock:
        _cache["state"] = (now, state)
    return state
