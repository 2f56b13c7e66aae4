"""Import jobs: from an uploaded file to a queued job, the job's run in a
worker, its progress and its report."""
import contextvars
import logging
import os
import threading
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from flask import current_app
from sqlalchemy import func, select, update

from ... import request_ids
from ...extensions import db
from ...models import ColumnMapping, ImportJob, User
from .. import db_errors, duplicate_guard, reports, text_rules
from ..employee_rules import shown
from ..errors import InvalidInput
from . import bulk
from . import mapping as mappings
from .files import FileFormat, FileRefused, detect_format, estimate_xlsx_rows, read_records, save_stream
from .pipeline import Counts, ImportRunner, Settings, save_progress

log = logging.getLogger(__name__)

QUEUE_NAME = "imports"
SAMPLE_ROWS = 200
SAMPLES_PER_COLUMN = 3  # values the mapping page shows for each column
SAMPLE_CHARS = 60  # ... each cut to this many characters
JOB_TIMEOUT = 6 * 3600


# --- from upload to job ------------------------------------------------------

@dataclass
class Column:
    """One column of a file, as the mapping page shows it."""
    number: int  # 1 for the first column
    header: str | None  # its cell in the first row, when that row is a header
    samples: list[str]  # a few different values from the rows after the header
    target: str  # the field chosen (or suggested) for it

    @property
    def letter(self) -> str:
        """Its name in a spreadsheet, where HR staff open the file: 1 -> A, 28 -> AB."""
        letters, number = "", self.number
        while number:
            number, remainder = divmod(number - 1, 26)
            letters = chr(ord("A") + remainder) + letters
        return letters


@dataclass
class Preview:
    has_header: bool
    columns: list[Column]
    remembered_shape: bool  # the mapping is the one confirmed last for headerless files of this shape


def create_import(stream, filename: str, *, mode: str, on_existing: str, user: User | None,
                  queue: bool = True, has_header: bool | None = None, hold: bool = False) -> ImportJob:
    """Store the upload, read its first rows and either queue the import
    (headers all recognised, or a mapping remembered for them) or leave it
    waiting for the person to confirm a mapping. Raises FileRefused; the
    stored file is deleted on any error.

    has_header: whether the first row is a header, when the caller knows
    (detected otherwise). hold: always leave it at the mapping, for a caller
    that brings its own (the API: confirm_mapping next)."""
    upload_dir = current_app.config["UPLOAD_DIR"]
    os.makedirs(upload_dir, exist_ok=True)
    path = os.path.join(upload_dir, f"{uuid.uuid4().hex}.upload")
    try:
        return _create_import(path, stream, display_filename(filename), mode=mode, on_existing=on_existing,
                              user=user, queue=queue, has_header=has_header, hold=hold)
    except BaseException:
        db.session.rollback()
        if os.path.exists(path) and not db.session.query(ImportJob.id).filter_by(stored_path=path).first():
            os.unlink(path)
        raise


