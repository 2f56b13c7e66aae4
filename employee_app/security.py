"""Authorization and response headers, in one place."""
from functools import wraps

from flask import Flask, abort
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


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def set_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
