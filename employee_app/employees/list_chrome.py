"""The employee list's chrome (the filter form, the sort links and the
table's headers) rendered once and kept, per process, for the list
parameters that decide it.

Those parts depend only on the list's parameters other than the page (the
search, the filters and the order, as the link sends them), on the viewer's
role, and on the departments list. Under load they were a third of the
page's template time: two dozen url_for calls and macro calls per request
for the same markup. The page's own parts (the count, the rows, the pager's
cursors, the CSRF token) are rendered on every request as before.

In a template: {% call list_fragment("filters", key..., same=[departments]) %}
markup {% endcall %}. `key` values are compared by equality; `same` objects
by identity (the departments list is a new object whenever
services/short_cache reads it again, so a renamed department shows at once).
"""
import threading

from flask import request
from markupsafe import Markup

from . import bp

# Parameters that decide the chrome: every list parameter but the page's
# position (cursor, start), which no kept part contains.
PAGE_POSITION = ("cursor", "start")
MAX_KEPT = 2000  # distinct searches and orders; then everything is dropped at once

_kept: dict[tuple, tuple[tuple, Markup]] = {}
_lock = threading.Lock()


def _parameters_key() -> tuple:
    from .views import LIST_STATE

    args = request.args
    # The first value of each name, as link_args and the view read them.
    return tuple((name, args[name]) for name in LIST_STATE if name not in PAGE_POSITION and name in args)


@bp.app_template_global("list_fragment")
def list_fragment(name: str, *key, same=(), caller):
    """The markup of the call block for this request's list parameters, and
    `key` and `same`: kept from an earlier request, or rendered now and kept."""
    full_key = (name, request.script_root, request.endpoint, _parameters_key(), key)
    kept = _kept.get(full_key)
    if kept is not None and len(kept[0]) == len(same) and all(a is b for a, b in zip(kept[0], same)):
        return kept[1]
    markup = Markup(caller())
    with _lock:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[full_key] = (tuple(same), markup)
    return markup


def forget() -> None:
    """Drop every kept fragment (the tests use it between apps)."""
    with _lock:
        _kept.clear()
