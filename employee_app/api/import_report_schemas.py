"""i13-imports: the shapes of /api/v1/imports and /api/v1/reports/*.

As in schemas.py, they shape the JSON and write the OpenAPI document; the
rules stay in the services (the upload's file checks and mapping in
services/importer, the reports' figures in services/reports.py)."""
import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from spectree.model_adapter.pydantic_adapter import BaseFile

from .. import clock
from ..models.imports import IMPORT_MODES, IMPORT_STATUSES, ON_EXISTING
from ..query_params import WHOLE_NUMBER_RE
from ..services.employee_rules import EARLIEST_DATE, FieldProblem, latest_date, parse_iso_date, shown
from ..services.importer.files import MAX_COLUMNS
from ..services.importer.mapping import IGNORE, TARGETS

MAPPING_TARGETS = (*TARGETS, IGNORE)
# MAX_COLUMNS of the longest target and a comma: a longer value cannot be a mapping.
MAX_MAPPING_CHARS = MAX_COLUMNS * (max(map(len, MAPPING_TARGETS)) + 1)


# --- imports ------------------------------------------------------------------

class ImportUpload(BaseModel):
    """POST /imports (multipart/form-data): the file and what the upload and
    mapping pages ask."""

    model_config = ConfigDict(extra="forbid")

    file: BaseFile = Field(description="The CSV or XLSX file (its first visible sheet with values), as the upload page takes it.")
    mode: Literal[IMPORT_MODES] = Field("valid_rows", description=(
        "valid_rows: store the valid rows, report the rest; all_or_nothing: store nothing unless every row "
        "is valid and new; dry_run: check and count, store nothing."))
    on_existing: Literal[ON_EXISTING] = Field("skip", description=(
        "When an employee ID already exists: skip (a duplicate) or update that record."))
    has_header: bool | None = Field(None, description="Whether the first row is a header; detected when left out.")
    mapping: str | None = Field(None, max_length=MAX_MAPPING_CHARS, description=(
        "The field of each column, in order, separated by commas (e.g. `employee_id,ignore,full_name`); one "
        "of: " + ", ".join(MAPPING_TARGETS) + ". Left out: matched by the header's names, as on the upload "
        "page; a file whose columns do not all match gets 422 with the columns and a suggestion."))

    @field_validator("file")
    @classmethod
    def a_file_part(cls, value):
        if not hasattr(value, "stream") or not hasattr(value, "filename"):
            raise ValueError("must be a file part of the form (Content-Disposition with a filename)")
        return value

    @field_validator("mapping")
    @classmethod
    def known_targets(cls, value: str | None) -> str | None:
        if value is None:
            return None
        targets = value.split(",")
        if len(targets) > MAX_COLUMNS:
            raise ValueError(f"names more than {MAX_COLUMNS} columns")
        for number, target in enumerate(targets, 1):
            if target.strip() not in MAPPING_TARGETS:
                raise ValueError(f"column {number}: {shown(target, 40)} is not a field; use one of "
                                 + ", ".join(MAPPING_TARGETS))
        return value

    @property
    def targets(self) -> list[str] | None:
        return None if self.mapping is None else [target.strip() for target in self.mapping.split(",")]


class ImportCounts(BaseModel):
    rows_read: int
    inserted: int = Field(description="Rows added (for a dry run or a refused all or nothing: that would be).")
    updated: int
    duplicates: int
    invalid: int


class ImportProgress(BaseModel):
    rows_read: int
    rows_expected: int | None = Field(description="About how many rows the file holds (from its size and first "
                                                  "rows); the exact count is rows_read once it is finished.")
    percent: int


class AddedEntries(BaseModel):
    total: int = Field(description="How many the import added to the list (0: none).")
    first: list[str] = Field(description="The first 20 of them by name, as named now (one deleted since: as "
                                         "it was added).")


class ImportState(BaseModel):
    """An import's state, progress and counts, as its page shows them."""

    id: int
    url: str
    state: Literal[IMPORT_STATUSES]
    finished: bool
    filename: str
    file_size: int = Field(description="In bytes.")
    mode: Literal[IMPORT_MODES]
    on_existing: Literal[ON_EXISTING]
    has_header: bool
    header_row: int = Field(description="The file's row where its header is, when rows of a title above it "
                                        "(\"Staff list, March 2026\") are skipped (detected unless has_header "
                                        "is false); 0 when there is no title.")
    mapping: list[str] | None
    progress: ImportProgress
    counts: ImportCounts
    written: bool = Field(description="Whether the rows counted as inserted and updated are stored: not for a "
                                      "dry run, a refused all or nothing, or an all or nothing still running.")
    outcome: str | None = Field(description="The result in a sentence, as on the page.")
    error: str | None = Field(description="Why a failed import stopped.")
    uploaded_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    rejected_csv: str = Field(description="The rejected rows with an error column, ready to fix and upload again.")
    added_departments: AddedEntries | None = Field(description="Once finished: the departments its rows added "
                                                               "(a typo in a file shows here); null while it runs.")
    added_jobs: AddedEntries | None = Field(description="Once finished: the jobs its rows added; null while it "
                                                        "runs.")