def display_filename(raw: str | None) -> str:
    """The upload's name as pages show it: the last part of the path, without
    control, invisible or direction-changing characters (a "‮" could make
    "fdp.exe" read as "exe.pdf"), at most 255 characters. The file is
    stored under a random name whatever this says."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = text_rules.INVISIBLE_RE.sub("", text_rules.FORBIDDEN_RE.sub("", name))
    name = unicodedata.normalize("NFC", " ".join(name.split()))
    return name[:255] or "upload"


def _create_import(path: str, stream, filename: str, *, mode: str, on_existing: str, user: User | None,
                   queue: bool, has_header: bool | None, hold: bool) -> ImportJob:
    size, sha256 = save_stream(stream, path, current_app.config["MAX_IMPORT_BYTES"])
    detected = detect_format(path)
    numbered = _numbered_sample(path, detected)
    if not numbered:
        raise FileRefused("The file is empty: there are no rows to import.")
    titles = mappings.title_rows([cells for _, cells in numbered]) if has_header is not False else 0
    header_row = numbered[titles][0] if titles else 0
    sample = [cells for _, cells in numbered[titles:]]

    first_row = sample[0]
    if has_header is None:
        has_header = mappings.looks_like_header(first_row)
    body = sample[1:] if has_header else sample
    remembered = _remembered_mapping(sample, has_header)
    mapping = remembered.mapping if remembered else mappings.suggest_mapping(first_row, body, has_header)
    all_recognised = has_header and not mappings.unmatched_columns(first_row, body, mapping)
    if all_recognised and "employee_id" not in mapping and not hold:
        raise FileRefused("The file has no employee_id column. Every employee needs an ID: add a column "
                          "named employee_id (see the template).")

    job = ImportJob(
        user_id=user.id if user else None, filename=filename,
        stored_path=path, file_size=size, file_sha256=sha256, file_format=detected.kind,
        encoding=detected.encoding, delimiter=detected.delimiter, mode=mode, on_existing=on_existing,
        has_header=has_header, header_row=header_row, mapping=mapping, status="mapping",
        total_rows_estimate=_estimate_rows(path, detected, size, [cells for _, cells in numbered]),
        request_id=request_ids.current(),
    )
    db.session.add(job)
    db.session.commit()
    # A mapping remembered for a headerless file's shape is only offered: a
    # shape is a likeness, where the same headers are the same file layout.
    straight_through = (has_header and remembered is not None) or all_recognised
    if straight_through and not hold and not mappings.mapping_problems(mapping):
        if queue:
            start(job, from_statuses=("mapping",))
        else:  # the command line runs it in its own process
            job.status = "queued"
            db.session.commit()
    return job


def _sample(path: str, file_format: FileFormat, from_row: int = 0) -> list[list[str]]:
    """The cells of the file's first records, from row from_row on."""
    return [cells for number, cells in _numbered_sample(path, file_format) if number >= from_row]


def _numbered_sample(path: str, file_format: FileFormat) -> list[tuple[int, list[str]]]:
    """The file's first records with their row numbers. A record past a
    size limit among them refuses the file (413), before anything else is
    done with it."""
    rows = []
    try:
        for number, cells, problem in read_records(path, file_format):
            if problem:
                raise FileRefused(f"{problem} The file is refused: remove what is not employee data and "
                                  "upload it again.", 413)
            rows.append((number, cells))
            if len(rows) >= SAMPLE_ROWS:
                break
    except FileRefused:
        raise
    except Exception as exc:  # a corrupt workbook or CSV the readers choke on
        log.info("unreadable upload: %s", type(exc).__name__)
        raise FileRefused("The file could not be read as CSV or XLSX.") from None
    return rows


def _sample_after_title(job: ImportJob) -> list[list[str]]:
    """The file's first records from its header (or first data row) on."""
    return _sample(job.stored_path, file_format(job), job.header_row)


def _estimate_rows(path: str, file_format: FileFormat, size: int, sample: list[list[str]]) -> int | None:
    """How many records the file holds, for the progress bar: a hint only."""
    if len(sample) < SAMPLE_ROWS:
        return len(sample)
    if file_format.kind == "xlsx":
        return estimate_xlsx_rows(path)
    sampled_bytes = sum(len(file_format.delimiter.join(row)) + 2 for row in sample)
    return int(size / max(sampled_bytes / len(sample), 1))


def _remembered_mapping(rows: list[list[str]], has_header: bool) -> ColumnMapping | None:
    """The mapping confirmed last for files with these headers, or for
    headerless files of this shape."""
    return db.session.get(ColumnMapping, _mapping_key(rows, has_header))


def _mapping_key(rows: list[list[str]], has_header: bool) -> str:
    return mappings.header_key(rows[0]) if has_header else mappings.shape_key(rows)


def preview(job: ImportJob, has_header: bool | None = None, chosen: list[str] | None = None) -> Preview:
    """The file's columns for the mapping page, with the first row as a
    header or not (has_header; the job's own setting by default) and the
    fields chosen so far (the job's mapping by default)."""
    rows = _sample_after_title(job)
    has_header = job.has_header if has_header is None else has_header
    chosen = _fitted(chosen if chosen is not None else job.mapping or [], rows)
    body = rows[1:] if has_header else rows
    columns = [Column(number=index + 1,
                      header=shown(rows[0][index], SAMPLE_CHARS) if has_header and index < len(rows[0]) else None,
                      samples=_samples(body, index), target=target)
               for index, target in enumerate(chosen)]
    remembered = None if has_header else _remembered_mapping(rows, has_header)
    return Preview(has_header=has_header, columns=columns,
                   remembered_shape=remembered is not None and remembered.mapping == chosen)


