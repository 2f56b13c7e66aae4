"""The app's Valkey client, with a short circuit breaker.

Valkey is the fast path, never the guarantee: callers catch ValkeyUnavailable
and carry on with PostgreSQL alone. After a failure the breaker skips Valkey
for a moment so that a hung server does not add its timeout to every request.
"""
import logging
import threading
import time

import valkey
import valkey.sentinel
from flask import Flask, current_app

from . import metrics
from .tracked_keys import TrackedKeys
from .valkey_url import valkey_client

log = logging.getLogger(__name__)
# Any error from Valkey sends the caller to PostgreSQL alone: down, hung,
# and also refusing (out of memory, read-only replica, ...).
VALKEY_ERRORS = (valkey.exceptions.ValkeyError,)


class ValkeyUnavailable(Exception):
    pass


class ValkeyStore:
    def __init__(self, url: str, timeout: float, rebuild_timeout: float = 30.0, retry_after: float = 1.0):
        self.url = url
        self.client = valkey_client(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            decode_responses=True,
        )
        self.rebuild_timeout = rebuild_timeout
        self._rebuild_client = None
        self.retry_after = retry_after
        self._down_until = 0.0
        self._lock = threading.Lock()
        # This process failed to write to the sets: check the repair at once
        # (the fact itself is kept in PostgreSQL, see duplicate_guard).
        self.repair_due = False
        self.next_missed_writes_check = 0.0
        self._tracked: dict[tuple[str, ...], TrackedKeys] = {}

    def tracked(self, prefixes: tuple[str, ...]) -> TrackedKeys:
        """The values of the keys under `prefixes` this process may keep
        (tracked_keys.py), one set per prefixes. None are kept behind
        Sentinel: after a failover the listener could stay on the old
        primary and hear nothing of the new one's changes."""
        kept = self._tracked.get(prefixes)
        if kept is None:
            pool = self.client.connection_pool
            make = None if isinstance(pool, valkey.sentinel.SentinelConnectionPool) else self._listener_connection
            with self._lock:
                kept = self._tracked.setdefault(prefixes, TrackedKeys(make, prefixes))
        return kept

    def _listener_connection(self):
        """A connection of its own, without the health check: it is pinged anyway."""
        pool = self.client.connection_pool
        return pool.connection_class(**{**pool.connection_kwargs, "health_check_interval": 0})

    def rebuild_client(self):
        """A client for rebuilds: bulk writes get their own, longer timeout."""
        if self._rebuild_client is None:
            self._rebuild_client = valkey_client(
                self.url, socket_timeout=self.rebuild_timeout, socket_connect_timeout=self.rebuild_timeout,
                decode_responses=True)
        return self._rebuild_client

    def run(self, operation):
        """Call operation(client); raise ValkeyUnavailable if Valkey is down."""
        if time.monotonic() < self._down_until:
            metrics.valkey_fallback("skipped")
            raise ValkeyUnavailable("Valkey was unreachable a moment ago")
        try:
            return operation(self.client)
        except VALKEY_ERRORS as exc:
            refused = isinstance(exc, valkey.exceptions.ResponseError)
            if not refused:
                # Down or hung: skip it for a moment rather than wait again. (A
                # refusal, e.g. out of memory, came back at once: no need.)
                with self._lock:
                    self._down_until = time.monotonic() + self.retry_after
            metrics.valkey_fallback("refused" if refused else "unreachable")
            log.warning("Valkey unavailable, using PostgreSQL alone: %s", type(exc).__name__)
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
    app.extensions["valkey"] = ValkeyStore(app.config["VALKEY_URL"], app.config["VALKEY_TIMEOUT"],
                                           app.config["VALKEY_REBUILD_TIMEOUT"])


def get_store() -> ValkeyStore:
    return current_app.extensions["valkey"]
