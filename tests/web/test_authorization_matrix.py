"""The authorization matrix: every route of the app's URL map x anonymous,
viewer, hr and admin, over real HTTP, checked against the rule its view
declares.

Where the rules come from: each view carries `allowed_roles`, set by
security.role_required / login_required (a tuple of roles) or security.public
(None), or `allowed_token`, set by security.token_required (/metrics: no
session opens it; every role, anonymous included, gets 401 without the
bearer token, which the suite configures). A view with neither FAILS this test, naming it; `static` is public.
The routes are read from app.url_map, never listed here, so a new route is
covered (or fails) on its own. A route argument is filled from SAMPLE_VALUES
by its name; an argument missing there fails the test, naming it.

What is expected, per method of each rule (HEAD and OPTIONS aside):

- GET: anonymous -> 302 to /login (a public route: anything but that, 401 or
  403); a role not allowed -> 403; an allowed role -> neither 401, 403 nor the
  login redirect (200, 303, 404 ... are all fine: the point is the decision).
- POST and the other unsafe methods: the request carries a valid CSRF token
  from a page of the same session, so that the answer shows the authorization
  decision rather than the CSRF check: anonymous -> 302 to /login (public:
  not 401/403); a role not allowed -> 403; an allowed role (empty body; after
  /logout, which ends the role's session on the server, it logs in again) ->
  not 401/403/login redirect (typically 422 for the empty form). Without a token
  every unsafe request is refused with 400, whoever sends it (bearer-token
  routes aside: they read no cookies, so a session opens nothing: 401).
- Every response, whatever its status, carries the security headers.
"""
import io
from urllib.parse import urlsplit

import pytest
import requests

from employee_app.security import ANY_ROLE

from ..helpers import HttpClient, csrf_token, employee

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN = "token"  # a route for machines with a bearer token (security.token_required)
ROLES = ("anonymous",) + ANY_ROLE


@pytest.fixture
def samples(app, login, make_user):
    """A value for every route argument name in the app, pointing at real rows
    where one is cheap to make. Add a name here when a route needs a new one."""
    admin = login("admin")
    assert admin.submit("/employees/new", employee("E9001")).status_code == 303
    make_user("matrix-target", "viewer")
    with app.app_context():
        from employee_app.services import api_tokens, users
        from employee_app.services.importer import jobs

        target_id = next(u.id for u in users.list_users() if u.username == "matrix-target")
        token_id = api_tokens.create_token(target_id, "matrix")[0].id
        job = jobs.create_import(io.BytesIO(b"employee_id,first_name,last_name\nE9002,Ada,Byron\n"),
                                 "matrix.csv", mode="valid_rows", on_existing="skip", user=None, queue=False)
        import_id = job.id
    return {
        "employee_id": "E9001",
        "import_id": import_id,
        "user_id": target_id,
        "id": target_id,
        "filename": "css/app.css",  # static
        "entry_id": 1,  # E9001's department and job: the first entry of each list
        "token_id": token_id,  # matrix-target's API token
    }


def _routes(app):
    """(rule, method, allowed roles or None for public) for every route."""
    missing_rules = []
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static":
            allowed = None
        elif hasattr(view, "allowed_token"):  # security.token_required: no role opens it
            allowed = TOKEN
        elif hasattr(view, "allowed_roles"):
            allowed = view.allowed_roles
        else:
            missing_rules.append(f"{rule.rule} ({rule.endpoint})")
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule, method, allowed))
    assert not missing_rules, ("views without an authorization rule (use security.role_required, "
                               "login_required or public): " + ", ".join(missing_rules))
    return routes


def _url(rule, samples: dict) -> str:
    needed = set(rule.arguments) - set(rule.defaults or {})
    unknown = sorted(needed - samples.keys())
    if unknown:
        pytest.fail(f"route {rule.rule} ({rule.endpoint}) has argument(s) {', '.join(unknown)} with no sample "
                    f"value: add them to the samples fixture in {__name__}")
    built = rule.build({name: samples[name] for name in needed}, append_unknown=False)
    assert built is not None, f"could not build {rule.rule} from {samples}"
    return built[1]


def _is_login_redirect(response: requests.Response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers.get("Location", "")).path == "/login"


