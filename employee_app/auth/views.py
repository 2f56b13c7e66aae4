from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..extensions import login_manager
from ..query_params import accepts
from ..security import login_required, public
from ..services import api_tokens, login_throttle, users
from ..services.errors import InvalidInput
from . import bp
from .forms import ChangePasswordForm, LoginForm, NewTokenForm, RevokeTokenForm

# The key in the (signed) session cookie that holds the login session's token.
SESSION_TOKEN = "sid"


@login_manager.user_loader
def load_user(user_id: str):
    """Every request: the login session's row must still be there and alive
    (see users.load_session_user; the answer is kept a few seconds in Valkey,
    and no longer than the session itself)."""
    user = users.load_session_user(user_id, session.get(SESSION_TOKEN))
    if user is None:
        # Logged out, ended (new password, deactivation), expired, or a
        # cookie from before server-side sessions: this session is over.
        for key in ("_user_id", "_fresh", SESSION_TOKEN):
            session.pop(key, None)
    return user


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL an attacker chose."""
    # "/\\host" is read by browsers as "//host", so backslashes are refused too.
    if target and target.startswith("/") and "\\" not in target and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("employees.index")


def start_session(user) -> None:
    """A fresh session: a new server-side session and new cookie content,
    nothing carried over from before."""
    session.clear()
    session[SESSION_TOKEN] = users.open_session(user)
    login_user(user)


def remember_device(response, username: str) -> None:
    """The known-device cookie (see services/login_throttle.py): only the
    login page needs it, so only the login page gets it."""
    response.set_cookie(login_throttle.DEVICE_COOKIE, login_throttle.new_device_cookie(username),
                        max_age=login_throttle.DEVICE_COOKIE_MAX_AGE, path=url_for("auth.login"),
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")


@bp.route("/login", methods=["GET", "POST"])
@public
@accepts("next")
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = users.log_in(form.username.data, form.password.data, request.remote_addr,
                                request.cookies.get(login_throttle.DEVICE_COOKIE))
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
        response = redirect(safe_next(request.args.get("next")), 303)
        remember_device(response, user.username)
        return response
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    users.end_session(session.get(SESSION_TOKEN))
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
            start_session(user)  # every session of the account ended; this browser gets a fresh one
            flash("Your password has been changed. Other sessions of your account are logged out.", "success")
            return redirect(url_for("employees.index"), 303)
    elif form.is_submitted():
        status = 422
    return render_template("auth/password.html", form=form), status


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """API tokens: create one (shown once, on this answer only), list, revoke.
    Admins see everyone's."""
    form = NewTokenForm()
    status, new_token = 200, None
    if form.validate_on_submit():
        try:
            _, new_token = api_tokens.create_token(current_user.id, form.name.data, actor=current_user,
                                                    source="tokens")
        except InvalidInput as error:
            form.name.errors.append(error.errors["name"])
            status = 422
        else:
            status = 201
            form = NewTokenForm(formdata=None)
    elif form.is_submitted():
        status = 422
    everyone = current_user.has_role("admin")
    return render_template("auth/tokens.html", form=form, revoke_form=RevokeTokenForm(), new_token=new_token,
                           tokens=api_tokens.list_tokens(current_user, everyone=everyone),
                           everyone=everyone), status


@bp.route("/account/tokens/<bigint_id:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    if not RevokeTokenForm().validate_on_submit():
        abort(400)
    token = api_tokens.revoke_token(token_id, current_user)
    if token is None:
        abort(404)
    flash(f"The token {token.name} is revoked: programs using it get 401 from now on.", "success")
    return redirect(url_for(".tokens"), 303)
