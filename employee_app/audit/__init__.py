"""The admin history page: every change to every employee and list entry, filterable,
exportable as CSV. Also the template helpers that show audit entries (used
by the employee page's history too)."""
from flask import Blueprint

from .. import clock
from ..models.user import ROLE_LABELS
from ..services import audit as audit_service

bp = Blueprint("audit", __name__, url_prefix="/admin")


# A stored moment as the company reads it: '2026-12-04 09:03 EST' (APP_TIMEZONE;
# UTC when unset), whatever the server's own zone.
bp.add_app_template_filter(clock.local_time, "local_time")
bp.add_app_template_global(clock.display_zone_name, "display_zone_name")


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
