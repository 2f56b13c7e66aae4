"""Account rules and the throttle's pieces, without servers."""
import time

import pytest

from employee_app.config import config_from_env
from employee_app.services.login_throttle import Limits, LocalCounters, LoginLocked, username_key
from employee_app.services.users import normalize_username, password_problem, username_problem


def test_password_rules():
    assert password_problem("ann", "short") == "Password must be at least 10 characters."
    assert password_problem("ann", "x" * 257) == "Password must be at most 256 characters."
    assert password_problem("ann", "my-ANN-password") == "Password must not contain the username."
    assert password_problem("Ann ", "my-ANN-password") == "Password must not contain the username."
    assert password_problem("ann", "correct horse battery staple") is None
    assert password_problem("łukasz", "hasło ŁUKASZA 2024") == "Password must not contain the username."


@pytest.mark.parametrize("password, says", [
    ("correct\x00horse battery", "must not contain U+0000"),
    ("correct horse\nbattery", "must not contain U+000A"),
    ("correct\thorse battery", "must not contain U+0009"),
    ("correct horse battery\ud800", "must not contain U+D800"),
    ("\u200b" * 10, "at least 10 characters you can see"),
    ("abc\u200b\u200b\u200b\u200b\u200b\u200b\u200bdef", "at least 10 characters you can see"),
])
def test_a_password_no_keyboard_types_is_refused_saying_why(password, says):
    assert says in password_problem("ann", password)


@pytest.mark.parametrize("password", ["Пароль-очень-длинный", "パスワードは長いです", "émoji 🔑🔑 phrase",
                                      "spaces   and ~!@#$%^&*() too", "ab\u200dcdefghijk"])
def test_any_script_spaces_and_symbols_are_fine(password):
    assert password_problem("ann", password) is None


def test_username_rules():
    assert normalize_username("  Łukasz.Żółć ") == "łukasz.żółć"
    assert username_problem("łukasz.żółć") is None
    assert username_problem("山田") is None
    assert username_problem("ann-b_c@x.org") is None
    for bad in ("", "ann smith", "<script>", "a\"b", "x" * 65):
        assert username_problem(bad), bad


def test_the_lock_message_rounds_up_to_whole_minutes():
    assert LoginLocked(900).message == "Too many failed attempts. Try again in 15 minutes."
    assert LoginLocked(61).message == "Too many failed attempts. Try again in 2 minutes."
    assert LoginLocked(5).message == "Too many failed attempts. Try again in 1 minute."
    assert LoginLocked(0).retry_after == 1


def test_username_keys_are_fixed_size_and_hold_no_username():
    key = username_key("dana")
    assert "dana" not in key and len(key) == len(username_key("x" * 500))


def test_memory_counters_lock_at_the_limit_and_expire():
    limits = Limits(per_username=3, per_address=5, lock_seconds=1)
    counters = LocalCounters()
    keys = [("user", 3), ("addr", 5)]
    for _ in range(2):
        counters.fail(keys, limits)
    assert counters.retry_after(keys) == 0
    counters.fail(keys, limits)
    assert counters.retry_after(keys) == 1
    assert counters.retry_after([("addr", 5)]) == 0  # 3 < 5
    time.sleep(1.05)
    assert counters.retry_after(keys) == 0
    counters.fail(keys, limits)  # a new window
    assert counters.retry_after(keys) == 0
    counters.forget("user")
    counters.clear()


def test_cookie_and_throttle_settings_from_the_environment():
    default = config_from_env({})
    assert default["SESSION_COOKIE_HTTPONLY"] and default["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not default["SESSION_COOKIE_SECURE"] and not default["REMEMBER_COOKIE_SECURE"]
    assert (default["LOGIN_MAX_FAILURES"], default["LOGIN_MAX_FAILURES_PER_ADDRESS"],
            default["LOGIN_LOCK_MINUTES"], default["TRUSTED_PROXIES"]) == (5, 20, 15, 0)
    https = config_from_env({"SESSION_COOKIE_SECURE": "1", "TRUSTED_PROXIES": "1"})
    assert https["SESSION_COOKIE_SECURE"] and https["REMEMBER_COOKIE_SECURE"] and https["TRUSTED_PROXIES"] == 1


def test_usernames_are_read_as_a_person_reads_them():
    # Invisible characters and full-width forms make no second "admin".
    assert normalize_username("ad\u200bmin") == "admin"
    assert normalize_username("ＡＤＭＩＮ") == "admin"
    # A Cyrillic "а" among Latin letters is refused with the reason.
    problem = username_problem(normalize_username("\u0430dmin"))
    assert problem.startswith("Username mixes letters of different scripts (Cyrillic and Latin)")
    assert "combining mark" in username_problem(normalize_username("adm\u0131\u0307n"))


def test_a_dotted_capital_i_is_refused_as_what_was_typed():
    """"İlker" lower-cases to i + U+0307: the person typed no combining mark,
    so the reason names the İ and what to type instead."""
    assert username_problem("İlker") == ("Username contains U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE, which "
                                         "lower-cased is two characters (i and a combining mark): type i instead.")
    assert username_problem("ilker") is None
