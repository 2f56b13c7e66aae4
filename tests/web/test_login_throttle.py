"""Login throttling over real HTTP, with the real Valkey (and without it).

Defaults: 5 failures for one username (from clients without its known-device
cookie), or for one known-device cookie, within 15 minutes lock further
attempts for 15 minutes; 20 from one address slow that address to one checked
attempt every 10 seconds. All test traffic comes from 127.0.0.1 (one office
behind one NAT, as far as the app can tell), and Valkey is flushed before
each test.
"""
import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from employee_app.services.login_throttle import (DEVICE_COOKIE, address_key, address_slot_key, device_key,
                                                   username_key)

from ..helpers import PASSWORD, HttpClient, csrf_token

LOCKED = "Too many failed attempts. Try again in 15 minutes."
SLOWED = re.compile(r"Too many failed attempts from your network\. Try again in (\d+) seconds?\.")
WRONG = "Wrong username or password."
DANA = hashlib.sha256(b"dana").hexdigest()  # how a device cookie names dana


def attempt(client: HttpClient, username: str, password: str = "not the password"):
    return client.submit("/login", {"username": username, "password": password})


def device_cookie_of(client: HttpClient) -> str:
    return next(cookie.value for cookie in client.session.cookies if cookie.name == DEVICE_COOKIE)


def known_device(live_server, username: str) -> HttpClient:
    """A browser in which username logged in before and has logged out since:
    it holds the known-device cookie and no session."""
    earlier = HttpClient(live_server)
    earlier.login(username, PASSWORD)
    client = HttpClient(live_server)
    client.session.cookies.set(DEVICE_COOKIE, device_cookie_of(earlier), domain="127.0.0.1", path="/login")
    return client


