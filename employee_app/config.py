"""Configuration, read from the environment when an app is created.

Every setting has a documented default except SECRET_KEY, which must be set
(the laptop run command generates one under instance/). See README.md.
"""
import os

DEFAULT_DATABASE_URL = "postgresql://localhost/employee_app"
DEFAULT_VALKEY_URL = "valkey://localhost:6379/0"


def database_url(raw: str) -> str:
    """Accept the usual postgres:// spellings and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def config_from_env(env=os.environ) -> dict:
    return {
        "SECRET_KEY": env.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "VALKEY_URL": env.get("VALKEY_URL", DEFAULT_VALKEY_URL),
        # Seconds a Valkey call may take before the guard falls back to PostgreSQL.
        "VALKEY_TIMEOUT": float(env.get("VALKEY_TIMEOUT", "0.5")),
        "EMPLOYEES_PER_PAGE": int(env.get("EMPLOYEES_PER_PAGE", "50")),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(200 * 1024 * 1024))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # SESSION_COOKIE_SECURE=1 when the app is served over HTTPS.
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }
