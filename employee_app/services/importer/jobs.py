"""Import jobs: from an uploaded file to a queued job, the job's run in a
worker, its progress and its report."""
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from flask import current_app

from ...extensions import db
from ...models import ColumnMapping, ImportJob, ImportRejection, User
from .. import duplicate_guard
from ..errors import InvalidInput
from . import mapping as mappings
from .files import FileFormat, FileRefused, detect_format, iter_rows, save_stream, xlsx_row_count
from .pipeline import Counts, ImportRunner, Settings, save_progress

log = logging.getLogger(__name__)

QUEUE_NAME = "imports"
PREVIEW_ROWS = 6
SAMPLE_ROWS = 200
JOB_TIMEOUT = 6 * 3600


# --- from upload to job ------------------------------------------------------

@dataclass
class Preview:
    first_row: list[str]
    rows: list[list[str]]  # the first rows after the header (or all, without one)
    width: int


def create_import(stream, filename: str, *, mode: str, on_existing: str, user: User | None,
                  queue: bool = True) -> ImportJob:
    """Store the upload, read its first rows and either queue the import
    (headers all recognised, or a mapping remembered for them) or leave it
    waiting for the person to confirm a mapping. Raises FileRefused."""
    upload_dir = current_app.config["UPLOAD_DIR"]
    os.makedirs(upload_dir, exist_ok=True)
    path = os.path.join(upload_dir, f"{uuid.uuid4().hex}.upload")
    try:
        size, sha256 = save_stream(stream, path, current_app.config["MAX_IMPORT_BYTES"])
        detected = detect_format(path)
        sample = _sample(path, detected)
    except FileRefused:
        os.unlink(path)
        raise
    if not sample:
        os.unlink(path)
        raise FileRefused("The file is empty: there are no rows to import.")

    first_row = sample[0]
    has_header = mappings.looks_like_header(first_row)
    body = sample[1:] if has_header else sample
    remembered = db.session.get(ColumnMapping, mappings.header_key(first_row)) if has_header else None
    mapping = remembered.mapping if remembered else mappings.suggest_mapping(first_row, body, has_header)
    # Every column named a field (rejected.csv's own row and error aside).
    all_recognised = has_header and all(
        target != mappings.IGNORE or mappings.normalize_header(header) in mappings.REPORT_COLUMNS
        for target, header in zip(mapping, first_row))
    if all_recognised and "employee_id" not in mapping:
        os.unlink(path)
        raise FileRefused("The file has no employee_id column. Every employee needs an ID: add a column "
                          "named employee_id (see the template).")

    job = ImportJob(
        user_id=user.id if user else None, filename=os.path.basename(filename or "upload")[:255],
        stored_path=path, file_size=size, file_sha256=sha256, file_format=detected.kind,
        encoding=detected.encoding, delimiter=detected.delimiter, mode=mode, on_existing=on_existing,
        has_header=has_header, mapping=mapping, status="mapping",
        total_rows_estimate=_estimate_rows(path, detected, size, sample),
    )
    db.session.add(job)
    db.session.commit()
    straight_through = remembered is not None or all_recognised
    if straight_through and not mappings.mapping_problems(mapping):
        if queue:
            enqueue(job)
        else:  # the command line runs it in its own process
            job.status = "queued"
            db.session.commit()
    return job


def _sample(path: str, file_format: FileFormat) -> list[list[str]]:
    rows = []
    try:
        for _, cells in iter_rows(path, file_format):
            rows.append(cells)
            if len(rows) >= SAMPLE_ROWS:
                break
    except Exception as exc:  # a corrupt workbook or CSV the readers choke on
        log.info("unreadable upload: %s", exc)
        raise FileRefused("The file could not be read as CSV or XLSX.") from None
    return rows


def _estimate_rows(path: str, file_format: FileFormat, size: int, sample: list[list[str]]) -> int | None:
    if file_format.kind == "xlsx":
        return xlsx_row_count(path)
    sampled_bytes = sum(len(file_format.delimiter.join(row)) + 2 for row in sample)
    if len(sample) < SAMPLE_ROWS:
        return len(sample)
    return int(size / max(sampled_bytes / len(sample), 1))


def preview(job: ImportJob) -> Preview:
    rows = _sample(job.stored_path, file_format(job))[: PREVIEW_ROWS + 1]
    first_row = rows[0] if rows else []
    width = max((len(row) for row in rows), default=0)
    return Preview(first_row=first_row, rows=rows[1:] if job.has_header else rows, width=width)


def confirm_mapping(job: ImportJob, mapping: list[str], has_header: bool) -> None:
    """Use the person's mapping, remember it for the same headers, queue the
    import. Raises InvalidInput (nothing queued) if it cannot work."""
    if job.status != "mapping":
        raise InvalidInput({"mapping": "This import has already started."})
    problems = mappings.mapping_problems(mapping)
    if problems:
        raise InvalidInput({"mapping": " ".join(problems)})
    job.mapping, job.has_header = mapping, has_header
    if has_header:
        header = preview(job).first_row
        key = mappings.header_key(header)
        remembered = db.session.get(ColumnMapping, key) or ColumnMapping(header_key=key)
        remembered.mapping = mapping
        db.session.add(remembered)
    db.session.commit()
    enqueue(job)


def file_format(job: ImportJob) -> FileFormat:
    return FileFormat(job.file_format, job.encoding, job.delimiter)


# --- the queue ---------------------------------------------------------------

def queue_connection(url: str | None = None):
    from redis import Redis

    url = url or current_app.config["VALKEY_URL"]
    return Redis.from_url("redis://" + url.split("://", 1)[1] if url.startswith("valkey://") else url)


