"""The /api/v1 routes: thin, over services/employees.py."""
from functools import wraps
from urllib.parse import quote

import psycopg
from flask import abort, current_app, g, request, url_for
from spectree import Response, SpecTree
from sqlalchemy.exc import DBAPIError

from ..errors import json_problem
from ..query_params import IntIdConverter
from ..security import public
from ..services import api_tokens, employees
from ..services.errors import DuplicateError, InvalidInput
from . import bp, schemas, tags
from .idempotency import idempotent, keep_before_commit

ANY_ROLE = ("admin", "hr", "viewer")
TOKEN_REALM = 'Bearer realm="employee_app"'
MAX_AUTHORIZATION_LENGTH = 200  # "Bearer " and a token are 54 characters


def _refuse_validation(req, resp, error, instance, model_adapter) -> None:
    """spectree's hook on a request that does not fit its model: the answer
    is the API's 422, one message per field, instead of pydantic's list."""
    if error is not None:
        if req.is_json and req.get_json(silent=True) is None and req.content_length:
            abort(json_problem(400, "The body is not valid JSON."))  # not a body with wrong values
        abort(json_problem(422, "The request has invalid values.",
                           errors=field_messages(model_adapter.validation_errors(error))))


def field_messages(problems, whole: str = "request") -> dict[str, str]:
    """pydantic's problems as the API's errors: the first message per field
    (a nested one as "a.b"; one about the whole value under `whole`)."""
    messages = {}
    for problem in problems:
        field = ".".join(str(part) for part in problem.get("loc", ())) or whole
        messages.setdefault(field, problem.get("msg", "is not valid"))
    return messages


def json_body_refusal(what: str):
    """The 415 for a body that is not JSON, the 400 for broken JSON; None
    for a JSON body. `what` names it: "the record", "the records"."""
    if not request.is_json:
        return json_problem(415, f"Send {what} as JSON (Content-Type: application/json).")
    if request.get_json(silent=True) is None:
        return json_problem(400, "The body is not valid JSON.")
    return None


# What a reader of the document (and of /api/v1/docs) needs before the operations.
API_DESCRIPTION = """\
Employee records for other programs: the same rules and duplicate guard as the forms.

- **Token**: make one on [/account/tokens](/account/tokens) (it acts with your role) and send
  `Authorization: Bearer <token>` with every request (on this page: *Authorize*).
- **Errors** are JSON, `{"status": ..., "message": ...}`, with `errors` per field for 409 and 422.
- **Rate limit**: per token (`X-RateLimit-Limit`, `-Remaining`); over it, 429 with `Retry-After` in seconds.
"""

spec = SpecTree("flask", mode="strict", title="employee_app API", version="1", description=API_DESCRIPTION,
                path="api/v1/spectree",  # spectree's own routes are not registered (see openapi below)
                before=_refuse_validation, validation_error_model=schemas.Problem,
                naming_strategy=lambda model: model.__name__,
                security_schemes=[{"name": "bearer", "data": {"type": "http", "scheme": "bearer"}}],
                security={"bearer": []})


def _with_id_schemas(parse_path):
    """spectree gives path parameters of converters it does not know (our
    int_id and bigint_id, query_params.py) no schema: the id's range instead."""
    def parse(route, descriptions):
        path, parameters = parse_path(route, descriptions)
        for parameter in parameters:
            converter = route._converters.get(parameter["name"])
            if parameter["schema"] is None and isinstance(converter, IntIdConverter):
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": converter.maximum}
        return path, parameters
    return parse


spec.backend.parse_path = _with_id_schemas(spec.backend.parse_path)


# A record is a few hundred bytes; the batch of 1,000 (next) stays far below this.
MAX_BODY_BYTES = 2 * 1024 * 1024


@bp.before_request
def limit_body() -> None:
    """Bodies under /api/v1 are JSON records, never the import's large files:
    a larger one is refused (413) while it is read."""
    request.max_content_length = MAX_BODY_BYTES


def _token_user():
    header = request.headers.get("Authorization", "")
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return api_tokens.authenticate(token.strip())


def current_token_user():
    """(the TokenUser of this request's bearer token or None, a database
    error or None), looked up once per request: first for the rate limit's
    key (rate_limits.py), then by token_access. A database error is kept for
    token_access to raise, where it becomes the 503: raised inside the
    limiter, it would pass for a failure of the limiter's Valkey."""
    if "api_token_lookup" not in g:
        try:
            g.api_token_lookup = (_token_user(), None)
        except (DBAPIError, psycopg.Error) as error:
            g.api_token_lookup = (None, error)
    return g.api_token_lookup


