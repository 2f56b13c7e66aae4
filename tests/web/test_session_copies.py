"""The session check's answers kept in each process (tracked_keys.py): a
busy session needs no round trip to Valkey, and still every logout,
deactivation and role change made in another process counts from the very
next request, whatever happens to the connection that hears of them.

"Another process" is the live server (gunicorn, real HTTP); "this process"
is a second app in the test process, with its own copies, asked through its
test client with the same session cookie."""
import time

import pytest

from employee_app import create_app, tracked_keys
from employee_app.services import session_cache, short_cache, users

from ..helpers import HttpClient
from .test_sessions import log_out, saved_cookie, session_data


@pytest.fixture
def here(app):
    """A second app in this process: its own Valkey client and copies."""
    other = create_app({"TESTING": True})
    yield other
    copies_of(other).close()


def copies_of(app):
    return app.extensions["valkey"].tracked(session_cache.TRACKED_PREFIXES)


def keys_of(app, cookie: str, user_id: int) -> tuple:
    token = session_data(app, cookie)["sid"]
    return (session_cache._answer_key(users._token_hash(token)), session_cache._generation_key(user_id),
            short_cache.EPOCH_KEY)


def keep_until_kept(copies, key: str, read, seconds: float = 5.0) -> None:
    """Read the key and keep it, until the copies answer with what was read
    (once the listener is alive and has heard of every change before)."""
    deadline = time.monotonic() + seconds
    while copies.get([key]) != [read()] and time.monotonic() < deadline:
        copies.keep(copies.ticket(), [key], [read()])
        time.sleep(0.01)
    assert copies.get([key]) == [read()]


