"""Error pages: one template for every status, a rollback on 500."""
from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .query_params import BadParameter

MESSAGES = {
    400: "The request could not be understood.",
    403: "Your account is not allowed to do that. Ask an administrator if you need it.",
    404: "There is nothing at this address.",
    405: "That action is not possible on this page.",
    413: "The upload is larger than the configured limit.",
    500: "Something went wrong on our side. The error has been logged.",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = "The form was not sent from this site or has expired. Reload the page and try again."
        return render_template("errors/error.html", code=400, title="Form expired", message=message), 400

    @app.errorhandler(BadParameter)
    def bad_parameter(error: BadParameter):  # its message names the parameter
        return render_template("errors/error.html", code=400, title="Bad link", message=error.description), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # A view's own words (abort(400, "...")) before the generic ones.
        own = error.description if error.description != type(error).description else None
        message = own or MESSAGES.get(error.code, error.description)
        if error.code == 413:
            limit = current_app.config["MAX_IMPORT_BYTES"] // (1024 * 1024)
            message = f"The file is larger than the limit of {limit} MB. Split it into smaller files."
        return render_template("errors/error.html", code=error.code, title=error.name, message=message), error.code

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_template("errors/error.html", code=500, title="Server error", message=MESSAGES[500]), 500
