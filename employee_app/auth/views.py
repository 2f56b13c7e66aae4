from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..extensions import login_manager
from ..security import login_required, public
from ..services import users
from . import bp
from .forms import LoginForm


@login_manager.user_loader
def load_user(user_id: str):
    return users.get_user(int(user_id))


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL an attacker chose."""
    # "/\\host" is read by browsers as "//host", so backslashes are refused too.
    if target and target.startswith("/") and "\\" not in target and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("employees.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.username.data, form.password.data)
        if user is not None:
            session.clear()  # a fresh session at login
            login_user(user)
            return redirect(safe_next(request.args.get("next")), 303)
        form.password.errors.append("Wrong username or password.")
        return render_template("auth/login.html", form=form), 401
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)