def _fitted(mapping: list[str], rows: list[list[str]]) -> list[str]:
    """A target for each of the file's columns: choices past its last
    column dropped, columns without one ignored."""
    width = max((len(row) for row in rows), default=0)
    return (list(mapping) + [mappings.IGNORE] * width)[:width]


def _samples(rows: list[list[str]], index: int) -> list[str]:
    """A few different values of a column, each on one line and cut short."""
    samples: list[str] = []
    for value in mappings.column_values(rows, index):
        value = shown(" ".join(value.split()), SAMPLE_CHARS)
        if value not in samples:
            samples.append(value)
            if len(samples) == SAMPLES_PER_COLUMN:
                break
    return samples


def confirm_mapping(job: ImportJob, mapping: list[str], has_header: bool) -> None:
    """Use the person's mapping, remember it for the same headers (or, for
    a headerless file, the same shape), queue the import. Raises
    InvalidInput (nothing queued) if it cannot work."""
    if job.status != "mapping":
        raise InvalidInput({"mapping": "This import has already started."})
    problems = mappings.mapping_problems(mapping)
    if problems:
        raise InvalidInput({"mapping": " ".join(problems)})
    rows = _sample_after_title(job)
    job.mapping, job.has_header = _fitted(mapping, rows), has_header
    key = _mapping_key(rows, has_header)
    remembered = db.session.get(ColumnMapping, key) or ColumnMapping(header_key=key)
    remembered.mapping = job.mapping
    db.session.add(remembered)
    db.session.commit()
    start(job, from_statuses=("mapping",))


class NotCancellable(Exception):
    """The import is past the column mapping: it can no longer be cancelled."""


def cancel(job: ImportJob) -> None:
    """Cancel an import waiting at the column mapping: nothing was written,
    and its uploaded file is deleted. Cancelling a cancelled import again
    (a second click) does nothing; one that started raises NotCancellable."""
    cancelled = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.status == "mapping")
        .values(status="cancelled", finished_at=func.now()).returning(ImportJob.id)).first()
    db.session.commit()
    db.session.refresh(job)
    if cancelled is None and job.status != "cancelled":
        raise NotCancellable(job.status)
    if os.path.exists(job.stored_path):
        os.unlink(job.stored_path)


def file_format(job: ImportJob) -> FileFormat:
    return FileFormat(job.file_format, job.encoding, job.delimiter)


# --- the queue ---------------------------------------------------------------

def queue_connection(url: str | None = None, *, timeout: float | None = None):
    """RQ's connection to Valkey. The web app passes VALKEY_TIMEOUT and no
    retries, so that queueing an import never outlasts a hung Valkey; the
    worker's blocking dequeue sets its own timeouts."""
    from redis.retry import Retry
    from redis.backoff import NoBackoff

    from ...valkey_url import redis_client

    url = url or current_app.config["VALKEY_URL"]
    if timeout is None:
        return redis_client(url)
    return redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))


def get_queue(url: str | None = None, *, timeout: float | None = None):
    from rq import Queue

    return Queue(QUEUE_NAME, connection=queue_connection(url, timeout=timeout))


class NotStarted(Exception):
    """The import cannot be (re)started from its present state."""


def start(job: ImportJob, *, from_statuses: tuple[str, ...]) -> bool:
    """Queue the import for a worker, if it is still in one of from_statuses.

    The status moves to "queued" with a new run id in one compare-and-set
    UPDATE, so of two clicks on "Run it again" one queues a run and the
    other finds it queued already (returns False). If Valkey cannot take the
    job (down, or hung past VALKEY_TIMEOUT), the import is marked failed with
    the reason and can be started again."""
    run_id = f"import-{job.id}-{uuid.uuid4().hex[:12]}"
    claimed = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.status.in_(from_statuses),
                                ImportJob.upload_deleted_at.is_(None))
        .values(status="queued", job_id=run_id, error=None, heartbeat_at=func.now(), finished_at=None)
        .returning(ImportJob.id)).first()
    db.session.commit()
    db.session.refresh(job)
    if claimed is None:
        return False
    from redis.exceptions import RedisError
    from rq import Callback

    try:
        get_queue(timeout=current_app.config["VALKEY_TIMEOUT"]).enqueue(
            "employee_app.services.importer.jobs.run_import_job", job.id, on_failure=Callback(on_job_failure),
            job_id=run_id, job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=7 * 24 * 3600)
    except RedisError as exc:
        log.warning("import %s could not be queued: %s", job.id, type(exc).__name__)
        mark_failed(job.id, NOT_QUEUED, run_id)
        db.session.refresh(job)
    return True


