"""What an import did, in words and CSV; the employee export in the import's columns."""
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select

from ... import clock
from ...extensions import db
from ...models import AuditEntry, Department, Employee, Job, ImportJob, ImportRejection, User
from ...models.imports import FINISHED_STATUSES
from .. import employees, lists
from ..employee_rules import FIELD_NAMES, FIELD_RULES
from ..spreadsheet import BOM, csv_text
from .files import read_records
from .jobs import file_format
from .mapping import IGNORE, TARGET_LABELS

EXPORT_COLUMNS = FIELD_NAMES  # the same columns the import takes, so an export re-imports
SHOWN_REJECTIONS = 100
# A rejected row keeps at most MAX_ROW_CHARS characters of cells, so a fetch
# of this many rows stays around 100 MB even for a file of hostile rows.
REJECTED_ROWS_PER_FETCH = 100


STATUS_WORDS = {"mapping": "needs mapping", "queued": "queued", "running": "running", "done": "done",
                "checked": "checked", "refused": "refused", "cancelled": "cancelled", "failed": "failed"}
MODE_WORDS = {"valid_rows": "valid rows", "all_or_nothing": "all or nothing", "dry_run": "dry run"}


@dataclass(frozen=True)
class Figure:
    """One count of an import, as a person reads it."""
    name: str  # read | added | updated | duplicates | invalid (its element id: count-<name>)
    label: str  # "Inserted", "Would be added", "Valid (not written)" ...
    value: int
    tone: str = ""  # good | bad | unwritten: how its card is marked


@dataclass(frozen=True)
class Report:
    status: str  # the status badge's class
    status_words: str
    finished: bool
    percent: int
    figures: list[Figure]
    sum_line: str  # "1,980 would be added + 0 duplicates + 1 invalid = 1,981 of 1,981 rows read."
    outcome: str | None
    outcome_tone: str  # success | error | info
    rate: float  # rows per second
    time_left: str | None  # "12 s", while it runs
    started: str | None  # "2026-12-04 14:03:02 EST" (clock.local_time)
    ended: str | None  # the same, or the time alone on the day it started
    duration: str | None  # "1 min 12 s": how long it took, or has been running


@dataclass(frozen=True)
class ImportEntry:
    """An import as the history lists it (and its page heads it)."""
    job: ImportJob
    username: str | None
    status: str
    status_words: str
    stored: int  # rows really written
    unwritten: str | None  # "1,980 would be added": rows counted but not written
    size: str
    uploaded: str
    file_deleted: str | None = None  # when prune-uploads deleted the file (retention)


def entry(job: ImportJob, username: str | None) -> ImportEntry:
    return ImportEntry(job, username, *status_badge(job), stored=stored_rows(job), unwritten=_unwritten(job),
                       size=size_text(job.file_size), uploaded=time_text(job.created_at),
                       file_deleted=time_text(job.upload_deleted_at) if job.upload_deleted_at else None)


def recent_imports(limit: int = 100) -> list[ImportEntry]:
    return [entry(job, username) for job, username in db.session.execute(
        select(ImportJob, User.username).outerjoin(User, User.id == ImportJob.user_id)
        .order_by(ImportJob.id.desc()).limit(limit))]


def uploader(job: ImportJob) -> str | None:
    user = db.session.get(User, job.user_id) if job.user_id else None
    return user.username if user else None


def status_badge(job: ImportJob) -> tuple[str, str]:
    """(class, words) of the import's status badge."""
    if job.status == "failed" and job.started_at is None:
        return "not-started", "not started"
    return job.status, STATUS_WORDS[job.status]


def writes(job: ImportJob) -> bool:
    """Whether the rows counted as inserted or updated are in the database:
    the default mode commits batch by batch, all or nothing only at its end."""
    return job.mode == "valid_rows" or (job.mode == "all_or_nothing" and job.status == "done")


def stored_rows(job: ImportJob) -> int:
    return job.inserted + job.updated if writes(job) else 0


def _unwritten(job: ImportJob) -> str | None:
    """The rows counted but not written, in words ("1,980 would be added")."""
    if writes(job):
        return None
    counted = zip((job.inserted, job.updated), _added_labels(job))
    return ", ".join(f"{count:,} {label.lower()}" for count, label in counted if count) or None


def _added_labels(job: ImportJob) -> tuple[str, str]:
    """What the rows that passed every check are called: (added, updated)."""
    if writes(job):
        return "Inserted", "Updated"
    if job.mode == "dry_run":
        return "Would be added", "Would be updated"
    if job.status in ("queued", "running"):  # all or nothing writes at its end
        return "Valid (not yet written)", "Updates (not yet written)"
    return "Valid (not written)", "Updates (not written)"


