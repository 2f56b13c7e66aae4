from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..security import login_required, role_required
from ..services import employees
from ..services.errors import DuplicateError, InvalidInput
from . import bp
from .forms import EmployeeForm

can_add = role_required("admin", "hr")


@bp.route("")
@login_required
def index():
    query = employees.EmployeeQuery(
        q=request.args.get("q", ""),
        department_id=request.args.get("department", type=int),
        status=request.args.get("status") or None,
        sort=request.args.get("sort", "name"),
        descending=request.args.get("dir") == "desc",
        cursor=request.args.get("cursor"),
        per_page=current_app.config["EMPLOYEES_PER_PAGE"],
    )
    page = employees.search_employees(query)
    return render_template("employees/list.html", query=query, page=page,
                           departments=employees.list_departments())


@bp.route("/new", methods=["GET", "POST"])
@can_add
def new():
    form = EmployeeForm()
    status, duplicate = 200, None
    if form.validate_on_submit():
        try:
            employee = employees.create_employee(form.values(), actor=current_user)
        except DuplicateError as error:
            form.show_duplicate(error)
            status, duplicate = 409, error
        except InvalidInput as error:
            form.show_invalid(error)
            status = 422
        else:
            flash(f"Employee {employee.employee_id} ({employee.full_name}) added.", "success")
            return redirect(url_for(".show", employee_id=employee.employee_id), 303)
    return render_template("employees/new.html", form=form, duplicate=duplicate,
                           departments=employees.list_departments()), status


@bp.route("/check-id")
@can_add
def check_id():
    """The as-you-type check: a small HTML fragment for htmx."""
    raw = request.args.get("employee_id", "")
    holder = employees.check_employee_id(raw)
    return render_template("employees/_check_id.html", employee_id=raw.strip(), holder=holder)


@bp.route("/<employee_id>")
@login_required
def show(employee_id: str):
    employee = employees.get_employee(employee_id)
    if employee is None:
        return render_template("errors/error.html", code=404, title="Not found",
                               message=f"No employee has the ID {employee_id}."), 404
    return render_template("employees/show.html", employee=employee)
