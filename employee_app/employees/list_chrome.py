"""The employee list's chrome (the filter form, the sort links and the
table's headers) rendered once and kept, per process, for the list
parameters that decide it (fragments.py).

Those parts depend only on the list's parameters other than the page (the
search, the filters and the order, as the link sends them), on the viewer's
role, and on the departments list. Under load they were a third of the
page's template time: two dozen url_for and macro calls per request for the
same markup. The page's own parts (the count, the rows, the pager's cursors,
the CSRF token) are rendered on every request as before.

In a template: {% call list_fragment("filters", key..., same=[departments]) %}
markup {% endcall %}, as fragments.kept_fragment, with the list's parameters
added to the key.
"""
from flask import request
from markupsafe import Markup

from .. import fragments
from . import bp

# Every list parameter but the page's position (cursor, start), which no kept
# part contains.
PAGE_POSITION = ("cursor", "start")


def _parameters_key() -> tuple:
    from .views import LIST_STATE

    args = request.args
    # The first value of each name, as link_args and the view read them.
    return tuple((name, args[name]) for name in LIST_STATE if name not in PAGE_POSITION and name in args)


@bp.app_template_global("list_fragment")
def list_fragment(name: str, *key, same=(), caller) -> Markup:
    """The markup of the call block for this request's list parameters and `key`."""
    return fragments.kept(("list", name, request.script_root, request.endpoint, _parameters_key(), key),
                          same, caller)
