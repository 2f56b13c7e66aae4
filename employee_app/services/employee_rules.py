"""The one set of field rules for an employee record.

The add form, the edit and the CSV import all clean their input through
clean_employee(), so a value that one path accepts, every path accepts. The
functions are pure (no database, no Flask) and unit-tested on their own.
"""
import calendar
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
    FieldRule("hire_date", "Hire date", False, None, "YYYY-MM-DD, e.g. 2024-02-29"),
    FieldRule("status", "Status", False, None, "active if empty", STATUSES),
    FieldRule("termination_date", "Termination date", False, None, "YYYY-MM-DD, e.g. 2024-02-29"),
)
RULES_BY_NAME = {rule.name: rule for rule in FIELD_RULES}
FIELD_NAMES = tuple(rule.name for rule in FIELD_RULES)
DATE_FIELDS = ("hire_date", "termination_date")

EMPLOYEE_ID_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
PHONE_RE = re.compile(r"^[0-9+()./ x-]+$", re.IGNORECASE)
CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")
ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
DATE_FORMAT = "use YYYY-MM-DD, e.g. 2024-02-29"
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


def normalize_list_name(raw: str | None) -> str | None:
    """A department or job name as stored: runs of spaces made one, trimmed."""
    value = " ".join((raw or "").split())
    return value or None


def shown(value: str, limit: int = 40) -> str:
    """A value quoted in a message, cut short: messages stay readable and
    small whatever was typed or uploaded."""
    return value if len(value) <= limit else value[:limit] + "…"


class FieldProblem(ValueError):
    """Why a field's value cannot be stored, as the end of a sentence that
    starts with the field's label: "Hire date" + " 2024-02-31 is not a date: ..."."""


def latest_date() -> date:
    """The latest hire or termination date accepted: two years from today."""
    today = date.today()
    return today.replace(year=today.year + 2, day=min(today.day, 28))


def parse_iso_date(text: str) -> date:
    """A date typed as YYYY-MM-DD, from 1900-01-01 to latest_date(). Raises
    FieldProblem saying why not."""
    match = ISO_DATE_RE.fullmatch(text)
    if match is None:
        if any(char.isdigit() and not char.isascii() for char in text):  # e.g. full-width digits from an IME
            raise FieldProblem(f"{shown(text)} is not a date: type it with the digits 0 to 9 as YYYY-MM-DD, "
                               "e.g. 2024-02-29.")
        raise FieldProblem(f"{shown(text)} is not a date: {DATE_FORMAT}.")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        raise FieldProblem(f"{text} is not a date: there is no month {month}.")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise FieldProblem(f"{text} is not a date: {calendar.month_name[month]} {year} has {days} days.")
    latest = latest_date()
    # The year first: date() itself refuses year 0.
    if year < EARLIEST_DATE.year or not EARLIEST_DATE <= date(year, month, day) <= latest:
        raise FieldProblem(f"{text} is out of range: from {EARLIEST_DATE} to {latest}.")
    return date(year, month, day)


def _normalised(rule: FieldRule, value: str) -> str:
    """The value as it would be stored; raises TextProblem."""
    if rule.name == "employee_id":
        return employee_id_text(value)
    if rule.name == "email":
        return text_rules.lower_identifier(value)
    if rule.name == "phone":
        return text_rules.identifier_text(value)
    if rule.name in ("department", "job_title"):  # names of list entries (services/lists.py)
        return normalize_list_name(text_rules.free_text(value)) or ""
    return text_rules.free_text(value).strip()


def _clean_field(rule: FieldRule, raw) -> str | date | None:
    """One field's value to store, None when empty (lengths and formats
    checked on the value as stored, after normalising). Raises FieldProblem."""
    typed = value = "" if raw is None else str(raw).strip()
    limit = rule.max_length or NO_LIMIT_FIELD_LENGTH
    if value and len(value) <= LONGEST_BEFORE_NORMALISING * limit:
        try:
            value = _normalised(rule, value)
        except TextProblem as problem:
            raise FieldProblem(str(problem)) from None
    if not value:
        if rule.required:
            raise FieldProblem("is required.")
        return None
    if len(value) > limit:
        raise FieldProblem(f"is longer than {limit} characters" + (" once normalised." if len(typed) <= limit else "."))
    if rule.name == "employee_id" and not EMPLOYEE_ID_RE.match(value):
        raise FieldProblem("must start with a letter or a digit.")
    if rule.name == "email" and not EMAIL_RE.match(value):
        raise FieldProblem(f"{shown(value)} is not an e-mail address.")
    if rule.name == "phone" and not PHONE_RE.match(value):
        raise FieldProblem("may contain only digits, spaces and + ( ) - . x")
    if rule.choices:
        value = value.lower().replace(" ", "_").replace("-", "_")
        if value not in rule.choices:
            raise FieldProblem(f"must be one of: {', '.join(choice.replace('_', ' ') for choice in rule.choices)}.")
    if rule.name in DATE_FIELDS:
        return parse_iso_date(value)
    return value


def employee_id_problem(typed: str) -> str | None:
    """What the as-you-type check says about an ID that cannot be stored
    ("E10019! is not a valid ID: it may contain only ..."), else None."""
    try:
        _clean_field(RULES_BY_NAME["employee_id"], typed)
    except FieldProblem as problem:
        return f"{shown(typed_id(typed))} is not a valid ID: it {problem}"
    return None


def typed_id(typed: str) -> str:
    """An ID as typed, trimmed, its ASCII letters upper-case as IDs are
    shown; other letters stay as they are ('ß' never becomes 'SS')."""
    return "".join(char.upper() if char.isascii() else char for char in typed.strip())


def clean_employee(raw: dict) -> dict:
    """Check every field and return the values to store, or raise InvalidInput
    with one message per failing field, each starting with the field's label."""
    errors: dict[str, str] = {}
    clean: dict = {}
    for rule in FIELD_RULES:
        try:
            clean[rule.name] = _clean_field(rule, raw.get(rule.name))
        except FieldProblem as problem:
            errors[rule.name] = f"{rule.label} {problem}"
            clean[rule.name] = None
    if "status" not in errors:
        clean["status"] = clean["status"] or "active"
    if (
        clean["hire_date"] is not None and clean["termination_date"] is not None
        and clean["termination_date"] < clean["hire_date"]
    ):
        errors["termination_date"] = "Termination date is before the hire date."

    if errors:
        raise InvalidInput(errors)
    return clean
