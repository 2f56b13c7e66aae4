"""API tokens: made on /account/tokens and by the CLI, refused when revoked,
when their owner is deactivated, or when the header is hostile."""
import re

import pytest

from ..helpers import csrf_token

TOKEN_RE = re.compile(r'<code id="new-token">(emp_[A-Za-z0-9_-]+)</code>')


def _create_on_page(client, name: str) -> str:
    response = client.submit("/account/tokens", {"name": name})
    assert response.status_code == 201, response.text
    match = TOKEN_RE.search(response.text)
    assert match, "the new token is not shown"
    return match.group(1)


def test_token_made_on_the_page_opens_the_api_once_shown_never_stored(login, api, pg):
    viewer = login("viewer")
    token = _create_on_page(viewer, "payroll sync")
    assert api("/employees", token).status_code == 200
    # Shown once: the list shows its name and first characters, never the token.
    page = viewer.get("/account/tokens")
    assert "payroll sync" in page.text and token not in page.text
    stored = pg.execute("SELECT token_hash, last_used_at FROM api_tokens").fetchone()
    assert token not in stored[0] and stored[1] is not None  # a hash; the use is recorded


def test_token_page_needs_login_and_csrf(live_server, login):
    import requests
    anonymous = requests.get(f"{live_server}/account/tokens", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    viewer = login("viewer")
    assert viewer.post("/account/tokens", {"name": "no csrf"}).status_code == 400
    empty = viewer.submit("/account/tokens", {"name": "   "})
    assert empty.status_code == 422



@pytest.mark.parametrize("name", ["payroll\x00sync", "payroll\u200bsync", "\u200b\u200b", "x" * 101,
                                  "p" * 100_000])
def test_hostile_token_names_are_refused_and_nothing_is_stored(login, pg, name):
    viewer = login("viewer")
    before = pg.execute("SELECT count(*) FROM api_tokens").fetchone()[0]
    response = viewer.submit("/account/tokens", {"name": name})
    assert response.status_code == 422, response.status_code
    assert 'id="new-token"' not in response.text
    assert pg.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == before

def test_revoked_token_stops_at_once(login, api):
    hr = login("hr")
    token = _create_on_page(hr, "recruiting")
    assert api("/employees", token).status_code == 200
    page = hr.get("/account/tokens")
    action = re.search(r'action="(/account/tokens/\d+/revoke)"', page.text).group(1)
    assert hr.post(action, {"csrf_token": csrf_token(page.text)}).status_code == 303
    refused = api("/employees", token)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in hr.get("/account/tokens").text


def test_admin_sees_and_revokes_everyones_tokens_others_do_not(login, api):
    hr = login("hr")
    token = _create_on_page(hr, "hr's tool")
    other = login("viewer")
    assert "hr&#39;s tool" not in other.get("/account/tokens").text
    page = hr.get("/account/tokens")
    action = re.search(r'action="(/account/tokens/\d+/revoke)"', page.text).group(1)
    # Another account's token: as if there were none.
    assert other.post(action, {"csrf_token": csrf_token(other.get("/account/tokens").text)}).status_code == 404
    assert api("/employees", token).status_code == 200
    admin = login("admin")
    admin_page = admin.get("/account/tokens")
    assert "hr&#39;s tool" in admin_page.text and "hr-user" in admin_page.text
    assert admin.post(action, {"csrf_token": csrf_token(admin_page.text)}).status_code == 303
    assert api("/employees", token).status_code == 401


def test_cli_prints_a_working_token_and_refuses_unknown_accounts(app, token_for, api):
    token = token_for("viewer", "cli-viewer")
    assert token.startswith("emp_") and api("/employees", token).status_code == 200
    missing = app.test_cli_runner().invoke(args=["create-token", "nobody", "x"])
    assert missing.exit_code != 0 and "no account nobody" in missing.output


def test_deactivated_owner_tokens_stop_at_once(app, token_for, api, login):
    token = token_for("hr", "leaver")
    assert api("/employees", token).status_code == 200
    with app.app_context():
        from employee_app.services import users
        users.set_active(users.get_by_username("leaver").id, False)
    assert api("/employees", token).status_code == 401


@pytest.mark.parametrize("header", [
    "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer emp_" + "a" * 43,  # well formed, unknown
    "Bearer " + "x" * 6000, "Bearer emp_ä" + "a" * 42, "bearer\temp_abc",
])
def test_missing_or_bad_authorization_is_401_json(api, header):
    response = api("/employees", headers={"Authorization": header.encode("utf-8")})
    assert response.status_code == 401, header
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="employee_app"')
    assert response.headers["Content-Type"].startswith("application/json")
    assert "token" in response.json()["message"]


def test_a_header_with_nul_is_refused_without_a_500(live_server):
    """requests will not send a NUL in a header: a raw request does. gunicorn
    may refuse it itself (400) before the app; the app would answer 401."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(live_server)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(b"GET /api/v1/employees HTTP/1.1\r\nHost: x\r\n"
                           b"Authorization: Bearer emp_\x00" + b"a" * 42 + b"\r\nConnection: close\r\n\r\n")
        status_line = connection.recv(200).split(b"\r\n", 1)[0]
    assert status_line.split()[1] in (b"400", b"401"), status_line


def test_session_cookie_opens_nothing_under_api(login, live_server):
    admin = login("admin")  # a logged-in browser session, cookies and all
    response = admin.get("/api/v1/employees")
    assert response.status_code == 401 and response.headers["Content-Type"].startswith("application/json")
