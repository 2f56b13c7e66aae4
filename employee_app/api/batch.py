"""POST /api/v1/employees/batch: 1 to 1,000 records in one request, through
the import's batch path (services/employee_batches.py)."""
from flask import current_app, g, request
from pydantic import ValidationError
from spectree import Response

from ..errors import json_problem
from ..services import employee_batches
from . import bp, schemas, tags
from .idempotency import idempotent, keep_before_commit
from .views import _employee_urls, field_messages, json_body_refusal, spec, token_access

# 1,000 records of long but ordinary values fit; the other routes keep 2 MB.
MAX_BATCH_BYTES = 4 * 1024 * 1024


@bp.before_request
def allow_batch_bodies() -> None:
    """(runs after views.limit_body, which was registered first)"""
    if request.endpoint == "api.create_batch":
        request.max_content_length = MAX_BATCH_BYTES


def _item(item: dict) -> tuple[dict, dict[str, str]]:
    """An item's fields as NewEmployee shapes them, and what does not fit
    (an unknown field, a number where text is meant), per field."""
    try:
        return schemas.NewEmployee.model_validate(item).model_dump(), {}
    except ValidationError as error:
        return {}, field_messages(error.errors(include_url=False), whole="record")


def _answer(outcome: employee_batches.BatchOutcome, atomic: bool):
    url_of = _employee_urls()
    counts = {"created": outcome.count("created"), "duplicate": outcome.count("duplicate"),
              "invalid": outcome.count("invalid")}
    results = []
    for item in outcome.items:
        result = {"index": item.index, "status": item.status}
        if item.employee_id:
            result["employee_id"] = item.employee_id
        if item.status == "created":
            result["url"] = url_of(item.employee_id)
        if item.errors:
            result["errors"] = item.errors
        if item.existing:
            result["existing"] = {name: url_of(holder) for name, holder in item.existing.items()}
        if item.earlier:
            result["earlier"] = item.earlier
        results.append(result)
    body = {"stored": outcome.stored, "counts": counts, "results": results}
    status = 200
    if atomic:
        if outcome.stored or not (counts["duplicate"] or counts["invalid"]):
            status = 201
        else:
            status = 422 if counts["invalid"] else 409
            body = {"status": status, "message": "Nothing was stored: some records were refused (see results).",
                    **body}
    return current_app.json.response(body), status


@bp.post("/employees/batch")
@token_access("admin", "hr")
@idempotent
@spec.validate(tags=[tags.EMPLOYEES], query=schemas.BatchQuery, json=schemas.BatchRequest,
               headers=schemas.IdempotencyHeaders,
               resp=Response(HTTP_200=schemas.BatchAnswer, HTTP_201=schemas.BatchAnswer, HTTP_400=schemas.Problem,
                             HTTP_409=schemas.BatchAnswer, HTTP_413=schemas.Problem, HTTP_415=schemas.Problem,
                             HTTP_503=schemas.Problem))
def create_batch():
    """Add 1 to 1,000 employees: each item created, duplicate or invalid, in
    order; ?atomic=true stores all or nothing. Idempotency-Key makes a
    retry safe."""
    if refusal := json_body_refusal("the records"):
        return refusal
    items = request.context.json.employees
    if len(items) > schemas.MAX_BATCH_ITEMS:
        return json_problem(413, f"A batch holds at most {schemas.MAX_BATCH_ITEMS:,} records; "
                                 f"this one has {len(items):,}. Nothing was stored.")
    atomic = request.context.query.atomic
    answered = {}

    def before_commit(outcome):
        answered["response"] = _answer(outcome, atomic)
        keep_before_commit(answered["response"], outcome.created_pks)

    outcome = employee_batches.create_batch([_item(item) for item in items], atomic=atomic, actor=g.api_user,
                                            before_commit=before_commit)
    return answered.get("response") or _answer(outcome, atomic)
