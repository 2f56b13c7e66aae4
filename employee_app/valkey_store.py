"""The app's Valkey client, with a short circuit breaker.

Valkey is the fast path, never the guarantee: callers catch ValkeyUnavailable
and carry on with PostgreSQL alone. After a failure the breaker skips Valkey
for a moment so that a hung server does not add its timeout to every request.
"""
import logging
import threading
import time

import valkey
from flask import Flask, current_app

log = logging.getLogger(__name__)
VALKEY_ERRORS = (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError)


class ValkeyUnavailable(Exception):
    pass


class ValkeyStore:
    def __init__(self, url: str, timeout: float, retry_after: float = 1.0):
        self.client = valkey.Valkey.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            decode_responses=True,
        )
        self.retry_after = retry_after
        self._down_until = 0.0
        self._lock = threading.Lock()
        # Set when a write after commit failed: the sets miss something and
        # must be rebuilt once Valkey answers again.
        self.missed_writes = False

    def run(self, operation):
        """Call operation(client); raise ValkeyUnavailable if Valkey is down."""
        if time.monotonic() < self._down_until:
            raise ValkeyUnavailable("Valkey was unreachable a moment ago")
        try:
            return operation(self.client)
        except VALKEY_ERRORS as exc:
            with self._lock:
                self._down_until = time.monotonic() + self.retry_after
            log.warning("Valkey unreachable, using PostgreSQL alone: %s", exc)
            raise ValkeyUnavailable(str(exc)) from exc

    def ping(self) -> bool:
        """Health check: always asks Valkey, whatever the breaker says."""
        try:
            self.client.ping()
        except VALKEY_ERRORS:
            return False
        with self._lock:
            self._down_until = 0.0
        return True


def init_app(app: Flask) -> None:
    app.extensions["valkey"] = ValkeyStore(app.config["VALKEY_URL"], app.config["VALKEY_TIMEOUT"])


def get_store() -> ValkeyStore:
    return current_app.extensions["valkey"]
