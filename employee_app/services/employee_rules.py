"""The one set of field rules for an employee record.

The add form, the edit and the CSV import all clean their input through
clean_employee(), so a value that one path accepts, every path accepts. The
functions are pure (no database, no Flask) and unit-tested on their own.
"""
import calendar
import linecache
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .. import clock
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


class DateOutOfRange(FieldProblem):
    """A date before EARLIEST_DATE or after latest_date(): the one outcome of
    reading a date that depends on the day it is read (see _by_rule)."""


def latest_date() -> date:
    """The latest hire or termination date accepted: two years from today."""
    today = clock.today()
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
        raise DateOutOfRange(f"{text} is out of range: from {EARLIEST_DATE} to {latest}.")
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
        return normalize_list_name(text_rules.entry_name_text(value)) or ""
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


def clean_one_field(name: str, raw) -> str | date | None:
    """One field's value to store, by its own rule alone (the list's bulk
    actions); raises InvalidInput naming the field."""
    rule = RULES_BY_NAME[name]
    try:
        return _clean_field(rule, raw)
    except FieldProblem as problem:
        raise InvalidInput({name: f"{rule.label} {problem}"}) from None


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


def _whole_record(clean: dict, errors: dict[str, str]) -> dict:
    """The checks across fields, then the record or InvalidInput."""
    if "status" not in errors:
        clean["status"] = clean["status"] or "active"
    if (
        clean["hire_date"] is not None and clean["termination_date"] is not None
        and clean["termination_date"] < clean["hire_date"]
    ):
        errors["termination_date"] = "Termination date is before the hire date."
    elif "status" not in errors and (problem := _status_against_termination(clean)):
        errors["status"] = problem

    if errors:
        raise InvalidInput(errors)
    return clean


def past_last_day(status: str | None, last_day: date | None, today: date | None = None) -> bool:
    """Someone still active (or on leave) after their last day: the list and
    the reports would disagree (the headcount goes by the termination date,
    the list by the status). The last day itself still counts as employed.

    A record is refused in this state, but one can reach it unedited: a
    termination date typed ahead for someone who gave notice passes. The
    list finds these (services/employees.past_last_day_condition, the same
    rule in SQL), the home page counts them, their page says what to do."""
    return status != "terminated" and last_day is not None and last_day < (today or clock.today())


def _status_against_termination(clean: dict) -> str | None:
    """past_last_day, said at the Status field. Terminated without a date
    stays allowed: files of former staff often have none, and the headcount
    report names them as not counted."""
    last_day = clean["termination_date"]
    if not past_last_day(clean["status"], last_day):
        return None
    status = clean["status"].replace("_", " ")
    return (f"Status is {status}, but the termination date {last_day} has passed: "
            "set the status to terminated, or clear the termination date.")


def clean_employee_by_rules(raw: dict) -> dict:
    """clean_employee through _clean_field alone, without the fast paths:
    the reference the fast paths are tested against."""
    errors: dict[str, str] = {}
    clean: dict = {}
    for rule in FIELD_RULES:
        try:
            clean[rule.name] = _clean_field(rule, raw.get(rule.name))
        except FieldProblem as problem:
            errors[rule.name] = f"{rule.label} {problem}"
            clean[rule.name] = None
    return _whole_record(clean, errors)


# --- the same rules, cheap per row ------------------------------------------
# clean_employee runs once per row of an import: a million times for a large
# file. It is therefore built once, when this module loads, from FIELD_RULES:
# straight-line code with, for each field, fast paths for the values nearly
# every file holds, and _clean_field itself (the rules above, unchanged) for
# every other value. A fast path only recognises values whose outcome under
# _clean_field is known, and gives that outcome: there is one rule set.
# Each is argued in _fast_paths; tests/unit/test_fast_rules.py checks them
# with Hypothesis on arbitrary text against clean_employee_by_rules.
#
# "Plain" there means: after strip(), str.isascii() and str.isprintable(),
# i.e. only the characters U+0020 to U+007E. text_rules returns such a value
# unchanged (free_text as it is, identifier_text strip()ped, which it
# already is), no normalisation changes it, and its only whitespace is " ".

# Fields with few distinct values (lists, choices, dates): the outcome of
# each value (up to MEMO_VALUE_CHARS long) is remembered. A memo holds at
# most so many values and starts again empty when full, so memory stays
# bounded whatever a file holds.
MEMOISED = ("department", "job_title", "employment_type", "status", *DATE_FIELDS)
MEMO_ENTRIES = 1 << 14  # accepted values: 30 years of dates fit
MEMO_REFUSALS = 1 << 10
MEMO_VALUE_CHARS = 128
# value -> what _clean_field returned for it (never None: None is not
# remembered, so that .get() answers "not known"). Both date fields have the
# same rule and share their memos.
_ACCEPTED: dict[str, dict] = {}
# value -> the message of the FieldProblem _clean_field raised for it.
_REFUSED: dict[str, dict[str, str]] = {}
for _name in MEMOISED:
    _shared = DATE_FIELDS[0] if _name in DATE_FIELDS else _name
    _ACCEPTED[_name] = _ACCEPTED.setdefault(_shared, {})
    _REFUSED[_name] = _REFUSED.setdefault(_shared, {})
assert len({(r.required, r.max_length, r.choices) for r in map(RULES_BY_NAME.get, DATE_FIELDS)}) == 1, \
    "the date fields share their memos: their rules must be the same"
PLAIN_ID_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{RULES_BY_NAME['employee_id'].max_length - 1}}}")


