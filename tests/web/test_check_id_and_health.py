"""The as-you-type ID check, /healthz and /readyz, login and logout, security headers."""
from employee_app.services.duplicate_guard import IDS_KEY

from ..helpers import PASSWORD, HttpClient, csrf_token, employee


def test_check_id_answers_taken_with_a_link_or_available(login, valkey):
    hr = login("hr")
    assert hr.submit("/employees/new", employee("E1042", first_name="Grace", last_name="Hopper")).status_code == 303
    taken = hr.get("/employees/check-id", params={"employee_id": " e1042 "})
    assert taken.status_code == 200
    assert "E1042 is already taken by" in taken.text and 'href="/employees/E1042"' in taken.text
    assert "Grace Hopper" in taken.text
    free = hr.get("/employees/check-id", params={"employee_id": "e1043"})
    assert "E1043 is available" in free.text
    assert hr.get("/employees/check-id", params={"employee_id": ""}).text.strip() == ""


def test_check_id_confirms_a_hit_in_postgres(login, valkey):
    hr = login("hr")
    valkey.sadd(IDS_KEY, "E9")  # a stale entry: no such employee
    assert "E9 is available" in hr.get("/employees/check-id", params={"employee_id": "E9"}).text
    assert not valkey.sismember(IDS_KEY, "E9")  # and the stale entry is gone


def test_check_id_escapes_what_was_typed(login):
    hr = login("hr")
    response = hr.get("/employees/check-id", params={"employee_id": "<script>alert(1)</script>"})
    assert "<script>" not in response.text and "&lt;SCRIPT&gt;" in response.text


def test_healthz_and_readyz_report_ok_as_json(live_server):
    alive = HttpClient(live_server).get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = HttpClient(live_server).get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "migrations": "ok", "valkey": "ok"}


def test_login_wrong_password_and_logout(live_server, make_user):
    make_user("dana", "hr")
    client = HttpClient(live_server)
    wrong = client.submit("/login", {"username": "dana", "password": "not the password"})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    unknown = client.submit("/login", {"username": "nobody", "password": PASSWORD})
    assert unknown.status_code == 401 and "Wrong username or password" in unknown.text

    response = client.submit("/login?next=/employees/new", {"username": "DANA ", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/employees/new"
    assert client.get("/employees").status_code == 200

    assert client.post("/logout", {}).status_code == 400  # logout needs the CSRF token too
    token = csrf_token(client.get("/employees").text)
    assert client.post("/logout", {"csrf_token": token}).status_code == 303
    assert client.get("/employees").status_code == 302


def test_login_never_redirects_off_site(live_server, make_user):
    make_user("erin", "viewer")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client = HttpClient(live_server)
        page = client.get("/login", params={"next": target})
        response = client.post(page.url.replace(live_server, ""),
                               {"csrf_token": csrf_token(page.text), "username": "erin", "password": PASSWORD})
        assert response.status_code == 303
        assert response.headers["Location"] == "/employees"


def test_session_cookie_and_security_headers(live_server):
    response = HttpClient(live_server).get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.text  # no inline script anywhere