NOT_QUEUED = ("it could not be queued: the job queue (Valkey) did not answer. Nothing was written; "
              "start it again once the queue is back")
LOST_FROM_QUEUE = ("the job queue lost it before a worker started it (Valkey was restarted or emptied). "
                   "Nothing was written; start it again")
WORKER_STOPPED = "the worker running it stopped before it finished"
LOST_AT_START = ("a worker took it from the queue but lost the job queue (Valkey) before it could start it. "
                 "Nothing was written; start it again")


def rerun(job: ImportJob) -> bool:
    """"Run it again" on a failed import: it continues after the rows it
    committed. False if it is not failed (any more), e.g. a second click."""
    return start(job, from_statuses=("failed",))


def run_import_job(import_id: int) -> dict:
    """The worker's entry point (RQ imports it by name): an app of its own.
    Only the run this RQ job was queued as may work on the import."""
    from rq import get_current_job

    from ... import create_app

    current = get_current_job()
    app = create_app()
    with app.app_context():
        # Its log lines carry the request id of the upload that created it.
        token = request_ids.use(db.session.scalar(select(ImportJob.request_id).where(ImportJob.id == import_id)))
        try:
            log.info("import %s: run %s starts", import_id, current.id if current else None)
            counts = run_import(import_id, run_id=current.id if current else None)
            if counts:
                log.info("import %s: %d rows read: %d inserted, %d updated, %d duplicates, %d invalid", import_id,
                         counts.rows_read, counts.inserted, counts.updated, counts.duplicates, counts.invalid)
        finally:
            request_ids.reset(token)
        return vars(counts) if counts else {}


# --- the run -------------------------------------------------------------------

class ImportFailed(Exception):
    """An import stopped; the message is in words, without the file's data."""


