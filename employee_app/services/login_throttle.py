"""Login throttling: too many failed logins for one username, or from one
address, lock further attempts for a while.

Counters live in Valkey (shared by every process and replica), one per
username and one per client address, each with an expiry:

- a failure increments both counters; the first failure starts a window of
  LOGIN_LOCK_MINUTES;
- a counter that reaches its limit (LOGIN_MAX_FAILURES per username,
  LOGIN_MAX_FAILURES_PER_ADDRESS per address) is locked: its expiry is reset
  to LOGIN_LOCK_MINUTES from that failure, and until it expires every attempt
  is refused before the password is even checked;
- a successful login clears the username's counter. The address counter is
  left alone, so that logging in to one's own account does not wipe the
  failures an address piled up against other accounts.

The username counter exists whether or not the account does, so a lock says
nothing about which usernames exist: the answer (429 and the same message) is
the same for both.

When Valkey is down the lock still works, more coarsely:
- for an existing account, from PostgreSQL (users.failed_logins and
  users.locked_until: shared by every process; no window, a success or the
  end of a lock resets it; such a lock lasts its full time even if Valkey
  comes back meanwhile);
- for every username (known or not) and every address, from counters kept in
  this process's memory, so an unknown username also locks (per app process)
  and an address is still limited. They are dropped once Valkey answers again.
"""
import hashlib
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import case, select, update

from ..extensions import db
from ..models import User
from ..valkey_store import ValkeyUnavailable, get_store
from .errors import ServiceError

KEY_PREFIX = "login:fail:"


class LoginLocked(ServiceError):
    """Further login attempts are refused for retry_after seconds."""

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(self.message)

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))

    @property
    def message(self) -> str:
        unit = "minute" if self.minutes == 1 else "minutes"
        return f"Too many failed attempts. Try again in {self.minutes} {unit}."


@dataclass(frozen=True)
class Limits:
    per_username: int
    per_address: int
    lock_seconds: int

    @classmethod
    def from_config(cls) -> "Limits":
        config = current_app.config
        return cls(per_username=config["LOGIN_MAX_FAILURES"],
                   per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
                   lock_seconds=config["LOGIN_LOCK_MINUTES"] * 60)


def username_key(username: str) -> str:
    # Hashed: a key of fixed size whatever was typed, and no usernames in Valkey.
    return KEY_PREFIX + "user:" + hashlib.sha256(username.encode()).hexdigest()


def address_key(address: str | None) -> str:
    return KEY_PREFIX + "addr:" + (address or "unknown")


# --- the shared counters in Valkey --------------------------------------------

def _valkey_retry_after(client, keys_limits: list[tuple[str, int]]) -> int:
    """Seconds until the longest lock among these counters ends (0: none)."""
    pipe = client.pipeline(transaction=False)
    for key, _ in keys_limits:
        pipe.get(key)
        pipe.ttl(key)
    answers = pipe.execute()
    wait = 0
    for index, (_, limit) in enumerate(keys_limits):
        count, ttl = answers[2 * index], answers[2 * index + 1]
        if count is not None and int(count) >= limit:
            wait = max(wait, ttl if ttl and ttl > 0 else 1)
    return wait


def _valkey_fail(client, keys_limits: list[tuple[str, int]], limits: Limits) -> None:
    pipe = client.pipeline(transaction=True)
    for key, _ in keys_limits:
        pipe.set(key, 0, ex=limits.lock_seconds, nx=True)  # the window starts at the first failure
        pipe.incr(key)  # keeps the expiry
    answers = pipe.execute()
    locked = [key for index, (key, limit) in enumerate(keys_limits) if answers[2 * index + 1] >= limit]
    if locked:
        pipe = client.pipeline(transaction=False)
        for key in locked:
            pipe.expire(key, limits.lock_seconds)  # locked for the full time from this failure
        pipe.execute()


# --- the fallbacks when Valkey is down ------------------------------------------

class LocalCounters:
    """Failure counters in this process's memory: window and lock like the
    Valkey ones, bounded in size."""

    MAX_KEYS = 10_000

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, expires at on the monotonic clock)

    def retry_after(self, keys_limits: list[tuple[str, int]]) -> int:
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in keys_limits:
                count, expires = self._counters.get(key, (0, 0.0))
                if expires > now and count >= limit:
                    wait = max(wait, expires - now)
        return math.ceil(wait)

    def fail(self, keys_limits: list[tuple[str, int]], limits: Limits) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._counters) >= self.MAX_KEYS:
                self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
            for key, limit in keys_limits:
                count, expires = self._counters.get(key, (0, 0.0))
                if expires <= now:
                    count, expires = 0, now + limits.lock_seconds
                count += 1
                if count >= limit:
                    expires = now + limits.lock_seconds
                if len(self._counters) < self.MAX_KEYS or key in self._counters:
                    self._counters[key] = (count, expires)

    def forget(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    def clear(self) -> None:
        if self._counters:
            with self._lock:
                self._counters.clear()


_local = LocalCounters()


def _account(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def _db_retry_after(username: str) -> int:
    user = _account(username)
    if user is None or user.locked_until is None:
        return 0
    return max(0, math.ceil((user.locked_until - datetime.now(timezone.utc)).total_seconds()))


def _db_fail(username: str, limits: Limits) -> None:
    """One more failure for an existing account (one UPDATE, safe under
    concurrency); the failure that reaches the limit sets locked_until."""
    now = datetime.now(timezone.utc)
    lock_ended = (User.locked_until.is_not(None)) & (User.locked_until <= now)
    count = case((lock_ended, 1), else_=User.failed_logins + 1)
    db.session.execute(
        update(User).where(User.username == username).values(
            failed_logins=count,
            locked_until=case((count >= limits.per_username, now + timedelta(seconds=limits.lock_seconds)),
                              else_=case((lock_ended, None), else_=User.locked_until)),
        )
    )
    db.session.commit()


# --- what the login view calls ---------------------------------------------------

def _keys(username: str, address: str | None, limits: Limits) -> list[tuple[str, int]]:
    return [(username_key(username), limits.per_username), (address_key(address), limits.per_address)]


def check(username: str, address: str | None) -> None:
    """Raise LoginLocked if this username or this address is locked."""
    limits = Limits.from_config()
    keys = _keys(username, address, limits)
    try:
        wait = get_store().run(lambda client: _valkey_retry_after(client, keys))
        _local.clear()  # Valkey answers again: the memory counters are done with
    except ValkeyUnavailable:
        wait = _local.retry_after(keys)
    # A lock set in PostgreSQL while Valkey was down lasts its full time.
    wait = max(wait, _db_retry_after(username))
    if wait > 0:
        raise LoginLocked(wait)


def record_failure(username: str, address: str | None) -> None:
    limits = Limits.from_config()
    keys = _keys(username, address, limits)
    try:
        get_store().run(lambda client: _valkey_fail(client, keys, limits))
    except ValkeyUnavailable:
        _local.fail(keys, limits)
        _db_fail(username, limits)


def record_success(username: str) -> None:
    clear(username)


def clear(username: str) -> None:
    """Clear the username's counters and lock (Valkey, this process,
    PostgreSQL): after a successful login or a new password."""
    key = username_key(username)
    try:
        get_store().run(lambda client: client.delete(key))
    except ValkeyUnavailable:
        pass
    _local.forget(key)
    db.session.execute(
        update(User).where(User.username == username, (User.failed_logins != 0) | User.locked_until.is_not(None))
        .values(failed_logins=0, locked_until=None)
    )
    db.session.commit()
