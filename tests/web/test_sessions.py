"""Server-side login sessions over real HTTP: a session is a user_sessions
row, found from the token in the signed session cookie on every request.
Logging out, a new password and a deactivation delete rows, so a copy of the
cookie saved before opens nothing afterwards; sessions also end after
SESSION_IDLE_MINUTES (30) idle and SESSION_MAX_HOURS (12) after the login.

The answer of that check is kept in Valkey for a few seconds
(services/session_cache.py): the tests below that move a session back in
time in PostgreSQL let the kept answers expire too (time_passes)."""
import hashlib
import re
from html import unescape

import pytest
from sqlalchemy import event

from employee_app.extensions import db
from employee_app.services import users

from ..helpers import PASSWORD, HttpClient, csrf_token

NEW_PASSWORD = "purple elephant dances"
LOG_OUT_FORM = re.compile(r'action="/logout"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"')


def saved_cookie(client: HttpClient) -> str:
    return client.session.cookies.get("session")


def opens(live_server, cookie: str, path: str = "/employees") -> int:
    """The status of a request carrying only this session cookie, as a copy
    of it kept by someone else would."""
    return HttpClient(live_server).get(path, headers={"Cookie": f"session={cookie}"}).status_code


def log_out(client: HttpClient):
    return client.post("/logout", {"csrf_token": csrf_token(client.get("/employees").text)})


def sessions_of(pg, username: str) -> int:
    return pg.execute("SELECT count(*) FROM user_sessions s JOIN users u ON u.id = s.user_id "
                      "WHERE u.username = %s", (username,)).fetchone()[0]


def forged_cookie(app, data: dict) -> str:
    """A session cookie signed with the app's SECRET_KEY: what only the app
    (or someone holding its key) could make."""
    return app.session_interface.get_signing_serializer(app).dumps(data)


def session_data(app, cookie: str) -> dict:
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def time_passes(pg, valkey, update: str) -> None:
    """Move the sessions back in time (an UPDATE of user_sessions); the
    answers the app keeps in Valkey, for at most SESSION_CACHE_SECONDS, would
    have expired long before."""
    pg.execute(update)
    for key in valkey.scan_iter("session:*"):
        valkey.delete(key)


def test_a_cookie_saved_before_logout_opens_nothing_afterwards(login, live_server, pg):
    hr = login("hr", "nia")
    cookie = saved_cookie(hr)
    assert opens(live_server, cookie) == 200  # the copy works while the session is open
    assert sessions_of(pg, "nia") == 1

    assert log_out(hr).status_code == 303
    replay = HttpClient(live_server).get("/employees", headers={"Cookie": f"session={cookie}"})
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/login")
    assert opens(live_server, cookie, "/employees/new") == 302
    assert sessions_of(pg, "nia") == 0


def test_only_a_hash_of_the_token_is_stored(app, login, pg):
    client = login("viewer", "oda")
    token = session_data(app, saved_cookie(client))["sid"]
    stored = pg.execute("SELECT token_hash FROM user_sessions").fetchall()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    assert token not in stored[0][0]


