"""Error pages: one template for every status, a rollback on 500, and a
503 page of its own while PostgreSQL cannot be reached."""
import json
import logging
from urllib.parse import urlsplit

import psycopg
from flask import Flask, Response, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from .extensions import db, login_manager
from .query_params import BadParameter
from .services import db_errors
from .services.retry import is_transient

log = logging.getLogger(__name__)
# Seconds a client (or a proxy) is told to wait before asking again.
RETRY_AFTER_SECONDS = 10

WAIT_FOR_RETRY_AFTER = "Wait for the seconds in Retry-After, then go on."
SENT_WHILE_LOGGED_OUT = ("You were logged out (in another tab, after a while away, or by a new password), "
                         "so what you sent was not saved. Log in, then do it again.")
MESSAGES = {
    400: "The request could not be understood.",
    403: "Your account is not allowed to do that. Ask an administrator if you need it.",
    404: "There is nothing at this address.",
    405: "That action is not possible on this page.",
    413: "The upload is larger than the configured limit.",
    429: f"Too many requests. {WAIT_FOR_RETRY_AFTER}",
    500: "Something went wrong on our side. The error has been logged.",
}


API_PREFIX = "/api"


def json_problem(status: int, message: str, *, errors: dict | None = None, headers: dict | None = None,
                 extra: dict | None = None):
    """An error answer of the API: JSON, whatever went wrong (docs/api.md)."""
    body = {"status": status, "message": message}
    if errors is not None:
        body["errors"] = errors
    body.update(extra or {})
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _for_api() -> bool:
    """/api and anything under it, in any case (/API/v1 from a program with a
    typo is still a program): answered in JSON, never with a page."""
    path = request.path.lower()
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _api_answers_stay_json(response: Response) -> Response:
    """The net under the handlers below: an answer under /api that is an
    error or a redirect and still HTML (werkzeug's redirect to the URL without
    a doubled slash, an extension's own page) gets the JSON body instead,
    with its status and headers kept."""
    if (_for_api() and response.status_code >= 300 and response.mimetype == "text/html"
            and response.status_code != 304):
        body = {"status": response.status_code, "message": MESSAGES.get(response.status_code, response.status)}
        if response.location:
            body["message"] = "This resource is at another address: see location."
            body["location"] = response.location
        response.set_data(json.dumps(body))
        response.mimetype = "application/json"
    return response


def _stale_form_answer():
    """A form whose CSRF token no longer fits because the session changed
    under it (another tab logged in or out, a new password, a timeout),
    sent somewhere it has a plain answer: None for any other refused form.

    - The login form, when this browser is logged in by now: where the login
      was going. Not logged in: the login page again (the token went with
      the old session).
    - Log out, when already logged out: "You are logged out".
    - Any other form, when logged out: the login page, back to the form's
      page afterwards, saying the form was not sent."""
    from .auth.views import safe_next  # here: the blueprints load after this module

    if request.endpoint == "auth.login":
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")), 303)
        flash("The login page had expired: log in again.", "info")
        return redirect(url_for("auth.login", next=request.args.get("next")), 303)
    if current_user.is_authenticated or _for_api():
        return None
    if request.endpoint == "auth.logout":
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"), 303)
    flash(SENT_WHILE_LOGGED_OUT, "info")
    return redirect(url_for("auth.login", next=_form_page()), 303)


def _log_in_first():
    """Flask-Login's answer to a visitor who is not logged in, in our words:
    a page asked for leads to the login and back to it; a form sent (its
    session ended under it: idle, logged out elsewhere, a new password)
    says that it was not saved, and leads back to the form's page."""
    from flask_login.utils import login_url

    if request.method in ("GET", "HEAD", "OPTIONS"):
        flash(login_manager.login_message, login_manager.login_message_category)
        return redirect(login_url(login_manager.login_view, next_url=request.url))
    flash(SENT_WHILE_LOGGED_OUT, "info")
    return redirect(url_for("auth.login", next=_form_page()))  # 302, as Flask-Login's own


def _form_page() -> str | None:
    """The path of the page the refused form was on (its Referer, if on this site)."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host or not referrer.path.startswith("/"):
        return None
    return referrer.path + (f"?{referrer.query}" if referrer.query else "")


def register_error_handlers(app: Flask) -> None:
    app.after_request(_api_answers_stay_json)
    login_manager.unauthorized_handler(_log_in_first)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _stale_form_answer() or (render_template(
            "errors/error.html", code=400, title="Form expired",
            message="The form was not sent from this site or has expired. Reload the page and try again."), 400)

    @app.errorhandler(BadParameter)
    def bad_parameter(error: BadParameter):  # its message names the parameter
        if _for_api():
            return json_problem(400, error.description)
        return render_template("errors/error.html", code=400, title="Bad link", message=error.description), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # A view's own words (abort(400, "...")) before the generic ones.
        own = error.description if error.description != type(error).description else None
        message = own or MESSAGES.get(error.code, error.description)
        if error.code == 429 and _for_api():  # Flask-Limiter's: its description is the limit
            message = f"Too many requests: the limit is {error.description}. {WAIT_FOR_RETRY_AFTER}"
        if error.code == 413:
            limit = current_app.config["MAX_IMPORT_BYTES"] // (1024 * 1024)
            message = f"The file is larger than the limit of {limit} MB. Split it into smaller files."
            if _for_api():
                message = "The body is larger than the API's limit."
        if _for_api():
            headers = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else None
            return json_problem(error.code, message, headers=headers)
        return render_template("errors/error.html", code=error.code, title=error.name, message=message), error.code

    @app.errorhandler(DBAPIError)
    @app.errorhandler(psycopg.Error)
    def database_error(error):
        """PostgreSQL down, restarting or failing over (what the service layer
        retried did not get through): 503 and a page that asks nothing of the
        database. Any other database error is a bug: the 500 below."""
        if not is_transient(error):
            raise error
        try:
            db.session.rollback()
        except DBAPIError:  # nothing to roll back on a connection that is gone
            pass
        log.warning("Database unavailable: %s", db_errors.describe(error))
        if _for_api():
            return json_problem(503, "The database is unavailable for a moment. Try again shortly.",
                                headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        # The page is rendered for nobody in particular: finding out who is
        # logged in would ask PostgreSQL again (flask-login's template context).
        g._login_user = login_manager.anonymous_user()
        page = render_template("errors/unavailable.html")
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        if _for_api():
            return json_problem(500, MESSAGES[500])
        return render_template("errors/error.html", code=500, title="Server error", message=MESSAGES[500]), 500
