import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from .. import clock
from ..models import STATUSES
from ..query_params import accepts, choice_arg, cursor_arg, int_arg, text_arg
from ..security import login_required, role_required
from ..services import audit, employees, lists, text_rules
from ..services.employee_rules import (FIELD_NAMES, clean_employee, employee_id_problem, normalize_employee_id,
                                       past_last_day, shown)
from ..services.errors import DuplicateError, InvalidInput
from ..services.pagination import BIGINT_MAX, INTEGER_MAX
from . import bp, list_rows
from .forms import BULK_STATUS_CHOICES, BulkForm, DeleteEmployeeForm, EditEmployeeForm, NewEmployeeForm

hr_or_admin = role_required("admin", "hr")  # HR keep the records: add and edit
admin_only = role_required("admin")
HISTORY_PER_PAGE = 50
MAX_TYPED_ID = 64  # longer than any ID (32): cutting a longer one never makes a real one


LIST_FILTERS = ("q", "department", "status", "attention")
# Everything that says which list page a person is on: carried to a record's
# page and back to the same list page (list_state).
LIST_STATE = (*LIST_FILTERS, "sort", "dir", "cursor", "start")


def list_filters() -> dict:
    """The list's search and filters, as EmployeeQuery arguments (the export
    reads the same)."""
    return {"q": text_arg("q", employees.MAX_SEARCH_LENGTH),
            "department_id": int_arg("department", 1, INTEGER_MAX, "a department number"),
            "status": choice_arg("status", STATUSES),
            "attention": choice_arg("attention", employees.ATTENTIONS)}


def list_state() -> dict:
    """The list page's own parameters in this request, as sent (only those
    names; url_for encodes the values, and the list checks them when the
    link is followed)."""
    args = request.args
    return {name: args[name] for name in LIST_STATE if name in args and args[name]}


@bp.route("")
@login_required
@accepts(*LIST_STATE)
def index():
    query = employees.EmployeeQuery(
        **list_filters(),
        sort=choice_arg("sort", employees.SORTS, "name"),
        descending=choice_arg("dir", ("asc", "desc")) == "desc",
        cursor=cursor_arg(),
        start=int_arg("start", 1, BIGINT_MAX, "the number of a row"),
        per_page=current_app.config["EMPLOYEES_PER_PAGE"],
    )
    page = employees.search_employees(query)
    link = record_url(list_state())
    # Admins get the bulk form (a BulkForm, written out by the template), which
    # comes back to this very page.
    bulk_next = request.full_path if current_user.has_role("admin") and page.rows else None
    table_rows, cards = list_rows.render([(link(employee.employee_id), employee) for employee in page.rows],
                                         selectable=bulk_next is not None)
    return render_template("employees/list.html", query=query, page=page, table_rows=table_rows, cards=cards,
                           departments=employees.department_choices(), bulk_next=bulk_next,
                           bulk_statuses=BULK_STATUS_CHOICES, today=clock.today().isoformat())


RECORD_ID_MARKER = "RECORD-ID"  # kept as it is by URL quoting
URL_SAFE_ID_RE = re.compile(r"[A-Za-z0-9._-]+")


def record_url(state: dict):
    """employee_id -> url_for(".show", employee_id=..., **state): the link
    from a list row to its record, which leads back to the same list page.
    url_for runs once per page; each row puts its ID, quoted as url_for
    quotes it, in the marker's place."""
    url = url_for(".show", employee_id=RECORD_ID_MARKER, **state)
    before, _, after = url.partition(RECORD_ID_MARKER)  # the path comes first, so its marker does
    to_url = current_app.url_map.converters["default"](current_app.url_map).to_url
    # An ID as the rules write it (EMPLOYEE_ID_RE) is all characters URL
    # quoting keeps: no quoting needed, which was 50 calls per page.
    return lambda employee_id: before + (employee_id if URL_SAFE_ID_RE.fullmatch(employee_id)
                                         else to_url(employee_id)) + after




@bp.route("/new", methods=["GET", "POST"])
@hr_or_admin
def new():
    form = NewEmployeeForm()
    status = 200
    if form.validate_on_submit():
        token = form.form_token.data
        try:
            employee = employees.create_employee(form.values(), actor=current_user,
                                                 before_commit=lambda added: employees.remember_form_add(token, added))
        except DuplicateError as error:
            employee = employees.added_by_this_form(token, form.values(), error)
            if employee is not None:  # the form sent twice: the first send added it
                flash(f"Employee {employee.employee_id} ({employee.full_name}) is added: this form was sent "
                      "twice, and the first time added it.", "success")
                return redirect(url_for(".show", employee_id=employee.employee_id), 303)
            form.show_duplicate(error.taken)
            status = 409
        except InvalidInput as error:
            form.show_invalid(error)
            status = 422
        else:
            flash(Markup('Employee {} ({}) added. <a href="{}">Add another employee</a>').format(
                employee.employee_id, employee.full_name, url_for(".new")), "success")
            return redirect(url_for(".show", employee_id=employee.employee_id), 303)
    return render_template("employees/new.html", form=form, **_suggestions()), status


