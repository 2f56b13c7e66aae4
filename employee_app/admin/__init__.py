"""Administration of user accounts (admins only): /admin/users."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import views  # noqa: E402,F401  (routes attach themselves to bp)
