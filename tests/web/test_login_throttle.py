"""Login throttling over real HTTP, with the real Valkey (and without it).

Defaults: 5 failures for one username, or 20 from one address, within 15
minutes lock further attempts for 15 minutes. All test traffic comes from
127.0.0.1, and Valkey is flushed before each test.
"""
import re
import time
from concurrent.futures import ThreadPoolExecutor

from employee_app.services.login_throttle import address_key, username_key

from ..helpers import PASSWORD, HttpClient

LOCKED = "Too many failed attempts. Try again in 15 minutes."
WRONG = "Wrong username or password."


def attempt(client: HttpClient, username: str, password: str = "not the password"):
    return client.submit("/login", {"username": username, "password": password})


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


def test_twenty_failures_from_one_address_lock_every_username(live_server, make_user, valkey):
    make_user("dana", "hr")
    client = HttpClient(live_server)
    with ThreadPoolExecutor(4) as pool:  # 1 failure per username: no username lock
        statuses = list(pool.map(lambda n: attempt(HttpClient(live_server), f"guess{n}").status_code, range(20)))
    assert statuses == [401] * 20
    locked = attempt(client, "dana", PASSWORD)
    assert locked.status_code == 429 and LOCKED in locked.text
    assert int(valkey.get(address_key("127.0.0.1"))) == 20
    # A success elsewhere does not clear the address (it would launder the failures).


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
