"""Never a 500 from a parameter: whatever is in a link (query string or
route id), the answer is a page, a 400 naming the parameter, the first page
for a tampered cursor or a 404, over real HTTP.

Where the parameters come from: each view that reads the query string
declares its names with query_params.accepts (`accepted_args`), and the
property tests (Hypothesis, derandomized: the same examples every run) send
every "usual suspect" and then random values to exactly those, and to the
route values, on every GET route of app.url_map, so a new route or parameter
is covered on its own. A view whose source reads request.args without
declaring them FAILS test_views_that_read_the_query_string_declare_it."""
import base64
import inspect
import io
import operator
import re
from datetime import date
from html import unescape
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from employee_app.services.pagination import Cursor, encode_cursor

from ..helpers import HttpClient, employee

HUGE = 10**30
NAME_RE = re.compile(r'<td><a href="/employees/([^"?]+)')  # the link carries the list's parameters after "?"


def cursor(*values, backwards: bool = False) -> str:
    return encode_cursor(Cursor(list(values), backwards))


@pytest.fixture
def admin(login):
    """An admin's client; employees E1 and E2 (Lovelace1 and Lovelace2), with history."""
    client = login("admin")
    for number in (1, 2):
        added = client.submit("/employees/new", employee(f"E{number}", last_name=f"Lovelace{number}"))
        assert added.status_code == 303
    return client


@pytest.fixture
def samples(app, admin, make_user) -> dict:
    """A value for every route argument that points at a real row."""
    make_user("param-target", "viewer")
    with app.app_context():
        from employee_app.services import users
        from employee_app.services.importer import jobs

        user_id = next(u.id for u in users.list_users() if u.username == "param-target")
        job = jobs.create_import(io.BytesIO(b"employee_id,first_name,last_name\nE9,Ada,Byron\n"),
                                 "params.csv", mode="valid_rows", on_existing="skip", user=None, queue=False)
        return {"employee_id": "E1", "user_id": user_id, "import_id": job.id,
                "entry_id": 1}  # E1's department and job: the first entry of each list


# --- the cases a tester found, and their neighbours --------------------------

@pytest.mark.parametrize("path, status, says", [
    ("/employees?q=%00", 200, "2 employees"),
    ("/employees?q=Love%00lace%E2%80%8B1", 200, "1 employee"),  # NUL and a zero-width space dropped
    ("/employees?department=2147483648", 400, "department must be a department number."),
    ("/employees?department=-1", 400, "department must be a department number."),
    ("/employees?department=1e3", 400, "department must be a department number."),
    ("/employees?department=", 200, "2 employees"),
    ("/employees?status=%00&sort=%00&dir=%00", 200, "2 employees"),  # unknown: the defaults
    ("/employees/E1?history_before=99999999999999999999", 400, "history_before must be"),
    ("/employees/E1?history_before=x", 400, "history_before must be"),
    ("/employees/check-id?employee_id=E1%00&current=%00", 200, "E1"),
    ("/admin/audit?actor=%00&employee=%00&from=%00&to=99999-01-01", 422, "is not a date"),
    ("/imports/99999999999999999999", 404, "There is nothing at this address."),
    ("/imports/9223372036854775808/progress", 404, "There is nothing at this address."),
    ("/admin/users/99999999999999999999", 404, "There is nothing at this address."),
    ("/admin/users/2147483648", 404, "There is nothing at this address."),
    # Names url_for itself takes are not carried into the page's own links.
    ("/employees?endpoint=x&_scheme=x&_method=x", 200, "2 employees"),
    ("/admin/audit?endpoint=x&_scheme=x", 200, "History"),
])
def test_a_bad_parameter_is_a_clear_answer(admin, path, status, says):
    response = admin.get(path)
    assert (response.status_code, says in unescape(response.text)) == (status, True), response.text[-2000:]


FIRST_PAGE = "first page"


