"""Upload a whole list (departments or jobs) from a CSV or XLSX file.

Two columns, code and name; a header row naming them is optional (it may
put them the other way round). Each row is matched to the list by its code:
a new code is added, a known code with another name renames its entry, a
name already in the list without a code is given the row's code. Every other
row is refused with the reason, and the rest is written in one transaction,
each change with its audit entry. Lists are small, so this runs in the web
request; a file of more than MAX_ROWS rows is refused whole.

Files are read by importer/files.py (bounded, whatever they hold); of each
row only its first cells, cut short, are kept, so memory stays small.
"""
import itertools
import os
import tempfile
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import AuditEntry, User
from . import audit, lists, text_rules
from .employee_rules import FieldProblem, shown
from .importer.files import FileRefused, detect_format, read_records, save_stream
from .importer.mapping import normalize_header
from .lists import ListKind

MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024  # 10,000 rows of a long code and name are about 1.5 MB
# Characters kept of a cell: more than any name or code may have even
# before normalising (lists.clean_name), so a longer one is still refused
# as too long, and 10,000 rows of hostile cells stay a few MB.
KEPT_CHARS = 1_000
# Header cells, as importer.mapping.normalize_header writes them.
CODE_HEADERS = {f"{prefix}{word}" for prefix in ("", "department", "dept", "job")
                for word in ("code", "id", "number", "no", "key")}
NAME_HEADERS = {"name", "department", "dept", "job", "jobtitle", "title", "description", "departmentname",
                "deptname", "jobname"}


@dataclass
class Row:
    """One row of the file as the report shows it, and what became of it."""
    number: int
    code: str
    name: str
    outcome: str = ""  # added | renamed | coded | unchanged | refused
    reason: str = ""  # why it was refused
    old_name: str = ""  # renamed: the name before


@dataclass
class UploadReport:
    kind: ListKind
    filename: str
    has_header: bool
    rows: list[Row] = field(default_factory=list)

    def having(self, outcome: str) -> list[Row]:
        return [row for row in self.rows if row.outcome == outcome]

    @property
    def changed(self) -> int:
        return sum(1 for row in self.rows if row.outcome in ("added", "renamed", "coded"))


def upload_list(kind: ListKind, stream, filename: str, *, actor: User | None) -> UploadReport:
    """Read the upload (kept in a temporary file meanwhile), apply it, say
    what became of each row. Raises FileRefused (400, 413) with the reason
    for a file that cannot be a list; then nothing is changed."""
    os.makedirs(current_app.config["UPLOAD_DIR"], exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=current_app.config["UPLOAD_DIR"], suffix=".list") as kept:
        save_stream(stream, kept.name, MAX_BYTES)
        has_header, rows = _read_rows(kept.name, kind)
    report = UploadReport(kind, filename, has_header, rows)
    _apply(kind, report, actor)
    return report


def _read_rows(path: str, kind: ListKind) -> tuple[bool, list[Row]]:
    """(whether the first row is a header, the data rows with their first two
    cells in code, name order)."""
    records = read_records(path, detect_format(path))
    first = next(records, None)
    if first is None:
        raise FileRefused("The file is empty: there are no rows to read.")
    width = _width(first[1])
    if width != 2:
        raise FileRefused(f"The first row has {width} column{'' if width == 1 else 's'}: a {kind.label} list has "
                          "two, code and name (a header row naming them is optional).")
    headers = [normalize_header(cell) for cell in first[1][:2]]
    has_header = any(header in CODE_HEADERS | NAME_HEADERS for header in headers)
    # A header may name the columns the other way round: name, code.
    order = (1, 0) if has_header and (headers[0] in NAME_HEADERS or headers[1] in CODE_HEADERS) else (0, 1)
    rows = []
    for number, cells, problem in _limited(itertools.chain([] if has_header else [first], records)):
        cells = [cell[:KEPT_CHARS] for cell in cells[:3]]
        cells += [""] * (2 - len(cells))
        row = Row(number, cells[order[0]], cells[order[1]])
        if problem:
            row.outcome, row.reason = "refused", problem
        elif _width(cells) > 2:
            row.outcome, row.reason = "refused", "The row has more than two columns: code and name."
        rows.append(row)
    return has_header, rows


def _limited(records):
    """The data records, or FileRefused (413) past MAX_ROWS: refused whole,
    before any change."""
    for count, record in enumerate(records, start=1):
        if count > MAX_ROWS:
            raise FileRefused(f"The file has more than {MAX_ROWS:,} rows: a list upload takes at most "
                              f"{MAX_ROWS:,}.", 413)
        yield record


def _width(cells: list[str]) -> int:
    """Columns in a row, empty cells at its end not counted."""
    width = len(cells)
    while width and not cells[width - 1].strip():
        width -= 1
    return width


# --- matching the rows to the list, then writing ------------------------------

@dataclass(eq=False)  # entries are told apart by identity
class _Entry:
    id: int | None  # None: added by this file
    name: str
    code: str | None
    changes: dict = field(default_factory=dict)