class Browser:
    """The holder of a session cookie, asking `app` in this process."""

    def __init__(self, app, client: HttpClient):
        self.app, self.cookie = app, saved_cookie(client)
        self.user_agent = client.session.headers["User-Agent"]
        self.client = app.test_client()
        self.client.set_cookie("session", self.cookie)

    def status(self, path: str = "/employees") -> int:
        return self.client.get(path, headers={"User-Agent": self.user_agent}).status_code

    def warm(self, user_id: int, seconds: float = 5.0) -> None:
        """Requests until this process answers the session from its copy."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.status() == 200
            if copies_of(self.app).get(keys_of(self.app, self.cookie, user_id)) is not None:
                return
            time.sleep(0.02)
        pytest.fail("the process never kept the session's answer")


def user_id_of(pg, username: str) -> int:
    return pg.execute("SELECT id FROM users WHERE username = %s", (username,)).fetchone()[0]


def mget_calls(valkey) -> int:
    return valkey.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)


def test_a_busy_session_needs_no_round_trip_to_valkey(login, valkey):
    client = login("viewer", "kim")
    for _ in range(10):  # both server processes answer from their copies by now
        assert client.get("/employees").status_code == 200
    time.sleep(0.3)
    before = mget_calls(valkey)
    for _ in range(40):
        page = client.get("/employees")
        assert page.status_code == 200 and "kim" in page.text
    assert mget_calls(valkey) - before <= 4  # without the copies: one MGET a request, 40


def test_a_logout_elsewhere_ends_a_kept_session_at_once(here, login, pg):
    for _ in range(5):
        client = login("viewer", "kim")
        browser = Browser(here, client)
        browser.warm(user_id_of(pg, "kim"))
        assert log_out(client).status_code == 303
        assert browser.status() == 302  # the very next request, no waiting


def test_a_deactivation_and_a_new_role_elsewhere_count_at_once(here, login, pg):
    admin, hr = login("admin"), login("admin", "quinn")
    quinn = user_id_of(pg, "quinn")
    browser = Browser(here, hr)
    browser.warm(quinn)
    assert browser.status("/admin/users") == 200
    assert admin.submit(f"/admin/users/{quinn}", {"role": "viewer"},
                        action=f"/admin/users/{quinn}/role").status_code == 303
    assert browser.status("/admin/users") == 403
    browser.warm(quinn)
    assert admin.submit(f"/admin/users/{quinn}", {}, action=f"/admin/users/{quinn}/deactivate").status_code == 303
    assert browser.status() == 302


def test_a_lost_listener_forgets_what_was_kept_and_misses_no_logout(here, login, pg, valkey):
    client = login("viewer", "kim")
    kim = user_id_of(pg, "kim")
    browser = Browser(here, client)
    browser.warm(kim)
    killed = valkey.client_kill_filter(_type="pubsub")
    assert killed >= 1
    assert log_out(client).status_code == 303  # while this process's listener is gone
    assert browser.status() == 302
    # A new listener comes back, and with it the copies.
    again = Browser(here, login("viewer", "kim"))
    again.warm(kim, seconds=tracked_keys.RECONNECT_SECONDS + 5)


def test_a_hung_valkey_stops_the_copies_counting(here, login, pg, pause_valkey):
    client = login("viewer", "kim")
    browser = Browser(here, client)
    browser.warm(user_id_of(pg, "kim"))
    with pause_valkey():
        # Ended where nothing tells Valkey (a database console, another tool).
        pg.execute("DELETE FROM user_sessions")
        time.sleep(tracked_keys.ALIVE_SECONDS + 0.3)
        assert browser.status() == 302  # asked PostgreSQL, as without Valkey


def test_a_kept_answer_ends_at_the_sessions_lifetime(here, login, pg, app):
    client = login("viewer", "kim")
    kim = user_id_of(pg, "kim")
    hours = app.config["SESSION_MAX_HOURS"]
    pg.execute(f"UPDATE user_sessions SET created_at = now() - interval '{hours} hours' + interval '2.5 seconds'")
    browser = Browser(here, client)
    browser.warm(kim)
    time.sleep(2.7)
    assert browser.status() == 302


def test_a_value_read_while_it_changed_is_not_kept(app, valkey):
    copies = copies_of(app)
    key = "session:read-while-changing"
    with app.app_context():
        valkey.set(key, "old")
        keep_until_kept(copies, key, lambda: valkey.get(key))  # the listener is alive
        ticket = copies.ticket()
        read = valkey.get(key)
        valkey.set(key, "new")  # changed after the read, before keep()
        deadline = time.monotonic() + 2
        while copies.ticket().changes == ticket.changes and time.monotonic() < deadline:
            copies.get([key])  # reads what the listener's socket holds
            time.sleep(0.01)
        copies.keep(ticket, [key], [read])
        assert copies.get([key]) is None
        # Read after the change (once the listener has heard of it): kept.
        keep_until_kept(copies, key, lambda: valkey.get(key))
        assert copies.get([key]) == ["new"]


def test_a_valkey_that_refuses_tracking_costs_a_round_trip_not_a_session(login, pg, valkey, valkey_server, caplog):
    """An ACL that refuses CLIENT to the app's user: no copies, every check
    asks Valkey as before, and the session works and ends as it should."""
    valkey.acl_setuser("no-client", enabled=True, passwords=["+a password"], commands=["+@all", "-client"],
                       keys=["*"], channels=["*"])
    try:
        url = valkey_server.url.replace("valkey://", "valkey://no-client:a%20password@")
        limited = create_app({"TESTING": True, "VALKEY_URL": url})
        client = login("viewer", "kim")
        browser = Browser(limited, client)
        for _ in range(5):
            assert browser.status() == 200
            time.sleep(0.1)
        assert copies_of(limited).get(keys_of(limited, browser.cookie, user_id_of(pg, "kim"))) is None
        assert "Valkey refused client tracking" in caplog.text
        assert log_out(client).status_code == 303
        assert browser.status() == 302
        copies_of(limited).close()
    finally:
        valkey.acl_deluser("no-client")


def test_under_load_no_request_begun_after_a_logout_answered_is_served(login, live_server):
    """Eight clients keep a session busy on both server processes (each
    answering from its copies); once the logout has answered, every request
    that begins is refused."""
    import threading

    client = login("viewer", "kim")
    cookie = saved_cookie(client)
    seen: list[tuple[float, int]] = []
    answered: list[float] = []  # when the logout answered

    def hammer():
        other = HttpClient(live_server)
        other.session.cookies.set("session", cookie)
        while True:
            started = time.monotonic()
            status = other.get("/employees").status_code
            seen.append((started, status))
            if answered and started > answered[0]:
                return  # one request begun after the logout answered, each

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    assert log_out(client).status_code == 303
    answered.append(time.monotonic())
    for thread in threads:
        thread.join(30)
    before = [status for started, status in seen if started < answered[0]]
    after = [status for started, status in seen if started > answered[0]]
    assert before.count(200) > 20  # the session was busy, and served, before
    assert len(after) == len(threads) and set(after) == {302}


def test_a_change_is_seen_by_the_next_read_even_before_the_listener_wakes(app, valkey):
    """get() reads what the listener's socket holds before it answers: here
    the listener itself only looks every heartbeat, and every change is
    still seen by the very next read."""
    from employee_app.tracked_keys import TrackedKeys

    store = app.extensions["valkey"]
    copies = TrackedKeys(store._listener_connection, ("session:",))
    copies._wait_for_data = lambda sock, timeout: time.sleep(timeout)  # a listener that never wakes early
    key = "session:seen-at-once"
    try:
        for round_ in range(20):
            valkey.set(key, f"value {round_}")
            keep_until_kept(copies, key, lambda: valkey.get(key))
            valkey.set(key, "changed")
            assert copies.get([key]) is None
    finally:
        copies.close()


def test_many_changes_forget_old_reads_not_the_copies(app, valkey, monkeypatch):
    """Every session answer any process stores is a change each process
    hears of: past MAX_REMEMBERED the older half is forgotten (memory stays
    bounded), the copies stay, and a read drawn before the forgotten
    changes is not kept (its keys' changes can no longer be checked)."""
    from employee_app.tracked_keys import TrackedKeys

    monkeypatch.setattr(tracked_keys, "MAX_REMEMBERED", 10)
    copies = TrackedKeys(app.extensions["valkey"]._listener_connection, ("session:",))
    try:
        keep_until_kept(copies, "session:kept", lambda: "yes")
        old_ticket = copies.ticket()
        for number in range(25):
            copies.forget([f"session:other-{number}"])
        assert len(copies._changed) <= 10
        assert copies.get(["session:kept"]) == ["yes"]
        copies.keep(old_ticket, ["session:late"], ["read long ago"])
        assert copies.get(["session:late"]) is None
        copies.keep(copies.ticket(), ["session:late"], ["read now"])
        assert copies.get(["session:late"]) == ["read now"]
    finally:
        copies.close()