class ImportColumn(BaseModel):
    column: int = Field(description="1 for the first column.")
    letter: str = Field(description="Its name in a spreadsheet: A, B, ... AB.")
    header: str | None = Field(description="Its header cell (shortened), when the first row is a header.")
    suggested: str = Field(description="The field the upload page would suggest for it.")


class MappingNeeded(BaseModel):
    """422: the file cannot be imported as sent (the upload page's refusal,
    or a mapping that cannot work); `columns` when its columns could not all
    be matched: send `mapping`."""

    status: int
    message: str
    errors: dict[str, str] | None = None
    columns: list[ImportColumn] | None = None


# --- reports --------------------------------------------------------------------

def _whole_number(value):
    """A year as a URL writes it: ASCII digits (pydantic alone would also
    take "2024.0" and "2_024"); empty is absent, as on the report pages."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not WHOLE_NUMBER_RE.fullmatch(value):
        raise ValueError(f"{shown(value, 40)} is not a year written with the digits 0 to 9")
    return value


def _iso_date(value):
    """A date as the report pages read it: YYYY-MM-DD, from 1900-01-01 to two
    years from today (employee_rules.parse_iso_date, with its messages)."""
    if value is None or value == "":
        return None
    try:
        return parse_iso_date(value) if isinstance(value, str) else value
    except FieldProblem as problem:
        raise ValueError(str(problem)) from None


class YearQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: Annotated[int | None, BeforeValidator(_whole_number)] = Field(
        None, ge=EARLIEST_DATE.year, description="This year when left out; up to two years from now.")

    @field_validator("year")
    @classmethod
    def not_too_late(cls, value: int | None) -> int | None:
        if value is not None and value > latest_date().year:
            raise ValueError(f"must be a year from {EARLIEST_DATE.year} to {latest_date().year}")
        return value

    @property
    def year_or_this(self) -> int:
        return self.year or clock.today().year


class HeadcountQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Annotated[dt.date | None, BeforeValidator(_iso_date)] = Field(
        None, description="YYYY-MM-DD; today when left out.")


class NoQuery(BaseModel):
    """A report without filters: any parameter is a mistake (422)."""

    model_config = ConfigDict(extra="forbid")


class QuarterRow(BaseModel):
    department: str
    job: str
    q1: int
    q2: int
    q3: int
    q4: int


class HiresByQuarterReport(BaseModel):
    year: int
    rows: list[QuarterRow] = Field(description="One per department and job with a hire in the year: the CSV's rows.")
    left_out: int = Field(description="Hired that year without a department or a job (not in rows).")
    no_hire_date: int = Field(description="Employees without a hire date (counted nowhere).")
    csv: str


class DepartmentHires(BaseModel):
    code: str | None
    department: str
    hired: int


class DepartmentsAboveMeanReport(BaseModel):
    year: int
    mean: float = Field(description="Hires per listed department, those without hires counting as 0.")
    hired: int = Field(description="By all the listed departments.")
    departments_listed: int
    rows: list[DepartmentHires] = Field(description="The departments above the mean, most hires first.")
    csv: str


class HeadcountRow(BaseModel):
    code: str | None
    department: str
    active: int
    on_leave: int
    left_since: int = Field(description="Employed on the date, terminated since.")
    employed: int


class HeadcountReport(BaseModel):
    date: dt.date
    rows: list[HeadcountRow] = Field(description="Departments with anyone employed on the date, by name.")
    employed: int
    undated_leavers: int = Field(description="Terminated without a termination date: left out.")
    no_hire_date: int
    csv: str


class MonthRow(BaseModel):
    month: str = Field(description="YYYY-MM")
    hires: int
    leavers: int
    net: int


class HiresAndLeaversReport(BaseModel):
    rows: list[MonthRow] = Field(description="The last 24 months up to this one, oldest first.")
    csv: str
