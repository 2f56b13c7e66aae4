"""Authorization and response headers, in one place."""
import hmac
from functools import wraps

from flask import Flask, Response, abort, current_app, request
from flask_login import current_user

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

    @app.after_request
    def set_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
