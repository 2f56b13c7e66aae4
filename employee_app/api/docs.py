"""/api/v1/docs: the API's documentation page, Swagger UI on /api/v1/openapi.json.

Public like the document it shows: it describes the API and opens nothing
(its "Try it out" needs a token typed in, kept in the page's memory only).
Swagger UI's files are vendored (static/vendor/README.md); the page loads
them and its own script from static/, so the app's strict CSP holds here too."""
from flask import render_template
from spectree import Response

from ..security import public
from . import bp, tags
from .views import spec

SWAGGER_UI = "vendor/swagger-ui-dist-5.35.0"


@bp.get("/docs")
@public
@spec.validate(tags=[tags.ABOUT], security={}, resp=Response(HTTP_200=None))  # HTML, and no token needed
def docs():
    """This page: the operations of the API, their parameters and answers, read from openapi.json."""
    return render_template("api/docs.html", swagger_ui=SWAGGER_UI)
