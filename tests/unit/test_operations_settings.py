"""The settings an operator gives for metrics, logs and gunicorn: read as
documented, and a wrong one stops the start with a message saying what to
give instead (never a silent default)."""
import os
import runpy
import shutil

import pytest

from employee_app import config, logs
from employee_app.request_ids import sane_or_new

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unset(monkeypatch, *names) -> None:
    """Unset names for this test, and unset them again after it even when
    gunicorn.conf.py sets one (as it sets PROMETHEUS_MULTIPROC_DIR): a plain
    delenv of an absent name records nothing to undo, and the variable would
    reach every process the suite starts later."""
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def gunicorn_settings(monkeypatch, **env) -> dict:
    unset(monkeypatch, "GUNICORN_WORKERS", "GUNICORN_THREADS", "LOG_FORMAT", "PROMETHEUS_MULTIPROC_DIR")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))
    made = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if made.startswith(settings["METRICS_DIR_PREFIX"]):
        shutil.rmtree(made)
    return settings


def test_gunicorn_workers_follow_the_cpus_unless_given(monkeypatch):
    default = gunicorn_settings(monkeypatch)
    assert default["workers"] == max(2, min(len(os.sched_getaffinity(0)), 8))
    assert (default["threads"], default["worker_class"], default["timeout"], default["graceful_timeout"]) == \
        (4, "gthread", 120, 90)
    assert "request_id=%({x-request-id}o)s" in default["access_log_format"]
    assert "%(r)s" not in default["access_log_format"] and "%(q)s" not in default["access_log_format"]
    assert "logconfig_dict" not in default
    given = gunicorn_settings(monkeypatch, GUNICORN_WORKERS="3", GUNICORN_THREADS="6", LOG_FORMAT="json")
    assert (given["workers"], given["threads"]) == (3, 6)
    assert given["logconfig_dict"]["formatters"]["json"]["()"] == "employee_app.logs.PrivateJsonFormatter"


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_wrong_worker_count_stops_gunicorn_with_a_message(monkeypatch, value):
    with pytest.raises(SystemExit, match=f"GUNICORN_WORKERS='{value}': use a whole number of at least 1"):
        gunicorn_settings(monkeypatch, GUNICORN_WORKERS=value)


def test_the_metrics_directory_is_the_operators_or_a_private_one(monkeypatch, tmp_path):
    unset(monkeypatch, "PROMETHEUS_MULTIPROC_DIR")
    settings = runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))
    private = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert private.startswith(settings["METRICS_DIR_PREFIX"]) and os.path.isdir(private)
    settings["on_exit"](None)  # gunicorn stops: its private directory goes
    assert not os.path.exists(private)

    given = tmp_path / "not-there-yet"  # e.g. a tmpfs path: made at start
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    settings = runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(given) and given.is_dir()
    (given / "counter_123.db").write_bytes(b"from the last run")
    settings["on_starting"](None)  # the last run's counts are not added to this one's
    assert not list(given.iterdir())
    settings["on_exit"](None)  # the operator's directory stays
    assert given.is_dir()


def test_a_short_metrics_token_and_an_unknown_log_format_stop_the_start():
    assert config.metrics_token("") == ""
    assert config.metrics_token(" a-long-enough-token-1 ") == "a-long-enough-token-1"
    with pytest.raises(RuntimeError, match="METRICS_TOKEN is too short: use at least 16"):
        config.metrics_token("secret")
    assert logs.log_format({}) == "text" and logs.log_format({"LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(RuntimeError, match="LOG_FORMAT='xml': use text or json"):
        logs.log_format({"LOG_FORMAT": "xml"})


@pytest.mark.parametrize("incoming", ["a" * 129, "two words", "line\nbreak", "nul\x00", "résumé", "quo\"te",
                                      "", None])
def test_only_a_sane_request_id_is_kept(incoming):
    replaced = sane_or_new(incoming)
    assert replaced != incoming and len(replaced) == 32 and replaced.isalnum()
    assert sane_or_new("0af7651916cd43dd-8448:eb2.11_c8/0319c+=") == "0af7651916cd43dd-8448:eb2.11_c8/0319c+="


def test_no_setting_outlives_these_tests():
    """Runs after the tests above (file order): gunicorn.conf.py's variable
    did not stay in this process's environment, which every worker and
    gunicorn the suite starts later inherits."""
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
