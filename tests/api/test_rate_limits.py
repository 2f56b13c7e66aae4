"""Rate limits per token under /api/v1 (API_RATE_LIMIT), counted in Valkey:
429 with Retry-After and a JSON body; bad tokens counted by address; the
HTML pages never limited; the API still answering with Valkey stopped or hung."""
import time

import pytest

from employee_app.config import config_from_env
from employee_app.services.api_tokens import TOKEN_PREFIX

from ..conftest import gunicorn_serving
from ..helpers import PASSWORD, HttpClient

LIMIT = 5


@pytest.fixture(scope="module")
def limited(app_env):
    """The app served with API_RATE_LIMIT=5 per minute (2 processes, so one
    count shared by both is what is tested)."""
    with gunicorn_serving(dict(app_env, API_RATE_LIMIT=f"{LIMIT} per minute"), threads=2) as base_url:
        yield base_url + "/api/v1"


def spend(api, url, token, times):
    return [api(url, token) for _ in range(times)]


def test_a_token_gets_its_limit_then_429_with_retry_after_and_json(limited, api, token_for, valkey, pg):
    token = token_for("viewer")
    answers = spend(api, f"{limited}/employees", token, LIMIT)
    assert [answer.status_code for answer in answers] == [200] * LIMIT
    assert answers[0].headers["X-RateLimit-Limit"] == str(LIMIT)
    # Only a 429 says when to come back: an answer within the budget does
    # not (nor does the limiter stretch another answer's own Retry-After).
    assert not any("Retry-After" in answer.headers for answer in answers)
    assert [int(answer.headers["X-RateLimit-Remaining"]) for answer in answers] == list(range(LIMIT - 1, -1, -1))

    refused = api(f"{limited}/employees/E1", token)
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["status"] == 429
    assert refused.json()["message"] == (f"Too many requests: the limit is {LIMIT} per 1 minute. "
                                         "Wait for the seconds in Retry-After, then go on.")  # said once
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"

    # The count is the token's, in Valkey (shared by every process), under
    # its id: the token itself is in no key.
    token_id = pg.execute("SELECT id FROM api_tokens").fetchone()[0]
    keys = valkey.keys("*")
    assert any(f"token:{token_id}/" in key for key in keys), keys
    assert not any(token in key or token[len(TOKEN_PREFIX):] in key for key in keys)

    # Another account's token has its own budget.
    assert api(f"{limited}/employees", token_for("hr")).status_code == 200


def test_bad_tokens_are_counted_by_address_and_never_spend_a_real_tokens_budget(limited, api, token_for):
    token = token_for("viewer")
    guesses = [TOKEN_PREFIX + str(n) * 43 for n in range(LIMIT)] + ["not-a-token", ""]
    statuses = [api(f"{limited}/employees", guess).status_code for guess in guesses]
    # Within the address's budget, 401 (which token was wrong says nothing
    # about the limit); past it, 429 without looking at the token.
    assert statuses == [401] * LIMIT + [429, 429]
    no_token = api(f"{limited}/employees")
    assert no_token.status_code == 429 and no_token.json()["status"] == 429
    assert "Retry-After" in no_token.headers
    # The real token, from the same address, still has its whole budget.
    statuses = [answer.status_code for answer in spend(api, f"{limited}/employees", token, LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]


def test_the_html_pages_are_never_limited(limited, make_user):
    browser = HttpClient(limited.removesuffix("/api/v1"))
    assert browser.login(make_user("dana", "hr"), PASSWORD).status_code == 303
    for _ in range(LIMIT * 3):
        page = browser.get("/employees")
        assert page.status_code == 200
        assert "X-RateLimit-Limit" not in page.headers


@pytest.mark.parametrize("value", ["", "lots", "0 per minute", "-5 per minute", "600 per minute\x00",
                                   "600 per fortnight", "６００ per minute", "600 per minute;",
                                   # limits' own parser takes minutes over this one: refused before it
                                   "600 per minute;" * 10 + "x", "600 per minute;" * 10_000 + "x"])
def test_a_rate_limit_setting_that_is_not_one_stops_the_start(app_env, value):
    with pytest.raises(RuntimeError, match="API_RATE_LIMIT is not a rate limit"):
        config_from_env(dict(app_env, API_RATE_LIMIT=value))


def test_with_valkey_stopped_or_hung_the_api_still_answers(app_env, api, token_for, valkey_server, pause_valkey):
    token = token_for("viewer")
    with gunicorn_serving(dict(app_env, API_RATE_LIMIT=f"{LIMIT} per minute"), threads=2) as base_url:
        url = f"{base_url}/api/v1/employees"
        assert api(url, token).status_code == 200
        valkey_server.stop()
        try:
            # Each process counts in its own memory meanwhile: answers, never a 500.
            statuses = [answer.status_code for answer in spend(api, url, token, LIMIT * 3)]
            assert statuses[0] == 200 and set(statuses) <= {200, 429}, statuses
            assert 429 in statuses  # still limited, per process
        finally:
            valkey_server.start()
    with gunicorn_serving(dict(app_env, API_RATE_LIMIT=f"{LIMIT} per minute"), threads=2) as base_url:
        url = f"{base_url}/api/v1/employees"
        with pause_valkey():
            started = time.monotonic()
            answer = api(url, token)
            took = time.monotonic() - started
        assert answer.status_code == 200
        assert took < 5, took  # VALKEY_TIMEOUT (0.5 s) a call, not a hang


@pytest.fixture
def sentinel(valkey_server, tmp_path_factory):
    from ..ops.test_valkey_sentinel import Sentinel

    watching = Sentinel(tmp_path_factory.mktemp("sentinel"), valkey_server.port).start()
    yield watching
    watching.stop()


def test_behind_a_sentinel_url_the_counts_are_kept_in_the_primary(app_env, api, token_for, sentinel, valkey):
    token = token_for("viewer")
    with gunicorn_serving(dict(app_env, VALKEY_URL=sentinel.url(), API_RATE_LIMIT=f"{LIMIT} per minute"),
                          threads=2) as base_url:
        statuses = [answer.status_code for answer in spend(api, f"{base_url}/api/v1/employees", token, LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
    assert any("token:" in key for key in valkey.keys("LIMITS*"))  # in the primary the Sentinel named
