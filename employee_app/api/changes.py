"""Changing a record through /api/v1 (PATCH, DELETE: If-Match required),
and the change feed (GET /changes): thin, over services/employees.py and
services/change_feed.py (docs/api.md, "Changes and the change feed")."""
from flask import g, request, url_for
from spectree import Response

from ..errors import json_problem
from ..services import audit, change_feed, employees
from ..services.errors import DuplicateError, InvalidInput
from . import bp, schemas, tags
from .views import _duplicate_problem, _record, etag_of, invalid_problem, json_body_refusal, spec, token_access


def _precondition(found):
    """None when If-Match names the record as stored now; else the answer:
    428 without If-Match, or with `*` (a wildcard would overwrite whatever
    is stored, the lost update If-Match is there to stop), 412 with the
    current ETag when the record changed, or went and came back."""
    header = request.headers.get("If-Match", "")
    if not header.strip():
        return json_problem(428, "Send If-Match with the record's ETag (from GET or an earlier answer).")
    if request.if_match.star_tag or "*" in (tag.strip() for tag in header.split(",")):
        return json_problem(428, "If-Match: * is not accepted for a change: send the record's ETag.")
    current = etag_of(found)
    if not request.if_match.contains(current.strip('"')):  # strong comparison: a weak W/"..." never matches
        return _stale(current)
    return None


def _stale(current_etag: str | None):
    headers = {"ETag": current_etag} if current_etag else None
    return json_problem(412, "The record has changed since that ETag; nothing was changed. "
                             "Read it again and send its new ETag.", headers=headers)


def _record_at_if_match(employee_id: str):
    """(the record, None) when it exists and If-Match names it as stored
    now; else (None, the 404, 428 or 412 answer)."""
    found = employees.get_employee(employee_id)
    if found is None:
        return None, json_problem(404, f"There is no employee {employee_id!r}.")
    refused = _precondition(found)
    return (None, refused) if refused else (found, None)


def _conflict_answer(conflict):
    if conflict.deleted:
        return json_problem(404, "The record was deleted meanwhile; nothing was changed.")
    return _stale(etag_of(conflict.employee))


@bp.patch("/employees/<employee_id>")
@token_access("admin", "hr")
@spec.validate(tags=[tags.EMPLOYEES], json=schemas.EmployeeChanges,
               resp=Response(HTTP_200=schemas.Employee, HTTP_400=schemas.Problem, HTTP_404=schemas.Problem,
                             HTTP_409=schemas.Duplicate, HTTP_412=schemas.Problem, HTTP_415=schemas.Problem,
                             HTTP_428=schemas.Problem),
               path_parameter_descriptions={"employee_id": "The employee ID, in any case."})
def update_employee(employee_id: str):
    """Change some fields of a record at the version If-Match names: the edit
    form's rules, duplicate guard and audit entry (source api)."""
    if refusal := json_body_refusal("the fields"):
        return refusal
    found, refused = _record_at_if_match(employee_id)
    if refused:
        return refused
    values = {**audit.snapshot(found), **request.context.json.model_dump(exclude_unset=True)}
    try:
        changed, _ = employees.update_employee(found.id, values, expected_version=found.version,
                                               actor=g.api_user, source="api")
    except DuplicateError as error:
        return _duplicate_problem(error.taken)
    except InvalidInput as error:
        return invalid_problem(error)
    except employees.EditConflict as error:  # another change committed since the check above
        return _conflict_answer(error.conflict)
    return _record(changed), 200, {"ETag": etag_of(changed)}


@bp.delete("/employees/<employee_id>")
@token_access("admin")
@spec.validate(tags=[tags.EMPLOYEES],
               resp=Response("HTTP_204", HTTP_404=schemas.Problem, HTTP_412=schemas.Problem, HTTP_428=schemas.Problem),
               path_parameter_descriptions={"employee_id": "The employee ID, in any case."})
def delete_employee(employee_id: str):
    """Delete a record at the version If-Match names; its audit entry keeps
    every old value (source api)."""
    found, refused = _record_at_if_match(employee_id)
    if refused:
        return refused
    try:
        employees.delete_employee(found.id, expected_version=found.version, actor=g.api_user, source="api")
    except employees.EmployeeGone:
        return json_problem(404, "The record was deleted meanwhile.")
    except employees.EditConflict as error:
        return _conflict_answer(error.conflict)
    return "", 204


@bp.get("/changes")
@token_access("admin", "hr")
@spec.validate(tags=[tags.CHANGES], query=schemas.ChangeFeedQuery, resp=Response(HTTP_200=schemas.ChangeFeed))
def changes():
    """Every create, edit and delete of an employee, in commit order, from
    the audit log; follow `next` to read on (a consumer never misses one)."""
    args: schemas.ChangeFeedQuery = request.context.query
    try:
        after = change_feed.decode_position(args.after)
    except change_feed.BadPosition:
        return json_problem(422, "The request has invalid values.",
                            errors={"after": "is not a position of this feed; use a change's `cursor` "
                                             "or the `next` link of a previous answer."})
    page = change_feed.read_changes(after, args.limit)
    next_after = page.next.token() if page.next != change_feed.Position() else None
    return schemas.ChangeFeed.model_validate({
        "changes": [{**vars(change), "cursor": change.position.token()} for change in page.changes],
        "next": url_for(".changes", after=next_after, limit=args.limit, _external=True),
    })