def _apply(kind: ListKind, report: UploadReport, actor: User | None) -> None:
    """Match every row (in file order, each seeing the changes of the rows
    before it), then write: renames and new codes first (a rename may free a
    name that a new entry takes), then the new entries, then the audit
    entries; all in one transaction holding the list's lock."""
    try:
        with lists.list_change(kind):
            entries = [_Entry(*row) for row in db.session.execute(
                select(kind.model.id, kind.model.name, kind.model.code))]
            by_code = {entry.code.lower(): entry for entry in entries if entry.code}
            by_name = {entry.name.lower(): entry for entry in entries}
            changed = _match(kind, report.rows, by_code, by_name)
            _write(kind, changed, actor)
    except lists.EntryTaken:
        raise FileRefused(f"The {kind.plural} list changed while the file was read (a name or code was added "
                          "meanwhile); nothing was changed. Upload the file again.", 409) from None


def _match(kind: ListKind, rows: list[Row], by_code: dict, by_name: dict) -> list[_Entry]:
    """Each row's outcome; returns the entries to write, in file order."""
    changed: list[_Entry] = []
    code_rows: dict[str, int] = {}  # lower-cased code -> its first row in the file
    name_rows: dict[str, int] = {}
    for row in rows:
        if row.outcome:  # refused while reading
            continue
        try:
            code, name = _clean_row(kind, row)
        except FieldProblem as problem:
            row.outcome, row.reason = "refused", str(problem)
            continue
        row.code, row.name = code, name  # as stored (the report shows them)
        if code.lower() in code_rows:
            row.outcome, row.reason = "refused", f"Code {code} is also on row {code_rows[code.lower()]} of this file."
            continue
        code_rows[code.lower()] = row.number
        if name.lower() in name_rows:
            row.outcome, row.reason = "refused", f"{name} is also on row {name_rows[name.lower()]} of this file."
            continue
        name_rows[name.lower()] = row.number

        entry, holder = by_code.get(code.lower()), by_name.get(name.lower())
        if entry is not None and entry.name == name:
            row.outcome = "unchanged"
        elif entry is not None and holder not in (None, entry):
            row.outcome, row.reason = "refused", _held(kind, holder)
        elif entry is not None:  # renamed (a case-only change too)
            row.outcome, row.old_name = "renamed", entry.name
            _change(entry, "name", name, changed)
            del by_name[entry.name.lower()]
            entry.name = name
            by_name[name.lower()] = entry
        elif holder is not None and holder.code is None:  # in the list without a code: given this one
            row.outcome = "coded"
            _change(holder, "code", code, changed)
            if holder.name != name:
                row.old_name = holder.name
                _change(holder, "name", name, changed)
                holder.name = name
            holder.code = code
            by_code[code.lower()] = holder
        elif holder is not None:
            row.outcome, row.reason = "refused", _held(kind, holder)
        else:
            row.outcome = "added"
            added = _Entry(None, name, code, audit.creation_changes({"name": name, "code": code}))
            changed.append(added)
            by_code[code.lower()], by_name[name.lower()] = added, added
    return changed


def _clean_row(kind: ListKind, row: Row) -> tuple[str, str]:
    """(code, name) as stored; FieldProblem with the whole reason."""
    try:
        code = lists.clean_code(row.code)
    except FieldProblem as problem:
        raise FieldProblem(f"Code {problem}") from None
    try:
        name = lists.clean_name(kind, row.name)
    except FieldProblem as problem:
        raise FieldProblem(f"Name {problem}") from None
    if code is None or name is None:
        raise FieldProblem(f"The {'code' if code is None else 'name'} is empty: each row needs a code and a name.")
    return code, name


def _held(kind: ListKind, holder: _Entry) -> str:
    """Why a row cannot have its name: another entry has it, with another code."""
    return (f"{holder.name} is already in the list with code {holder.code}; to give it another code, "
            f"change it on its page in the {kind.plural} list.")


def _change(entry: _Entry, name: str, value: str, changed: list[_Entry]) -> None:
    """Note a change of an entry of the list. (A row never changes an entry
    an earlier row added or changed: its code or name would repeat that row's.)"""
    entry.changes[name] = [getattr(entry, name), value]
    if entry not in changed:
        changed.append(entry)


def _write(kind: ListKind, changed: list[_Entry], actor: User | None) -> None:
    model = kind.model
    existing = [entry for entry in changed if entry.id is not None]
    added = [entry for entry in changed if entry.id is None]
    if existing:
        db.session.execute(update(model), [{"id": e.id, "name": e.name, "code": e.code} for e in existing])
    if added:
        ids = db.session.execute(
            insert(model).returning(model.id, sort_by_parameter_order=True),
            [{"name": e.name, "code": e.code} for e in added]).scalars().all()
        for entry, new_id in zip(added, ids):
            entry.id = new_id
    if changed:
        authenticated = actor is not None and getattr(actor, "is_authenticated", False)
        db.session.execute(insert(AuditEntry), [{
            "actor_id": actor.id if authenticated else None,
            "actor_name": actor.username if authenticated else None,
            "subject": kind.label, "entry_pk": e.id, "entry_name": e.name, "source": "list_upload",
            "action": "update" if e in existing else "create", "changes": e.changes,
        } for e in changed])


def shown_cell(value: str) -> str:
    """A cell as the report quotes it: characters that could hide or reorder
    text (controls, direction overrides, invisible ones) as U+FFFD, cut short."""
    return shown(text_rules.harmless(value), 60)