def _check_headers(response: requests.Response, what: str) -> list[str]:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    problems = []
    if "script-src 'self'" not in csp or "unsafe-inline" in csp or "default-src" not in csp:
        problems.append("a CSP with script-src 'self' and no 'unsafe-inline'")
    if "frame-ancestors 'none'" not in csp and headers.get("X-Frame-Options") != "DENY":
        problems.append("frame-ancestors 'none'")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("X-Content-Type-Options: nosniff")
    if not headers.get("Referrer-Policy"):
        problems.append("Referrer-Policy")
    return [f"{what}: no {p}" for p in problems]


def _clone(client: HttpClient) -> HttpClient:
    copy = HttpClient(client.base_url)
    copy.session.cookies.update(client.session.cookies)
    return copy


def test_every_route_answers_each_role_as_its_rule_says(app, live_server, login, samples):
    clients = {"anonymous": HttpClient(live_server)}
    for role in ANY_ROLE:
        clients[role] = login(role)
    tokens = {"anonymous": csrf_token(clients["anonymous"].get("/login").text)}
    for role in ANY_ROLE:
        tokens[role] = csrf_token(clients[role].get("/account/password").text)

    failures: list[str] = []
    seen = 0
    for rule, method, allowed in _routes(app):
        url = _url(rule, samples)
        for role in ROLES:
            permitted = allowed is None or (allowed != TOKEN and role in allowed)
            what = f"{method} {url} as {role}"
            if method in UNSAFE:
                response = _clone(clients[role]).session.request(
                    method, live_server + url, data={"csrf_token": tokens[role]}, allow_redirects=False, timeout=30)
            else:
                response = clients[role].session.request(method, live_server + url, allow_redirects=False,
                                                         timeout=30)
            if rule.endpoint == "auth.logout" and role != "anonymous":
                # Sessions live on the server: logging out from a copy ends
                # the role's session itself. Log that role in again.
                clients[role] = login(role)
                tokens[role] = csrf_token(clients[role].get("/account/password").text)
            seen += 1
            status = response.status_code
            failures += _check_headers(response, what)
            if status >= 500:
                failures.append(f"{what}: {status}")
            elif allowed == TOKEN:  # the suite sets its token: without it, 401 whatever the session
                if status != 401:
                    failures.append(f"{what} without its bearer token: expected 401, got {status}")
            elif role == "anonymous" and not permitted:
                if not _is_login_redirect(response):
                    failures.append(f"{what}: expected 302 to /login, got {status}")
            elif not permitted:
                if status != 403:
                    failures.append(f"{what}: expected 403, got {status}")
            elif status in (401, 403) or (_is_login_redirect(response) and allowed is not None):
                failures.append(f"{what}: expected access, got {status} {response.headers.get('Location', '')}")
        # No CSRF token: refused before anything else, even for an admin. A
        # bearer-token route (/api/v1) reads no cookies, so it has no CSRF
        # check to make: without its token it is 401, checked above.
        if method in UNSAFE and allowed != TOKEN:
            response = _clone(clients["admin"]).session.request(method, live_server + url, data={},
                                                                allow_redirects=False, timeout=30)
            if url == "/login":  # logged in already: where a GET goes too (errors._stale_form_answer), no change
                if response.status_code != 303 or response.headers.get("Location") != "/employees":
                    failures.append(f"{method} /login as admin without a CSRF token: expected 303 to /employees, "
                                    f"got {response.status_code}")
            elif response.status_code != 400:
                failures.append(f"{method} {url} as admin without a CSRF token: expected 400, "
                                f"got {response.status_code}")
    assert seen > 50
    assert not failures, "\n".join(failures)


def test_a_route_without_a_rule_is_named(app):
    """The check above really fails on a view that declares nothing."""
    from flask import Flask

    bare = Flask("bare")
    bare.add_url_rule("/forgotten/<thing>", "forgotten", lambda thing: "")
    with pytest.raises(AssertionError, match=r"/forgotten/<thing> \(forgotten\)"):
        _routes(bare)
    rule = next(r for r in bare.url_map.iter_rules() if r.endpoint == "forgotten")
    with pytest.raises(pytest.fail.Exception, match="argument.*thing"):
        _url(rule, {"employee_id": "E1"})
