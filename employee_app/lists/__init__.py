"""The departments and jobs lists (/departments, /jobs): every signed-in
role sees them and each entry's history; admins add, rename, recode, delete
and upload them."""
from flask import Blueprint

bp = Blueprint("lists", __name__)

from . import views  # noqa: E402,F401  (routes attach themselves to bp)
