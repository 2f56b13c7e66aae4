"""/api/v1: JSON for other programs, with bearer tokens (docs/api.md).

The request and response shapes are pydantic models (schemas.py); spectree
validates requests against them and generates /api/v1/openapi.json from the
same models, so the document cannot drift from what the API accepts."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import views  # noqa: E402,F401  (routes attach themselves to bp)
from . import batch  # noqa: E402,F401  (POST /employees/batch)
from . import changes  # noqa: E402,F401  (i13-feed: PATCH/DELETE with If-Match, GET /changes)
from . import imports, reports  # noqa: E402,F401  (i13-imports: imports and reports)
from . import docs, rate_limits  # noqa: E402,F401  (rate_limits.init_app: create_app)
