"""The one set of field rules for an employee record.

The add form, the admin edit and the CSV import all clean their input through
clean_employee(), so a value that one path accepts, every path accepts. The
functions are pure (no database, no Flask) and unit-tested on their own.
"""
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from ..models.employee import EMPLOYMENT_TYPES, STATUSES
from . import text_rules
from .errors import InvalidInput
from .text_rules import TextProblem


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
              "Letters A to Z, digits, '-', '_' or '.'; compared without regard to case; leading zeros count."),
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
# Characters an employee ID may hold, as typed: ASCII, or their full-width
# forms (which NFKC turns into ASCII). Anything else is refused, never
# converted: "ß1" would become "SS1" and "ſ9" "S9".
ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
ID_CHARACTERS_WIDE = frozenset(chr(ord(c) + 0xFEE0) for c in ID_CHARACTERS)
# A value this many times longer than its field's limit is refused before it
# is normalised (no normalisation shrinks text that much): hostile input
# costs no Unicode work.
LONGEST_BEFORE_NORMALISING = 8
NO_LIMIT_FIELD_LENGTH = 64  # date and choice fields


def employee_id_text(raw: str) -> str:
    """The canonical employee ID: trimmed, invisible characters removed,
    full-width forms made plain, upper-case. Raises TextProblem."""
    value = text_rules.INVISIBLE_RE.sub("", raw).strip() if not raw.isascii() else raw.strip()
    for char in value:
        if char not in ID_CHARACTERS and char not in ID_CHARACTERS_WIDE:
            what = "a space" if char.isspace() else f"'{char}'" if char.isascii() and char.isprintable() \
                else text_rules.describe(char)
            raise TextProblem(f"may contain only the letters A to Z, digits, '-', '_' and '.' ({what} is not allowed).")
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return value.upper()


def normalize_employee_id(raw: str | None) -> str:
    """The canonical form stored and compared (see employee_id_text). A value
    that cannot be an ID is returned trimmed, as typed: it matches nothing."""
    try:
        return employee_id_text(raw or "")
    except TextProblem:
        return (raw or "").strip()


def normalize_email(raw: str | None) -> str | None:
    """The form an e-mail is stored and compared in (text_rules), or None
    when empty. A value that cannot be an e-mail is returned trimmed, as typed."""
    try:
        value = text_rules.lower_identifier(raw or "")
    except TextProblem:
        value = (raw or "").strip()
    return value or None


def normalize_department_name(raw: str | None) -> str | None:
    value = " ".join((raw or "").split())
    return value or None


def shown(value: str, limit: int = 40) -> str:
    """A value quoted in a message, cut short: messages stay readable and
    small whatever was typed or uploaded."""
    return value if len(value) <= limit else value[:limit] + "…"


def parse_iso_date(raw: str) -> date:
    """YYYY-MM-DD, between 1900 and two years from today."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise ValueError(f"{shown(raw)} is not a date (use YYYY-MM-DD)")
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


def _normalised(rule: FieldRule, value: str) -> str:
    """The value as it would be stored; raises TextProblem."""
    if rule.name == "employee_id":
        return employee_id_text(value)
    if rule.name == "email":
        return text_rules.lower_identifier(value)
    if rule.name == "phone":
        return text_rules.identifier_text(value)
    if rule.name == "department":
        return normalize_department_name(text_rules.free_text(value)) or ""
    return text_rules.free_text(value).strip()


def clean_employee(raw: dict) -> dict:
    """Check every field and return the values to store, or raise InvalidInput
    with one message per failing field. Lengths and formats are checked on
    the value as stored, after normalising (text_rules)."""
    errors: dict[str, str] = {}
    clean: dict = {}

    for rule in FIELD_RULES:
        value = _text(raw, rule.name)
        limit = rule.max_length or NO_LIMIT_FIELD_LENGTH
        if value and len(value) <= LONGEST_BEFORE_NORMALISING * limit:
            try:
                value = _normalised(rule, value)
            except TextProblem as problem:
                errors[rule.name] = f"{rule.label} {problem}"
                clean[rule.name] = value
                continue
        if not value:
            if rule.required:
                errors[rule.name] = f"{rule.label} is required."
            clean[rule.name] = None
            continue
        if len(value) > limit:
            errors[rule.name] = f"{rule.label} is longer than {limit} characters" + \
                (" once normalised." if len(value) <= LONGEST_BEFORE_NORMALISING * limit else ".")
        clean[rule.name] = value

    if clean["employee_id"] and "employee_id" not in errors and not EMPLOYEE_ID_RE.match(clean["employee_id"]):
        errors["employee_id"] = "Employee ID must start with a letter or a digit."
    if clean["email"] and "email" not in errors and not EMAIL_RE.match(clean["email"]):
        errors["email"] = f"{shown(clean['email'])} is not an e-mail address."
    if clean["phone"] and "phone" not in errors and not PHONE_RE.match(clean["phone"]):
        errors["phone"] = "Phone may contain only digits, spaces and + ( ) - . x"

    for name in ("employment_type", "status"):
        if clean[name] and name not in errors:
            value = clean[name].lower().replace(" ", "_").replace("-", "_")
            if value not in RULES_BY_NAME[name].choices:
                errors[name] = f"{RULES_BY_NAME[name].label} must be one of: {', '.join(RULES_BY_NAME[name].choices)}."
            clean[name] = value
    if "status" not in errors:
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
