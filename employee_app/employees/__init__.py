from flask import Blueprint

bp = Blueprint("employees", __name__, url_prefix="/employees")

from . import views  # noqa: E402,F401  (routes attach themselves to bp)