@pytest.mark.parametrize("sort, token, shows", [
    ("name", cursor("Lovelace1\x00", "Ada", 1), FIRST_PAGE),
    ("name", cursor("Lovelace1", "Ada", HUGE), FIRST_PAGE),
    ("name", cursor("Lovelace1", "Ada", -HUGE), FIRST_PAGE),
    ("name", cursor("L" * 201, "Ada", 1), FIRST_PAGE),
    ("name", cursor("Lovelace1", "Ada\x85", 1), FIRST_PAGE),  # a C1 control
    ("name", cursor("Lovelace1", "\ud800", 1), FIRST_PAGE),  # a lone surrogate, which JSON can spell
    ("name", base64.urlsafe_b64encode(b"[" * 1500).decode(), FIRST_PAGE),  # nested too deep for json
    ("name", "%00", FIRST_PAGE),
    ("employee_id", cursor(HUGE), ["E1", "E2"]),  # "1000...": a string column, compared as text
    ("hire_date", cursor("10000-01-01", 1), FIRST_PAGE),
    ("hire_date", cursor("2024-02-30", 1), FIRST_PAGE),
    ("hire_date", cursor("2024-03-01", 2**40), []),  # fits a bigint: a real page (past the end)
    ("status", cursor("active", "Lovelace1", "Ada", "99999999999999999999"), FIRST_PAGE),
])
def test_a_tampered_cursor_shows_the_first_page(admin, sort, token, shows):
    first = NAME_RE.findall(admin.get("/employees", params={"sort": sort}).text)
    response = admin.get("/employees", params={"sort": sort, "cursor": token})
    assert response.status_code == 200
    assert NAME_RE.findall(response.text) == (first if shows == FIRST_PAGE else shows)


def test_the_export_completes_whatever_the_search(admin):
    for params, status in (({"q": "\x00"}, 200), ({"q": "E1\x00\u200b"}, 200), ({"department": "2147483648"}, 400)):
        response = admin.get("/employees/export.csv", params=params)  # reads the whole stream, or raises
        assert response.status_code == status
        if status == 200:
            assert "E1" in response.text


def test_a_sort_link_keeps_the_declared_parameters_only(admin):
    page = unescape(admin.get("/employees", params={"q": "Lovelace", "endpoint": "x", "junk": "1"}).text)
    links = re.findall(r'href="(/employees\?[^"]*sort=[^"]*)"', page)
    assert links and all("q=Lovelace" in link and "endpoint" not in link and "junk" not in link
                         for link in links), links


# --- every view declares what it reads --------------------------------------

def _undeclared_readers(app) -> list[str]:
    """The endpoints whose view reads request.args but declares no parameters."""
    return sorted(endpoint for endpoint, view in app.view_functions.items()
                  if endpoint != "static" and not hasattr(view, "accepted_args")
                  and "request.args" in inspect.getsource(inspect.unwrap(view)))


def test_views_that_read_the_query_string_declare_it(app):
    assert _undeclared_readers(app) == [], "declare the GET parameters with query_params.accepts"


def test_a_view_reading_undeclared_parameters_is_named():
    from flask import Flask, request

    bare = Flask("bare")
    bare.add_url_rule("/sneaky", "sneaky", lambda: request.args.get("x", ""))
    assert _undeclared_readers(bare) == ["sneaky"]


# --- the property: random values everywhere ----------------------------------

PLACEHOLDER_RE = re.compile(r"<(?:[^<>:]+:)?(?P<name>[^<>]+)>")
BOUNDARIES = [0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -2**63 - 1, HUGE, -HUGE]
# The usual suspects: every one is tried in every parameter and route value
# (a finite choice, which Hypothesis runs through in full).
SUSPECT_VALUES = [
    "\x00", "E1\x00", "\x1f", "\x7f", "\x85", "\u00ad", "\u200b", "\u202e", "\u2028", "\ufeff", "\ufffd",
    *map(str, BOUNDARIES), "1e30", "NaN", "٣", "１", "%", "_", "\\", "'", "..", "../..", "/", "", " ",
]
SUSPECTS = st.sampled_from(SUSPECT_VALUES)
NUMBERS = st.one_of(st.sampled_from(BOUNDARIES), st.integers(-HUGE, HUGE), st.integers()).map(str)
# Values that mean something somewhere (sorts, statuses, dates) reach further into the code.
WORDS = st.sampled_from(["name", "employee_id", "hire_date", "status", "desc", "asc", "active", "terminated",
                         "0001-01-01", "9999-12-31", "2024-02-30", "E1", "Lovelace"])
DATES = st.dates().map(date.isoformat)
TEXT = st.text(max_size=40)  # any character but surrogates, any script
# Text made mostly of what breaks things: NUL and other controls, invisible
# and direction characters, separators, U+FFFD, LIKE and quoting characters.
NASTY = st.text(st.sampled_from("\x00\x01\x1f\x7f\x85\u00ad\u200b\u202e\u2028\ufeff\ufffd%_\\'\"<>&/.aé1 "),
                max_size=40)


def repeated(chars, shortest: int, longest: int):
    return st.builds(lambda char, count: char * count, chars, st.integers(shortest, longest))


