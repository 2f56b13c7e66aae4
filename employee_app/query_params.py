"""Reading a request's parameters: the one place where a value from the
query string or a route id is checked (characters, length, range) before it
can reach SQL. A value a view cannot use is a 400 page that names the
parameter; an opaque pagination cursor that does not decode is the first
page; an id no column can hold is a 404. Never a 500.

A view declares the GET parameters it reads with @accepts(...), as it
declares its roles with security.role_required: the parameter tests send
random values to exactly those, and links to other pages of the same list
carry exactly those (link_args)."""
import re
from datetime import date

import regex
from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from .services.employee_rules import FieldProblem, parse_iso_date
from .services.pagination import BIGINT_MAX, INTEGER_MAX
from .services.text_rules import INVISIBLE_RE

# What no one types into a search box or filter, and what could only make a
# query fail (PostgreSQL refuses NUL) or match nothing: control characters,
# line and paragraph separators, and the invisible ones of text_rules.
UNTYPED_RE = regex.compile(rf"[\p{{Cc}}\p{{Zl}}\p{{Zp}}]|{INVISIBLE_RE.pattern}")
# A whole number as a person writes it in a URL: ASCII digits, at most the
# 19 of the largest bigint (int() alone would take "1_000", "٣" or 5,000 digits).
WHOLE_NUMBER_RE = re.compile(r"-?[0-9]{1,19}")


class BadParameter(BadRequest):
    """A query-string value the view cannot use; the 400 page says which and why."""

    def __init__(self, name: str, expected: str, reason: str | None = None):
        super().__init__(f"{name} must be {expected}.")
        # What is wrong with the value, for a form that shows it at its field
        # ("9999-12-31 is out of range: ..."); the description names the parameter.
        self.reason = reason or self.description


def _arg(name: str, default=None):
    """request.args.get(name, default), without the exception werkzeug builds
    for every absent name (a dozen per list page)."""
    args = request.args
    return args[name] if name in args else default


def accepts(*names: str):
    """Record on the view the GET parameters it reads (see the module docstring)."""
    def decorator(view):
        view.accepted_args = names
        return view
    return decorator


def text_arg(name: str, max_length: int) -> str:
    """The parameter as text a person typed: without control or invisible
    characters, trimmed, at most max_length characters; "" when absent."""
    return UNTYPED_RE.sub("", _arg(name, "")).strip()[:max_length]


def int_arg(name: str, minimum: int, maximum: int, expected: str | None = None) -> int | None:
    """The parameter as a whole number from minimum to maximum; None when
    absent or empty. Raises BadParameter ("department must be a department
    number.") otherwise."""
    raw = _arg(name, "").strip()
    if not raw:
        return None
    if WHOLE_NUMBER_RE.fullmatch(raw) and minimum <= (number := int(raw)) <= maximum:
        return number
    raise BadParameter(name, expected or f"a whole number from {minimum} to {maximum}")


def date_arg(name: str) -> date | None:
    """The parameter as a date written YYYY-MM-DD, within the dates the app
    stores (employee_rules.parse_iso_date); None when absent or empty.
    Raises BadParameter with the reason ("... February 2024 has 29 days")."""
    raw = UNTYPED_RE.sub("", _arg(name, "")).strip()
    if not raw:
        return None
    try:
        return parse_iso_date(raw)
    except FieldProblem as problem:
        raise BadParameter(name, f"a date as YYYY-MM-DD: {str(problem).rstrip('.')}", reason=str(problem)) from None


def choice_arg(name: str, choices, default: str | None = None) -> str | None:
    """The parameter if it is one of choices, else the default (an unknown
    sort or status in an old bookmark shows the default view)."""
    value = _arg(name)
    return value if value in choices else default


def cursor_arg(name: str = "cursor") -> str | None:
    """A pagination cursor as sent; services/pagination.decode_cursor checks
    every part of it and treats a tampered one as the first page."""
    return _arg(name) or None


def link_args(**changes) -> dict:
    """url_for arguments for another page of the current list (sorting,
    paging): the route's own values and the parameters its view accepts,
    with `changes`. Anything else in the query string is left out: a stray
    `endpoint` or `_scheme` would otherwise reach url_for itself."""
    accepted = getattr(current_app.view_functions.get(request.endpoint), "accepted_args", ())
    kept = {name: value for name, value in request.args.items() if name in accepted}
    return {**(request.view_args or {}), **kept, **changes}


class IntIdConverter(IntegerConverter):
    """<int_id:user_id>: the id of a row whose key is a PostgreSQL integer.
    werkzeug's int takes any number of digits (of any script); an id no
    column can hold is a 404 here, before any SQL."""

    regex = "[0-9]+"
    maximum = INTEGER_MAX

    def __init__(self, map):
        super().__init__(map, min=1, max=self.maximum)


class BigIntIdConverter(IntIdConverter):
    """<bigint_id:import_id>: the same for a bigint key."""

    maximum = BIGINT_MAX


def init_app(app: Flask) -> None:
    """Before the blueprints: their rules use the converters."""
    app.url_map.converters.update(int_id=IntIdConverter, bigint_id=BigIntIdConverter)
    app.add_template_global(link_args)