def run_import(import_id: int, *, run_id: str | None = None, on_progress=None) -> Counts | None:
    """Run an import to the end in this process. A rerun of a failed import
    continues after the rows it committed, so nothing is imported twice.

    Returns None, doing nothing, when this is not the import's current run
    (a stale queue entry) or another runner holds the import (its lock)."""
    url = psycopg_url()
    with psycopg.connect(url, autocommit=True) as side:
        if not side.execute("SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, import_id % 2**31)).fetchone()[0]:
            log.warning("import %s: another runner holds it; run %s does nothing", import_id, run_id)
            return None
        claimed = side.execute(
            "UPDATE imports SET status = 'running', error = NULL, finished_at = NULL, heartbeat_at = now(),"
            " started_at = coalesce(started_at, now()) WHERE id = %s AND status = 'queued'"
            " AND job_id IS NOT DISTINCT FROM %s RETURNING id", (import_id, run_id)).fetchone()
        if claimed is None:
            log.warning("import %s: run %s is not its current run; nothing done", import_id, run_id)
            return None
        job = db.session.get(ImportJob, import_id, populate_existing=True)
        try:
            with Heartbeat(url, import_id, run_id, current_app.config["IMPORT_WORKER_HEARTBEAT"]):
                counts = _run(job, run_id, side, url, on_progress)
        except Exception as exc:
            reason = failure_reason(exc)
            log.error("import %s stopped: %s", import_id, describe_failure(exc), exc_info=not is_expected(exc))
            mark_failed(import_id, reason, run_id, side)
            raise ImportFailed(f"import {import_id} stopped: {reason}") from None
        finally:
            db.session.expire_all()
    return counts


RUN_LOCK_CLASS = 7_001  # the advisory-lock class of import runs: (class, import id)


def _bulk_load(side: psycopg.Connection, url: str, import_id: int, mode: str, rows_left: int,
               resume_row: int) -> bulk.BulkLoad | None:
    """A large import in a mode that writes loads in bulk (bulk.py), if no
    other bulk load is running; any other run first puts back what a dead
    bulk load left (unless a live one holds it)."""
    if mode != "dry_run" and bulk.wants_bulk(side, rows_left, current_app.config["IMPORT_BULK_MIN_ROWS"]):
        load = bulk.BulkLoad(url, import_id, resume_row)
        if load.begin():
            log.info("import %s: loading about %d rows in bulk", import_id, rows_left)
            return load
    bulk.recover(url)
    return None


def _run(job: ImportJob, run_id: str | None, side: psycopg.Connection, url: str, on_progress) -> Counts:
    actor = db.session.get(User, job.user_id) if job.user_id else None
    import_id, mode = job.id, job.mode
    settings = Settings(import_id=import_id, mode=mode, mapping=job.mapping, has_header=job.has_header,
                        header_row=job.header_row,
                        file_format=file_format(job), path=job.stored_path,
                        actor_id=actor.id if actor else None, actor_name=actor.username if actor else None,
                        resume_row=job.resume_row if mode == "valid_rows" else 0, on_existing=job.on_existing,
                        filename=job.filename)
    committed = Counts(job.rows_read, job.inserted, job.duplicates, job.invalid, job.updated)
    if mode != "valid_rows" or job.resume_row == 0:
        committed = Counts()
        side.execute("DELETE FROM import_rejections WHERE import_id = %s", (import_id,))
    rows_left = max((job.total_rows_estimate or 0) - settings.resume_row, 0)
    db.session.rollback()  # no transaction left open while the import runs

    load = _bulk_load(side, url, import_id, mode, rows_left, settings.resume_row)
    try:
        with psycopg.connect(url) as conn:
            runner = ImportRunner(settings, conn, side, counts=committed, on_batch=on_progress)
            try:
                counts = runner.run()
            except BaseException:
                conn.rollback()
                raise
            if mode == "valid_rows":
                conn.commit()
                outcome = "done"
            elif mode == "all_or_nothing" and counts.duplicates + counts.invalid == 0:
                conn.commit()
                _remember_imported(conn, import_id)
                outcome = "done"
            else:  # nothing written
                conn.rollback()
                outcome = "checked" if mode == "dry_run" else "refused"
    except Exception:
        if load is not None:  # the rows committed so far get their indexes and summaries now
            try:
                load.finish()
            except Exception as exc:  # the next worker start or import does it
                log.warning("import %s: its indexes could not be built yet: %s", import_id, describe_failure(exc))
        raise
    except BaseException:  # interrupted: the lock goes with the connection, recovery builds them
        if load is not None:
            load.close()
        raise
    if load is not None:
        load.finish()
    save_progress(side, import_id, counts, runner.last_row if mode == "valid_rows" else 0)
    if outcome == "done" and counts.inserted + counts.updated:
        # The list's unfiltered total is the planner's estimate
        # (pg_class.reltuples): bring it up to date before the import says done.
        side.execute("ANALYZE employees")
        # The report summaries got rows from every batch (triggers on
        # employees): merge them, so the reports read few rows again.
        reports.compact_summaries()
    side.execute("UPDATE imports SET status = %s, finished_at = now() WHERE id = %s"
                 " AND job_id IS NOT DISTINCT FROM %s", (outcome, import_id, run_id))
    return counts


class Heartbeat:
    """While an import runs: imports.heartbeat_at = now() every `interval`
    seconds, from a thread with its own connection. reconcile() reads it."""

    def __init__(self, url: str, import_id: int, run_id: str | None, interval: float):
        self.url, self.import_id, self.run_id, self.interval = url, import_id, run_id, interval
        self.stop = threading.Event()
        # In a copy of this context: its lines carry the import's request id.
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._beat,),
                                       name=f"import-{import_id}-heartbeat", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self.stop.wait(self.interval):
                    conn.execute("UPDATE imports SET heartbeat_at = now() WHERE id = %s"
                                 " AND job_id IS NOT DISTINCT FROM %s", (self.import_id, self.run_id))
        except psycopg.Error as exc:  # the import itself will meet the same trouble and say so
            log.warning("import %s: heartbeat stopped: %s", self.import_id, db_errors.describe(exc))


def is_expected(exc: BaseException) -> bool:
    """Failures that need no traceback in the log (their cause is outside the code)."""
    return isinstance(exc, (psycopg.OperationalError, FileNotFoundError, MemoryError, FileRefused))


