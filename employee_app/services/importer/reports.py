"""What an import did, in words and CSV; the employee export in the import's columns."""
from datetime import datetime, timezone

from sqlalchemy import select

from ...extensions import db
from ...models import Department, Employee, ImportJob, ImportRejection, User
from .. import employees
from ..employee_rules import FIELD_NAMES, FIELD_RULES
from ..spreadsheet import BOM, csv_text
from .files import read_records
from .jobs import file_format
from .mapping import IGNORE

EXPORT_COLUMNS = FIELD_NAMES  # the same columns the import takes, so an export re-imports
SHOWN_REJECTIONS = 100
# A rejected row keeps at most MAX_ROW_CHARS characters of cells, so a fetch
# of this many rows stays around 100 MB even for a file of hostile rows.
REJECTED_ROWS_PER_FETCH = 100


def recent_imports(limit: int = 100) -> list[tuple[ImportJob, str | None]]:
    return db.session.execute(
        select(ImportJob, User.username).outerjoin(User, User.id == ImportJob.user_id)
        .order_by(ImportJob.id.desc()).limit(limit)).all()


def report(job: ImportJob) -> dict:
    """Counts, speed and outcome of an import, ready for the page."""
    accounted = job.inserted + job.updated + job.duplicates + job.invalid
    total = max(job.total_rows_estimate or 0, job.rows_read)
    finished = job.status in ("done", "failed")
    elapsed = ((job.finished_at or datetime.now(timezone.utc)) - job.started_at).total_seconds() \
        if job.started_at else 0
    rate = job.rows_read / elapsed if elapsed > 0 else 0
    percent = 100 if job.status == "done" else (min(99, int(100 * job.rows_read / total)) if total else 0)
    problems = job.duplicates + job.invalid
    written = job.mode == "valid_rows" or (job.mode == "all_or_nothing" and problems == 0)
    outcome = None
    if job.status == "done":
        if job.mode == "dry_run":
            outcome = f"Dry run: {job.inserted:,} rows would be added; nothing was written."
        elif not written:
            outcome = (f"Nothing was written: {problems:,} rows have problems "
                       f"(all or nothing). Fix them and upload the file again.")
        elif job.rows_read and job.duplicates == job.rows_read:
            outcome = f"All {job.rows_read:,} rows already exist: nothing changed."
        else:
            outcome = f"{job.inserted + job.updated:,} of {job.rows_read:,} rows imported."
    elif job.status == "failed" and job.started_at is None:
        outcome = f"The import did not start: {job.error or 'unknown error'}."
    elif job.status == "failed":
        outcome = (f"The import stopped: {job.error or 'unknown error'}. "
                   + (f"{job.inserted:,} rows were added before it stopped (rows up to {job.resume_row:,} "
                      f"of the file are done); running it again continues after them and adds no duplicates."
                      if job.mode == "valid_rows" else "Nothing was written."))
    return {
        "finished": finished, "percent": percent, "total": total, "accounted": accounted,
        "rate": rate, "elapsed": elapsed, "written": written, "outcome": outcome,
        "seconds_left": (total - job.rows_read) / rate if rate and not finished and total > job.rows_read else None,
    }


def first_rejections(job: ImportJob) -> list:
    """The first rejected rows, as the page shows them: their cells (which
    can be large) stay in the database for rejected.csv."""
    return db.session.execute(
        select(ImportRejection.row_number, ImportRejection.kind, ImportRejection.field, ImportRejection.error)
        .where(ImportRejection.import_id == job.id)
        .order_by(ImportRejection.row_number).limit(SHOWN_REJECTIONS)).all()


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
    if job.has_header:
        for _, cells, _ in read_records(job.stored_path, file_format(job)):
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
                   Department.name, Employee.job_title, Employee.employment_type, Employee.location,
                   Employee.hire_date, Employee.status, Employee.termination_date)
            .outerjoin(Department, Department.id == Employee.department_id)
            .where(*employees.filter_conditions(query)).order_by(Employee.id)
            .execution_options(yield_per=5000))
    for partition in db.session.execute(stmt).partitions():
        yield csv_text(partition)
