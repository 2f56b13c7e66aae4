"""i13-imports: /api/v1/imports, the upload page for programs: thin, over
services/api_imports.py and services/importer (docs/api.md, "Imports")."""
from functools import wraps

from flask import Response as FlaskResponse, current_app, g, request, stream_with_context, url_for
from spectree import Response
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import json_problem
from ..models import ImportJob
from ..services import api_imports
from ..services.errors import InvalidInput
from ..services.importer import reports
from ..services.importer.files import FileRefused
from . import bp, schemas, tags
from .import_report_schemas import ImportState, ImportUpload, MappingNeeded
from .idempotency import idempotent
from .views import spec, token_access

CAN_IMPORT = ("admin", "hr")  # as the upload page (imports/views.can_import)


def upload_limit(view):
    """This route takes files up to the upload page's limit, not the 2 MB of
    the other bodies under /api/v1 (views.limit_body); past it, 413 with the
    page's words. The body is read here first, so the refusal is this one."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        request.max_content_length = current_app.config["MAX_CONTENT_LENGTH"]
        try:
            request.files  # noqa: B018  (parses the form: werkzeug refuses what is too large)
        except RequestEntityTooLarge:
            if (request.content_length or 0) > request.max_content_length or not request.content_length:
                limit = current_app.config["MAX_IMPORT_BYTES"] // (1024 * 1024)
                return json_problem(413, f"The file is larger than the limit of {limit} MB. "
                                         "Split it into smaller files.")
            return json_problem(413, "A form field other than the file is too large.")
        return view(*args, **kwargs)
    return wrapped


def documented_only(validate):
    """spectree's validate() for the OpenAPI document only: at run time the
    view's own answer goes out as it is. spectree reads a returned Response
    whole to validate it, which would hold a streamed CSV in memory."""
    def decorator(view):
        validated = validate(view)

        @wraps(validated)  # __wrapped__ leads spectree to the metadata of `validated`
        def streamed(*args, **kwargs):
            return view(*args, **kwargs)
        return streamed
    return decorator


def import_url(job: ImportJob) -> str:
    return url_for("api.import_state", import_id=job.id, _external=True)


def state_of(job: ImportJob) -> ImportState:
    report = reports.report(job)
    added = {table: None for table in ("departments", "jobs")}
    if report.finished:
        added = {table: {"total": 0, "first": []} for table in added}
        for entries in reports.added_entries(job):
            added[entries.kind.table] = {"total": entries.total, "first": [name for _, name, _ in entries.shown]}
    return ImportState.model_validate({
        "id": job.id, "url": import_url(job), "state": job.status, "finished": report.finished,
        "filename": job.filename, "file_size": job.file_size, "mode": job.mode, "on_existing": job.on_existing,
        "has_header": job.has_header, "header_row": job.header_row, "mapping": job.mapping,
        "progress": {"rows_read": job.rows_read, "rows_expected": job.total_rows_estimate,
                     "percent": report.percent},
        "counts": {"rows_read": job.rows_read, "inserted": job.inserted, "updated": job.updated,
                   "duplicates": job.duplicates, "invalid": job.invalid},
        "written": reports.writes(job), "outcome": report.outcome, "error": job.error,
        "uploaded_by": reports.uploader(job), "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at,
        "rejected_csv": url_for("api.import_rejected_csv", import_id=job.id, _external=True),
        "added_departments": added["departments"], "added_jobs": added["jobs"],
    })


@bp.post("/imports")
@token_access(*CAN_IMPORT)
@upload_limit
@idempotent  # a retry with the same key and file gets the first import's answer, not a second import
@spec.validate(tags=[tags.IMPORTS], form=ImportUpload, headers=schemas.IdempotencyHeaders,
               resp=Response(HTTP_202=ImportState, HTTP_413=schemas.Problem, HTTP_415=schemas.Problem,
                             HTTP_422=MappingNeeded, HTTP_503=schemas.Problem))
def create_import():
    """Upload a CSV or XLSX to import, as the upload page does; 202 and the
    import's URL (poll it), run by the import worker."""
    form: ImportUpload | None = request.context.form
    if form is None:
        return json_problem(415, "Send the file as multipart/form-data, in a part named `file`.")
    choice = api_imports.ApiImport(mode=form.mode, on_existing=form.on_existing, has_header=form.has_header,
                                   mapping=form.targets)
    try:
        job = api_imports.start_import(form.file.stream, form.file.filename, choice, g.api_user)
    except FileRefused as refused:  # the upload page's refusals, in its words; nothing kept
        return json_problem(413 if refused.status == 413 else 422, refused.message)
    except InvalidInput as error:
        return json_problem(422, "The mapping cannot work; nothing was stored.", errors=error.errors)
    except api_imports.NeedsMapping as needed:
        return json_problem(422, needed.message, errors={"mapping": " ".join(needed.problems) or "is needed"},
                            extra={"columns": needed.columns})
    url = import_url(job)
    if job.status == "failed":  # the queue (Valkey) did not take it: kept, to start again
        return json_problem(503, f"The import was stored but could not be queued: {job.error}.",
                            headers={"Retry-After": "10", "Location": url})
    return state_of(job), 202, {"Location": url}


def _visible_or_404(import_id: int):
    job = api_imports.visible_import(import_id)
    return job, (None if job else json_problem(404, f"There is no import {import_id}."))


@bp.get("/imports/<bigint_id:import_id>")
@token_access(*CAN_IMPORT)
@spec.validate(tags=[tags.IMPORTS], resp=Response(HTTP_200=ImportState, HTTP_404=schemas.Problem),
               path_parameter_descriptions={"import_id": "The import's number (`id`)."})
def import_state(import_id: int):
    """An import's state, progress, counts and times, as its page shows them."""
    job, missing = _visible_or_404(import_id)
    if missing:
        return missing
    return state_of(job), 200, {"Cache-Control": "no-store"}


@bp.get("/imports/<bigint_id:import_id>/rejected.csv")
@token_access(*CAN_IMPORT)
@documented_only(spec.validate(tags=[tags.IMPORTS], resp=Response("HTTP_200", HTTP_404=schemas.Problem),
                               path_parameter_descriptions={"import_id": "The import's number (`id`)."}))
def import_rejected_csv(import_id: int):
    """The rejected rows in the file's own columns plus `row` and `error`
    (text/csv, streamed): the page's download."""
    job, missing = _visible_or_404(import_id)
    if missing:
        return missing
    response = FlaskResponse(stream_with_context(reports.rejected_rows_csv(job)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="import-{job.id}-rejected.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
