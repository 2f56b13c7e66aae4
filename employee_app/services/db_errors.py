"""Database errors in words, and without the data.

PostgreSQL's messages quote the values they refused ("Key (email)=(ada@…)",
"Failing row contains (…)"). Those are personal data: they go neither to a
person's screen nor to a log. People get a sentence from here; logs get
describe(): the error's class, SQLSTATE, table and constraint.
"""
import psycopg
from sqlalchemy.exc import DBAPIError

# Errors caused by one row's values (SQLSTATE classes 22 data exception,
# 23 integrity, 54 program limit): a batch that meets one is split until the
# row is found, and that row alone is rejected.
ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError, psycopg.errors.ProgramLimitExceeded)

# The constraints a row can break, by name: (field, what it means).
CONSTRAINTS = {
    "uq_employees_employee_id": ("employee_id", "this employee ID is already stored."),
    "uq_employees_email": ("email", "this e-mail is already stored."),
    "ck_employees_employee_id_canonical": ("employee_id", "the employee ID is not in its stored form."),
    "ck_employees_email_canonical": ("email", "the e-mail is not in its stored form."),
    "ck_employees_status": ("status", "the status is not one of the allowed values."),
    "ck_employees_employment_type": ("employment_type", "the employment type is not one of the allowed values."),
    "employees_department_id_fkey": ("department", "its department was deleted while it was being saved."),
    "ck_departments_name_trimmed": ("department", "the department name is not in its stored form."),
}
# Other refusals, by SQLSTATE.
STATES = {
    "22001": "a value is longer than its field allows.",
    "22021": "a value holds a character the database cannot store.",
    "22P05": "a value holds a character the database cannot store.",
    "22003": "a number is out of range.",
    "22008": "a date is out of range.",
    "54000": "a value is too large for the database to index.",
}


def _original(error: BaseException) -> BaseException:
    """The driver's error under SQLAlchemy's wrapper."""
    return error.orig if isinstance(error, DBAPIError) and error.orig is not None else error


def constraint_of(error: BaseException) -> str | None:
    return getattr(getattr(_original(error), "diag", None), "constraint_name", None)


def row_refusal(error: BaseException) -> tuple[str, str | None, str]:
    """(kind, field, reason) for a row PostgreSQL refused: kind is
    "duplicate" for a unique violation, else "invalid"."""
    original = _original(error)
    field, meaning = CONSTRAINTS.get(constraint_of(original), (None, None))
    if meaning is None:
        meaning = STATES.get(getattr(original, "sqlstate", None) or "", "the database refused its values.")
    kind = "duplicate" if isinstance(original, psycopg.errors.UniqueViolation) else "invalid"
    return kind, field, f"The row could not be stored: {meaning}"


def describe(error: BaseException) -> str:
    """For logs: what failed, never the values. 'CheckViolation (SQLSTATE
    23514) on employees, constraint ck_employees_status'."""
    original = _original(error)
    diag = getattr(original, "diag", None)
    text = type(original).__name__
    if getattr(original, "sqlstate", None):
        text += f" (SQLSTATE {original.sqlstate})"
    table, constraint = getattr(diag, "table_name", None), getattr(diag, "constraint_name", None)
    if table:
        text += f" on {table}"
    if constraint:
        text += f", constraint {constraint}"
    return text


def is_database_error(error: BaseException) -> bool:
    return isinstance(error, (psycopg.Error, DBAPIError))
