from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..query_params import accepts, int_arg
from ..security import login_required, role_required
from ..services import audit, list_uploads, lists
from ..services.errors import InvalidInput
from ..services.importer.files import FileRefused
from ..services.importer.jobs import display_filename
from ..services.pagination import BIGINT_MAX
from . import bp
from .forms import DeleteEntryForm, EditEntryForm, EntryForm, MergeEntryForm, UploadListForm

CHANGERS = ("admin",)  # who adds, renames, recodes, deletes and uploads entries
admin_only = role_required(*CHANGERS)
HISTORY_PER_PAGE = 50


def for_each_list(rule: str = "", **options):
    """Route the view at /departments<rule> and /jobs<rule>; it gets the
    list's table name as `kind`."""
    def decorator(view):
        for kind in lists.KINDS:
            bp.add_url_rule(f"/{kind.table}{rule}", view_func=view, defaults={"kind": kind.table}, **options)
        return view
    return decorator


# --- the list -------------------------------------------------------------------

@for_each_list()
@login_required
def index(kind: str):
    return _list_page(lists.KIND_BY_TABLE[kind])


@for_each_list(methods=["POST"])
@admin_only
def add(kind: str):
    kind = lists.KIND_BY_TABLE[kind]
    form = EntryForm()
    if not form.validate_on_submit():  # CSRF is checked before the view; this is belt and braces
        abort(400)
    try:
        added = lists.add_entry(kind, form.name.data, form.code.data, actor=current_user)
    except InvalidInput as error:
        form.show_problems(error.errors)
        return _list_page(kind, add_form=form, status=422)
    except lists.EntryTaken as taken:
        form.show_taken(kind, taken)
        return _list_page(kind, add_form=form, status=409)
    flash(f"{kind.label.capitalize()} {added.name}{f' (code {added.code})' if added.code else ''} added.", "success")
    return redirect(url_for(".index", kind=kind.table), 303)


@for_each_list("/upload", methods=["POST"])
@admin_only
def upload(kind: str):
    kind = lists.KIND_BY_TABLE[kind]
    form = UploadListForm()
    if not form.validate_on_submit():
        return _list_page(kind, upload_form=form, status=400)
    file = form.file.data
    try:
        report = list_uploads.upload_list(kind, file.stream, display_filename(file.filename), actor=current_user)
    except FileRefused as refused:
        return _list_page(kind, upload_form=form, upload_message=refused.message, status=refused.status)
    return render_template("lists/upload_report.html", kind=kind, report=report, shown_cell=list_uploads.shown_cell)


def _list_page(kind: lists.ListKind, add_form=None, upload_form=None, upload_message=None, status=200):
    may_change = current_user.has_role(*CHANGERS)
    return render_template(
        "lists/index.html", kind=kind, kinds=lists.KINDS, entries=lists.entries_with_counts(kind),
        may_change=may_change, add_form=add_form or (EntryForm(formdata=None) if may_change else None),
        upload_form=upload_form or (UploadListForm(formdata=None) if may_change else None),
        upload_message=upload_message, max_rows=list_uploads.MAX_ROWS), status


# --- one entry ------------------------------------------------------------------

@for_each_list("/<int_id:entry_id>")
@login_required
@accepts("history_before")
def show(kind: str, entry_id: int):
    return _entry_page(lists.KIND_BY_TABLE[kind], entry_id)


