"""Valkey keys whose values a process may keep, for as long as Valkey says
they have not changed: client-side caching through Valkey's client tracking
in broadcasting mode (CLIENT TRACKING ON BCAST PREFIX ...).

Why: every request asks Valkey whether its login session is alive
(services/session_cache.py). A value kept here answers without that round
trip: about 6% of a list request's CPU under load, measured as an A/B
(bench/README.md, issue 11), and the round trip's wait on every request.

A kept value is only as good as these rules make it:

- One connection per process (the listener) hears of every change to a key
  under the prefixes: a write, a delete, an expiry, an eviction, a flush.
  Valkey queues that message before it answers the command that made the
  change, so whatever a finished request changed (a logout in another
  process) is already in the listener's socket when the next request begins.
  get() reads everything waiting there before it answers, so that change is
  always seen.
- The listener is known to be alive: it sends PING every HEARTBEAT_SECONDS,
  and kept values count only while a PONG came back within ALIVE_SECONDS.
  A hung Valkey stops them counting within ALIVE_SECONDS; a lost connection
  at once. Either way the process forgets everything and every read asks
  Valkey (as without this module) until a new listener is subscribed.
- A value read while a change to its key was on its way is not kept: keep()
  takes the ticket drawn before the read, and refuses when any of the keys
  changed since, or the listener was replaced.
- Values last at most MAX_AGE_SECONDS whatever happens, and a listener that
  no request has used for IDLE_SECONDS closes (a process that serves nothing
  holds no connection; the next get() starts it again).
"""
import logging
import os
import select
import threading
import time
from dataclasses import dataclass

import valkey

log = logging.getLogger(__name__)

CHANNEL = "__redis__:invalidate"
HEARTBEAT_SECONDS = 0.2
ALIVE_SECONDS = 0.6
MAX_AGE_SECONDS = 10.0
IDLE_SECONDS = 60.0
RECONNECT_SECONDS = 1.0
REFUSED_RETRY_SECONDS = 60.0
# Above this many kept keys start afresh: a bound on memory, not a figure a
# process reaches in practice (a few keys per live session).
MAX_KEYS = 50_000
# Changes remembered for keep()'s check (every session answer any process
# stores is one): past this, the older half is forgotten, and a read drawn
# before them is not kept.
MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class Ticket:
    """What keep() checks a read against: drawn before the read."""
    round: int  # the listener's round (a new connection, a loss, a fresh start)
    changes: int  # how many changes had been heard of


