from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from ..employees.views import LIST_FILTERS, list_filters
from ..extensions import db
from ..models import ImportJob
from ..query_params import accepts
from ..security import role_required
from ..services import employees
from ..services.errors import InvalidInput
from ..services.importer import jobs, mapping, reports
from ..services.importer.files import MAX_COLUMNS, FileRefused
from . import bp, export_bp
from .forms import MODES, MappingForm, UploadForm

can_import = role_required("admin", "hr")


@bp.route("")
@can_import
def index():
    return render_template("imports/list.html", imports=reports.recent_imports(), modes=reports.MODE_WORDS)


@bp.route("/new", methods=["GET", "POST"])
@can_import
def new():
    form = UploadForm()
    status, message = 200, None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            job = jobs.create_import(upload.stream, upload.filename, mode=form.mode.data,
                                     on_existing=form.on_existing.data, user=current_user)
        except FileRefused as refused:
            status, message = refused.status, refused.message
        else:
            target = ".show" if job.status != "mapping" else ".confirm_mapping"
            return redirect(url_for(target, import_id=job.id), 303)
    elif form.is_submitted():
        status = 400
    return render_template("imports/new.html", form=form, message=message,
                           columns=reports.column_help()), status


def _import_or_404(import_id: int) -> ImportJob:
    job = db.session.get(ImportJob, import_id)
    if job is None:
        abort(404)
    return job


@bp.route("/<bigint_id:import_id>/mapping", methods=["GET", "POST"])
@can_import
def confirm_mapping(import_id: int):
    job = _import_or_404(import_id)
    if job.status != "mapping":
        return redirect(url_for(".show", import_id=job.id), 303)
    try:
        return _mapping_page(job)
    except FileNotFoundError:  # cancelled from another tab meanwhile: its file is gone
        return redirect(url_for(".show", import_id=job.id), 303)


def _mapping_page(job: ImportJob):
    form = MappingForm()
    preview, status, message = None, 200, None
    if form.validate_on_submit():
        chosen = chosen_targets()
        if form.action.data == "preview":  # the header switch (htmx) or the page's "Update the preview"
            preview = jobs.preview(job, form.has_header.data, chosen)
            if request.headers.get("HX-Request"):
                return render_template("imports/_mapping_columns.html", preview=preview,
                                       targets=mapping.TARGET_LABELS)
        else:
            try:
                jobs.confirm_mapping(job, chosen, form.has_header.data)
            except InvalidInput as error:
                status, message = 400, " ".join(error.errors.values())
                preview = jobs.preview(job, form.has_header.data, chosen)
            else:
                return redirect(url_for(".show", import_id=job.id), 303)
    elif form.is_submitted():
        status, message = 400, " ".join(e for errors in form.errors.values() for e in errors)
    return render_template("imports/mapping.html", job=job, form=form, preview=preview or jobs.preview(job),
                           targets=mapping.TARGET_LABELS, message=message), status


def chosen_targets() -> list[str]:
    """The fields chosen in the selects column-0, column-1, ... in order."""
    chosen = []
    while len(chosen) < MAX_COLUMNS and (target := request.form.get(f"column-{len(chosen)}")) is not None:
        chosen.append(target)
    return chosen


@bp.route("/<bigint_id:import_id>/cancel", methods=["POST"])
@can_import
def cancel(import_id: int):
    job = _import_or_404(import_id)
    try:
        jobs.cancel(job)
    except jobs.NotCancellable:
        abort(409, f"Import #{job.id} is {reports.status_badge(job)[1]}: only an import waiting for its "
                   "column mapping can be cancelled.")
    return redirect(url_for(".show", import_id=job.id), 303)


@bp.route("/<bigint_id:import_id>")
@can_import
def show(import_id: int):
    job = _import_or_404(import_id)
    jobs.reconcile(job)
    report = reports.report(job)
    return render_template("imports/show.html", job=job, entry=reports.entry(job, reports.uploader(job)),
                           modes=dict(MODES), report=report, rejections=reports.first_rejections(job),
                           added=reports.added_entries(job) if report.finished else [])


@bp.route("/<bigint_id:import_id>/progress")
@can_import
def progress(import_id: int):
    """The live part of the import page, polled by htmx while it runs."""
    job = _import_or_404(import_id)
    jobs.reconcile(job)
    report = reports.report(job)
    rejections = reports.first_rejections(job) if report.finished else []
    added = reports.added_entries(job) if report.finished else []
    return render_template("imports/_progress.html", job=job, report=report, rejections=rejections, added=added)


# Why "Run it again" did nothing, by the import's status now (a stale page's button).
RETRY_REFUSED = {
    "done": "This import is done: there is nothing to run again.",
    "checked": "This dry run is done: upload the file again to import it.",
    "refused": "This import was refused (all or nothing): fix the rows and upload the file again.",
    "cancelled": "This import was cancelled: upload the file again to import it.",
    "mapping": "This import has not started: confirm its column mapping first.",
}


@bp.route("/<bigint_id:import_id>/retry", methods=["POST"])
@can_import
def retry(import_id: int):
    job = _import_or_404(import_id)
    started = job.upload_deleted_at is None and jobs.rerun(job)
    if job.upload_deleted_at is not None:  # pruned, perhaps while this click was on its way
        abort(409, f"Import #{job.id} cannot be run again: its uploaded file was deleted (retention). "
                   "Upload the file again to import it.")
    if not started:  # e.g. a second click: the first one queued it; or it never failed
        db.session.refresh(job)
        flash(RETRY_REFUSED.get(job.status, "This import is not stopped: it was started again already."), "info")
    return redirect(url_for(".show", import_id=job.id), 303)


@bp.route("/<bigint_id:import_id>/rejected.csv")
@can_import
def rejected_csv(import_id: int):
    job = _import_or_404(import_id)
    return _csv_download(reports.rejected_rows_csv(job), f"import-{job.id}-rejected.csv")


@bp.route("/template.csv")
@can_import
def template_csv():
    return _csv_download(iter([reports.template_csv()]), "employees-template.csv")


@export_bp.route("/employees/export.csv")
@role_required("admin", "hr")
@accepts(*LIST_FILTERS)
def export_csv():
    query = employees.EmployeeQuery(**list_filters())
    return _csv_download(reports.export_employees_csv(query), "employees.csv")


def _csv_download(chunks, filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
