"""The list forms: CSRF only; the rules for names and codes live in services/lists.py."""
from flask import url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from wtforms import HiddenField, StringField

from ..models.employee import CODE_LENGTH
from ..services import lists


class EntryForm(FlaskForm):
    name = StringField("Name", render_kw={"autocomplete": "off", "required": True})
    code = StringField("Code", description="Optional: e.g. its number in another system. Unique; any case.",
                       render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": CODE_LENGTH})

    def show_problems(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            self[name].errors = [message]

    def show_taken(self, kind: lists.ListKind, taken: lists.EntryTaken) -> None:
        """Each taken value said at its field, with a link to the entry holding it."""
        for name, message in taken.errors.items():
            holder = taken.holders.get(name)
            self[name].errors = [Markup('{} <a href="{}">Open {}</a>').format(
                message, url_for("lists.show", kind=kind.table, entry_id=holder[0]), holder[1])
                if holder else message]


class EditEntryForm(EntryForm):
    """The entry's page: its name and code, and the values the page showed
    (opened_*): a change made by someone else meanwhile is never overwritten."""
    opened_name = HiddenField()
    opened_code = HiddenField()

    def opened(self) -> tuple[str, str]:
        return self.opened_name.data or "", self.opened_code.data or ""


class UploadListForm(FlaskForm):
    file = FileField("CSV or Excel (.xlsx) file", validators=[FileRequired("Choose a file to upload.")],
                     render_kw={"accept": ".csv,.txt,.tsv,.xlsx"})


class MergeEntryForm(FlaskForm):
    """Move an entry's employees to another entry of the list, and delete it."""
    target = StringField("Move its employees to", render_kw={"autocomplete": "off", "required": True})

    def show_problems(self, errors: dict[str, str]) -> None:
        self.target.errors = [errors["target"]]


class DeleteEntryForm(FlaskForm):
    """The delete button: CSRF only."""