def figures(job: ImportJob) -> list[Figure]:
    added, updated = _added_labels(job)
    kept = "good" if writes(job) else "unwritten"
    listed = [Figure("read", "Rows read", job.rows_read),
              Figure("added", added, job.inserted, kept if job.inserted else "")]
    if job.on_existing == "update":
        listed.append(Figure("updated", updated, job.updated, kept if job.updated else ""))
    listed += [Figure("duplicates", "Duplicates", job.duplicates, "bad" if job.duplicates else ""),
               Figure("invalid", "Invalid", job.invalid, "bad" if job.invalid else "")]
    return listed


def sum_line(job: ImportJob) -> str:
    """Every row read accounted for, in the words of the figures."""
    parts = " + ".join(f"{figure.value:,} {_counted(figure)}" for figure in figures(job)[1:])
    accounted = job.inserted + job.updated + job.duplicates + job.invalid
    return f"{parts} = {accounted:,} of {job.rows_read:,} rows read."


def _counted(figure: Figure) -> str:
    """The figure's words after its number: '1 duplicate', '2 duplicates'."""
    words = figure.label.lower()
    return words.removesuffix("s") if figure.value == 1 and words == "duplicates" else words


def report(job: ImportJob) -> Report:
    """Counts, speed, times and outcome of an import, ready for the page."""
    total = max(job.total_rows_estimate or 0, job.rows_read)
    finished = job.status in FINISHED_STATUSES
    elapsed = ((job.finished_at or datetime.now(timezone.utc)) - job.started_at).total_seconds() \
        if job.started_at else 0
    rate = job.rows_read / elapsed if elapsed > 0 else 0
    if finished and job.status != "failed":
        percent = 100
    else:
        percent = min(99, int(100 * job.rows_read / total)) if total else 0
    badge, words = status_badge(job)
    outcome, tone = _outcome(job)
    return Report(
        status=badge, status_words=words, finished=finished, percent=percent, figures=figures(job),
        sum_line=sum_line(job), outcome=outcome, outcome_tone=tone, rate=rate,
        time_left=duration_text((total - job.rows_read) / rate)
        if rate and not finished and total > job.rows_read else None,
        started=time_text(job.started_at) if job.started_at else None,
        ended=time_text(job.finished_at, same_day_as=job.started_at) if finished and job.finished_at else None,
        duration=duration_text(elapsed) if job.started_at else None,
    )


def _outcome(job: ImportJob) -> tuple[str | None, str]:
    """The import's result in a sentence, and its tone."""
    problems = job.duplicates + job.invalid
    if job.status == "checked":
        updates = f", {job.updated:,} would update existing records" if job.updated else ""
        rejected = f"; {problems:,} would be rejected (see below)" if problems else ""
        return (f"Dry run: nothing was written. {job.inserted:,} of {job.rows_read:,} rows would be added"
                f"{updates}{rejected}."), "info"
    if job.status == "refused":
        return (f"Refused: nothing was written, because {problems:,} of {job.rows_read:,} rows "
                f"{'has' if problems == 1 else 'have'} problems (all or nothing). Fix "
                f"{'it' if problems == 1 else 'them'} and upload the file again."), "error"
    if job.status == "cancelled":
        why = f" ({job.error})" if job.error else ""  # the upload retention's (retention.py)
        return (f"Cancelled at the column mapping{why}: nothing was written, and the uploaded file was deleted.",
                "info")
    if job.status == "done":
        if job.rows_read and job.duplicates == job.rows_read:
            return f"All {job.rows_read:,} rows already exist: nothing changed.", "info"
        return f"{job.inserted + job.updated:,} of {job.rows_read:,} rows imported.", "success"
    if job.status == "failed" and job.started_at is None:
        return f"The import did not start: {job.error or 'unknown error'}.", "error"
    if job.status == "failed":
        return (f"The import stopped: {job.error or 'unknown error'}. "
                + (f"{job.inserted:,} rows were added before it stopped (rows up to {job.resume_row:,} "
                   f"of the file are done); running it again continues after them and adds no duplicates."
                   if job.mode == "valid_rows" else "Nothing was written.")), "error"
    return None, "info"


def size_text(size: int) -> str:
    """70718 -> '69.1 KB' (1 KB = 1,024 bytes, as the upload limit counts)."""
    if size < 1024:
        return f"{size:,} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:,.1f} {unit}"


def time_text(moment: datetime, same_day_as: datetime | None = None) -> str:
    """'2026-12-04 14:03:02 EST' in the company's zone; only '14:03:05 EST'
    on the company's day of same_day_as."""
    same_day = same_day_as is not None and clock.local(same_day_as).date() == clock.local(moment).date()
    return clock.local_time(moment, seconds=True, date_shown=not same_day)


