"""Rate limits of /api/v1, per token (docs/api.md, "Rate limits").

Flask-Limiter counts in our Valkey, through a client built like the app's
own (valkey_url.py: plain and Sentinel URLs alike), so every gunicorn
process and every replica shares one count per token. The whole blueprint
is limited, so a route added later is limited too; the HTML pages never are.

Order of a request: the token is authenticated first (one indexed query;
a malformed token costs none), because the count belongs to whoever the
token is; then the limit (429); then 401/403 and the view. A request
without a valid token is counted by client address, so a flood of bad
tokens runs out of 401s and gets 429s, and never spends a real token's
budget.

Valkey down or hung: each process counts in its own memory meanwhile
(Flask-Limiter's in-memory fallback) and goes back to Valkey once it answers
again; the API keeps answering.
"""
from flask import Flask, Response, current_app
from flask_limiter import HeaderNames, Limiter
from flask_limiter.util import get_remote_address

from ..valkey_url import valkey_client
from .views import current_token_user

# Flask-Limiter writes its Retry-After on EVERY answer, as the later of any
# Retry-After already there and its window's reset: a 503's "1" or the
# in-use 409's "1" would become the window's ~60 s. So it writes this header
# instead, and only a 429 gets it as Retry-After (real_retry_after).
LIMITER_RETRY_AFTER = "X-RateLimit-Retry-After"


def rate_limit_key() -> str:
    """The count a request is charged to: its token (by id, never the token
    itself), else its client address."""
    user, _ = current_token_user()
    return f"token:{user.token_id}" if user else f"address:{get_remote_address()}"


def init_app(app: Flask, blueprint) -> Limiter:
    """A limiter for this app (app.extensions["limiter"]), counting in its
    Valkey with its Valkey timeout, on every route of the blueprint."""
    timeout = app.config["VALKEY_TIMEOUT"]
    client = valkey_client(app.config["VALKEY_URL"], socket_timeout=timeout, socket_connect_timeout=timeout)
    limiter = Limiter(
        key_func=rate_limit_key,
        # limits' Valkey storage on that client's connections: for a Sentinel
        # URL they follow the primary through a failover, as the app's own do.
        storage_uri="valkey://",
        storage_options={"connection_pool": client.connection_pool},
        strategy="sliding-window-counter",  # no double burst at a window's edge; two counters a key
        headers_enabled=True,  # X-RateLimit-Limit/-Remaining/-Reset, and Retry-After on a 429
        in_memory_fallback_enabled=True,
        swallow_errors=True,  # a failing limiter never turns an answer into a 500
        key_prefix="api",
        header_name_mapping={HeaderNames.RETRY_AFTER: LIMITER_RETRY_AFTER},
    )
    # One budget for all the blueprint's routes (a limit per route would
    # multiply it by the number of routes).
    limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api")(blueprint)
    app.after_request(real_retry_after)  # app-wide: runs after the limiter's hook, a blueprint's
    limiter.init_app(app)
    _only_for(app, blueprint.name, limiter)
    return limiter


def _only_for(app: Flask, blueprint_name: str, limiter: Limiter) -> None:
    """Move the hooks Limiter.init_app registers for every request (the
    check, the headers, the context's release) to the blueprint's requests,
    the check still first: the HTML pages have no limit, and each of their
    requests paid the lookup that finds none (3.6% of the list page's time
    in a cProfile of 500 requests)."""
    def limiters(hook) -> bool:  # a bound method, or a partial with the limiter
        return getattr(hook, "__self__", None) is limiter or limiter in getattr(hook, "args", ())

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        for position, hook in enumerate([hook for hook in hooks.get(None, []) if limiters(hook)]):
            hooks[None].remove(hook)
            hooks.setdefault(blueprint_name, []).insert(position, hook)


def real_retry_after(response: Response) -> Response:
    """A 429's Retry-After is the limiter's; any other answer keeps its own."""
    limiter_value = response.headers.pop(LIMITER_RETRY_AFTER, None)
    if response.status_code == 429 and limiter_value is not None:
        response.headers["Retry-After"] = limiter_value
    return response
