from flask import Blueprint, request

bp = Blueprint("imports", __name__, url_prefix="/imports")
export_bp = Blueprint("exports", __name__)

# The pages whose answers a bulk load changes while it runs: searches and
# sorts without their indexes (slower), reports without its rows (yet).
LOADING_NOTICE_PAGES = ("employees.index", "home.dashboard")


@bp.app_template_global("bulk_loading")
def bulk_loading():
    """The bulk load under way (services/importer/bulk.py), on the pages it
    concerns; None elsewhere and when there is none."""
    endpoint = request.endpoint or ""
    if endpoint not in LOADING_NOTICE_PAGES and not endpoint.startswith("reports."):
        return None
    from ..extensions import db
    from ..services.importer import bulk

    return bulk.loading(db.session)


from . import views  # noqa: E402,F401  (registers the routes)
