"""The audit log: one entry per change to one employee, to one entry of
the departments or jobs list, or to one account.

The services that change employees call record() (the lists:
record_entry_change()) inside their own transaction, so an entry exists
exactly when its change does. Conventions (shared with the import, which
writes the same rows in bulk SQL):

- subject: employee | department | job | import | account; an employee's
  entry names it by employee_pk and employee_id, a list entry's and an
  account's by entry_pk and entry_name (the username), an import's by
  import_id;
- an import writes one entry of its own (subject import, action create,
  changes {"file": [null, its file name]}) for the records it creates, in
  the transaction of its first stored rows, instead of an entry per record:
  each record carries import_id and import_row, and its history shows its
  creation from them (import_creation()). Its updates of existing records
  are entries per record, as any update;
- action: create | update | delete; source: form | import | edit | delete |
  bulk | cli | api for employees; list | list_upload for list entries an
  admin changed on their pages, and for a department or job that came into
  being because an employee named it, the path that named it: form | edit |
  bulk | api (lists.ensure_entry) or import (with import_id: the import
  writes one entry per entry it added and kept, in the transaction that
  added it, never per row); accounts (an admin's pages) | password (one's
  own) | tokens | cli for accounts;
- changes: {field: [old, new]} with JSON values (dates 'YYYY-MM-DD', the
  department by name; a list entry's name and code); a create has old = null
  for every non-empty field, a delete has new = null;
- an account's changes (record_account_change): username and role on its
  creation, role, active ("yes"/"no"), password ("set": never a password or
  its hash), api_token (the token's name: never the token);
- actor_id and actor_name (the username at the time; kept if the account
  goes); none for the command line's changes (source cli).
"""
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, or_, select, tuple_

from .. import clock
from ..extensions import db
from ..models import AuditEntry, Employee, ImportJob, User
from .employee_rules import CONTROL_CHARS_RE, FIELD_NAMES, RULES_BY_NAME, normalize_employee_id
from .pagination import Cursor, decode_cursor, encode_cursor
from .spreadsheet import BOM, csv_text

# The fields an entry records, in the order pages show them: an employee's,
# a list entry's.
AUDITED_FIELDS = FIELD_NAMES
LIST_FIELDS = ("name", "code")
ACCOUNT_LABELS = {"username": "Username", "role": "Role", "active": "Active", "password": "Password",
                  "api_token": "API token"}
MAX_FILTER_LENGTH = 64
MAX_BIGINT = 2**63 - 1
# What the history page's "Changes to" filter offers; "employee" includes
# the imports' own entries (they create employees).
FILTER_SUBJECTS = ("employee", "department", "job", "account")


def field_label(name: str) -> str:
    rule = RULES_BY_NAME.get(name)
    return rule.label if rule else ACCOUNT_LABELS.get(name) or name.replace("_", " ").capitalize()


def json_value(value) -> str | None:
    """A stored value as the log keeps it: ISO dates, None for empty."""
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def snapshot(employee: Employee) -> dict[str, str | None]:
    """The employee's audited fields as JSON values (department by name)."""
    values = {}
    for name in AUDITED_FIELDS:
        if name == "department":
            values[name] = employee.department.name if employee.department is not None else None
        else:
            values[name] = json_value(getattr(employee, name))
    return values


def diff(before: dict, after: dict, fields: tuple[str, ...] = AUDITED_FIELDS) -> dict[str, list]:
    """{field: [old, new]} for each field whose value differs."""
    return {name: [before.get(name), after.get(name)]
            for name in fields if before.get(name) != after.get(name)}


def creation_changes(after: dict) -> dict[str, list]:
    return {name: [None, value] for name, value in after.items() if value is not None}


def deletion_changes(before: dict) -> dict[str, list]:
    return {name: [value, None] for name, value in before.items() if value is not None}


def _add(actor, **values) -> AuditEntry:
    """The entry, with who made it (nobody for the command line), added to
    the current transaction (the caller commits)."""
    actor_id, actor_name = actor_fields(actor)
    entry = AuditEntry(actor_id=actor_id, actor_name=actor_name, **values)
    db.session.add(entry)
    return entry


def actor_fields(actor) -> tuple[int | None, str | None]:
    """(actor_id, actor_name) of an entry: the logged-in account's, or none
    (the command line, the system), also for entries written in bulk SQL."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.id, actor.username
    return None, None


def record(*, employee_pk: int, employee_id: str, action: str, source: str, changes: dict,
           actor=None, import_id: int | None = None, import_row: int | None = None) -> AuditEntry:
    """Add an entry to the current transaction (the caller commits)."""
    return _add(actor, employee_pk=employee_pk, employee_id=employee_id, action=action, source=source,
                import_id=import_id, import_row=import_row, changes=changes)


def record_entry_change(*, subject: str, entry_pk: int, entry_name: str, action: str, source: str,
                        changes: dict, actor=None) -> AuditEntry:
    """A change to a list entry (subject: its ListKind's label), added to the
    current transaction (the caller commits)."""
    return _add(actor, subject=subject, entry_pk=entry_pk, entry_name=entry_name, action=action, source=source,
                changes=changes)


def record_account_change(account: User, changes: dict, *, source: str, actor=None,
                          action: str = "update") -> AuditEntry:
    """A change to an account (see the module's doc for what `changes` may
    hold: never a password, a hash or a token), added to the current
    transaction (the caller commits). The account must have its id."""
    return _add(actor, subject="account", entry_pk=account.id, entry_name=account.username, action=action,
                source=source, changes=changes)


def ordered_changes(changes: dict) -> list[tuple[str, str, object, object]]:
    """(field, label, old, new) in the form's field order, unknown fields last."""
    known = (*AUDITED_FIELDS, *LIST_FIELDS, *ACCOUNT_LABELS)
    names = [n for n in known if n in changes] + sorted(n for n in changes if n not in known)
    result = []
    for name in names:
        pair = changes[name]
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        result.append((name, field_label(name), old, new))
    return result


# --- one employee's history --------------------------------------------------

def latest_entry_id(employee_pk: int) -> int:
    """The newest entry's id for this employee (0 if none): the edit form
    carries it, so a conflict can show exactly what changed since."""
    return db.session.execute(
        select(func.coalesce(func.max(AuditEntry.id), 0)).where(AuditEntry.employee_pk == employee_pk)
    ).scalar_one()


def employee_history(employee_pk: int, *, before: int | None = None, limit: int = 50
                     ) -> tuple[list[AuditEntry], int | None]:
    """The employee's entries, newest first; and the id to pass as `before`
    for the next (older) page, or None. The oldest page ends with its
    creation by an import when the import's own entry stands for it."""
    entries, older = _history(AuditEntry.employee_pk == employee_pk, before, limit)
    if older is None:
        created = import_creation(employee_pk)
        if created is not None:
            entries.append(created)
    return entries, older


def import_creation(employee_pk: int) -> AuditEntry | None:
    """"Created by import #N, row R" for a record an import created without
    an entry of its own (see the module's doc), as an entry that is not
    stored: when (the record's created_at), who (the import's own entry, or
    its uploader), and the values it was created with: its values now with
    every later change in the log undone (departments and jobs by their
    names now). None for any other record."""
    employee = db.session.get(Employee, employee_pk)
    if employee is None or employee.import_id is None:
        return None
    later = entries_since(employee_pk, 0)
    if any(entry.action == "create" for entry in later):  # an entry of its own (imports before 0010)
        return None
    first = state_before(snapshot(employee), later)
    own = db.session.execute(select(AuditEntry).where(AuditEntry.subject == "import",
                                                      AuditEntry.import_id == employee.import_id)
                             .order_by(AuditEntry.id).limit(1)).scalar_one_or_none()
    actor_id, actor_name = (own.actor_id, own.actor_name) if own else (None, None)
    if own is None:
        uploader = db.session.execute(select(User.id, User.username).join(ImportJob, ImportJob.user_id == User.id)
                                      .where(ImportJob.id == employee.import_id)).first()
        actor_id, actor_name = uploader if uploader else (None, None)
    entry = AuditEntry(at=employee.created_at, actor_id=actor_id, actor_name=actor_name, subject="employee",
                       employee_pk=employee_pk, employee_id=first["employee_id"], action="create", source="import",
                       import_id=employee.import_id, changes=creation_changes(first))
    entry.import_row = employee.import_row  # shown beside the import's number (not a column)
    return entry


def entry_history(subject: str, entry_pk: int, *, before: int | None = None, limit: int = 50
                  ) -> tuple[list[AuditEntry], int | None]:
    """A list entry's entries (ix_audit_log_entry), as employee_history."""
    return _history((AuditEntry.subject == subject) & (AuditEntry.entry_pk == entry_pk), before, limit)


def _history(condition, before: int | None, limit: int) -> tuple[list[AuditEntry], int | None]:
    query = select(AuditEntry).where(condition)
    if before is not None and not 0 < before <= MAX_BIGINT:
        before = None  # a tampered link shows the newest page
    if before:
        query = query.where(AuditEntry.id < before)
    rows = list(db.session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).scalars())
    older = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], older


def entries_since(employee_pk: int, after_id: int) -> list[AuditEntry]:
    """The employee's entries newer than after_id, oldest first."""
    return list(db.session.execute(
        select(AuditEntry).where(AuditEntry.employee_pk == employee_pk, AuditEntry.id > after_id)
        .order_by(AuditEntry.id)
    ).scalars())


def state_before(current: dict | None, entries: list[AuditEntry]) -> dict | None:
    """Undo `entries` (oldest first, all newer than the wanted state) on the
    current values: the record as it was before the first of them."""
    state = dict(current) if current is not None else {name: None for name in AUDITED_FIELDS}
    for entry in reversed(entries):
        if entry.action == "create":
            return None  # the record did not exist before
        for name, pair in (entry.changes or {}).items():
            if isinstance(pair, list) and pair:
                state[name] = pair[0]
    return state


# --- the admin page: filter, page, export ------------------------------------

@dataclass
class AuditQuery:
    actor: str = ""
    employee_id: str = ""
    subject: str = ""  # one of AUDIT_SUBJECTS, or every change
    date_from: date | None = None
    date_to: date | None = None
    cursor: str | None = None
    per_page: int = 50
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args, per_page: int = 50) -> "AuditQuery":
        """From the page's query string; a date that does not parse is
        reported and ignored, never a 500."""
        def text(name: str) -> str:  # control characters can match nothing: drop them
            return CONTROL_CHARS_RE.sub("", args.get(name) or "")[:MAX_FILTER_LENGTH]

        subject = args.get("subject") or ""
        query = cls(actor=text("actor").strip().lower(), employee_id=normalize_employee_id(text("employee")),
                    subject=subject if subject in FILTER_SUBJECTS else "",
                    cursor=args.get("cursor") or None, per_page=per_page)
        for name, label in (("date_from", "From"), ("date_to", "To")):
            raw = (args.get(name.removeprefix("date_")) or "").strip()
            if raw:
                try:
                    setattr(query, name, date.fromisoformat(raw))
                except ValueError:
                    query.errors[name] = f"{label}: {raw[:20]} is not a date (use YYYY-MM-DD)."
        return query

    def args(self) -> dict:
        """The filters as query-string arguments (for the CSV link)."""
        values = {"actor": self.actor, "employee": self.employee_id, "subject": self.subject,
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else ""}
        return {key: value for key, value in values.items() if value}


def _conditions(query: AuditQuery) -> list:
    conditions = []
    if query.actor:
        user_id = db.session.execute(select(User.id).where(User.username == query.actor)).scalar_one_or_none()
        if user_id is not None:
            conditions.append(AuditEntry.actor_id == user_id)  # ix_audit_log_actor
        else:  # an account that no longer exists
            conditions.append(AuditEntry.actor_id.is_(None))
            conditions.append(func.lower(AuditEntry.actor_name) == query.actor)
    if query.employee_id:
        # The ID as recorded at the time, or the record that holds it now
        # (its entries from before an ID change too).
        holder = select(Employee.id).where(Employee.employee_id == query.employee_id).scalar_subquery()
        # ... and the entry of the import that created that record.
        creator = select(Employee.import_id).where(Employee.employee_id == query.employee_id).scalar_subquery()
        conditions.append(or_(AuditEntry.employee_id == query.employee_id, AuditEntry.employee_pk == holder,
                              (AuditEntry.subject == "import") & (AuditEntry.import_id == creator)))
    if query.subject == "employee":
        conditions.append(AuditEntry.subject.in_(("employee", "import")))
    elif query.subject:
        # entry_pk IS NOT NULL lets PostgreSQL page by ix_audit_log_entries_at,
        # which holds the list changes alone.
        conditions += [AuditEntry.subject == query.subject, AuditEntry.entry_pk.is_not(None)]
    if query.date_from:
        conditions.append(AuditEntry.at >= clock.start_of_day(query.date_from))
    if query.date_to and query.date_to < date.max:
        conditions.append(AuditEntry.at < clock.start_of_day(query.date_to + timedelta(days=1)))
    return conditions


@dataclass
class AuditPage:
    rows: list[AuditEntry]
    next_cursor: str | None  # older entries
    prev_cursor: str | None  # newer entries


def _key(entry: AuditEntry) -> list:
    return [entry.at.isoformat(), entry.id]


def list_entries(query: AuditQuery) -> AuditPage:
    """Newest first, by (at, id), in keyset pages (no OFFSET)."""
    conditions = _conditions(query)
    cursor = decode_cursor(query.cursor, 2)
    after = None
    if cursor is not None:
        try:
            after = (datetime.fromisoformat(str(cursor.values[0])), int(cursor.values[1]))
        except (TypeError, ValueError):
            cursor = None
        if after is not None and (after[0].tzinfo is None or not 0 <= after[1] <= MAX_BIGINT):
            cursor, after = None, None  # a tampered link shows the first page
    backwards = cursor is not None and cursor.backwards
    key = tuple_(AuditEntry.at, AuditEntry.id)
    if after is not None:
        bound = tuple_(*after)
        if backwards:  # newer than the first row shown
            conditions += [AuditEntry.at >= after[0], key > bound]
        else:  # older than the last row shown
            conditions += [AuditEntry.at <= after[0], key < bound]
    order = [AuditEntry.at.asc(), AuditEntry.id.asc()] if backwards else [AuditEntry.at.desc(), AuditEntry.id.desc()]
    rows = list(db.session.execute(
        select(AuditEntry).where(*conditions).order_by(*order).limit(query.per_page + 1)
    ).scalars())
    has_more = len(rows) > query.per_page
    rows = rows[: query.per_page]
    if backwards:
        rows.reverse()
    more_older = has_more if not backwards else True
    more_newer = cursor is not None if not backwards else has_more
    return AuditPage(
        rows=rows,
        next_cursor=encode_cursor(Cursor(_key(rows[-1]), False)) if rows and more_older else None,
        prev_cursor=encode_cursor(Cursor(_key(rows[0]), True)) if rows and more_newer else None,
    )


# --- CSV ----------------------------------------------------------------------

# at_utc for programs; at_local, the same moment as the pages show it (APP_TIMEZONE), for people.
CSV_HEADER = ["entry", "at_utc", "at_local", "actor", "subject", "employee_id", "list_entry", "action", "source",
              "import_id", "field", "old_value", "new_value"]
CSV_BATCH = 1000


def format_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def export_csv(query: AuditQuery) -> Iterator[str]:
    """The filtered entries as CSV text chunks, newest first, one line per
    changed field; read from PostgreSQL in batches, never all at once."""
    yield BOM + csv_text([CSV_HEADER])
    stmt = (select(AuditEntry.id, AuditEntry.at, AuditEntry.actor_name, AuditEntry.subject, AuditEntry.employee_id,
                   AuditEntry.entry_name, AuditEntry.action, AuditEntry.source, AuditEntry.import_id,
                   AuditEntry.changes)
            .where(*_conditions(query))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .execution_options(yield_per=CSV_BATCH))
    for batch in db.session.execute(stmt).partitions():
        yield csv_text(line for entry in batch for line in _csv_lines(entry))


def _csv_lines(entry) -> Iterator[list]:
    head = [entry.id, format_utc(entry.at), clock.local_time(entry.at, seconds=True), entry.actor_name,
            entry.subject, entry.employee_id, entry.entry_name, entry.action, entry.source, entry.import_id]
    changes = ordered_changes(entry.changes or {})
    if not changes:
        yield head + [None, None, None]
    for name, _label, old, new in changes:
        yield head + [name, old, new]
