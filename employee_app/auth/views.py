from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..extensions import login_manager
from ..security import login_required, public
from ..services import users
from ..services.errors import InvalidInput
from . import bp
from .forms import ChangePasswordForm, LoginForm


@login_manager.user_loader
def load_user(session_id: str):
    """Every request: the account must still exist, be active, and its
    sessions not have been ended since this one began (session_version)."""
    user = users.load_session_user(session_id)
    if user is None:
        # Deactivated, password changed elsewhere, or a session from before
        # session versions: this session is over.
        session.pop("_user_id", None)
        session.pop("_fresh", None)
    return user


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL an attacker chose."""
    # "/\\host" is read by browsers as "//host", so backslashes are refused too.
    if target and target.startswith("/") and "\\" not in target and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("employees.index")


def start_session(user) -> None:
    """A fresh session (new cookie content, nothing carried over from before)."""
    session.clear()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = users.log_in(form.username.data, form.password.data, request.remote_addr)
        except users.LoginLocked as locked:
            form.password.errors.append(locked.message)
            return render_template("auth/login.html", form=form), 429, {"Retry-After": str(locked.retry_after)}
        except users.AccountInactive as refused:
            form.password.errors.append(refused.message)
            return render_template("auth/login.html", form=form), 403
        except users.WrongCredentials as wrong:
            form.password.errors.append(wrong.message)
            return render_template("auth/login.html", form=form), 401
        start_session(user)
        return redirect(safe_next(request.args.get("next")), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = users.change_own_password(current_user.id, form.current_password.data, form.new_password.data)
        except InvalidInput as error:
            for field, message in error.errors.items():
                getattr(form, field, form.new_password).errors.append(message)
            status = 422
        else:
            start_session(user)  # this session carries on; the account's other sessions end
            flash("Your password has been changed. Other sessions of your account are logged out.", "success")
            return redirect(url_for("employees.index"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("auth/password.html", form=form), status