@for_each_list("/<int_id:entry_id>", methods=["POST"])
@admin_only
def update(kind: str, entry_id: int):
    kind = lists.KIND_BY_TABLE[kind]
    form = EditEntryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        changes = lists.update_entry(kind, entry_id, form.name.data, form.code.data, opened=form.opened(),
                                     actor=current_user)
    except lists.EntryGone:
        return _gone(kind)
    except InvalidInput as error:
        form.show_problems(error.errors)
        return _entry_page(kind, entry_id, edit_form=form, status=422)
    except lists.EntryTaken as taken:
        form.show_taken(kind, taken)
        return _entry_page(kind, entry_id, edit_form=form, status=409)
    except lists.EntryChanged as changed:
        current = changed.current
        # The form keeps what was typed; saving it again now overwrites knowingly.
        form.opened_name.data, form.opened_code.data = current.name, current.code or ""
        message = (f"Someone changed this {kind.label} while you had it open: it is now {current.name}"
                   f"{f' (code {current.code})' if current.code else ' (no code)'}. Your change was not saved: "
                   "check it and save again.")
        return _entry_page(kind, entry_id, edit_form=form, message=message, status=409)
    if changes:
        flash(f"{kind.label.capitalize()} saved: {_said(changes)}.", "success")
    else:
        flash("Nothing was changed.", "info")
    return redirect(url_for(".show", kind=kind.table, entry_id=entry_id), 303)


def _said(changes: dict) -> str:
    """'renamed from Eng to Engineering, code 5 removed'"""
    parts = []
    if "name" in changes:
        parts.append("renamed from {} to {}".format(*changes["name"]))
    if "code" in changes:
        old, new = changes["code"]
        parts.append(f"code {new} given" if old is None else f"code {old} removed" if new is None
                     else f"code {old} changed to {new}")
    return ", ".join(parts)


@for_each_list("/<int_id:entry_id>/delete", methods=["POST"])
@admin_only
def delete(kind: str, entry_id: int):
    kind = lists.KIND_BY_TABLE[kind]
    if not DeleteEntryForm().validate_on_submit():
        abort(400)
    try:
        name = lists.delete_entry(kind, entry_id, actor=current_user)
    except lists.EntryGone:
        return _gone(kind)
    except lists.EntryInUse as used:
        return _entry_page(kind, entry_id, message=used.message, status=409)
    flash(f"{kind.label.capitalize()} {name} deleted. Its history stays in the audit log.", "success")
    return redirect(url_for(".index", kind=kind.table), 303)


@for_each_list("/<int_id:entry_id>/merge", methods=["POST"])
@admin_only
def merge(kind: str, entry_id: int):
    kind = lists.KIND_BY_TABLE[kind]
    form = MergeEntryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        name, (target_id, target_name), moved = lists.merge_entry(kind, entry_id, form.target.data,
                                                                   actor=current_user)
    except lists.EntryGone:
        return _gone(kind)
    except InvalidInput as error:
        form.show_problems(error.errors)
        return _entry_page(kind, entry_id, merge_form=form, status=422)
    people = f"{moved:,} employee{'' if moved == 1 else 's'}"
    flash(f"{name} merged into {target_name}: {people} moved (each one's history says so), {name} deleted.",
          "success")
    return redirect(url_for(".show", kind=kind.table, entry_id=target_id), 303)


def _gone(kind: lists.ListKind):
    return render_template("errors/error.html", code=404, title="Not found",
                           message=f"This {kind.label} is not in the list (it may have been deleted)."), 404


def _entry_page(kind: lists.ListKind, entry_id: int, edit_form=None, merge_form=None, message=None, status=200):
    entry = lists.get_entry(kind, entry_id)
    if entry is None:
        return _gone(kind)
    before = int_arg("history_before", 1, BIGINT_MAX, "the number of a history entry")
    history, older = audit.entry_history(kind.label, entry_id, before=before, limit=HISTORY_PER_PAGE)
    may_change = current_user.has_role(*CHANGERS)
    if may_change and edit_form is None:
        edit_form = EditEntryForm(formdata=None, data={"name": entry.name, "code": entry.code or "",
                                                       "opened_name": entry.name, "opened_code": entry.code or ""})
    return render_template("lists/show.html", kind=kind, entry=entry, history=history, older=older,
                           may_change=may_change, edit_form=edit_form,
                           delete_form=DeleteEntryForm(formdata=None) if may_change else None,
                           merge_form=merge_form or (MergeEntryForm(formdata=None) if may_change else None),
                           other_names=[n for n in lists.names(kind) if n != entry.name] if may_change else [],
                           message=message), status
