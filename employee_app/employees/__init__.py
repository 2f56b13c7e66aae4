from flask import Blueprint

bp = Blueprint("employees", __name__, url_prefix="/employees")

from . import list_chrome, views  # noqa: E402,F401  (routes and template globals attach themselves to bp)
