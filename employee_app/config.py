"""Configuration, read from the environment when an app is created.

Every setting has a documented default except SECRET_KEY, which must be set
(the laptop run command generates one under instance/). See README.md.
"""
import os
import re

from . import clock, valkey_url

DEFAULT_DATABASE_URL = "postgresql://localhost/employee_app"
DEFAULT_VALKEY_URL = "valkey://localhost:6379/0"


def database_url(raw: str) -> str:
    """Accept the usual postgres:// spellings and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


MIN_METRICS_TOKEN_LENGTH = 16


def metrics_token(raw: str) -> str:
    """A guessable token would open the metrics to anyone: refuse to start."""
    token = raw.strip()
    if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise RuntimeError(f"METRICS_TOKEN is too short: use at least {MIN_METRICS_TOKEN_LENGTH} random "
                           "characters (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))').")
    return token


DEFAULT_API_RATE_LIMIT = "600 per minute"


MAX_RATE_LIMITS = 5  # "10 per second; 600 per minute; ..." at most this many


def checked_rate_limit(raw: str) -> str:
    """API_RATE_LIMIT as Flask-Limiter reads it ("600 per minute", "10/second;
    20000/day"); anything else stops the start with a message. Each part is
    parsed alone: limits' parse_many backtracks exponentially on a long
    string that does not match (ten parts and a typo took four minutes)."""
    from limits import parse

    parts = re.split(r"[,;|]", raw)
    try:
        items = [parse(part) for part in parts] if len(parts) <= MAX_RATE_LIMITS else []
    except ValueError:
        items = []
    if items and all(item.amount >= 1 for item in items):
        return raw
    raise RuntimeError(f"API_RATE_LIMIT is not a rate limit: write it like {DEFAULT_API_RATE_LIMIT!r}, or up to "
                       f"{MAX_RATE_LIMITS} separated by ';' (e.g. '10 per second; 600 per minute').")


def config_from_env(env=os.environ) -> dict:
    return {
        "SECRET_KEY": env.get("SECRET_KEY"),
        # The company's time zone (clock.py): when "today" turns, how times show.
        "APP_TIMEZONE": clock.checked_zone(env.get("APP_TIMEZONE", "")),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
        # hide_parameters: a statement's values (names, e-mails) never appear
        # in an error's text, and so never in a log. No pool_pre_ping (a round
        # trip on every checkout): connections.py finds dead connections
        # without one.
        # connect_timeout: an unreachable server (a host gone, packets
        # dropped) gets the 503 page within DATABASE_CONNECT_TIMEOUT seconds,
        # not after the operating system's TCP timeout.
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True, "connect_args": {
            "connect_timeout": int(env.get("DATABASE_CONNECT_TIMEOUT", "5"))}},
        # A plain or a Sentinel URL (valkey_url.py); one that cannot work stops the start.
        "VALKEY_URL": valkey_url.checked(env.get("VALKEY_URL", DEFAULT_VALKEY_URL)),
        # Seconds a Valkey call may take before the guard falls back to PostgreSQL.
        "VALKEY_TIMEOUT": float(env.get("VALKEY_TIMEOUT", "0.5")),
        # Seconds each bulk write of a rebuild of the Valkey sets may take.
        "VALKEY_REBUILD_TIMEOUT": float(env.get("VALKEY_REBUILD_TIMEOUT", "30")),
        "EMPLOYEES_PER_PAGE": int(env.get("EMPLOYEES_PER_PAGE", "50")),
        # The largest import file (IMPORT_MAX_MB, default 200); a request may
        # be a little larger for the form around it.
        "MAX_IMPORT_BYTES": int(env.get("IMPORT_MAX_MB", "200")) * 1024 * 1024,
        "MAX_CONTENT_LENGTH": int(env.get("IMPORT_MAX_MB", "200")) * 1024 * 1024 + 64 * 1024,
        # Where uploads are kept for the import worker: shared by the web app
        # and the workers (a volume in production).
        "UPLOAD_DIR": env.get("UPLOAD_DIR", ""),
        # Seconds between an import worker's heartbeats while it runs a job; a
        # running import whose worker missed six is marked failed.
        "IMPORT_WORKER_HEARTBEAT": int(env.get("IMPORT_WORKER_HEARTBEAT", "10")),
        # An import of at least this many rows (and a fifth of the table) loads
        # in bulk: secondary indexes built after it (services/importer/bulk.py).
        "IMPORT_BULK_MIN_ROWS": int(env.get("IMPORT_BULK_MIN_ROWS", "100000")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # SESSION_COOKIE_SECURE=1 when the app is served over HTTPS.
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") == "1",
        # No "remember me": a session ends when the browser closes. Should one
        # be added, its cookie is as guarded as the session's.
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") == "1",
        # A login session (a user_sessions row) ends after this long without a
        # request, and at the latest this long after the login.
        "SESSION_IDLE_MINUTES": int(env.get("SESSION_IDLE_MINUTES", "30")),
        "SESSION_MAX_HOURS": int(env.get("SESSION_MAX_HOURS", "12")),
        # Login throttling (services/login_throttle.py): LOGIN_MAX_FAILURES per
        # username (or per known-device cookie) within LOGIN_LOCK_MINUTES lock
        # further attempts for LOGIN_LOCK_MINUTES; LOGIN_MAX_FAILURES_PER_ADDRESS
        # per client address slow that address down.
        "LOGIN_MAX_FAILURES": int(env.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": int(env.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "20")),
        "LOGIN_LOCK_MINUTES": int(env.get("LOGIN_LOCK_MINUTES", "15")),
        # An address over its limit is slowed, not locked: one of its attempts
        # is checked every LOGIN_ADDRESS_DELAY_SECONDS, the others get 429.
        "LOGIN_ADDRESS_DELAY_SECONDS": int(env.get("LOGIN_ADDRESS_DELAY_SECONDS", "10")),
        # How many reverse proxies in front of the app set X-Forwarded-For /
        # -Proto (0: none, the client address is the connection's). Only set
        # it when such proxies exist, or clients could pick their own address.
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        # /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (404).
        "METRICS_TOKEN": metrics_token(env.get("METRICS_TOKEN", "")),
        # Requests per token under /api/v1 (per client address without a valid
        # token): enough for any HR integration, not for a runaway loop.
        "API_RATE_LIMIT": checked_rate_limit(env.get("API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT)),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }
