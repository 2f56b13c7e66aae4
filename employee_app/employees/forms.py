"""The employee forms (add, edit, delete, bulk): labels and inputs from the shared field rules.

The form checks only CSRF; every field rule lives in
services/employee_rules.py so that the form, the edit and the import agree."""
import secrets

from flask import url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField, SelectField, StringField

from ..models.employee import STATUSES
from ..services.employee_rules import FIELD_NAMES, RULES_BY_NAME
from ..services.errors import InvalidInput, Taken


def _text_field(name: str, **render_kw) -> StringField:
    rule = RULES_BY_NAME[name]
    if rule.max_length:
        render_kw["maxlength"] = rule.max_length
    if rule.required:
        render_kw["required"] = True
    return StringField(rule.label, description=rule.help, render_kw=render_kw)


def _date_field(name: str) -> StringField:
    # Text, not <input type="date">: a date picker sends "" for a date it
    # cannot read (02/31/2024), so what was typed would vanish; text always
    # reaches the server, which says what is wrong with it. No
    # inputmode="numeric": the iPhone's digit pad has no "-".
    return _text_field(name, placeholder="YYYY-MM-DD", autocomplete="off", spellcheck="false")


def _choice_field(name: str, blank: str | None) -> SelectField:
    rule = RULES_BY_NAME[name]
    choices = [("", blank)] if blank else []
    choices += [(value, value.replace("_", " ").capitalize()) for value in rule.choices]
    # A select without an empty choice never sends one: the rule's words on
    # empty values (status: "active if empty", for imports) do not apply.
    return SelectField(rule.label, choices=choices, validate_choice=False, description=rule.help if blank else "")


def _taken_message(taken: Taken) -> Markup:
    """The duplicate, said at its field, with a link to the record holding the value."""
    return Markup('{} <a href="{}">Open {}</a>').format(
        taken.message, url_for("employees.show", employee_id=taken.existing_employee_id), taken.existing_employee_id)


class EmployeeForm(FlaskForm):
    employee_id = _text_field("employee_id", autocomplete="off", spellcheck="false")
    first_name = _text_field("first_name", autocomplete="off")
    last_name = _text_field("last_name", autocomplete="off")
    email = _text_field("email", type="email", autocomplete="off")
    phone = _text_field("phone", type="tel", autocomplete="off")
    department = _text_field("department", list="department-names", autocomplete="off")
    job_title = _text_field("job_title", list="job-names", autocomplete="off")
    employment_type = _choice_field("employment_type", blank="—")
    location = _text_field("location")
    hire_date = _date_field("hire_date")
    status = _choice_field("status", blank=None)
    termination_date = _date_field("termination_date")

    def values(self) -> dict:
        return {name: self[name].data for name in FIELD_NAMES}

    def show_invalid(self, error: InvalidInput) -> None:
        for name, message in error.errors.items():
            self[name].errors = [message]
        self.show_duplicate(error.taken)

    def show_duplicate(self, taken: list[Taken]) -> None:
        for value in taken:
            self[value.field].errors = [_taken_message(value)]


class SearchForm(FlaskForm):
    """The list page's GET form; no CSRF token, it changes nothing."""

    class Meta:
        csrf = False


def _int_or_none(raw) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < 2**63 else None


class NewEmployeeForm(EmployeeForm):
    """The add form, with a token of its own per page load: the same form
    sent twice is known for the add it made (services/employees.py)."""

    form_token = HiddenField(default=lambda: secrets.token_hex(16))


class RecordStateMixin:
    """Hidden fields that tie a form to the record state it was opened on:
    the record's primary key (its ID may change), its version (optimistic
    locking) and the newest audit entry id then (what changed since)."""

    record = HiddenField()
    version = HiddenField()
    seen = HiddenField()

    def state(self) -> tuple[int | None, int | None, int | None]:
        return _int_or_none(self.record.data), _int_or_none(self.version.data), _int_or_none(self.seen.data)


class EditEmployeeForm(RecordStateMixin, EmployeeForm):
    """The edit form: every field, plus the record state."""


class DeleteEmployeeForm(RecordStateMixin, FlaskForm):
    """The delete confirmation: CSRF and the record state."""


BULK_STATUS_CHOICES = [(v, v.replace("_", " ").capitalize()) for v in STATUSES]


class BulkForm(FlaskForm):
    """The list's bulk actions; the selected IDs arrive as repeated `ids`.
    The list page writes these fields out itself (employees/list.html): it
    is the page loaded most, and WTForms' rendering of them cost about a
    tenth of its time."""

    status = SelectField("New status", choices=BULK_STATUS_CHOICES, validate_choice=False)
    department = StringField("New department")  # at most 100 characters, like a department's name
    termination_date = StringField("Termination date")  # for "terminated": given to those without one
    next = HiddenField()
