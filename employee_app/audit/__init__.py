"""The admin history page: every change to every employee and list entry, filterable,
exportable as CSV. Also the template helpers that show audit entries (used
by the employee page's history too)."""
from datetime import timezone

from flask import Blueprint

from ..models.user import ROLE_LABELS
from ..services import audit as audit_service

bp = Blueprint("audit", __name__, url_prefix="/admin")


@bp.app_template_filter("utc")
def format_utc(moment) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC', whatever the server's zone."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_global("audit_changes")
def audit_changes(changes: dict | None) -> list:
    return audit_service.ordered_changes(changes or {})


@bp.app_template_global("role_label")
def role_label(role: str | None) -> str | None:
    return ROLE_LABELS.get(role, role) if role is not None else None


@bp.app_template_global("field_label")
def field_label(name: str) -> str:
    return audit_service.field_label(name)


from . import views  # noqa: E402,F401  (routes attach themselves to bp)
