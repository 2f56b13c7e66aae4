"""Accounts over real HTTP: the admin pages (create, role, deactivate,
reactivate, new password), changing one's own password, the last-admin rule,
and the session cookie."""
import threading
import time
from collections import Counter
from html.parser import HTMLParser

import psycopg

from employee_app import create_app

from ..helpers import PASSWORD, HttpClient, csrf_token

NEW_PASSWORD = "purple elephant dances"


def user_id(pg, username: str) -> int:
    return pg.execute("SELECT id FROM users WHERE username = %s", (username,)).fetchone()[0]


def post_action(client: HttpClient, pg, username: str, action: str, data: dict | None = None):
    """POST one of the forms on /admin/users/<id> (with the page's CSRF token)."""
    uid = user_id(pg, username)
    return client.submit(f"/admin/users/{uid}", data or {}, action=f"/admin/users/{uid}/{action}")


def test_an_admin_creates_an_account_that_can_log_in(login, live_server, pg):
    admin = login("admin")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "admin-user" in page.text and 'href="/admin/users/new"' in page.text

    weak = admin.submit("/admin/users/new", {"username": "Fern", "role": "hr", "password": "fern-1234567",
                                             "confirm": "fern-1234567"})
    assert weak.status_code == 422 and "must not contain the username" in weak.text
    short = admin.submit("/admin/users/new", {"username": "fern", "role": "hr", "password": "short",
                                              "confirm": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    bad_name = admin.submit("/admin/users/new", {"username": "fern smith", "role": "hr", "password": PASSWORD,
                                                 "confirm": PASSWORD})
    assert bad_name.status_code == 422 and "Username: 1 to 64 letters" in bad_name.text

    created = admin.submit("/admin/users/new", {"username": " Fern ", "role": "hr", "password": PASSWORD,
                                                "confirm": PASSWORD})
    assert created.status_code == 303
    assert created.headers["Location"] == f"/admin/users/{user_id(pg, 'fern')}"
    stored = pg.execute("SELECT role, active, password_hash FROM users WHERE username = 'fern'").fetchone()
    # werkzeug's scrypt at its full cost (N=32768), not the suite's cheap test hash
    assert stored[:2] == ("hr", True) and stored[2].startswith("scrypt:32768:8:1$") and PASSWORD not in stored[2]
    again = admin.submit("/admin/users/new", {"username": "fern", "role": "viewer", "password": PASSWORD,
                                              "confirm": PASSWORD})
    assert again.status_code == 422 and "already exists" in again.text

    fern = HttpClient(live_server)
    fern.login("fern", PASSWORD)
    assert fern.get("/employees/new").status_code == 200
    assert fern.get("/admin/users").status_code == 403
    assert 'href="/admin/users"' not in fern.get("/employees").text  # no Users link for hr
    assert 'href="/account/password"' in fern.get("/employees").text


def test_a_role_change_applies_at_the_next_request(login, pg):
    admin, hr = login("admin"), login("hr", "gil")
    assert hr.get("/employees/new").status_code == 200
    assert post_action(admin, pg, "gil", "role", {"role": "viewer"}).status_code == 303
    assert hr.get("/employees/new").status_code == 403
    assert post_action(admin, pg, "gil", "role", {"role": "admin"}).status_code == 303
    assert hr.get("/admin/users").status_code == 200
    assert post_action(admin, pg, "gil", "role", {"role": "superuser"}).status_code == 422


def test_a_deactivated_account_is_logged_out_and_cannot_log_in_until_reactivated(login, live_server, pg):
    admin, viewer = login("admin"), login("viewer", "hal")
    assert viewer.get("/employees").status_code == 200
    response = post_action(admin, pg, "hal", "deactivate")
    assert response.status_code == 303
    assert "deactivated" in admin.get(response.headers["Location"]).text

    next_request = viewer.get("/employees")  # the open session ends at its next request
    assert next_request.status_code == 302 and next_request.headers["Location"].startswith("/login")
    again = HttpClient(live_server).submit("/login", {"username": "hal", "password": PASSWORD})
    assert again.status_code == 403 and "deactivated" in again.text
    wrong = HttpClient(live_server).submit("/login", {"username": "hal", "password": "not the password"})
    assert wrong.status_code == 401 and "deactivated" not in wrong.text  # no hint without the password

    assert post_action(admin, pg, "hal", "reactivate").status_code == 303
    assert viewer.get("/employees").status_code == 302  # the old session stays ended
    assert HttpClient(live_server).login("hal", PASSWORD).status_code == 303


def test_changing_ones_own_password(login, live_server, pg):
    here, elsewhere = login("viewer", "ivy"), login("viewer", "ivy")
    page = here.get("/account/password")
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.text

    def change(current, new, confirm=None):
        return here.submit("/account/password", {"current_password": current, "new_password": new,
                                                 "confirm_password": new if confirm is None else confirm})

    cases = [
        (change("not my password", NEW_PASSWORD), "The current password is not right."),
        (change(PASSWORD, PASSWORD), "must differ from the current one"),
        (change(PASSWORD, "short1"), "at least 10 characters"),
        (change(PASSWORD, "IVY-and-more-words"), "must not contain the username"),
        (change(PASSWORD, "a-long\x00passphrase"), "must not contain U+0000"),
        (change(PASSWORD, "\u200b" * 12), "at least 10 characters you can see"),
        (change(PASSWORD, NEW_PASSWORD, "something else"), "The two new passwords differ."),
    ]
    for response, message in cases:
        assert response.status_code == 422 and message in response.text, message
    assert elsewhere.get("/employees").status_code == 200  # refused changes end no session

    done = change(PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303
    assert here.get("/employees").status_code == 200  # this session carries on
    assert elsewhere.get("/employees").status_code == 302  # the other one is logged out
    assert HttpClient(live_server).submit("/login", {"username": "ivy", "password": PASSWORD}).status_code == 401
    assert HttpClient(live_server).login("ivy", NEW_PASSWORD).status_code == 303
    assert pg.execute("SELECT password_changed_at > now() - interval '1 minute' FROM users "
                      "WHERE username = 'ivy'").fetchone() == (True,)


def test_an_admin_sets_a_new_password_and_the_old_sessions_end(login, live_server, pg):
    admin, hr = login("admin"), login("hr", "jo")
    short = post_action(admin, pg, "jo", "password", {"password": "jo-short", "confirm": "jo-short"})
    assert short.status_code == 422
    mismatch = post_action(admin, pg, "jo", "password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422 and "The two passwords differ." in mismatch.text
    assert post_action(admin, pg, "jo", "password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303
    assert hr.get("/employees").status_code == 302
    assert HttpClient(live_server).login("jo", NEW_PASSWORD).status_code == 303
    assert admin.get("/employees").status_code == 200  # the admin's own session is untouched


def test_the_new_password_section_says_what_happens_to_whose_sessions(login, live_server, pg):
    """On another's page: their sessions end, tell them the password. On
    one's own: every session ends, this one too (set_password ends them
    all), and "Change password" is the way to stay logged in."""
    admin, hr = login("admin"), login("hr", "jo")
    theirs = admin.get(f"/admin/users/{user_id(pg, 'jo')}").text
    own = admin.get(f"/admin/users/{user_id(pg, 'admin-user')}").text
    assert "Their open sessions are logged out. Tell them the new password in person" in theirs
    assert "your own account" not in theirs.split('id="password-heading"')[1]
    assert "Their open sessions" not in own and "Tell them" not in own
    assert ("This is your own account: all its sessions are logged out, this one too, and you log in again"
            " with the new password.") in own and 'href="/account/password">Change password</a>' in own

    done = post_action(admin, pg, "admin-user", "password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303
    ended = admin.get(done.headers["Location"])  # this session ended, as the page says
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert "Your new password is set. All your sessions are logged out, this one too: log in with it." \
        in admin.get(ended.headers["Location"]).text
    assert hr.get("/employees").status_code == 200  # another account's untouched
    assert HttpClient(live_server).login("admin-user", NEW_PASSWORD).status_code == 303


class IdCounter(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = Counter()

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for name, value in attrs if name == "id")


def repeated_ids(html: str) -> dict[str, int]:
    parser = IdCounter()
    parser.feed(html)
    return {name: count for name, count in parser.ids.items() if count > 1}


def test_pages_with_several_forms_repeat_no_id(login, pg):
    """An id is unique in a page: the CSRF field of each form (a user's
    role, access and password; a token's revoke buttons) carries none."""
    admin = login("admin")
    login("hr", "jo")
    for name in ("payroll", "identity"):
        assert admin.submit("/account/tokens", {"name": name}).status_code == 201
    forms = {f"/admin/users/{user_id(pg, 'jo')}": 3, f"/admin/users/{user_id(pg, 'admin-user')}": 2,
             "/account/tokens": 3, "/admin/users/new": 1, "/account/password": 1}
    for path, count in forms.items():
        response = admin.get(path)
        assert response.status_code == 200, path
        assert response.text.count('name="csrf_token"') == count + 1, path  # and the menu's Log out
        assert repeated_ids(response.text) == {}, path


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(login, pg):
    admin = login("admin", "kim")
    demote = post_action(admin, pg, "kim", "role", {"role": "hr"})
    assert demote.status_code == 409 and "kim is the last active administrator" in demote.text
    own = post_action(admin, pg, "kim", "deactivate")
    assert own.status_code == 422 and "You cannot deactivate your own account." in own.text
    assert pg.execute("SELECT role, active FROM users WHERE username = 'kim'").fetchone() == ("admin", True)

    # With a second active admin, one of them may step down; then the other is the last.
    login("admin", "lee")
    assert post_action(admin, pg, "lee", "deactivate").status_code == 303  # an inactive admin does not count
    assert post_action(admin, pg, "kim", "role", {"role": "viewer"}).status_code == 409
    assert post_action(admin, pg, "lee", "reactivate").status_code == 303
    stepped_down = post_action(admin, pg, "kim", "role", {"role": "viewer"})
    assert stepped_down.status_code == 303 and stepped_down.headers["Location"] == "/employees"
    assert admin.get("/admin/users").status_code == 403  # kim is a viewer now


def test_two_admins_demoting_each_other_at_once_leave_one_admin(login, pg, database_url):
    """Both requests are held at the admins' row locks until both are in
    flight, then released together: without SELECT ... FOR UPDATE on the
    admins, both would see two admins and both would succeed."""
    ann, bob = login("admin", "ann"), login("admin", "bob")
    forms = {name: client.get(f"/admin/users/{user_id(pg, other)}").text
             for name, client, other in (("ann", ann, "bob"), ("bob", bob, "ann"))}
    results = {}

    def demote(name, client, other):
        uid = user_id(pg, other)
        results[name] = client.post(f"/admin/users/{uid}/role",
                                    {"csrf_token": csrf_token(forms[name]), "role": "hr"}).status_code

    with psycopg.connect(database_url) as blocker:
        blocker.execute("SELECT id FROM users WHERE role = 'admin' FOR UPDATE")
        threads = [threading.Thread(target=demote, args=args) for args in (("ann", ann, "bob"), ("bob", bob, "ann"))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while pg.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         "AND query LIKE '%FOR UPDATE%'").fetchone()[0] < 2:
            assert time.monotonic() < deadline, "the two requests never waited for the lock"
            time.sleep(0.02)
        blocker.rollback()
    for thread in threads:
        thread.join(30)
    assert sorted(results.values()) == [303, 409]
    assert pg.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active").fetchone() == (1,)


def test_the_session_cookie_is_guarded_and_renewed_at_login(live_server, make_user):
    make_user("max", "viewer")
    client = HttpClient(live_server)
    client.get("/login")
    before = client.session.cookies.get("session")
    response = client.submit("/login", {"username": "max", "password": PASSWORD})
    assert response.status_code == 303
    # The session's cookie (the login also sets a known-device cookie: see test_login_throttle).
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Expires" not in cookie  # no persistent ("remember me") login
    after = client.session.cookies.get("session")
    assert before and after and before != after
    # The cookie from before the login is not logged in (no session fixation).
    stale = HttpClient(live_server)
    stale.session.cookies.set("session", before)
    assert stale.get("/employees").status_code == 302
    assert client.get("/logout").status_code == 405  # logout is a POST (with CSRF: see test_check_id_and_health)


def test_over_https_the_cookie_is_secure(app_env, monkeypatch):
    for key, value in dict(app_env, SESSION_COOKIE_SECURE="1").items():
        monkeypatch.setenv(key, value)
    https_app = create_app({"TESTING": True})
    response = https_app.test_client().get("/login", base_url="https://localhost")
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_security_headers_on_pages(live_server, login):
    viewer = login("viewer")
    for response in (HttpClient(live_server).get("/login"), viewer.get("/employees"),
                     viewer.get("/employees/nobody"), viewer.get("/static/css/app.css")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert viewer.get("/employees").headers["Cache-Control"] == "no-store"


def test_a_locked_out_admin_gets_a_new_password_from_the_command_line(app, live_server, make_user, valkey):
    make_user("kim", "admin")
    client = HttpClient(live_server)
    for _ in range(5):
        client.submit("/login", {"username": "kim", "password": "forgotten it"})
    assert client.submit("/login", {"username": "kim", "password": PASSWORD}).status_code == 429

    runner = app.test_cli_runner()
    short = runner.invoke(args=["set-password", "kim", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    unknown = runner.invoke(args=["set-password", "nobody", "--password-stdin"], input=NEW_PASSWORD + "\n")
    assert unknown.exit_code != 0 and "There is no account nobody." in unknown.output
    done = runner.invoke(args=["set-password", "KIM", "--password-stdin"], input=NEW_PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert client.login("kim", NEW_PASSWORD).status_code == 303  # and the lock is lifted