def fail_from_the_office(live_server, count: int, prefix: str = "guess") -> list[int]:
    """count failures from this address, one per username (so no username locks)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda n: attempt(HttpClient(live_server), f"{prefix}{n}").status_code, range(count)))


def _page_without_echo(response, username: str) -> str:
    """The page minus what legitimately differs: the CSRF token and the typed username."""
    text = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", response.text)
    return text.replace(f'value="{username}"', 'value=""')


def test_five_failures_lock_a_username_and_an_unknown_one_looks_the_same(live_server, make_user):
    make_user("dana", "hr")
    make_user("erin", "viewer")
    client = HttpClient(live_server)
    answers = {}
    for username in ("dana", "nobody"):
        for _ in range(5):
            wrong = attempt(client, username)
            assert wrong.status_code == 401 and WRONG in wrong.text
        locked = attempt(client, username, PASSWORD)  # even the right password is refused now
        assert locked.status_code == 429, username
        assert LOCKED in locked.text and WRONG not in locked.text
        assert 840 <= int(locked.headers["Retry-After"]) <= 900
        answers[username] = _page_without_echo(locked, username)
    # Nothing tells a locked account from a username that does not exist.
    assert answers["dana"] == answers["nobody"]
    # Another account from the same address is not locked (10 < 20 failures).
    assert HttpClient(live_server).login("erin", PASSWORD).status_code == 303


def test_a_success_resets_the_username_counter(live_server, make_user):
    make_user("dana", "hr")
    client = HttpClient(live_server)
    for _ in range(2):  # 3 + 3 failures: 6 would lock, without the reset between
        for _ in range(3):
            assert attempt(client, "dana").status_code == 401
        assert HttpClient(live_server).login("dana", PASSWORD).status_code == 303


def test_the_lock_ends_after_its_time(live_server, make_user, valkey):
    make_user("dana", "hr")
    client = HttpClient(live_server)
    for _ in range(5):
        attempt(client, "DANA ")  # the same username however it is typed
    assert attempt(client, "dana", PASSWORD).status_code == 429
    ttl = valkey.ttl(username_key("dana"))
    assert 890 <= ttl <= 900
    valkey.expire(username_key("dana"), 1)  # fast-forward: the lock expires in a second
    time.sleep(1.2)
    assert client.login("dana", PASSWORD).status_code == 303


def test_twenty_failures_from_one_address_slow_it_down_but_lock_nobody_out(live_server, make_user, valkey):
    make_user("dana", "hr")
    assert fail_from_the_office(live_server, 20) == [401] * 20
    assert int(valkey.get(address_key("127.0.0.1"))) == 20
    assert 890 <= valkey.ttl(address_key("127.0.0.1")) <= 900

    # Over the limit, one attempt per 10 seconds is checked: this one ...
    assert attempt(HttpClient(live_server), "guess-more").status_code == 401
    # ... and the next one, even with the right password, must wait a few seconds.
    dana = HttpClient(live_server)
    slowed = attempt(dana, "dana", PASSWORD)
    assert slowed.status_code == 429 and LOCKED not in slowed.text
    wait = int(SLOWED.search(slowed.text).group(1))
    assert 1 <= wait <= 10 and int(slowed.headers["Retry-After"]) == wait
    # Its turn comes (fast-forwarded here): a right password gets in.
    valkey.pexpire(address_slot_key("127.0.0.1"), 1)
    time.sleep(0.05)
    assert dana.login("dana", PASSWORD).status_code == 303
    # A success elsewhere does not clear the address (it would launder the failures).
    assert int(valkey.get(address_key("127.0.0.1"))) == 21


def test_the_address_turn_comes_back_by_itself(live_server, make_user, valkey):
    make_user("dana", "hr")
    valkey.set(address_key("127.0.0.1"), 20, ex=900)  # 20 failures already
    assert attempt(HttpClient(live_server), "guess").status_code == 401  # takes the turn ...
    assert 9 <= valkey.ttl(address_slot_key("127.0.0.1")) <= 10  # ... for 10 seconds
    valkey.pexpire(address_slot_key("127.0.0.1"), 1500)  # shortened, to wait less here
    dana = HttpClient(live_server)
    slowed = attempt(dana, "dana", PASSWORD)
    assert slowed.status_code == 429 and SLOWED.search(slowed.text)
    assert int(slowed.headers["Retry-After"]) in (1, 2)
    time.sleep(int(slowed.headers["Retry-After"]) + 0.2)
    assert dana.login("dana", PASSWORD).status_code == 303


def test_a_known_device_gets_in_at_once_from_a_slowed_office_even_with_its_username_locked(
        live_server, make_user, valkey):
    make_user("dana", "hr")
    make_user("erin", "viewer")
    danas_browser, erins_browser = known_device(live_server, "dana"), known_device(live_server, "erin")
    # Someone guesses dana's password (locking it for browsers that do not
    # know her), then sprays other usernames: the office address is over its limit.
    for _ in range(5):
        assert attempt(HttpClient(live_server), "dana").status_code == 401
    assert fail_from_the_office(live_server, 15) == [401] * 15
    assert int(valkey.get(address_key("127.0.0.1"))) == 20
    untrusted = attempt(HttpClient(live_server), "dana", PASSWORD)
    assert untrusted.status_code == 429 and LOCKED in untrusted.text

    # With their device cookies, both get in at once with the right password.
    assert danas_browser.login("dana", PASSWORD).status_code == 303
    assert erins_browser.login("erin", PASSWORD).status_code == 303
    assert danas_browser.get("/employees").status_code == 200
    # A trusted login does not lift the lock the guessing set on untrusted clients.
    assert attempt(HttpClient(live_server), "dana", PASSWORD).status_code == 429
    assert valkey.exists(username_key("dana"))


def test_five_failures_with_a_device_cookie_lock_that_cookie_only(live_server, make_user, valkey):
    make_user("dana", "hr")
    browser = known_device(live_server, "dana")
    for _ in range(5):
        wrong = attempt(browser, "dana")
        assert wrong.status_code == 401 and WRONG in wrong.text
    locked = attempt(browser, "dana", PASSWORD)
    assert locked.status_code == 429 and LOCKED in locked.text
    assert 840 <= int(locked.headers["Retry-After"]) <= 900
    # The failures counted against the device, not the username nor the address.
    assert not valkey.exists(username_key("dana")) and not valkey.exists(address_key("127.0.0.1"))
    assert len(valkey.keys(device_key("*"))) == 1
    # Dana's other browsers (and a fresh one) are not locked out by it.
    assert HttpClient(live_server).login("dana", PASSWORD).status_code == 303


def test_a_success_with_a_device_cookie_clears_its_counter_and_renews_it(live_server, make_user, valkey):
    make_user("dana", "hr")
    browser = known_device(live_server, "dana")
    before = device_cookie_of(browser)
    for _ in range(4):
        assert attempt(browser, "dana").status_code == 401
    assert browser.login("dana", PASSWORD).status_code == 303
    assert not valkey.keys(device_key("*"))
    assert device_cookie_of(browser) != before  # a new device cookie at each login


def test_the_device_cookie_is_guarded(app, live_server, make_user):
    make_user("dana", "hr")
    response = HttpClient(live_server).submit("/login", {"username": "dana", "password": PASSWORD})
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/login" in cookie
    assert f"Max-Age={180 * 24 * 3600}" in cookie and "Secure" not in cookie
    # Signed, not encrypted: it names the username by its hash, so it shows no name.
    value = cookie.split(";")[0].split("=", 1)[1]
    payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="login-throttle.known-device").loads(value)
    assert payload["user"] == DANA and "dana" not in str(payload)


def test_over_https_the_device_cookie_is_secure(app_env, monkeypatch, make_user):
    from employee_app import create_app

    make_user("dana", "hr")
    for key, value in dict(app_env, SESSION_COOKIE_SECURE="1").items():
        monkeypatch.setenv(key, value)
    https_app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    response = https_app.test_client().post("/login", data={"username": "dana", "password": PASSWORD},
                                            base_url="https://localhost")
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_device_cookie_counts_only_for_its_own_username(live_server, make_user, valkey):
    make_user("dana", "hr")
    make_user("erin", "viewer")
    browser = known_device(live_server, "dana")
    assert attempt(browser, "erin").status_code == 401  # an untrusted attempt for erin
    assert valkey.get(username_key("erin")) == "1" and valkey.get(address_key("127.0.0.1")) == "1"
    assert not valkey.keys(device_key("*"))


def _hostile_device_cookies(app) -> list[str]:
    secret = app.config["SECRET_KEY"]
    ours = URLSafeTimedSerializer(secret, salt="login-throttle.known-device")

    class HalfAYearAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 181 * 24 * 3600

    expired = URLSafeTimedSerializer(secret, salt="login-throttle.known-device", signer=HalfAYearAgo)
    genuine = {"user": DANA, "device": "A" * 22}  # would be honoured if signed with our key, for our purpose, lately
    return [
        "garbage",
        "\x00" * 40,
        "x" * 4000,
        ours.dumps(genuine)[:-2] + "xx",  # signature broken
        URLSafeTimedSerializer("another key", salt="login-throttle.known-device").dumps(genuine),
        URLSafeTimedSerializer(secret, salt="another-purpose").dumps(genuine),
        expired.dumps(genuine),
        ours.dumps({"user": "dana", "device": "A" * 22}),  # the name, not its hash
        ours.dumps([DANA, "A" * 22]),
        ours.dumps({"user": DANA}),
        ours.dumps({"user": DANA, "device": 7}),
        ours.dumps({"user": DANA, "device": "../../etc\x00" + "A" * 500}),
        ours.dumps({"user": [DANA], "device": "A" * 22}),
    ]


def attempt_with_device_cookie(live_server, value: str, password: str):
    """A login attempt for dana carrying this device cookie, sent raw (no
    cookie-jar rules in the way), with a real session and CSRF token."""
    client = HttpClient(live_server)
    token = csrf_token(client.get("/login").text)
    return client.post("/login", {"csrf_token": token, "username": "dana", "password": password},
                       headers={"Cookie": f"session={client.session.cookies['session']}; {DEVICE_COOKIE}={value}"})


def test_forged_garbled_or_expired_device_cookies_are_ignored(app, live_server, make_user, valkey):
    make_user("dana", "hr")
    # Sent this way, a genuine device cookie is honoured (its failure counts for the device) ...
    genuine = device_cookie_of(known_device(live_server, "dana"))
    assert attempt_with_device_cookie(live_server, genuine, "not the password").status_code == 401
    assert len(valkey.keys(device_key("*"))) == 1 and not valkey.exists(username_key("dana"))
    valkey.delete(*valkey.keys(device_key("*")))
    # ... and these are not.
    hostile = _hostile_device_cookies(app)
    reached_the_app = 0
    for value in hostile:
        wrong = attempt_with_device_cookie(live_server, value, "not the password")
        assert wrong.status_code in (400, 401), (wrong.status_code, value[:30])  # 400: gunicorn refused it
        if wrong.status_code == 401:
            reached_the_app += 1  # and counted as an untrusted failure, not a device's
            assert valkey.get(username_key("dana")) == "1" and not valkey.keys(device_key("*")), value[:30]
        valkey.delete(username_key("dana"), address_key("127.0.0.1"))
        assert attempt_with_device_cookie(live_server, value, PASSWORD).status_code in (303, 400), value[:30]
    assert reached_the_app >= len(hostile) - 1


@pytest.mark.parametrize("value", ["x" * 100_000, "\x00" * 100_000])
def test_a_huge_device_cookie_is_ignored(app, live_server, make_user, value):
    make_user("dana", "hr")
    # Over HTTP, gunicorn refuses a header this size before the app sees it ...
    assert attempt_with_device_cookie(live_server, value, PASSWORD).status_code in (303, 400, 431)
    # ... and the app itself ignores it too.
    from employee_app import create_app

    browser = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
    with pytest.warns(UserWarning, match="too large"):  # werkzeug's test client agrees
        browser.set_cookie(DEVICE_COOKIE, value, path="/login")
    response = browser.post("/login", data={"username": "dana", "password": PASSWORD})
    assert response.status_code == 303


def test_with_valkey_down_the_lock_works_from_postgresql(live_server, make_user, valkey_server, pg):
    make_user("dana", "hr")
    client = HttpClient(live_server)
    valkey_server.stop()
    try:
        for _ in range(5):
            assert attempt(client, "dana").status_code == 401
        locked = attempt(client, "dana", PASSWORD)
        assert locked.status_code == 429 and LOCKED in locked.text
        failed, locked_until = pg.execute(
            "SELECT failed_logins, locked_until > now() + interval '14 minutes' FROM users WHERE username = 'dana'"
        ).fetchone()
        assert failed == 5 and locked_until
        # An unknown username locks too (counted in the app process's memory:
        # within 5 failures per process), with the same answer.
        statuses = [attempt(client, "ghost").status_code for _ in range(11)]
        assert 429 in statuses and set(statuses) <= {401, 429}
        ghost = attempt(client, "ghost")
        assert ghost.status_code == 429 and LOCKED in ghost.text
    finally:
        valkey_server.start()
    time.sleep(1.1)  # each app process retries Valkey a second after its last failure
    # The lock set in PostgreSQL lasts its time even now that Valkey is back.
    assert attempt(client, "dana", PASSWORD).status_code == 429
    pg.execute("UPDATE users SET locked_until = now() - interval '1 second' WHERE username = 'dana'")
    assert client.login("dana", PASSWORD).status_code == 303
    assert pg.execute("SELECT failed_logins, locked_until FROM users WHERE username = 'dana'").fetchone() == (0, None)


def test_with_valkey_down_an_address_is_still_slowed_and_known_devices_get_in(live_server, make_user,
                                                                             valkey_server):
    make_user("dana", "hr")
    make_user("erin", "viewer")
    danas_browser = known_device(live_server, "dana")
    valkey_server.stop()
    try:
        # Counted in each app process's memory (2 processes here): slowed once
        # one of them has seen 20 failures and given the address its turn.
        statuses = []
        while 429 not in statuses and len(statuses) < 60:
            response = attempt(HttpClient(live_server), f"guess{len(statuses)}")
            statuses.append(response.status_code)
        assert statuses[-1] == 429 and set(statuses) == {401, 429}
        assert SLOWED.search(response.text) and LOCKED not in response.text

        assert danas_browser.login("dana", PASSWORD).status_code == 303  # at once
        # Without a device cookie: in, or asked to wait a few seconds; never locked.
        erin = attempt(HttpClient(live_server), "erin", PASSWORD)
        assert erin.status_code == 303 or (erin.status_code == 429 and SLOWED.search(erin.text))
    finally:
        valkey_server.start()
    time.sleep(1.1)  # each app process retries Valkey a second after its last failure


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(app_env, monkeypatch, valkey):
    """TRUSTED_PROXIES=1: the address the proxy forwards is the client's."""
    from employee_app import create_app

    for key, value in dict(app_env, TRUSTED_PROXIES="1").items():
        monkeypatch.setenv(key, value)
    proxied = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
    response = proxied.post("/login", data={"username": "nobody", "password": "not the password"},
                            headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 401
    assert valkey.get(address_key("203.0.113.7")) == "1" and not valkey.exists(address_key("127.0.0.1"))
