from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ..query_params import accepts, int_arg
from ..security import role_required
from ..services import audit, users
from ..services.pagination import BIGINT_MAX
from ..services.errors import InvalidInput
from . import bp
from .forms import ActionForm, NewUserForm, RoleForm, SetPasswordForm

admin_only = role_required("admin")
HISTORY_PER_PAGE = 20


def _by_admin() -> dict:
    """Who makes a change here, for its audit entry."""
    return {"actor": current_user, "source": "accounts"}


@bp.route("/users")
@admin_only
def users_index():
    return render_template("admin/users.html", users=users.list_users())


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def user_new():
    form = NewUserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = users.create_user(form.username.data, form.password.data, form.role.data, **_by_admin())
        except InvalidInput as error:
            _show_errors(form, error, fallback="username")
            status = 422
        else:
            flash(f"Account {user.username} ({user.role}) created.", "success")
            return redirect(url_for(".user_show", user_id=user.id), 303)
    elif form.is_submitted():
        status = 422
    return render_template("admin/user_new.html", form=form), status


@bp.route("/users/<int_id:user_id>")
@admin_only
@accepts("history_before")
def user_show(user_id: int):
    return _user_page(_user_or_404(user_id))


@bp.route("/users/<int_id:user_id>/role", methods=["POST"])
@admin_only
def user_role(user_id: int):
    user = _user_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _user_page(user, role_form=form, status=422)
    try:
        users.set_role(user.id, form.role.data, **_by_admin())
    except users.LastAdminError as refused:
        return _user_page(user, error=refused.message, status=409)
    except InvalidInput as error:
        _show_errors(form, error, fallback="role")
        return _user_page(user, role_form=form, status=422)
    flash(f"{user.username} is now {form.role.data}.", "success")
    if user.id == current_user.id and form.role.data != "admin":  # no longer allowed here
        return redirect(url_for("employees.index"), 303)
    return redirect(url_for(".user_show", user_id=user.id), 303)


@bp.route("/users/<int_id:user_id>/deactivate", methods=["POST"])
@admin_only
def user_deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.route("/users/<int_id:user_id>/reactivate", methods=["POST"])
@admin_only
def user_reactivate(user_id: int):
    return _set_active(user_id, True)


@bp.route("/users/<int_id:user_id>/password", methods=["POST"])
@admin_only
def user_password(user_id: int):
    user = _user_or_404(user_id)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            users.set_password(user.id, form.password.data, **_by_admin())
        except InvalidInput as error:
            _show_errors(form, error, fallback="password")
        else:
            if user.id == current_user.id:  # set_password ended this session too: read on the login page
                flash("Your new password is set. All your sessions are logged out, this one too: log in with it.",
                      "success")
            else:
                flash(f"New password set for {user.username}; their open sessions are logged out.", "success")
            return redirect(url_for(".user_show", user_id=user.id), 303)
    return _user_page(user, password_form=form, status=422)


# --- helpers ------------------------------------------------------------------

def _user_or_404(user_id: int):
    user = users.get_user(user_id)
    if user is None:
        abort(404)
    return user


def _set_active(user_id: int, active: bool):
    user = _user_or_404(user_id)
    form = ActionForm()
    if not form.validate_on_submit():  # only reached with CSRF checks off
        return _user_page(user, status=422)
    try:
        users.set_active(user.id, active, **_by_admin())
    except users.LastAdminError as refused:
        return _user_page(user, error=refused.message, status=409)
    except InvalidInput as error:
        return _user_page(user, error=" ".join(error.errors.values()), status=422)
    if active:
        flash(f"{user.username} is active again and can log in.", "success")
    else:
        flash(f"{user.username} is deactivated: they are logged out and cannot log in.", "success")
    return redirect(url_for(".user_show", user_id=user.id), 303)


def _show_errors(form, error: InvalidInput, fallback: str) -> None:
    for field, message in error.errors.items():
        (getattr(form, field, None) or getattr(form, fallback)).errors.append(message)


def _user_page(user, role_form=None, password_form=None, error=None, status=200):
    role_form = role_form or RoleForm(formdata=None, data={"role": user.role})
    password_form = password_form or SetPasswordForm(formdata=None)
    before = int_arg("history_before", 1, BIGINT_MAX, "the number of a history entry")
    history, older = audit.entry_history("account", user.id, before=before, limit=HISTORY_PER_PAGE)
    return render_template("admin/user.html", user=user, role_form=role_form, password_form=password_form,
                           action_form=ActionForm(formdata=None), error=error, history=history,
                           older=older), status