def token_access(*roles: str):
    """Bearer token required (never a session cookie, so no CSRF either): 401
    with WWW-Authenticate without a live one, 403 for a role not in roles."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user, database_error = current_token_user()
            if database_error is not None:
                del g.api_token_lookup  # a GET dispatched again (connections.py) looks again
                raise database_error
            if user is None:
                given = "Authorization" in request.headers
                challenge = TOKEN_REALM + (', error="invalid_token"' if given else "")
                return json_problem(401, "This API needs a valid token: Authorization: Bearer <token>.",
                                    headers={"WWW-Authenticate": challenge})
            if not user.has_role(*roles):
                return json_problem(403, f"The token's account ({user.role}) may not do that.")
            g.api_user = user
            return view(*args, **kwargs)
        wrapped.allowed_token = "api"  # the authorization matrix: no session opens it
        wrapped.api_roles = roles
        return wrapped
    return decorator


def _employee_url(employee_id: str) -> str:
    return url_for(".employee", employee_id=employee_id, _external=True)


def _employee_urls():
    """employee_id -> its URL, with url_for run once per answer rather than
    once per row (a fifth of a 1,000-row page's time)."""
    prefix = _employee_url("-").removesuffix("-")
    return lambda employee_id: prefix + quote(employee_id, safe="")


@bp.get("/employees")
@token_access(*ANY_ROLE)
@spec.validate(tags=[tags.EMPLOYEES], query=schemas.EmployeeListQuery, resp=Response(HTTP_200=schemas.EmployeeList))
def employees_list():
    """The employee list: search, filters and sort as on the list page, keyset-paged."""
    args: schemas.EmployeeListQuery = request.context.query
    query = employees.EmployeeQuery(q=args.q, department_id=args.department, status=args.status,
                                    attention=args.attention, sort=args.sort,
                                    descending=args.dir == "desc", cursor=args.cursor, per_page=args.limit)
    if args.cursor and not employees.cursor_fits(query):
        return json_problem(422, "The request has invalid values.",
                            errors={"cursor": "is not a cursor of this list and sort; "
                                              "use the `next` link of a previous answer."})
    page = employees.search_employees(query)
    url_of = _employee_urls()
    next_url = None
    if page.next_cursor:
        given = args.model_dump(exclude_defaults=True, exclude={"cursor", "limit"})
        next_url = url_for(".employees_list", **given, limit=args.limit, cursor=page.next_cursor, _external=True)
    # A model instance: spectree then writes it with pydantic's serializer
    # and does not walk a plain dict of 1,000 rows (three quarters of the time).
    return schemas.EmployeeList.model_validate({
        "employees": [{"employee_id": row.employee_id, "first_name": row.first_name, "last_name": row.last_name,
                       "email": row.email, "department": row.department_name, "job_title": row.job_title,
                       "hire_date": row.hire_date, "status": row.status, "termination_date": row.termination_date,
                       "url": url_of(row.employee_id)}
                      for row in page.rows],
        "total": page.total,
        "total_is_estimate": page.total_is_estimate,
        "next": next_url,
    })


def etag_of(employee) -> str:
    """The record's row and version: a record deleted and added again (version
    1 again) gets another ETag, so an old If-Match never matches it."""
    return f'"{employee.id}.{employee.version}"'


@bp.get("/employees/<employee_id>")
@token_access(*ANY_ROLE)
@spec.validate(tags=[tags.EMPLOYEES], resp=Response(HTTP_200=schemas.Employee, HTTP_404=schemas.Problem),
               path_parameter_descriptions={"employee_id": "The employee ID, in any case."})
def employee(employee_id: str):
    """One employee, with an ETag of its version (If-None-Match gives 304)."""
    found = employees.get_employee(employee_id)
    if found is None:
        return json_problem(404, f"There is no employee {employee_id!r}.")
    etag = etag_of(found)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return "", 304, headers
    return _record(found), 200, headers


def _record(found) -> schemas.Employee:
    body = {name: getattr(found, name) for name in employees.STORED_FIELDS}
    body.update(department=found.department.name if found.department else None, job_title=found.job_title,
                created_at=found.created_at, updated_at=found.updated_at, url=_employee_url(found.employee_id))
    return schemas.Employee.model_validate(body)


@bp.post("/employees")
@token_access("admin", "hr")
@idempotent
@spec.validate(tags=[tags.EMPLOYEES], json=schemas.NewEmployee, headers=schemas.IdempotencyHeaders,
               resp=Response(HTTP_201=schemas.Employee, HTTP_400=schemas.Problem, HTTP_409=schemas.Duplicate,
                             HTTP_413=schemas.Problem, HTTP_415=schemas.Problem))
def create_employee():
    """Add one employee: the add form's rules, duplicate guard and audit entry."""
    if refusal := json_body_refusal("the record"):
        return refusal
    def before_commit(created):
        keep_before_commit(_created_answer(created), [created.id])

    try:
        created = employees.create_employee(request.context.json.model_dump(), actor=g.api_user, source="api",
                                            before_commit=before_commit)
    except DuplicateError as error:
        return _duplicate_problem(error.taken)
    except InvalidInput as error:
        return invalid_problem(error)
    return _created_answer(created)


def _created_answer(created):
    """The 201, as a response (the Idempotency-Key keeps it before the commit)."""
    return current_app.response_class(
        _record(created).model_dump_json(), 201, mimetype="application/json",
        headers={"Location": _employee_url(created.employee_id), "ETag": etag_of(created)})


def invalid_problem(error: InvalidInput):
    """422, one message per field (the form's), with the holder's link of a
    value already taken among them."""
    if error.taken:
        return json_problem(422, "The record has invalid values.", errors=error.errors,
                            extra={"existing": _holders(error.taken)})
    return json_problem(422, "The record has invalid values.", errors=error.errors)


def _holders(taken) -> dict:
    return {value.field: _employee_url(value.existing_employee_id) for value in taken}


def _duplicate_problem(taken):
    return json_problem(409, "An employee already holds this ID or e-mail; nothing was stored.",
                        errors={value.field: value.message for value in taken}, extra={"existing": _holders(taken)})


@bp.get("/openapi.json")
@public
@spec.validate(tags=[tags.ABOUT], security={})  # the document opens nothing: no token needed (security: [])
def openapi():
    """This document: OpenAPI 3.1, generated by spectree from the models that validate the requests."""
    return spec.spec
