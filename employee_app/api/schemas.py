"""The API's request and response shapes: pydantic models, from which
spectree both validates requests and writes the OpenAPI document.

They describe and shape the JSON only. The rules of an employee record stay
in services/employee_rules.clean_employee, which every path uses."""
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..models import EMPLOYMENT_TYPES, STATUSES
from ..query_params import UNTYPED_RE
from ..services.employees import ATTENTIONS, MAX_SEARCH_LENGTH, SORTS
from ..services.pagination import INTEGER_MAX

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 1000  # far longer than any cursor the list writes


class EmployeeListQuery(BaseModel):
    """GET /employees: the list page's search, filters and sort, keyset-paged."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field("", max_length=1000, description="Text in the ID, names or e-mail; several words each match, in any order.")
    department: int | None = Field(None, ge=1, le=INTEGER_MAX, description="A department's id.")
    status: Literal[STATUSES] | None = None
    attention: Literal[ATTENTIONS] | None = Field(None, description=(
        "past_last_day: only the records still active or on leave after their termination date "
        "(to be set to terminated, or the date corrected); no_hire_date: only those without a hire date "
        "(no report counts them). As the list page's filters."))
    sort: Literal[tuple(SORTS)] = "name"
    dir: Literal["asc", "desc"] = "asc"
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, max_length=MAX_CURSOR_LENGTH,
                               description="The `cursor` of the previous answer's `next` link.")

    @field_validator("q")
    @classmethod
    def typed_text(cls, value: str) -> str:
        """As the list page reads its search box: no control or invisible characters."""
        return UNTYPED_RE.sub("", value).strip()[:MAX_SEARCH_LENGTH]


class ListedEmployee(BaseModel):
    employee_id: str
    first_name: str
    last_name: str
    email: str | None
    department: str | None
    job_title: str | None
    hire_date: date | None
    status: str
    termination_date: date | None
    url: str


class EmployeeList(BaseModel):
    employees: list[ListedEmployee]
    total: int = Field(description="Rows matching; an estimate when total_is_estimate.")
    total_is_estimate: bool
    next: str | None = Field(description="The next page's URL; null on the last page.")


class Employee(BaseModel):
    employee_id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    department: str | None
    job_title: str | None
    employment_type: str | None
    location: str | None
    hire_date: date | None
    status: str
    termination_date: date | None
    created_at: datetime
    updated_at: datetime
    url: str


class Problem(BaseModel):
    """Every error answer under /api: its status, a sentence, and for 422
    one message per field."""

    status: int
    message: str
    errors: dict[str, str] | None = None


class NewEmployee(BaseModel):
    """POST /employees: the form's fields as text, each optional here. The
    JSON is only shaped; services/employee_rules.clean_employee judges the
    values (the form's very rules and messages)."""

    model_config = ConfigDict(extra="forbid")

    employee_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    department: str | None = None
    job_title: str | None = None
    employment_type: str | None = Field(None, description="One of: " + ", ".join(EMPLOYMENT_TYPES))
    location: str | None = None
    hire_date: str | None = Field(None, description="YYYY-MM-DD")
    status: str | None = Field(None, description="One of: " + ", ".join(STATUSES) + "; active when left out.")
    termination_date: str | None = Field(None, description="YYYY-MM-DD")


class Duplicate(BaseModel):
    """409: which values are taken, and by which record."""

    status: int
    message: str
    errors: dict[str, str]
    existing: dict[str, str] = Field(description="Per field, the URL of the record that holds the value.")


# --- i13-batch: POST /employees/batch -----------------------------------------

MAX_BATCH_ITEMS = 1000


class BatchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    atomic: bool = Field(False, description="true: store every item or none (201, else 409 or 422).")


class BatchRequest(BaseModel):
    """1 to 1,000 records, each an object of NewEmployee's fields. An item
    that does not fit NewEmployee is that item's `invalid`, not the batch's;
    over 1,000 items is a 413."""

    model_config = ConfigDict(extra="forbid")

    employees: list[dict[str, object]] = Field(
        min_length=1, json_schema_extra={"maxItems": MAX_BATCH_ITEMS},
        description="Each item an object of NewEmployee's fields (each text or null).")


class BatchCounts(BaseModel):
    created: int
    duplicate: int
    invalid: int


class BatchResult(BaseModel):
    index: int = Field(description="The item's place in the request, from 0.")
    status: Literal["created", "valid", "duplicate", "invalid"] = Field(
        description="valid: would have been created, in an atomic batch refused for other items.")
    employee_id: str | None = None
    url: str | None = None
    errors: dict[str, str] | None = None
    existing: dict[str, str] | None = Field(None, description="Per field, the URL of the stored record holding it.")
    earlier: dict[str, int] | None = Field(None, description="Per field, the index of the earlier item holding it.")


class BatchAnswer(BaseModel):
    """Every item's end in the request's order; `status` and `message` are
    there when the batch was refused (atomic: 409 or 422)."""

    status: int | None = None
    message: str | None = None
    stored: bool
    counts: BatchCounts
    results: list[BatchResult]


class IdempotencyHeaders(BaseModel):
    """The Idempotency-Key header of a POST, for the document: api/idempotency.py
    checks it (400) before this model is reached."""

    model_config = ConfigDict(extra="allow")

    idempotency_key: str | None = Field(
        None, alias="Idempotency-Key", min_length=1, max_length=255,
        description="1 to 255 visible ASCII characters: a retry with the same key and request gets the first "
                    "answer again (Idempotency-Replayed: true); kept 24 hours, per token owner.")


# --- i13-feed: PATCH/DELETE with If-Match, and the change feed ---------------

class EmployeeChanges(NewEmployee):
    """PATCH /employees/<id>: some of the record's fields, as text; a field
    left out keeps its value, null clears it (a required one then gets its
    422). The edit form's rules and messages judge the result."""

    model_config = ConfigDict(extra="forbid")


MAX_FEED_CURSOR_LENGTH = 200  # a feed cursor is about 30 characters


class ChangeFeedQuery(BaseModel):
    """GET /changes: where to start (the `cursor` of a change, or of the
    previous answer's `next`; from the beginning without it), how many."""

    model_config = ConfigDict(extra="forbid")

    after: str | None = Field(None, max_length=MAX_FEED_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_-]*$",
                              description="A position this feed wrote; the beginning when left out.")
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class FeedChange(BaseModel):
    cursor: str = Field(description="This change's position: `after=` it reads on from here.")
    entry: int | None = Field(description="The audit entry; null for a record an import batch created.")
    record: int = Field(description="The employee's row id: the same across changes of its employee ID; "
                                    "a record deleted and added again has another.")
    employee_id: str = Field(description="The employee ID at the time.")
    action: Literal["create", "update", "delete"]
    source: str = Field(description="form, import, edit, delete, bulk, cli, api, or list (moved by a merge of "
                                    "two departments or jobs on the list page).")
    actor: str | None = Field(description="The account's username at the time; null for the system.")
    at: datetime
    changes: dict[str, list[str | None]] = Field(
        description="{field: [old, new]}: a create has old null, a delete new null.")
    import_id: int | None
    import_row: int | None


class ChangeFeed(BaseModel):
    changes: list[FeedChange]
    next: str = Field(description="Poll this URL for what follows; the same position when nothing is new yet.")
