"""Markup that templates render alike for many requests, rendered once and
kept per process: the layout's menu (per role, user and page), the list
page's filter form and sort links (employees/list_chrome.py).

In a template: {% call kept_fragment("name", key...) %} markup {% endcall %}.
The block must depend only on `key` (compared by equality), on the
application's URL root, and on `same` objects (compared by identity: a list
that short_cache reads again is a new object). Nothing that changes per
request (a CSRF token, a count, a cursor) may be inside.
"""
import threading

from flask import Flask, request
from markupsafe import Markup

MAX_KEPT = 2000  # distinct keys (a few KB each); then everything is dropped at once

_kept: dict[tuple, tuple[tuple, Markup]] = {}
_lock = threading.Lock()


def kept(key: tuple, same, render) -> Markup:
    """The markup kept under key (with the same `same` objects), else
    render() now, kept."""
    found = _kept.get(key)
    if found is not None and len(found[0]) == len(same) and all(a is b for a, b in zip(found[0], same)):
        return found[1]
    markup = Markup(render())
    with _lock:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[key] = (tuple(same), markup)
    return markup


def kept_fragment(name: str, *key, same=(), caller) -> Markup:
    return kept((name, request.script_root, key), same, caller)


def forget() -> None:
    """Drop everything kept."""
    with _lock:
        _kept.clear()


def init_app(app: Flask) -> None:
    app.add_template_global(kept_fragment)