# Up to ~10 KB; past gunicorn's request-line limit (4 KB) the server itself answers 400.
LONG = repeated(st.characters(exclude_categories=["Cs"]), 150, 10_000)
# What a tampered cursor can hold: any JSON value, NUL, a lone surrogate
# (JSON can spell one), numbers past bigint, text past any column (ASCII:
# JSON spells other characters in 6 bytes, and the URL would pass gunicorn's
# limit), odd dates.
CURSOR_VALUES = st.one_of(st.sampled_from(BOUNDARIES), NASTY, st.characters(categories=["Cs"]), SUSPECTS, WORDS,
                          DATES, st.integers(-HUGE, HUGE), repeated(st.sampled_from("aZ9 '-"), 190, 260),
                          st.datetimes().map(str), st.none(), st.booleans(), st.floats())
CURSORS = st.builds(lambda values, backwards: cursor(*values, backwards=backwards),
                    st.lists(CURSOR_VALUES, min_size=1, max_size=4), st.booleans())
# Long values last: one of them makes the whole request gunicorn's (400), not the app's.
VALUES = st.one_of(NUMBERS, NASTY, TEXT, WORDS, DATES, CURSORS, SUSPECTS, LONG)
# Route values: ids are numbers, so more of those.
ROUTE_VALUES = NUMBERS | VALUES
# Parameters no view declares, among them names that url_for takes itself.
STRAY_NAMES = st.sampled_from(["endpoint", "_scheme", "_method", "_external", "_anchor", "next"]) | TEXT
STRAY = st.dictionaries(STRAY_NAMES, SUSPECTS | TEXT, min_size=1, max_size=2)
# Random examples per route and round, after the suspects (about 20 s in all).
EXAMPLES = 10


def _get_routes(app) -> list:
    """(rule, declared parameters, public?) for every GET route but static files."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        if "GET" in rule.methods and rule.endpoint != "static":
            routes.append((rule, getattr(view, "accepted_args", ()), getattr(view, "allowed_roles", ()) is None))
    return routes


def test_no_parameter_value_gives_a_server_error(app, live_server, admin, samples):
    """Every GET route, in rounds, each with every suspect and then random
    values: the route's own values (ids); each declared parameter alone on a
    real record (so every kind of value reaches each one, not cut short by
    another parameter's 400); undeclared parameters; then everything at
    once, also anonymously. A public route is always tried both ways."""
    anonymous = HttpClient(live_server)
    routes = _get_routes(app)
    assert sum(len(accepted) for _rule, accepted, _public in routes) >= 10

    def real(name: str):
        return st.just(samples[name]) if name in samples else ROUTE_VALUES

    def check(rule, path_value, parameters, examples: int, clients: dict) -> None:
        # Given inside the test (not as a decorated test function) so that
        # the fixtures' records and the live server are shared by the examples.
        @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.data())
        def no_server_error(data):
            path = PLACEHOLDER_RE.sub(
                lambda match: quote(str(data.draw(path_value(match["name"]), label=match["name"])), safe=""),
                rule.rule)
            params = data.draw(parameters, label="parameters")
            for who, client in clients.items():
                response = client.get(path, params=params)
                assert response.status_code < 500, f"GET {response.url} as {who}: {response.status_code}"

        no_server_error()

    suspects = len(SUSPECT_VALUES)
    for rule, accepted, public in routes:
        both = {"admin": admin, "anonymous": anonymous}
        clients = both if public else {"admin": admin}
        if rule.arguments:
            check(rule, lambda name: SUSPECTS, st.just({}), suspects, clients)
            check(rule, lambda name: ROUTE_VALUES, st.just({}), EXAMPLES, clients)
        for name in accepted:
            check(rule, real, st.fixed_dictionaries({name: SUSPECTS}), suspects, clients)
            check(rule, real, st.fixed_dictionaries({name: VALUES}), EXAMPLES, clients)
        check(rule, real, STRAY, EXAMPLES, clients)
        everything = st.builds(operator.or_, STRAY | st.just({}),
                               st.fixed_dictionaries({}, optional=dict.fromkeys(accepted, VALUES)))
        check(rule, lambda name: real(name) | ROUTE_VALUES, everything, EXAMPLES, both)


def test_no_cursor_gives_a_server_error(admin):
    """The one structured parameter, on its own: a cursor as wide as the
    page's sort (random ones are rarely), with any values in it. A tampered
    cursor shows the first page, so the answer is always 200."""
    from employee_app.services.employees import SORTS

    pages = [("/employees", {"sort": sort}, len(columns)) for sort, columns in SORTS.items()]
    pages.append(("/admin/audit", {}, 2))  # (at, id)

    for path, params, width in pages:
        @settings(max_examples=40, derandomize=True, database=None, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(CURSOR_VALUES, min_size=width, max_size=width), st.booleans())
        def first_page_at_worst(values, backwards):
            response = admin.get(path, params={**params, "cursor": cursor(*values, backwards=backwards)})
            assert response.status_code == 200, f"GET {response.url}: {response.status_code}"

        first_page_at_worst()
