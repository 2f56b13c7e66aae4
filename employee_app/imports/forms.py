from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField, SelectField, ValidationError

MODES = [
    ("valid_rows", "Import the valid rows, report the rest"),
    ("all_or_nothing", "All or nothing: write nothing unless every row is valid and new"),
    ("dry_run", "Dry run: check and count, write nothing"),
]
ON_EXISTING = [
    ("skip", "Skip it (report it as a duplicate)"),
    ("update", "Update that record with the file's values"),
]


class UploadForm(FlaskForm):
    file = FileField("CSV or Excel (.xlsx) file", validators=[FileRequired("Choose a file to upload.")],
                     render_kw={"accept": ".csv,.txt,.tsv,.xlsx"})
    mode = RadioField("Mode", choices=MODES, default="valid_rows")
    on_existing = RadioField("When an employee ID already exists", choices=ON_EXISTING, default="skip")


class HeaderSwitch(BooleanField):
    """A checkbox that sends only its own value ("y"): anything else was
    not sent by the page."""

    def pre_validate(self, form):
        if self.raw_data and self.raw_data != ["y"]:
            raise ValidationError("The header switch has a value the page does not send.")


class MappingForm(FlaskForm):
    """The column selects are plain inputs named column-0, column-1, ...
    (views.chosen_targets reads them)."""
    has_header = HeaderSwitch("The first row is a header")
    # Which button was pressed: "Update the preview" re-renders the columns
    # with the header switch as it is now (the page without JavaScript).
    action = SelectField(choices=[("start", "Start the import"), ("preview", "Update the preview")],
                         default="start")
