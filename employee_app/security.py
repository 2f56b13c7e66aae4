"""Authorization and response headers, in one place."""
import hmac
import threading
from functools import wraps

from flask import Flask, Response, abort, current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from .extensions import login_manager

# No inline script or style anywhere: templates load files from static/ only.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "object-src 'none'",
])


def role_required(*roles: str):
    """Anonymous visitors go to the login page; users without the role get 403."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)
        wrapped.allowed_roles = roles  # read by the authorization tests
        return wrapped
    return decorator


ANY_ROLE = ("admin", "hr", "viewer")
login_required = role_required(*ANY_ROLE)


def public(view):
    """Marks a view that needs no login (the login page, health, static)."""
    view.allowed_roles = None
    return view


def token_required(config_key: str):
    """For machines, not people (e.g. /metrics): `Authorization: Bearer
    <the token in config_key>`. Without that setting the route is off (404);
    a missing or wrong token gets 401, whatever session cookie comes along."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            expected = current_app.config.get(config_key)
            if not expected:
                abort(404)
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
                return Response("This page needs its bearer token.\n", 401, mimetype="text/plain",
                                headers={"WWW-Authenticate": 'Bearer realm="employee_app"'})
            return view(*args, **kwargs)
        wrapped.allowed_token = config_key  # read by the authorization tests
        return wrapped
    return decorator


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def register_security_headers(app: Flask) -> None:
    """The headers above on every response; pages (not static files) are not
    stored by the browser or proxies, so Back after logout shows nothing;
    HSTS when the app is configured for HTTPS. Also trusts X-Forwarded-*
    from TRUSTED_PROXIES reverse proxies (0 by default: request.remote_addr,
    which the login throttle counts by, is then the connection's address)."""
    hsts = app.config.get("SESSION_COOKIE_SECURE")
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    defaults = list(SECURITY_HEADERS.items())
    if hsts:
        defaults.append(("Strict-Transport-Security", "max-age=31536000"))

    @app.after_request
    def set_headers(response):
        # The names a view set itself, read once: werkzeug's setdefault builds
        # an exception for each header it does not find.
        present = {name.lower() for name in response.headers.keys()}
        for name, value in defaults:
            if name.lower() not in present:
                response.headers.add(name, value)
        if request.endpoint != "static" and "cache-control" not in present:
            response.headers.add("Cache-Control", "no-store")
        return response


# --- the CSRF token in pages -------------------------------------------------

MAX_SIGNED_TOKENS = 10_000  # sessions' tokens kept per process; then all are dropped at once
_signed_tokens: dict[tuple, str] = {}
_signed_lock = threading.Lock()


def cached_csrf_token() -> str:
    """Flask-WTF's csrf_token() for templates, signed once per session and
    process instead of on every page (a JSON dump, zlib and an HMAC each
    time: 5% of a list page under load). Only while tokens do not expire
    (WTF_CSRF_TIME_LIMIT None, the app's setting): a token signed earlier
    is then exactly as valid as a new one, and it is checked as before."""
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    raw = session.get(field)
    key = (current_app.secret_key, raw)
    if config.get("WTF_CSRF_TIME_LIMIT", 3600) is None and isinstance(raw, str) and field not in g:
        signed = _signed_tokens.get(key)
        if signed is not None:
            setattr(g, field, signed)  # what generate_csrf returns for the rest of the request
    token = generate_csrf()
    if config.get("WTF_CSRF_TIME_LIMIT", 3600) is None and session.get(field) == raw and isinstance(raw, str):
        with _signed_lock:
            if len(_signed_tokens) >= MAX_SIGNED_TOKENS:
                _signed_tokens.clear()
            _signed_tokens[key] = token
    return token


def register_csrf_token_cache(app: Flask) -> None:
    """After CSRFProtect.init_app, which made generate_csrf the templates'
    csrf_token() (a global and a context processor, which this one follows)."""
    app.jinja_env.globals["csrf_token"] = cached_csrf_token
    app.context_processor(lambda: {"csrf_token": cached_csrf_token})
