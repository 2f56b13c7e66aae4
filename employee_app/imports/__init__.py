from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports")
export_bp = Blueprint("exports", __name__)

from . import views  # noqa: E402,F401  (registers the routes)