def test_a_password_change_ends_the_other_sessions_saved_cookies_included(app, login, live_server, pg):
    here, elsewhere = login("viewer", "ivy"), login("viewer", "ivy")
    here_before, elsewhere_cookie = saved_cookie(here), saved_cookie(elsewhere)
    done = here.submit("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                             "confirm_password": NEW_PASSWORD})
    assert done.status_code == 303
    assert here.get("/employees").status_code == 200  # this browser carries on, in a fresh session
    assert opens(live_server, elsewhere_cookie) == 302
    assert opens(live_server, here_before) == 302  # its session before the change ended too
    assert sessions_of(pg, "ivy") == 1

    # An admin sets a new password: every session of the account ends.
    admin = login("admin")
    ivy_cookie = saved_cookie(here)
    ivy_id = pg.execute("SELECT id FROM users WHERE username = 'ivy'").fetchone()[0]
    assert admin.submit(f"/admin/users/{ivy_id}", {"password": PASSWORD + " 2", "confirm": PASSWORD + " 2"},
                        action=f"/admin/users/{ivy_id}/password").status_code == 303
    assert opens(live_server, ivy_cookie) == 302 and sessions_of(pg, "ivy") == 0
    assert here.get("/employees").status_code == 302

    # So does the command line's set-password.
    again = HttpClient(live_server)
    again.login("ivy", PASSWORD + " 2")
    cookie = saved_cookie(again)
    result = app.test_cli_runner().invoke(args=["set-password", "ivy", "--password-stdin"],
                                          input=NEW_PASSWORD + " 3\n")
    assert result.exit_code == 0, result.output
    assert opens(live_server, cookie) == 302 and sessions_of(pg, "ivy") == 0


def test_deactivation_ends_every_session_for_good(login, live_server, pg):
    admin, first, second = login("admin"), login("hr", "pam"), login("hr", "pam")
    cookies = [saved_cookie(first), saved_cookie(second)]
    pam_id = pg.execute("SELECT id FROM users WHERE username = 'pam'").fetchone()[0]
    assert admin.submit(f"/admin/users/{pam_id}", {}, action=f"/admin/users/{pam_id}/deactivate").status_code == 303
    assert sessions_of(pg, "pam") == 0
    assert admin.submit(f"/admin/users/{pam_id}", {}, action=f"/admin/users/{pam_id}/reactivate").status_code == 303
    assert [opens(live_server, cookie) for cookie in cookies] == [302, 302]  # reactivating revives none


def test_a_session_ends_after_its_idle_time(login, live_server, pg, valkey):
    client = login("viewer", "ray")
    cookie = saved_cookie(client)
    time_passes(pg, valkey, "UPDATE user_sessions SET last_seen_at = now() - interval '29 minutes'")
    assert opens(live_server, cookie) == 200  # just inside the limit
    # ... and that request counts as activity: the idle time starts again.
    assert pg.execute("SELECT last_seen_at > now() - interval '1 minute' FROM user_sessions").fetchone() == (True,)

    time_passes(pg, valkey, "UPDATE user_sessions SET last_seen_at = now() - interval '31 minutes'")
    assert opens(live_server, cookie) == 302
    assert sessions_of(pg, "ray") == 0  # the dead row is gone
    assert client.get("/employees").status_code == 302


def test_a_session_ends_after_its_lifetime_however_busy(login, live_server, pg, valkey):
    client = login("viewer", "sue")
    cookie = saved_cookie(client)
    time_passes(pg, valkey, "UPDATE user_sessions SET created_at = now() - interval '11 hours 59 minutes'")
    assert opens(live_server, cookie) == 200
    time_passes(pg, valkey, "UPDATE user_sessions SET created_at = now() - interval '12 hours 1 minute'")
    assert opens(live_server, cookie) == 302
    assert sessions_of(pg, "sue") == 0


def test_last_seen_is_written_about_once_a_minute_not_on_every_request(login, pg, valkey):
    client = login("viewer", "tom")
    pg.execute("UPDATE user_sessions SET last_seen_at = now() - interval '30 seconds'")
    before = pg.execute("SELECT last_seen_at FROM user_sessions").fetchone()
    for _ in range(3):
        assert client.get("/employees").status_code == 200
    assert pg.execute("SELECT last_seen_at FROM user_sessions").fetchone() == before
    time_passes(pg, valkey, "UPDATE user_sessions SET last_seen_at = now() - interval '2 minutes'")
    assert client.get("/employees").status_code == 200
    assert pg.execute("SELECT last_seen_at > now() - interval '10 seconds' FROM user_sessions").fetchone() == (True,)


# --- the kept answer (session_cache): never an ended session --------------------------

def busy(client: HttpClient, times: int = 6) -> None:
    """Requests enough for both app processes to have answered from the kept answer."""
    for _ in range(times):
        assert client.get("/employees").status_code == 200


def test_a_live_session_is_answered_from_valkey_without_a_query(app, login):
    client = login("viewer", "kim")
    token = session_data(app, saved_cookie(client))["sid"]
    with app.test_request_context():
        user_id = str(users.get_by_username("kim").id)
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            first = users.load_session_user(user_id, token)  # nothing kept yet: PostgreSQL
            asked = len(statements)
            kept = users.load_session_user(user_id, token)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert asked == 1 and len(statements) == asked  # the second answer came from Valkey
    assert (first.id, first.username, first.role) == (kept.id, kept.username, kept.role) == \
        (int(user_id), "kim", "viewer")


def test_the_next_request_after_a_deactivation_is_refused_in_every_process(login, live_server, pg, valkey):
    admin, hr = login("admin"), login("hr", "quinn")
    cookie = saved_cookie(hr)
    busy(hr)
    assert list(valkey.scan_iter("session:*"))  # the answers are kept
    quinn_id = pg.execute("SELECT id FROM users WHERE username = 'quinn'").fetchone()[0]
    assert admin.submit(f"/admin/users/{quinn_id}", {},
                        action=f"/admin/users/{quinn_id}/deactivate").status_code == 303
    assert [hr.get("/employees").status_code for _ in range(6)] == [302] * 6
    assert [opens(live_server, cookie) for _ in range(6)] == [302] * 6


def test_a_new_role_counts_from_the_next_request(login, pg):
    admin, other = login("admin"), login("admin", "rosa")
    assert other.get("/admin/users").status_code == 200
    busy(other)
    rosa_id = pg.execute("SELECT id FROM users WHERE username = 'rosa'").fetchone()[0]
    assert admin.submit(f"/admin/users/{rosa_id}", {"role": "viewer"},
                        action=f"/admin/users/{rosa_id}/role").status_code == 303
    assert [other.get("/admin/users").status_code for _ in range(6)] == [403] * 6
    assert '<span class="account-role">Read only</span>' in other.get("/employees").text  # the account menu


def test_with_valkey_stopped_sessions_are_checked_in_postgresql(login, live_server, pg, valkey_server):
    admin, hr = login("admin"), login("hr", "sam")
    busy(hr)
    sam_id = pg.execute("SELECT id FROM users WHERE username = 'sam'").fetchone()[0]
    valkey_server.stop()
    try:
        busy(hr)
        assert admin.submit(f"/admin/users/{sam_id}", {},
                            action=f"/admin/users/{sam_id}/deactivate").status_code == 303
        assert [hr.get("/employees").status_code for _ in range(4)] == [302] * 4
        assert log_out(admin).status_code == 303
    finally:
        valkey_server.start()
    assert hr.get("/employees").status_code == 302
    assert admin.get("/employees").status_code == 302


def test_expired_sessions_are_pruned_at_login(login, pg):
    login("viewer", "uma")
    pg.execute("""INSERT INTO user_sessions (user_id, token_hash, created_at, last_seen_at)
                  SELECT u.id, md5(n::text) || md5(n::text), now() - interval '1 day', now() - interval '1 day'
                  FROM users u, generate_series(1, 5) n WHERE u.username = 'uma'""")
    assert sessions_of(pg, "uma") == 6
    login("viewer", "uma")
    assert sessions_of(pg, "uma") == 2  # the two live ones


# --- hostile cookies: ignored (logged out), never a 500 -------------------------------

def _hostile_sessions(user_id: str, other_token: str) -> list[dict]:
    return [
        {"_user_id": user_id},  # a cookie from before server-side sessions
        {"_user_id": user_id, "sid": ""},
        {"_user_id": user_id, "sid": "not a token"},
        {"_user_id": user_id, "sid": "\x00" * 43},
        {"_user_id": user_id, "sid": "x" * 3000},
        {"_user_id": user_id, "sid": 12345},
        {"_user_id": user_id, "sid": ["a", "b"]},
        {"_user_id": user_id, "sid": {"$ne": None}},
        {"_user_id": "abc", "sid": other_token},
        {"_user_id": "²", "sid": other_token},
        {"_user_id": "99999999999999999999999", "sid": other_token},
        {"_user_id": str(int(user_id) + 1000), "sid": other_token},  # a real token under another id
    ]


def test_forged_or_garbled_session_cookies_are_ignored(app, login, live_server, pg):
    client = login("viewer", "vic")
    token = session_data(app, saved_cookie(client))["sid"]
    user_id = str(pg.execute("SELECT id FROM users WHERE username = 'vic'").fetchone()[0])
    assert opens(live_server, forged_cookie(app, {"_user_id": user_id, "sid": token})) == 200  # forging works
    for data in _hostile_sessions(user_id, token):
        assert opens(live_server, forged_cookie(app, data)) == 302, data
    for garbled in ("garbage", "x" * 4000, saved_cookie(client)[:-3] + "abc", "\x00\x01", "é"):
        response = HttpClient(live_server).get("/employees", headers={"Cookie": f"session={garbled}"})
        assert response.status_code in (302, 400), garbled[:20]  # 400: refused by gunicorn itself
    assert client.get("/employees").status_code == 200  # the real session is untouched


def test_a_huge_session_cookie_is_ignored_by_the_app_too(app, make_user):
    """100 KB is refused by gunicorn before the app sees it; in-process the
    app itself must still answer it as a logged-out visitor."""
    make_user("wes", "viewer")
    with app.app_context():
        user_id = str(users.get_by_username("wes").id)
    browser = app.test_client()
    for data in ({"_user_id": user_id, "sid": "\x00" * 100_000}, {"_user_id": user_id, "sid": "a" * 100_000}):
        browser.set_cookie("session", forged_cookie(app, data))
        response = browser.get("/employees")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("cookie", ["x" * 100_000, "\x00" * 100])
def test_a_huge_or_nul_session_cookie_over_http_is_never_a_500(live_server, cookie):
    response = HttpClient(live_server).get("/employees", headers={"Cookie": f"session={cookie}"})
    assert response.status_code in (302, 400, 431)


# --- forms whose session changed under them (another tab) -------------------

def test_two_login_pages_the_second_sent_after_the_first_logged_in_goes_in(live_server, make_user):
    """Two tabs on the login page (after a timeout, say): logging in on one
    gives the browser a new session, so the other's form no longer fits it.
    Sent anyway, it goes where the login was going, not to "Form expired"."""
    make_user("tess", "hr")
    browser = HttpClient(live_server)
    tab_a, tab_b = (csrf_token(browser.get("/login?next=/imports").text) for _ in range(2))
    form = {"username": "tess", "password": PASSWORD}
    assert browser.post("/login?next=/imports", {"csrf_token": tab_a, **form}).status_code == 303
    second = browser.post("/login?next=/imports", {"csrf_token": tab_b, **form})
    assert second.status_code == 303 and second.headers["Location"] == "/imports"
    assert browser.get("/imports").status_code == 200


def test_a_login_page_whose_session_ended_asks_again_instead_of_form_expired(live_server, make_user):
    make_user("tess", "hr")
    browser = HttpClient(live_server)
    token = csrf_token(browser.get("/login").text)
    browser.session.cookies.clear()  # the session went (expired, or cleared by another tab's logout)
    answer = browser.post("/login?next=/imports", {"csrf_token": token, "username": "tess", "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login?next=/imports"
    assert "The login page had expired: log in again." in browser.get(answer.headers["Location"]).text


def test_each_session_gets_its_own_log_out_form_on_the_same_page(login):
    """The menu is kept per role, user and page (fragments.py); the account
    menu's Log out form, with its session's CSRF token, is not kept with it:
    two sessions of one account on one page each log out with their own."""
    first, second = login("hr", "sam"), login("hr", "sam")
    tokens = [LOG_OUT_FORM.search(client.get("/employees").text).group(1) for client in (first, second)]
    assert tokens[0] != tokens[1]
    for client, token in zip((first, second), tokens):
        assert client.post("/logout", {"csrf_token": unescape(token)}).status_code == 303
        assert client.get("/employees").status_code == 302  # this session ended


def test_log_out_twice_and_a_form_sent_after_logging_out_elsewhere_say_what_happened(login, live_server):
    hr = login("hr")
    form_page = hr.get("/employees/new")
    token = csrf_token(form_page.text)
    assert hr.post("/logout", {"csrf_token": token}).status_code == 303  # in another tab
    again = hr.post("/logout", {"csrf_token": token})  # the first tab's Log out
    assert again.status_code == 303 and again.headers["Location"] == "/login"
    assert "You are logged out." in hr.get("/login").text

    sent = hr.post("/employees/new", {"csrf_token": token, "employee_id": "E1", "first_name": "Ada",
                                      "last_name": "Lovelace"},
                   headers={"Referer": f"{live_server}/employees/new"})
    assert sent.status_code == 303 and sent.headers["Location"] == "/login?next=/employees/new"
    page = hr.get(sent.headers["Location"]).text
    assert ("You were logged out (in another tab, after a while away, or by a new password), so what you sent "
            "was not saved. Log in, then do it again.") in page
    # A Referer from elsewhere is never where the login leads.
    elsewhere = hr.post("/employees/new", {"csrf_token": token}, headers={"Referer": "https://evil.example/x"})
    assert elsewhere.status_code == 303 and elsewhere.headers["Location"] == "/login"
    # Logged in, a form from another site is still refused: no session change explains it.
    hr2 = login("hr", "hr-two")
    forged = hr2.post("/employees/new", {"csrf_token": "forged", "employee_id": "E1"})
    assert forged.status_code == 400 and "Form expired" in forged.text


def test_a_form_sent_after_its_session_ended_says_it_was_not_saved_and_leads_back(login, live_server, pg, valkey):
    """The session ended under an open edit form (here: idle too long; a new
    password set by an admin works alike), its CSRF token still fitting
    the cookie: the login page says the change was not saved, then leads
    back to the form's page. A page asked for says what it always said."""
    admin = login("admin")
    assert admin.submit("/employees/new", {"employee_id": "E1", "first_name": "Ada", "last_name": "Lovelace",
                                           "status": "active"}).status_code == 303
    page = admin.get("/employees/E1/edit")
    time_passes(pg, valkey, "UPDATE user_sessions SET last_seen_at = now() - interval '2 hours'")
    sent = admin.post("/employees/E1/edit", {"csrf_token": csrf_token(page.text), "first_name": "Augusta"},
                      headers={"Referer": f"{live_server}/employees/E1/edit"})
    assert sent.status_code == 302 and sent.headers["Location"] == "/login?next=/employees/E1/edit"
    assert "so what you sent was not saved. Log in, then do it again." in admin.get(sent.headers["Location"]).text
    assert pg.execute("SELECT first_name FROM employees").fetchone() == ("Ada",)
    asked = admin.get("/employees/E1")
    assert asked.status_code == 302 and "next=" in asked.headers["Location"]
    assert "Please log in to see that page." in admin.get(asked.headers["Location"]).text
