"""Which column of a file feeds which employee field, and turning one file
row into the raw field values that employee_rules.clean_employee checks."""
import hashlib
import re
from datetime import date
from typing import Callable

from .. import lists
from ..employee_rules import FIELD_NAMES, RULES_BY_NAME, FieldProblem, shown
from ..spreadsheet import unquote_cell

IGNORE = "ignore"
FULL_NAME = "full_name"  # "Ada Lovelace": the last word is the last name
FULL_NAME_LAST_FIRST = "full_name_last_first"  # "Lovelace, Ada"
# A department or job given by its code in the list (services/lists.py);
# pipeline.py resolves it.
CODE_TARGETS = {kind.code_field: kind for kind in lists.KINDS}
TARGETS = (*FIELD_NAMES, *CODE_TARGETS, FULL_NAME, FULL_NAME_LAST_FIRST)


def _target_labels() -> dict[str, str]:
    """What the mapping page offers for a column, in words (and in this
    order: a list's code right after its name)."""
    labels = {}
    for rule in RULES_BY_NAME.values():
        labels[rule.name] = rule.label
        labels.update({kind.code_field: kind.code_label for kind in lists.KINDS if kind.field == rule.name})
    return {**labels, FULL_NAME: "Full name (First Last)", FULL_NAME_LAST_FIRST: "Full name (Last, First)",
            IGNORE: "Ignore this column"}


TARGET_LABELS = _target_labels()


def full_name_problem(value: str, target: str) -> str | None:
    """Why a full-name cell gives no first or last name (its split left one
    empty), in words about the cell, not about two fields the file does not
    have; None when it gives both."""
    label = TARGET_LABELS[target]
    if not value.strip():
        return f"{label} is empty: every employee needs a first and a last name."
    if target == FULL_NAME:
        return f"{label} {shown(value)} is one word: write the first and the last name, e.g. Ada Lovelace."
    return f"{label} {shown(value)} needs a comma between the last and the first name, e.g. Lovelace, Ada."
# The columns rejected.csv adds to a file's own: ignored when it comes back.
REPORT_COLUMNS = ("row", "error")


