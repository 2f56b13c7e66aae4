from datetime import datetime, timezone

from flask import Response, current_app, render_template, stream_with_context
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..query_params import accepts, cursor_arg, text_arg
from ..security import role_required
from ..services import audit
from . import bp

admin_only = role_required("admin")
FILTERS = ("actor", "employee", "subject", "from", "to")


def _filters() -> dict:
    """The filters as text; AuditQuery.from_args reads the dates (and
    reports one that is not a date) and the subject (anything else than
    one: every change)."""
    return {name: text_arg(name, audit.MAX_FILTER_LENGTH) for name in FILTERS}


@bp.route("/audit")
@admin_only
@accepts(*FILTERS, "cursor")
def index():
    query = audit.AuditQuery.from_args({**_filters(), "cursor": cursor_arg()},
                                       per_page=current_app.config.get("AUDIT_PER_PAGE", 50))
    page = audit.list_entries(query) if not query.errors else audit.AuditPage([], None, None)
    usernames = db.session.execute(select(User.username).order_by(User.username)).scalars().all()
    return render_template("audit/index.html", query=query, page=page, usernames=usernames), \
        422 if query.errors else 200


@bp.route("/audit.csv")
@admin_only
@accepts(*FILTERS)
def export():
    query = audit.AuditQuery.from_args(_filters())
    if query.errors:
        return Response(" ".join(query.errors.values()) + "\n", status=422, mimetype="text/plain")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(audit.export_csv(query)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="employee-history-{stamp}.csv"',
                 "Cache-Control": "no-store"},
    )
