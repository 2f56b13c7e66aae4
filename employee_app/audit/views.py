from datetime import datetime, timezone

from flask import Response, current_app, render_template, request, stream_with_context
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..security import role_required
from ..services import audit
from . import bp

admin_only = role_required("admin")


@bp.route("/audit")
@admin_only
def index():
    query = audit.AuditQuery.from_args(request.args, per_page=current_app.config.get("AUDIT_PER_PAGE", 50))
    page = audit.list_entries(query) if not query.errors else audit.AuditPage([], None, None)
    usernames = db.session.execute(select(User.username).order_by(User.username)).scalars().all()
    return render_template("audit/index.html", query=query, page=page, usernames=usernames), \
        422 if query.errors else 200


@bp.route("/audit.csv")
@admin_only
def export():
    query = audit.AuditQuery.from_args(request.args)
    if query.errors:
        return Response(" ".join(query.errors.values()) + "\n", status=422, mimetype="text/plain")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(audit.export_csv(query)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="employee-history-{stamp}.csv"',
                 "Cache-Control": "no-store"},
    )