def normalize_header(header: str) -> str:
    """'E-mail Address ' -> 'emailaddress': case, spacing and punctuation insensitive."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


_ALIASES = {
    "employee_id": ["employee id", "employeeid", "employee number", "employee no", "emp no", "emp id",
                    "empid", "staff id", "staff number", "personnel number", "badge", "badge number",
                    "worker id", "id"],
    "first_name": ["first name", "firstname", "given name", "givenname", "forename", "first"],
    "last_name": ["last name", "lastname", "surname", "family name", "familyname", "last"],
    "email": ["email", "e-mail", "email address", "e-mail address", "work email", "work e-mail", "mail"],
    "phone": ["phone", "phone number", "telephone", "tel", "mobile", "work phone"],
    "department": ["department", "department name", "departmentname", "dept", "dept name"],
    "department_code": ["department code", "department id", "department number", "department no", "dept code",
                        "dept id", "dept no", "dept number"],
    "job_title": ["job title", "jobtitle", "title", "job", "job role", "jobrole", "position", "role"],
    "job_code": ["job code", "job id", "job number", "job no", "title code", "position code", "position id"],
    "employment_type": ["employment type", "employmenttype", "contract type", "type"],
    "location": ["location", "office", "site", "city", "work location", "store location"],
    "hire_date": ["hire date", "hiredate", "date hired", "start date", "startdate", "date of joining",
                  "joined", "hired", "datetime"],
    "status": ["status", "employment status", "employee status"],
    "termination_date": ["termination date", "terminationdate", "end date", "leaving date", "date left"],
    FULL_NAME: ["full name", "fullname", "name", "employee name", "employeename"],
}
ALIASES = {normalize_header(alias): target for target, names in _ALIASES.items() for alias in names}
ALIASES.update({normalize_header(target): target for target in TARGETS})
ALIASES.update({normalize_header(column): IGNORE for column in REPORT_COLUMNS})


def header_key(headers: list[str]) -> str:
    """Identifies "files with the same headers" to remember a mapping."""
    names = [normalize_header(h) for h in headers if normalize_header(h) not in REPORT_COLUMNS]
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()


def shape_key(rows: list[list[str]]) -> str:
    """Identifies "headerless files of the same shape" to remember a mapping:
    as many columns, each holding the same kind of values (column_kind).
    Prefixed, so that it never equals a header_key."""
    width = max((len(row) for row in rows), default=0)
    kinds = [column_kind(column_values(rows, index)) for index in range(width)]
    return hashlib.sha256("\x1f".join(["shape", str(width), *kinds]).encode()).hexdigest()


def column_values(rows: list[list[str]], index: int) -> list[str]:
    """The non-empty values of one column."""
    return [row[index].strip() for row in rows if index < len(row) and row[index].strip()]


def unmatched_columns(first_row: list[str], body: list[list[str]], mapping: list[str]) -> list[int]:
    """The columns (0-based) that a person has to map by hand (see unmatched)."""
    return [index for index, (target, header) in enumerate(zip(mapping, first_row))
            if unmatched(target, header, bool(column_values(body, index)))]


def unmatched(target: str, header: str, has_values: bool) -> bool:
    """Whether a column is ignored for want of a header that names a field.
    Not rejected.csv's own columns, and not an unnamed column with nothing
    in it: spreadsheets save a few of those after the last real one (",,,"
    at each line's end), and there is nothing in them to map."""
    name = normalize_header(header)
    return target == IGNORE and name not in REPORT_COLUMNS and bool(name or has_values)


def looks_like_header(first_row: list[str]) -> bool:
    """A first row is a header if any of its cells names a known field."""
    return _named_fields(first_row) > 0


def _named_fields(row: list[str]) -> int:
    return sum(ALIASES.get(normalize_header(cell)) not in (None, IGNORE) for cell in row)


# Rows above a header that can be its title: "Staff list, March 2026",
# "Exported 2026-03-01 by OrangeHRM", a blank line between (blank lines are
# never records).
MAX_TITLE_ROWS = 5
TITLE_CELLS = 2  # a title row fills at most this many cells


def title_rows(sample: list[list[str]]) -> int:
    """How many rows above the header are its title: 0 unless the first
    rows each fill at most TITLE_CELLS cells, and the row after them names
    at least two fields (one named field could be a person called "Name")."""
    if not sample or looks_like_header(sample[0]):
        return 0
    for index in range(1, min(MAX_TITLE_ROWS, len(sample) - 1) + 1):
        if sum(1 for cell in sample[index - 1] if cell.strip()) > TITLE_CELLS:
            return 0
        if _named_fields(sample[index]) >= 2:
            return index
    return 0


def suggest_mapping(first_row: list[str], sample: list[list[str]], has_header: bool) -> list[str]:
    """A target for each column: by header name when there is a header, by
    what the values look like when there is none. Each field is used once."""
    width = max([len(first_row), *(len(row) for row in sample)], default=0)
    mapping, used = [], set()
    for index in range(width):
        values = column_values(sample, index)
        if has_header:
            header = first_row[index] if index < len(first_row) else ""
            target = ALIASES.get(normalize_header(header), IGNORE)
            if target == FULL_NAME and values and sum("," in v for v in values) > len(values) / 2:
                target = FULL_NAME_LAST_FIRST
        else:
            target = _guess_from_values(values)
        if target in used:
            target = IGNORE
        if target != IGNORE:
            used.add(target)
            if target in (FULL_NAME, FULL_NAME_LAST_FIRST):
                used.update((FULL_NAME, FULL_NAME_LAST_FIRST, "first_name", "last_name"))
        mapping.append(target)
    return mapping


# The kinds of values a column can hold, tried in this order: (kind, the
# pattern its values match, the share of values that must match it).
_KINDS = (
    ("email", r"[^@\s]+@[^@\s]+\.\w+", 0.8),
    ("date", r"\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?([+-][\d:]+)?)?|\d{1,2}[/.]\d{1,2}[/.]\d{4}", 0.8),
    ("code", r"[A-Za-z]{0,4}-?\d+", 0.9),
    ("name_last_first", r"[^\d,@]+,\s*[^\d,@]+", 0.8),
    ("name", r"[^\d,@\s]+(\s+[^\d,@\s]+)+", 0.8),
)
# The field a column of each kind suggests, when the field is still free.
_TARGET_OF_KIND = {"email": "email", "date": "hire_date", "code": "employee_id",
                   "name_last_first": FULL_NAME_LAST_FIRST, "name": FULL_NAME}


def column_kind(values: list[str]) -> str:
    """What a column's values look like: one of _KINDS, "text" or "empty"."""
    if not values:
        return "empty"
    for kind, pattern, share in _KINDS:
        if sum(1 for v in values if re.fullmatch(pattern, v)) / len(values) > share:
            return kind
    return "text"


def _guess_from_values(values: list[str]) -> str:
    kind = column_kind(values)
    if kind == "code" and len(set(values)) < len(values):  # an ID column holds no repeats
        return IGNORE
    return _TARGET_OF_KIND.get(kind, IGNORE)


def mapping_problems(mapping: list[str]) -> list[str]:
    """What stops a mapping from being used, in words."""
    problems = []
    if "employee_id" not in mapping:
        problems.append(f"No column is mapped to {TARGET_LABELS['employee_id']}: every employee needs an ID.")
    named = FULL_NAME in mapping or FULL_NAME_LAST_FIRST in mapping
    if not named and not {"first_name", "last_name"} <= set(mapping):
        problems.append(f"Map columns to {TARGET_LABELS['first_name']} and {TARGET_LABELS['last_name']}, "
                        "or one column to a full name.")
    if set(mapping) - {*TARGETS, IGNORE}:  # a forged form: its values are never shown
        problems.append("A column is mapped to something that is not a field.")
    for target in TARGETS:
        if mapping.count(target) > 1:
            problems.append(f"More than one column is mapped to {TARGET_LABELS[target]}.")
    return problems


def mapped_record(cells: list[str], mapping: list[str]) -> tuple[dict, dict[str, str]]:
    """(raw field values, errors found while reading them) for one row."""
    last = _last_reader  # an import asks with the same mapping row after row
    if mapping is last[0] and mapping == last[1]:
        return last[2](cells)
    return _remember_reader(mapping)(cells)


def _remember_reader(mapping: list[str]) -> Callable[[list[str]], tuple[dict, dict[str, str]]]:
    global _last_reader
    reader = row_reader(mapping)
    _last_reader = (mapping, mapping[:], reader)  # one assignment: threads see all of it or none
    return reader


# The readers built so far, by mapping: an import maps every row the same way.
_READERS: dict[tuple[str, ...], Callable[[list[str]], tuple[dict, dict[str, str]]]] = {}
# (the mapping last asked for, a copy of it, its reader): the mapping checked
# against its copy, for a caller that changed it in between.
_last_reader: tuple = (None, None, None)
READERS_KEPT = 64
# Remembered readings of date cells (the dates of a file repeat a lot):
# cell text -> (YYYY-MM-DD, None) or (None, why not). Bounded like employee_rules' memos.
_DATE_TEXTS: dict[str, tuple[str | None, str | None]] = {}
DATE_TEXTS_KEPT = 1 << 14


def row_reader(mapping: list[str]) -> Callable[[list[str]], tuple[dict, dict[str, str]]]:
    """mapped_record for one mapping, worked out once: a function of a row's
    cells (see _reader_source). Both give the same result
    (tests/unit/test_fast_rules.py)."""
    key = tuple(mapping)
    reader = _READERS.get(key)
    if reader is None:
        if len(_READERS) >= READERS_KEPT:
            _READERS.clear()
        reader = _READERS[key] = _compiled_reader(key)
    return reader


def _compiled_reader(mapping: tuple[str, ...]) -> Callable[[list[str]], tuple[dict, dict[str, str]]]:
    source = _reader_source(mapping)
    if source is None:
        return lambda cells: _mapped_record_by_cell(cells, mapping)
    filename = f"<mapping.row_reader {len(mapping)} columns>"
    namespace = {"MAPPING": mapping, "MISSING": _missing_keys(mapping), "strip": str.strip,
                 "by_cell": _mapped_record_by_cell, "shown": shown, "clean_code": lists.clean_code,
                 "FieldProblem": FieldProblem, "DATE_TEXT": _DATE_TEXTS.get, "read_date": _read_date,
                 "name_problem": full_name_problem}
    exec(compile(source, filename, "exec"), namespace)
    read = namespace["read"]
    read.source = source  # to read what runs
    return read


def _reader_source(mapping: tuple[str, ...]) -> str | None:
    """The source of a function of a row's cells that returns what
    _mapped_record_by_cell(cells, mapping) returns, through C-level steps:
    every cell strip()ped at once, one dict built at once. Rows with a line
    break anywhere, or a cell starting with "'" (maybe one our export made
    formula-safe), still go cell by cell; so does every row of a mapping
    where the order of the columns decides which cell wins (a field mapped
    twice, which mapping_problems refuses; two full-name columns, or one with
    a first or last name column)."""
    used = [target for target in mapping if target != IGNORE]
    names = [target for target in used if target in (FULL_NAME, FULL_NAME_LAST_FIRST)]
    if len(set(used)) < len(used) or len(names) > 1 or (names and {"first_name", "last_name"} & set(used)):
        return None
    width = _width(mapping)
    entries, splits, name_checks = [], [], []
    for index, target in enumerate(mapping):
        if target == IGNORE:
            continue
        if target == FULL_NAME:
            splits.append(f"    first, _, last = values[{index}].rpartition(' ')")
            entries += ["'first_name': first.strip()", "'last_name': last"]
        elif target == FULL_NAME_LAST_FIRST:
            splits.append(f"    last, _, first = values[{index}].partition(',')")
            entries += ["'first_name': first.strip()", "'last_name': last.strip()"]
        else:
            entries.append(f"{target!r}: values[{index}]")
        if target in (FULL_NAME, FULL_NAME_LAST_FIRST):  # a row too short for the cell has neither key
            name_checks += ["    if 'last_name' in raw and (not raw['first_name'] or not raw['last_name']):",
                            f"        errors[{target!r}] = name_problem(values[{index}], {target!r})"]
    lines = [
        "def read(cells):",
        "    values = list(map(strip, cells))",
        "    joined = '\\x1f'.join(values)",  # a cell holding "\x1f" can only send a row cell by cell needlessly
        "    if '\\n' in joined or '\\r' in joined or (\"'\" in joined and (joined[0] == \"'\"\n"
        "                                                         or \"\\x1f'\" in joined)):",
        "        return by_cell(cells, MAPPING)",
        "    count = len(values)",
        f"    if count < {width}:  # cells past the row's end are left out, as cell by cell",
        f"        values += [''] * ({width} - count)",
        *splits,
        "    raw = {" + ", ".join(entries) + "}",
        f"    if count < {width}:",
        "        for key in MISSING[count]:",
        "            del raw[key]",
        "    errors = {}",
        *name_checks,
    ]
    for target, kind in CODE_TARGETS.items():
        if target in used:
            lines += [f"    if code := raw.get({target!r}):",
                      "        try:",
                      f"            raw[{target!r}] = clean_code(code)",
                      "        except FieldProblem as problem:",
                      f"            errors[{target!r}] = {kind.code_label!r} + ' ' + str(problem)"]
    for name in ("hire_date", "termination_date"):
        if name in used:
            label = RULES_BY_NAME[name].label
            lines += [f"    if value := raw.get({name!r}):",
                      "        text, why = DATE_TEXT(value) or read_date(value)",
                      "        if why is None:",
                      f"            raw[{name!r}] = text",
                      "        else:",
                      f"            errors[{name!r}] = {label!r} + ' ' + shown(value) + ' ' + why + '.'"]
    lines.append("    return raw, errors")
    return "\n".join(lines) + "\n"


def _width(mapping: tuple[str, ...]) -> int:
    """The cells a row needs to have every mapped one."""
    return max((index + 1 for index, target in enumerate(mapping) if target != IGNORE), default=0)


def _missing_keys(mapping: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """For each length of a row shorter than _width: the keys of raw that
    its missing cells would have set."""
    missing = []
    for count in range(_width(mapping)):
        keys = []
        for target in mapping[count:]:
            if target in (FULL_NAME, FULL_NAME_LAST_FIRST):
                keys += ["first_name", "last_name"]
            elif target != IGNORE:
                keys.append(target)
        missing.append(tuple(keys))
    return tuple(missing)


def _read_date(value: str) -> tuple[str | None, str | None]:
    """iso_date_text(value) as (text, None), or (None, why not); remembered."""
    try:
        found = (iso_date_text(value), None)
    except ValueError as exc:
        found = (None, str(exc))
    if len(_DATE_TEXTS) >= DATE_TEXTS_KEPT:
        _DATE_TEXTS.clear()
    _DATE_TEXTS[value] = found
    return found


def _mapped_record_by_cell(cells: list[str], mapping: tuple[str, ...] | list[str]) -> tuple[dict, dict[str, str]]:
    """(raw field values, errors found while reading them) for one row."""
    raw: dict[str, str] = {}
    errors: dict[str, str] = {}
    name_cell = None  # (the last full-name cell read, its target)
    for index, target in enumerate(mapping):
        if target == IGNORE or index >= len(cells):
            continue
        value = cells[index].strip()
        if "\n" in value or "\r" in value:  # a quoted cell over several lines: one line of text
            value = " ".join(value.split())
        value = unquote_cell(value)  # a cell our exports made formula-safe
        if target == FULL_NAME:
            first, _, last = value.rpartition(" ")
            raw["first_name"], raw["last_name"] = first.strip(), last
            name_cell = (value, target)
        elif target == FULL_NAME_LAST_FIRST:
            last, _, first = value.partition(",")
            raw["first_name"], raw["last_name"] = first.strip(), last.strip()
            name_cell = (value, target)
        else:
            raw[target] = value
    # Said of the full-name cell, not of two fields the file does not have
    # (a first or last name column after it may still have given them).
    if name_cell is not None and (not raw["first_name"] or not raw["last_name"]):
        errors[name_cell[1]] = full_name_problem(*name_cell)
    for target, kind in CODE_TARGETS.items():
        if raw.get(target):
            try:
                raw[target] = lists.clean_code(raw[target])
            except FieldProblem as problem:
                errors[target] = f"{kind.code_label} {problem}"
    for name in ("hire_date", "termination_date"):
        if raw.get(name):
            try:
                raw[name] = iso_date_text(raw[name])
            except ValueError as exc:
                errors[name] = f"{RULES_BY_NAME[name].label} {shown(raw[name])} {exc}."
    return raw, errors


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?")
_SLASHED = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_DAY_MONTH = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")


def iso_date_text(value: str) -> str:
    """A date as the file wrote it -> 'YYYY-MM-DD'. Accepted: YYYY-MM-DD (with
    or without a time, e.g. 2021-07-27T16:02:08Z), YYYY/MM/DD, DD.MM.YYYY,
    and D/M/YYYY or M/D/YYYY when only one reading is a date (13/02/2024,
    02/13/2024; 03/04/2024 is ambiguous). Raises ValueError saying why not."""
    value = value.strip()
    if m := _ISO.fullmatch(value):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _SLASHED.fullmatch(value):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _DAY_MONTH.fullmatch(value):
        if len(m[4]) == 2:
            raise ValueError("has a two-digit year: use YYYY-MM-DD")
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        if m[2] == "." or first > 12:
            day, month = first, second
        elif second > 12 or first == second:
            month, day = first, second
        else:
            raise ValueError("is ambiguous (day/month or month/day?): use YYYY-MM-DD")
    else:
        return value  # clean_employee says it is not a date
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise ValueError("is not a date") from None