def _suggestions() -> dict:
    """What the department and job title fields suggest while typing."""
    return {"departments": employees.list_departments(), "jobs": lists.all_entries(lists.JOBS)}


@bp.route("/check-id")
@hr_or_admin
@accepts("employee_id", "current")
def check_id():
    """The as-you-type check: a small HTML fragment for htmx, saying whether
    the ID can be stored and is free. `current` (on the edit page) is the
    record's own ID, which is not "taken"."""
    typed = text_arg("employee_id", MAX_TYPED_ID)
    problem = employee_id_problem(typed) if typed else None
    holder = None if problem else employees.check_employee_id(typed)
    own = holder is not None and holder.employee_id == normalize_employee_id(text_arg("current", MAX_TYPED_ID))
    return render_template("employees/_check_id.html", employee_id=normalize_employee_id(typed), problem=problem,
                           holder=holder, own=own)


def _not_found(employee_id: str):
    shown_id = shown(text_rules.harmless(employee_id))  # the address's text: a U+202E there reorders the page
    return render_template("errors/error.html", code=404, title="Not found",
                           message=f"No employee has the ID {shown_id}."), 404


@bp.route("/<employee_id>")
@login_required
@accepts("history_before", *LIST_STATE)
def show(employee_id: str):
    employee = employees.get_employee(employee_id)
    if employee is None:
        return _not_found(employee_id)
    before = int_arg("history_before", 1, BIGINT_MAX, "the number of a history entry")
    history, older = audit.employee_history(employee.id, before=before, limit=HISTORY_PER_PAGE)
    return render_template("employees/show.html", employee=employee, history=history, older=older,
                           may_edit=_may_open(edit), may_delete=_may_open(delete),
                           past_last_day=_past_last_day(employee), back_to_list=url_for(".index", **list_state()))


def _past_last_day(employee):
    """The employee if still active or on leave after the termination date
    (its pages then say what to do: employees/_past_last_day.html), else None."""
    return employee if past_last_day(employee.status, employee.termination_date) else None


def _may_open(view) -> bool:
    """Whether the current user's role passes the view's rule: its links show only then."""
    return current_user.has_role(*view.allowed_roles)


# --- edit (hr, admin); delete and bulk (admin) --------------------------------

def _state_data(employee, mark: int) -> dict:
    return {"record": employee.id, "version": employee.version, "seen": mark}


@bp.route("/<employee_id>/edit", methods=["GET", "POST"])
@hr_or_admin
def edit(employee_id: str):
    if request.method == "GET":
        found = employees.get_for_edit(employee_id)
        if found is None:
            return _not_found(employee_id)
        employee, mark = found
        form = EditEmployeeForm(data={**audit.snapshot(employee), **_state_data(employee, mark)})
        return _edit_page(form, employee_id, past_last_day=_past_last_day(employee))

    form = EditEmployeeForm()
    if not form.validate_on_submit():  # CSRF is checked before the view; this is belt and braces
        abort(400)
    pk, version, seen = form.state()
    if pk is None or version is None:
        abort(400, "The form is incomplete: open the record's edit page again.")
    try:
        employee, changes = employees.update_employee(pk, form.values(), expected_version=version,
                                                      seen=seen, actor=current_user, repeat_ok=True)
    except InvalidInput as error:
        form.show_invalid(error)
        return _edit_page(form, employee_id, status=422)
    except DuplicateError as error:
        form.show_duplicate(error.taken)
        return _edit_page(form, employee_id, status=409)
    except employees.EditConflict as error:
        return _conflict_page(error.conflict, form.values()), 409
    except employees.AlreadySaved as repeat:  # the same form sent twice: the first send saved it
        employee = repeat.employee
        flash(f"Employee {employee.employee_id} ({employee.full_name}) is saved: it holds what you typed.", "success")
        return redirect(url_for(".show", employee_id=employee.employee_id), 303)
    if changes:
        flash(f"Employee {employee.employee_id} ({employee.full_name}) saved: "
              f"{', '.join(audit.field_label(name) for name in changes)} changed.", "success")
    else:
        flash("Nothing was changed.", "info")
    return redirect(url_for(".show", employee_id=employee.employee_id), 303)


def _edit_page(form, employee_id: str, status: int = 200, past_last_day=None):
    """past_last_day: the record opened, if still active or on leave after
    its termination date (after a refused save its Status field says so)."""
    return render_template("employees/edit.html", form=form, employee_id=normalize_employee_id(employee_id),
                           may_delete=_may_open(delete), past_last_day=past_last_day, **_suggestions()), status