def failure_reason(exc: BaseException) -> str:
    """Why an import stopped, for the person who started it."""
    if isinstance(exc, psycopg.OperationalError):
        return "the connection to the database was lost"
    if isinstance(exc, FileNotFoundError):
        return "the uploaded file is no longer on the server"
    if isinstance(exc, MemoryError):
        return "the worker ran out of memory"
    if isinstance(exc, FileRefused):  # found deep in a file, past the rows checked at upload
        return exc.message.rstrip(".")
    return "an unexpected error (it is in the worker's log under this import's number)"


def describe_failure(exc: BaseException) -> str:
    """For the log: the error's kind, never a database message with values."""
    return db_errors.describe(exc) if db_errors.is_database_error(exc) else type(exc).__name__


def _remember_imported(conn: psycopg.Connection, import_id: int) -> None:
    """After an all-or-nothing commit: the new records into Valkey."""
    with conn.cursor(name="remember") as cur:
        cur.execute("SELECT employee_id, email FROM employees WHERE import_id = %s", (import_id,))
        while rows := cur.fetchmany(10_000):
            duplicate_guard.remember_values([{"employee_id": i, "email": e} for i, e in rows])
    conn.commit()


def mark_failed(import_id: int, error: str, run_id: str | None, conn: psycopg.Connection | None = None) -> None:
    """Fail the import's run `run_id`, if it is still queued or running: a
    late callback of an earlier run never fails the run after it."""
    statement = ("UPDATE imports SET status = 'failed', finished_at = now(), error = %s"
                 " WHERE id = %s AND status IN ('queued', 'running') AND job_id IS NOT DISTINCT FROM %s")
    if conn is not None:
        conn.execute(statement, (error[:2000], import_id, run_id))
        return
    with psycopg.connect(psycopg_url(), autocommit=True) as own:
        own.execute(statement, (error[:2000], import_id, run_id))


def fail_not_started(rq_job) -> None:
    """A worker took this run from the queue and lost Valkey before it
    could start it: RQ's records of the job may never say so, so the
    import is failed here, to be started again from its page."""
    if rq_job.args:
        mark_failed(rq_job.args[0], LOST_AT_START, rq_job.id)


def on_job_failure(job, connection, type, value, traceback) -> None:  # noqa: A002 (RQ's signature)
    """RQ calls this when a job raises or its work horse dies, and when its
    registry clean-up finds a job whose worker vanished (maybe long after a
    rerun started): only the run this RQ job was is failed."""
    from ... import create_app

    import_id = job.args[0] if job.args else None
    if import_id is not None:
        with create_app().app_context():
            mark_failed(import_id, WORKER_STOPPED, job.id)
            # A work horse that died in a bulk load left the table without
            # its indexes: this worker builds them before its next job.
            bulk.recover(psycopg_url())


def psycopg_url() -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


QUEUED_GRACE_SECONDS = 10  # a queued import's job may take this long to appear in Valkey


def reconcile(job: ImportJob) -> None:
    """Tell a dead import from a live one when its page is shown:
    - running, and its heartbeat (in PostgreSQL) stopped: its worker died
      (killed, out of memory, machine restarted);
    - queued, and the queue has no job for it: Valkey lost the queue.
    A Valkey flush alone never fails a running import."""
    if job.status not in ("queued", "running") or job.heartbeat_at is None:
        return
    silence = (datetime.now(timezone.utc) - job.heartbeat_at).total_seconds()
    if job.status == "running":
        if silence > current_app.config["IMPORT_WORKER_HEARTBEAT"] * 6:
            mark_failed(job.id, WORKER_STOPPED, job.job_id)
            db.session.expire(job)
            # If it was a bulk load, its indexes and summaries are put back
            # (in the background: building takes a while).
            bulk.recover_in_background(psycopg_url())
        return
    if silence < QUEUED_GRACE_SECONDS or not job.job_id:
        return
    from redis.exceptions import RedisError
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        status = Job.fetch(job.job_id, connection=queue_connection(
            timeout=current_app.config["VALKEY_TIMEOUT"])).get_status()
    except NoSuchJobError:
        status = None
    except RedisError:  # Valkey down: nothing to conclude
        return
    if status is None:
        mark_failed(job.id, LOST_FROM_QUEUE, job.job_id)
    elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        mark_failed(job.id, WORKER_STOPPED, job.job_id)
    else:
        return
    db.session.expire(job)
