"""The one set of field rules for an employee record.

The add form, the admin edit and the CSV import all clean their input through
clean_employee(), so a value that one path accepts, every path accepts. The
functions are pure (no database, no Flask) and unit-tested on their own.
"""
import re
from dataclasses import dataclass
from datetime import date

from ..models.employee import EMPLOYMENT_TYPES, STATUSES
from .errors import InvalidInput


@dataclass(frozen=True)
class FieldRule:
    name: str
    label: str
    required: bool = False
    max_length: int | None = None
    help: str = ""
    choices: tuple[str, ...] = ()


FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule("employee_id", "Employee ID", True, 32,
              "Letters, digits, '-', '_' or '.'; compared without regard to case; leading zeros count."),
    FieldRule("first_name", "First name", True, 100),
    FieldRule("last_name", "Last name", True, 100),
    FieldRule("email", "Work e-mail", False, 254, "Must be unique when given."),
    FieldRule("phone", "Phone", False, 40),
    FieldRule("department", "Department", False, 100, "A new department is created if it does not exist yet."),
    FieldRule("job_title", "Job title", False, 120),
    FieldRule("employment_type", "Employment type", False, None, "", EMPLOYMENT_TYPES),
    FieldRule("location", "Location", False, 120),
    FieldRule("hire_date", "Hire date", False, None, "YYYY-MM-DD"),
    FieldRule("status", "Status", False, None, "active if empty", STATUSES),
    FieldRule("termination_date", "Termination date", False, None, "YYYY-MM-DD"),
)
RULES_BY_NAME = {rule.name: rule for rule in FIELD_RULES}
FIELD_NAMES = tuple(rule.name for rule in FIELD_RULES)

EMPLOYEE_ID_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE = re.compile(r"^[0-9+()./ x-]+$", re.IGNORECASE)
CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")
EARLIEST_DATE = date(1900, 1, 1)


def normalize_employee_id(raw: str | None) -> str:
    """The canonical form stored and compared: trimmed, upper-case."""
    return (raw or "").strip().upper()


def normalize_email(raw: str | None) -> str | None:
    value = (raw or "").strip().lower()
    return value or None


def normalize_department_name(raw: str | None) -> str | None:
    value = " ".join((raw or "").split())
    return value or None


def parse_iso_date(raw: str) -> date:
    """YYYY-MM-DD, between 1900 and two years from today."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise ValueError(f"{raw} is not a date (use YYYY-MM-DD)")
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw} is not a date") from None
    today = date.today()
    latest = today.replace(year=today.year + 2, day=min(today.day, 28))
    if not EARLIEST_DATE <= value <= latest:
        raise ValueError(f"{raw} is out of range")
    return value


def _text(raw: dict, name: str) -> str:
    value = raw.get(name)
    return "" if value is None else str(value).strip()


def clean_employee(raw: dict) -> dict:
    """Check every field and return the values to store, or raise InvalidInput
    with one message per failing field."""
    errors: dict[str, str] = {}
    clean: dict = {}

    for rule in FIELD_RULES:
        value = _text(raw, rule.name)
        if not value:
            if rule.required:
                errors[rule.name] = f"{rule.label} is required."
            clean[rule.name] = None
            continue
        if rule.max_length and len(value) > rule.max_length:
            errors[rule.name] = f"{rule.label} is longer than {rule.max_length} characters."
        elif CONTROL_CHARS_RE.search(value):
            errors[rule.name] = f"{rule.label} contains control characters."
        clean[rule.name] = value

    if clean["employee_id"] and "employee_id" not in errors:
        clean["employee_id"] = normalize_employee_id(clean["employee_id"])
        if not EMPLOYEE_ID_RE.match(clean["employee_id"]):
            errors["employee_id"] = "Employee ID may contain only letters, digits, '-', '_' and '.'."
    if clean["email"] and "email" not in errors:
        clean["email"] = normalize_email(clean["email"])
        if not EMAIL_RE.match(clean["email"]):
            errors["email"] = f"{clean['email']} is not an e-mail address."
    if clean["phone"] and "phone" not in errors and not PHONE_RE.match(clean["phone"]):
        errors["phone"] = "Phone may contain only digits, spaces and + ( ) - . x"
    clean["department"] = normalize_department_name(clean["department"])

    for name in ("employment_type", "status"):
        if clean[name]:
            value = clean[name].lower().replace(" ", "_").replace("-", "_")
            if value not in RULES_BY_NAME[name].choices:
                errors[name] = f"{RULES_BY_NAME[name].label} must be one of: {', '.join(RULES_BY_NAME[name].choices)}."
            clean[name] = value
    clean["status"] = clean["status"] or "active"

    for name in ("hire_date", "termination_date"):
        if clean[name] and name not in errors:
            try:
                clean[name] = parse_iso_date(clean[name])
            except ValueError as exc:
                errors[name] = f"{RULES_BY_NAME[name].label} {exc}."
    if (
        isinstance(clean["hire_date"], date) and isinstance(clean["termination_date"], date)
        and clean["termination_date"] < clean["hire_date"]
    ):
        errors["termination_date"] = "Termination date is before the hire date."

    if errors:
        raise InvalidInput(errors)
    return clean