def duration_text(seconds: float) -> str:
    """3.2 -> '3.2 s', 72 -> '1 min 12 s', 7500 -> '2 h 5 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def first_rejections(job: ImportJob) -> list[tuple[int, str, str, str]]:
    """The first rejected rows as the page shows them, the field by its
    label: their cells (which can be large) stay in the database for
    rejected.csv."""
    rows = db.session.execute(
        select(ImportRejection.row_number, ImportRejection.kind, ImportRejection.field, ImportRejection.error)
        .where(ImportRejection.import_id == job.id)
        .order_by(ImportRejection.row_number).limit(SHOWN_REJECTIONS)).all()
    return [(number, kind, TARGET_LABELS.get(field, field or ""), error) for number, kind, field, error in rows]


# The new departments and jobs an import's page names, of each list; a file
# that names thousands of new departments says how many more there are.
SHOWN_ADDED_ENTRIES = 20


@dataclass(frozen=True)
class AddedEntries:
    """The departments (or jobs) an import added to their list."""
    kind: "lists.ListKind"
    shown: list[tuple[int, str, bool]]  # (id, name, still in the list), by name
    total: int


def added_entries(job: ImportJob) -> list[AddedEntries]:
    """Per list, what the import added (from the History's creation entries:
    one per entry it added and kept, source import). Named as they are now;
    an entry deleted since is named as it was added, without a link."""
    added = []
    for kind in lists.KINDS:
        name = func.coalesce(kind.model.name, AuditEntry.entry_name)
        rows = db.session.execute(
            select(AuditEntry.entry_pk, name, kind.model.id.is_not(None), func.count().over())
            .outerjoin(kind.model, kind.model.id == AuditEntry.entry_pk)
            # entry_pk IS NOT NULL: the list entries' own (partial) index, ix_audit_log_entry.
            .where(AuditEntry.subject == kind.label, AuditEntry.entry_pk.is_not(None),
                   AuditEntry.action == "create", AuditEntry.source == "import", AuditEntry.import_id == job.id)
            .order_by(func.lower(name), AuditEntry.entry_pk).limit(SHOWN_ADDED_ENTRIES)).all()
        if rows:
            added.append(AddedEntries(kind, [(pk, text, exists) for pk, text, exists, _ in rows], rows[0][3]))
    return added


def rejected_rows_csv(job: ImportJob):
    """The rejected rows in the file's own columns plus row and error."""
    yield BOM + csv_text([[*_original_header(job), "row", "error"]])
    stmt = (select(ImportRejection.row_number, ImportRejection.error, ImportRejection.cells)
            .where(ImportRejection.import_id == job.id).order_by(ImportRejection.row_number)
            .execution_options(yield_per=REJECTED_ROWS_PER_FETCH))
    for partition in db.session.execute(stmt).partitions():
        yield csv_text([*cells, row_number, error]
                       for row_number, error, cells in partition)


def _original_header(job: ImportJob) -> list[str]:
    """The file's header row, or, for a file without one, the mapped field
    names (so the rejected rows can be uploaded again without mapping)."""
    if job.has_header and os.path.exists(job.stored_path):  # a cancelled import's file is deleted
        for number, cells, _ in read_records(job.stored_path, file_format(job)):
            if number >= job.header_row:  # past a title above it
                return cells
    return [target if target != IGNORE else f"column_{i + 1}" for i, target in enumerate(job.mapping or [])]


def template_csv() -> str:
    example = {"employee_id": "E1042", "first_name": "Ada", "last_name": "Lovelace",
               "email": "ada.lovelace@example.com", "phone": "+44 20 7946 0018", "department": "Engineering",
               "job_title": "Analyst", "employment_type": "full_time", "location": "London",
               "hire_date": "2024-03-01", "status": "active", "termination_date": ""}
    return BOM + csv_text([EXPORT_COLUMNS, [example[c] for c in EXPORT_COLUMNS]])


def column_help() -> list:
    return list(FIELD_RULES)


def export_employees_csv(query: employees.EmployeeQuery):
    """Every matching employee, streamed from a server-side cursor."""
    yield BOM + csv_text([EXPORT_COLUMNS])
    stmt = (select(Employee.employee_id, Employee.first_name, Employee.last_name, Employee.email, Employee.phone,
                   Department.name, Job.name, Employee.employment_type, Employee.location,
                   Employee.hire_date, Employee.status, Employee.termination_date)
            .outerjoin(Department, Department.id == Employee.department_id)
            .outerjoin(Job, Job.id == Employee.job_id)
            .where(*employees.filter_conditions(query)).order_by(Employee.id)
            .execution_options(yield_per=5000))
    for partition in db.session.execute(stmt).partitions():
        yield csv_text(partition)
