from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")
home_bp = Blueprint("home", __name__)  # "/": the dashboard

from . import views  # noqa: E402,F401  (routes attach themselves to bp and home_bp)