class TrackedKeys:
    """The kept values of the keys under `prefixes`, in one process.
    make_connection() returns an unconnected valkey Connection; with None,
    nothing is ever kept (every get() is None)."""

    def __init__(self, make_connection, prefixes: tuple[str, ...]):
        self._make_connection = make_connection
        self._prefixes = prefixes
        self._lock = threading.Lock()
        self._values: dict[str, tuple[object, float]] = {}  # key -> (value, kept at)
        self._changed: dict[str, int] = {}  # key -> the number of its last change heard of
        self._changes = 0
        self._forgotten_up_to = 0  # changes up to this number are no longer in _changed
        self._round = 0
        self._conn = None  # the subscribed listener connection, while it serves
        self._alive_until = 0.0
        self._used_at = 0.0
        self._thread: threading.Thread | None = None
        self._pid = None
        self._closed = False

    # --- the request's side ------------------------------------------------------

    def get(self, keys) -> list | None:
        """The kept values of all of keys, or None (ask Valkey)."""
        self._used_at = time.monotonic()
        self._start_listener()
        with self._lock:
            if self._conn is None:
                return None
            try:
                self._drain(self._conn)
            except Exception:  # the listener thread notices too, and connects again
                self._lose_everything()
                return None
            now = time.monotonic()
            if now >= self._alive_until:
                return None
            values = []
            for key in keys:
                kept = self._values.get(key)
                if kept is None or now - kept[1] > MAX_AGE_SECONDS:
                    return None
                values.append(kept[0])
            return values

    def ticket(self) -> Ticket:
        with self._lock:
            return Ticket(self._round, self._changes)

    def keep(self, ticket: Ticket, keys, values) -> None:
        """Keep what a read drawn after `ticket` found, unless a key changed
        meanwhile (or the listener is not the one of the ticket)."""
        with self._lock:
            if self._conn is None or ticket.round != self._round or ticket.changes < self._forgotten_up_to:
                return
            if any(self._changed.get(key, -1) > ticket.changes for key in keys):
                return
            if len(self._values) >= MAX_KEYS:
                self._values.clear()
            now = time.monotonic()
            for key, value in zip(keys, values):
                self._values[key] = (value, now)

    def forget(self, keys) -> None:
        """A change this process makes (or failed to make): drop the keys at
        once, without waiting for the listener to hear of it."""
        with self._lock:
            self._changed_keys(keys)

    def close(self) -> None:
        self._closed = True

    # --- the listener --------------------------------------------------------------

    def _start_listener(self) -> None:
        if self._make_connection is None or self._listening():
            return
        with self._lock:
            if self._closed or self._listening():
                return
            if self._pid != os.getpid():  # forked: the parent's connection is not this process's
                self._conn = None
                self._lose_everything()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._listen, name="valkey-tracking", daemon=True)
            self._thread.start()

    def _listening(self) -> bool:
        """A listener thread of this process is running."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._pid == os.getpid()

    def _listen(self) -> None:
        while not self._closed and time.monotonic() - self._used_at < IDLE_SECONDS:
            conn, refused = None, False
            try:
                conn = self._subscribe()
                self._serve(conn)
            except valkey.exceptions.ResponseError as exc:  # refused (an ACL, a server without tracking)
                log.warning("Valkey refused client tracking (%s); every session check asks Valkey", exc)
                refused = True
            except Exception as exc:
                # Said once per loss, not at every attempt to connect again.
                (log.info if conn is not None else log.debug)(
                    "Valkey tracking listener lost (%s); values are asked for until it is back",
                    type(exc).__name__)
            finally:
                with self._lock:
                    if self._conn is conn:
                        self._conn = None
                    self._lose_everything()
                if conn is not None:
                    conn.disconnect()
            if self._closed or time.monotonic() - self._used_at >= IDLE_SECONDS:
                break
            time.sleep(REFUSED_RETRY_SECONDS if refused else RECONNECT_SECONDS)

    def _subscribe(self):
        conn = self._make_connection()
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            client_id = conn.read_response()
            prefixes = [word for prefix in self._prefixes for word in ("PREFIX", prefix)]
            # Redirected to itself: RESP2 hears them as messages on a channel.
            conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", *prefixes)
            conn.read_response()
            conn.send_command("SUBSCRIBE", CHANNEL)
            conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        with self._lock:
            # Alive from the first PONG: every change before it has been heard by then.
            self._lose_everything()
            self._conn = conn
        return conn

    def _serve(self, conn) -> None:
        sock = conn._sock  # waited on without the lock; read only with it (valkey's parser is not shared)
        next_ping, started = 0.0, time.monotonic()
        while not self._closed and time.monotonic() - self._used_at < IDLE_SECONDS:
            now = time.monotonic()
            if now >= next_ping:
                with self._lock:
                    conn.send_command("PING")
                next_ping = now + HEARTBEAT_SECONDS
            self._wait_for_data(sock, max(0.0, next_ping - time.monotonic()))
            with self._lock:
                if self._conn is not conn:
                    return  # a request found it broken
                self._drain(conn)
                if time.monotonic() >= (self._alive_until or started + ALIVE_SECONDS):
                    raise TimeoutError("no PONG from Valkey in time")

    def _wait_for_data(self, sock, timeout: float) -> None:
        select.select([sock], [], [], timeout)

    def _drain(self, conn) -> None:
        """Handle what the listener's socket holds (the lock is held)."""
        if conn._sock is None:  # valkey closed it after an error; can_read would reconnect it
            raise ConnectionError("the listener's connection is closed")
        while conn.can_read(timeout=0):
            message = conn.read_response()
            if message == ["pong", ""] or message == "PONG":
                self._alive_until = time.monotonic() + ALIVE_SECONDS
            elif isinstance(message, list) and len(message) == 3 and message[0] == "message":
                keys = message[2]
                if keys is None:  # FLUSHALL, FLUSHDB: everything
                    self._start_afresh()
                else:
                    self._changed_keys(keys if isinstance(keys, list) else [keys])

    def _changed_keys(self, keys) -> None:
        self._changes += 1
        for key in keys:
            self._values.pop(key, None)
            self._changed[key] = self._changes
        if len(self._changed) > MAX_REMEMBERED:
            self._forgotten_up_to = self._changes - MAX_REMEMBERED // 2
            self._changed = {key: number for key, number in self._changed.items()
                             if number > self._forgotten_up_to}

    def _lose_everything(self) -> None:
        """The listener cannot vouch for anything (lost, or not yet pinged):
        forget every value and read in flight, and count none until a PONG
        (the lock is held)."""
        self._start_afresh()
        self._alive_until = 0.0

    def _start_afresh(self) -> None:
        """Forget every value, and every read in flight (the lock is held).
        Whether the listener is alive is not changed here."""
        self._values.clear()
        self._changed.clear()
        self._round += 1
