"""What the operator sees of each request: its request id (request_ids.py)
and its line in the metrics (metrics.py), and the /metrics page itself.

One hook before and one after each request, both cheap: a header check or a
uuid, a clock reading, one histogram observation; and the id's reset."""
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import metrics, request_ids
from .security import token_required

bp = Blueprint("metrics", __name__)


@bp.route("/metrics")
@token_required("METRICS_TOKEN")
def metrics_page():
    return Response(generate_latest(metrics.Scrape()), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    # First before every other hook and last after them, so that the id is
    # in all their log lines and the latency counts all their work.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request_funcs.setdefault(None, []).insert(0, _end)
    app.teardown_request(_forget)
    app.register_blueprint(bp)


def _begin() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_ids.sane_or_new(request.headers.get(request_ids.HEADER))
    request_ids.use(g.request_id)


def _end(response: Response) -> Response:
    if "request_id" not in g:  # the request failed before the hooks (e.g. opening its session)
        _begin()
    response.headers[request_ids.HEADER] = g.request_id
    metrics.observe_request(request.endpoint, request.method, response.status_code,
                            time.perf_counter() - g.request_started)
    return response


def _forget(error=None) -> None:
    """The thread's next lines (e.g. gunicorn refusing a malformed request)
    are no longer this request's."""
    request_ids.use(None)