def _conflict_page(conflict, typed: dict) -> str:
    """Per field: the value the person opened, the value stored now (the other
    person's), what they typed; and the form again, at the current version."""
    try:
        typed_clean = {name: audit.json_value(value) for name, value in clean_employee(typed).items()}
    except InvalidInput:
        typed_clean = {name: audit.json_value((value or "").strip() if isinstance(value, str) else value)
                       for name, value in typed.items()}
    rows = []
    for name in FIELD_NAMES:
        opened = conflict.opened.get(name) if conflict.opened is not None else None
        stored = conflict.current.get(name) if conflict.current is not None else None
        mine = typed_clean.get(name)
        rows.append({
            "name": name, "label": audit.field_label(name), "opened": opened, "stored": stored,
            "typed": mine,
            "theirs_changed": conflict.opened is not None and stored != opened,
            "mine_changed": conflict.opened is not None and mine != opened,
            "differs": mine != stored,
            "both_changed": conflict.opened is not None and stored != opened and mine != opened and mine != stored,
        })
    form = None
    if not conflict.deleted:
        # A three-way merge for the next attempt: what this person changed is
        # kept; a field they left alone shows the value stored now, so saving
        # again does not undo the other person's change.
        merged = {row["name"]: (typed.get(row["name"]) if row["mine_changed"] or conflict.opened is None
                                else row["stored"] or "") for row in rows}
        form = EditEmployeeForm(formdata=None, data={**merged, **_state_data(conflict.employee, conflict.mark)})
    return render_template("employees/conflict.html", conflict=conflict, rows=rows, form=form, **_suggestions())


@bp.route("/<employee_id>/delete", methods=["GET", "POST"])
@admin_only
def delete(employee_id: str):
    if request.method == "GET":
        found = employees.get_for_edit(employee_id)
        if found is None:
            return _not_found(employee_id)
        employee, mark = found
        form = DeleteEmployeeForm(data=_state_data(employee, mark))
        return render_template("employees/delete.html", employee=employee, form=form, conflict=None)

    form = DeleteEmployeeForm()
    if not form.validate_on_submit():
        abort(400)
    pk, version, seen = form.state()
    if pk is None or version is None:
        abort(400, "The form is incomplete: open the record's delete page again.")
    try:
        deleted = employees.delete_employee(pk, expected_version=version, seen=seen, actor=current_user)
    except employees.EmployeeGone:
        return _not_found(employee_id)
    except employees.EditConflict as error:
        conflict = error.conflict
        if conflict.deleted:
            return _not_found(employee_id)
        form = DeleteEmployeeForm(formdata=None, data=_state_data(conflict.employee, conflict.mark))
        return render_template("employees/delete.html", employee=conflict.employee, form=form,
                               conflict=conflict), 409
    flash(f"Employee {deleted['employee_id']} ({deleted['first_name']} {deleted['last_name']}) deleted. "
          "Its history stays in the audit log.", "success")
    return redirect(url_for(".index"), 303)


def _list_url(raw: str | None) -> str:
    """Back to the list page the bulk form was on (a local /employees path only)."""
    raw = (raw or "").strip()
    if raw.startswith("/employees") and "\\" not in raw and "//" not in raw and "\n" not in raw:
        return raw.rstrip("?")
    return url_for(".index")


@bp.route("", methods=["POST"])  # POST to the list itself: no path an employee ID could take
@admin_only
def bulk():
    """A bulk action on the employees selected on the list page."""
    form = BulkForm()
    if not form.validate_on_submit():
        abort(400)
    action = request.form.get("action", "")
    value = form.status.data if action == "status" else form.department.data
    try:
        result = employees.bulk_update(request.form.getlist("ids"), action, value,
                                       termination_date=form.termination_date.data, actor=current_user)
    except InvalidInput as error:
        flash(" ".join(error.errors.values()) + " Nothing was changed.", "error")
        return redirect(_list_url(form.next.data), 303)
    what = "Status" if result.field == "status" else "Department"
    shown = (result.value or "").replace("_", " ") if result.field == "status" else result.value
    count = len(result.changed)
    parts = [f"{what} set to {shown} for {count} employee{'' if count == 1 else 's'}."]
    if result.unchanged:
        parts.append(f"{len(result.unchanged)} already had it.")
    if result.dated:
        parts.append(f"Termination date {result.last_day} given to {len(result.dated)} who had none.")
    if result.missing:
        parts.append(f"{len(result.missing)} no longer exist{'s' if len(result.missing) == 1 else ''}: "
                     f"{', '.join(result.missing[:10])}.")
    flash(" ".join(parts), "success" if count or result.dated else "info")
    return redirect(_list_url(form.next.data), 303)
