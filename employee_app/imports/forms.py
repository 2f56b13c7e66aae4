from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField

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


class MappingForm(FlaskForm):
    """The column selects are plain inputs named column-0, column-1, ..."""
    has_header = BooleanField("The first row is a header")
