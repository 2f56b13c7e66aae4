from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")
home_bp = Blueprint("home", __name__)  # "/": the dashboard


@bp.app_template_filter("thousands")
def thousands(value: int) -> str:
    """12345 -> "12,345": a filter, not a macro (a report renders thousands
    of numbers, and a macro call costs ten times a filter's)."""
    return f"{value:,}"


from . import views  # noqa: E402,F401  (routes attach themselves to bp and home_bp)