def _fast_paths(rule: FieldRule) -> list[tuple[str, str]]:
    """[(condition, value)]: Python expressions of a field's value v, a str,
    tried in turn; where a condition holds, _clean_field(rule, v) returns its
    value. A condition may use s, v.strip(), bound by the first."""
    limit = rule.max_length or NO_LIMIT_FIELD_LENGTH
    plain = f"(s := v.strip()).isascii() and s.isprintable() and len(s) <= {limit}"
    if rule.name == "employee_id":
        # [A-Za-z0-9][A-Za-z0-9._-]* within the limit: employee_id_text keeps
        # it (ASCII, every character in ID_CHARACTERS) but for upper(), which
        # keeps its length, and the result matches EMPLOYEE_ID_RE. First
        # the commonest case of it, ASCII letters and digits alone, which
        # two string methods tell faster than the pattern.
        return [(f"v.isascii() and v.isalnum() and len(v) <= {limit}", "v.upper()"), ("PLAIN_ID(v)", "v.upper()")]
    if rule.name == "email":
        # Plain and an e-mail: lower_identifier lower-cases it, which changes
        # no '@', '.' or whitespace, so EMAIL_RE says the same of the result.
        return [(f"{plain} and EMAIL_RE.match(s)", "s.lower()")]
    if rule.name == "phone":
        return [(f"{plain} and PHONE_RE.match(s)", "s")]
    if rule.name in MEMOISED:
        # What _clean_field returned for this very value (_by_rule).
        return [(f"(s := ACCEPTED_{rule.name}(v)) is not None", "s")]
    # Free text (names, location): a non-empty value that free_text keeps as
    # it is (plain; or in any script, text_rules.kept_as_is) is stored as it is.
    return [(f"{plain} and s", "s"), (f"s and len(s) <= {limit} and KEPT_AS_IS(s)", "s")]


def _by_rule(rule: FieldRule, value, errors: dict[str, str]):
    """_clean_field(rule, value), its problem put in errors (and None
    returned); for a MEMOISED field, the outcome remembered for next time.
    "Out of range" alone is never remembered: it depends on the day, through
    latest_date(), which only grows, so a date accepted today is accepted
    every later day (the clock going back aside)."""
    accepted = _ACCEPTED.get(rule.name)
    if accepted is not None and value.__class__ is str and len(value) <= MEMO_VALUE_CHARS:
        refused = _REFUSED[rule.name]
        why = refused.get(value)
        if why is None:
            try:
                result = _clean_field(rule, value)
            except DateOutOfRange as problem:
                why = str(problem)
            except FieldProblem as problem:
                why = _remember(refused, MEMO_REFUSALS, value, str(problem))
            else:
                if result is not None:
                    _remember(accepted, MEMO_ENTRIES, value, result)
                return result
        errors[rule.name] = f"{rule.label} {why}"
        return None
    try:
        return _clean_field(rule, value)
    except FieldProblem as problem:
        errors[rule.name] = f"{rule.label} {problem}"
        return None


def _remember(memo: dict, entries: int, value: str, result):
    if len(memo) >= entries:
        memo.clear()
    memo[value] = result
    return result


def _clean_employee_source() -> str:
    """The source of clean_employee: for each field in FIELD_RULES order,
    None when absent (unless required), its fast path, else _by_rule."""
    lines = ["def clean_employee(raw: dict) -> dict:",
             "    get = raw.get",
             "    errors = {}"]
    for index, rule in enumerate(FIELD_RULES):
        lines.append(f"    v = get({rule.name!r})")
        for tier, (condition, value) in enumerate(_fast_paths(rule)):
            lines.append(f"    {'elif' if tier else 'if'} v.__class__ is str and {condition}:")
            lines.append(f"        f{index} = {value}")
        if not rule.required:
            lines.append("    elif v is None or v == \"\":")
            lines.append(f"        f{index} = None")
        lines.append("    else:")
        lines.append(f"        f{index} = _by_rule(RULES[{index}], v, errors)")
    lines.append("    clean = {" + ", ".join(f"{rule.name!r}: f{i}" for i, rule in enumerate(FIELD_RULES)) + "}")
    status, termination = FIELD_NAMES.index("status"), FIELD_NAMES.index("termination_date")
    lines.append(f"    if errors or f{status} is None or f{termination} is not None:")
    lines.append("        return _whole_record(clean, errors)")
    lines.append("    return clean")
    return "\n".join(lines) + "\n"


CLEAN_EMPLOYEE_SOURCE = _clean_employee_source()
_CLEAN_EMPLOYEE_FILE = "<employee_rules.clean_employee, built from FIELD_RULES>"
linecache.cache[_CLEAN_EMPLOYEE_FILE] = (len(CLEAN_EMPLOYEE_SOURCE), None, CLEAN_EMPLOYEE_SOURCE.splitlines(True),
                                         _CLEAN_EMPLOYEE_FILE)  # tracebacks show its lines
_namespace = {"RULES": FIELD_RULES, "PLAIN_ID": PLAIN_ID_RE.fullmatch, "EMAIL_RE": EMAIL_RE, "PHONE_RE": PHONE_RE,
              "KEPT_AS_IS": text_rules.kept_as_is, "_by_rule": _by_rule, "_whole_record": _whole_record,
              **{f"ACCEPTED_{name}": memo.get for name, memo in _ACCEPTED.items()}}
exec(compile(CLEAN_EMPLOYEE_SOURCE, _CLEAN_EMPLOYEE_FILE, "exec"), _namespace)
clean_employee = _namespace["clean_employee"]
clean_employee.__module__ = __name__
clean_employee.__doc__ = """Check every field and return the values to store, or raise InvalidInput
    with one message per failing field, each starting with the field's label.
    (Built from FIELD_RULES: see CLEAN_EMPLOYEE_SOURCE; the same as
    clean_employee_by_rules, faster.)"""