def get_queue(url: str | None = None):
    from rq import Queue

    return Queue(QUEUE_NAME, connection=queue_connection(url))


def enqueue(job: ImportJob) -> None:
    job.status = "queued"
    job.error = None
    db.session.commit()
    from rq import Callback

    rq_job = get_queue().enqueue(
        "employee_app.services.importer.jobs.run_import_job", job.id, on_failure=Callback(on_job_failure),
        job_id=f"import-{job.id}-{uuid.uuid4().hex[:8]}", job_timeout=JOB_TIMEOUT,
        result_ttl=3600, failure_ttl=7 * 24 * 3600)
    job.job_id = rq_job.id
    db.session.commit()


def run_import_job(import_id: int) -> dict:
    """The worker's entry point (RQ imports it by name): an app of its own."""
    from ... import create_app

    app = create_app()
    with app.app_context():
        counts = run_import(import_id)
        return vars(counts)


# --- the run -------------------------------------------------------------------

def run_import(import_id: int, *, on_progress=None) -> Counts:
    """Run an import to the end in this process. A rerun of a failed import
    continues after the rows it committed, so nothing is imported twice."""
    job = db.session.get(ImportJob, import_id)
    if job is None:
        raise LookupError(f"import {import_id} does not exist")
    actor = db.session.get(User, job.user_id) if job.user_id else None
    settings = Settings(import_id=job.id, mode=job.mode, mapping=job.mapping, has_header=job.has_header,
                        file_format=file_format(job), path=job.stored_path,
                        actor_id=actor.id if actor else None, actor_name=actor.username if actor else None,
                        resume_row=job.resume_row if job.mode == "valid_rows" else 0,
                        on_existing=job.on_existing if actor and actor.role == "admin" else "skip")
    committed = Counts(job.rows_read, job.inserted, job.duplicates, job.invalid, job.updated)
    if job.mode != "valid_rows" or job.resume_row == 0:
        committed = Counts()
        db.session.query(ImportRejection).filter_by(import_id=job.id).delete()
    job.status, job.error = "running", None
    job.started_at = job.started_at or datetime.now(timezone.utc)
    job.finished_at = None
    db.session.commit()

    url = _psycopg_url()
    with psycopg.connect(url) as conn, psycopg.connect(url, autocommit=True) as side:
        runner = ImportRunner(settings, conn, side, counts=committed, on_batch=on_progress)
        try:
            counts = runner.run()
            if job.mode == "valid_rows":
                conn.commit()
            elif job.mode == "all_or_nothing" and counts.duplicates + counts.invalid == 0:
                conn.commit()
                _remember_imported(conn, import_id)
            else:
                conn.rollback()  # a dry run, or all or nothing with a problem: nothing written
            save_progress(side, import_id, counts, runner.last_row if job.mode == "valid_rows" else 0)
            side.execute("UPDATE imports SET status = 'done', finished_at = now() WHERE id = %s", (import_id,))
        except Exception as exc:
            conn.rollback()
            mark_failed(import_id, f"{type(exc).__name__}: {exc}", side)
            raise
    db.session.expire_all()
    return counts


def _remember_imported(conn: psycopg.Connection, import_id: int) -> None:
    """After an all-or-nothing commit: the new records into Valkey."""
    with conn.cursor(name="remember") as cur:
        cur.execute("SELECT employee_id, email FROM employees WHERE import_id = %s", (import_id,))
        while rows := cur.fetchmany(10_000):
            duplicate_guard.remember_values([{"employee_id": i, "email": e} for i, e in rows])
    conn.commit()


def mark_failed(import_id: int, error: str, conn: psycopg.Connection | None = None) -> None:
    statement = ("UPDATE imports SET status = 'failed', finished_at = now(), error = %s"
                 " WHERE id = %s AND status IN ('queued', 'running')")
    if conn is not None:
        conn.execute(statement, (error[:2000], import_id))
        return
    with psycopg.connect(_psycopg_url(), autocommit=True) as own:
        own.execute(statement, (error[:2000], import_id))


def on_job_failure(job, connection, type, value, traceback) -> None:  # noqa: A002 (RQ's signature)
    """RQ calls this when a job raises or its work horse dies."""
    from ... import create_app

    import_id = job.args[0] if job.args else None
    if import_id is not None:
        with create_app().app_context():
            mark_failed(import_id, f"{getattr(type, '__name__', type)}: {value}")


def _psycopg_url() -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def reconcile(job: ImportJob) -> None:
    """A queued or running import whose RQ job is gone or dead is failed:
    its worker died (killed, out of memory, machine restarted)."""
    if job.status not in ("queued", "running") or not job.job_id:
        return
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    from rq.worker import Worker

    connection = queue_connection()
    try:
        rq_job = Job.fetch(job.job_id, connection=connection)
        status = rq_job.get_status()
    except NoSuchJobError:
        status, rq_job = None, None
    except Exception:  # Valkey down: nothing to conclude
        return
    dead = status in (None, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
    if status == JobStatus.STARTED and rq_job.worker_name:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + rq_job.worker_name,
                                    connection=connection)
        silence = current_app.config["IMPORT_WORKER_HEARTBEAT"] * 6
        last = worker.last_heartbeat if worker else None
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=timezone.utc)
        dead = last is None or (datetime.now(timezone.utc) - last).total_seconds() > silence
    if dead:
        mark_failed(job.id, "The worker running this import stopped before it finished.")
        db.session.expire(job)
