"""/healthz: "ok" with PostgreSQL and Valkey, "degraded" without Valkey (the
app still works on PostgreSQL alone), 503 "down" without PostgreSQL."""
from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .security import public
from .valkey_store import get_store

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@public
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        database = "down"
    valkey = "ok" if get_store().ping() else "down"
    if database == "down":
        status, code = "down", 503
    else:
        status, code = ("ok" if valkey == "ok" else "degraded"), 200
    return jsonify(status=status, database=database, valkey=valkey), code
