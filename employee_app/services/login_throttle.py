"""Login throttling: too many failed logins for one username, from one
known device, or from one address, lock or slow further attempts.

Known devices (OWASP's "device cookie"): a successful login leaves a signed
cookie in the browser naming the username (by its hash) and a random device
id, for 180 days. An attempt that carries a valid one for the username typed
is *trusted*: the username lock and the address slow-down below do not apply
to it, and its failures count against its device id alone. So an attacker
elsewhere cannot lock a person out of the browser they use, and behind a
company's NAT one person's typos (or a colleague's guessing) cannot lock out
the whole team.

Counters live in Valkey (shared by every process and replica), each with an
expiry:

- a failure increments the counters it counts against (trusted: its device;
  untrusted: the username and the client address); the first failure starts
  a window of LOGIN_LOCK_MINUTES;
- a username or device counter that reaches LOGIN_MAX_FAILURES is locked:
  its expiry is reset to LOGIN_LOCK_MINUTES from that failure, and until it
  expires every attempt it applies to is refused before the password is
  even checked (a locked username still lets its trusted devices in);
- an address counter that reaches LOGIN_MAX_FAILURES_PER_ADDRESS (expiry
  reset the same way) slows that address down rather than locking it: one
  untrusted attempt from it every LOGIN_ADDRESS_DELAY_SECONDS goes on to the
  password check (a Valkey SET NX EX "slot"), the others are refused with a
  wait of a few seconds. A right password in a checked attempt gets in;
- a successful login clears the counter the attempt counted against (its
  device's, or the username's). The address counter is left alone, so that
  logging in to one's own account does not wipe the failures an address
  piled up against other accounts; nor does a trusted login clear the
  username's counter, which holds failures from elsewhere.

The username counter exists whether or not the account does, so a lock says
nothing about which usernames exist: the answer (429 and the same message) is
the same for both.

When Valkey is down the limits still hold, more coarsely:
- for an existing account, the username lock from PostgreSQL
  (users.failed_logins and users.locked_until: shared by every process; no
  window, a success or the end of a lock resets it; such a lock lasts its
  full time even if Valkey comes back meanwhile);
- for every username (known or not), device and address, from counters (and
  address slots) kept in this process's memory, so an unknown username also
  locks (per app process) and an address is still slowed. They are dropped
  once Valkey answers again.
"""
import hashlib
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import case, select, update

from .. import metrics
from ..extensions import db
from ..models import User
from ..valkey_store import ValkeyUnavailable, get_store
from .errors import ServiceError

KEY_PREFIX = "login:fail:"
SLOT_PREFIX = "login:slot:"

DEVICE_COOKIE = "known_device"
DEVICE_COOKIE_MAX_AGE = 180 * 24 * 3600
# What we issue is under 200 characters; anything much longer is not ours
# and is ignored without being parsed.
MAX_DEVICE_COOKIE_LENGTH = 512
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)


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


class AddressSlowed(LoginLocked):
    """The client's address is over its failure limit and this attempt came
    before the address's next turn (in retry_after seconds)."""

    @property
    def message(self) -> str:
        unit = "second" if self.retry_after == 1 else "seconds"
        return f"Too many failed attempts from your network. Try again in {self.retry_after} {unit}."


@dataclass(frozen=True)
class Limits:
    per_username: int  # also per known device
    per_address: int
    lock_seconds: int
    address_delay_seconds: int = 10  # LOGIN_ADDRESS_DELAY_SECONDS's default

    @classmethod
    def from_config(cls) -> "Limits":
        config = current_app.config
        return cls(per_username=config["LOGIN_MAX_FAILURES"],
                   per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
                   lock_seconds=config["LOGIN_LOCK_MINUTES"] * 60,
                   address_delay_seconds=config["LOGIN_ADDRESS_DELAY_SECONDS"])


@dataclass(frozen=True)
class Attempt:
    """One login attempt: the username typed (normalised), the client's
    address, and the id of its known device if it carries a valid device
    cookie for that username (then it is trusted)."""

    username: str
    address: str | None
    device: str | None


def _username_digest(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()


def username_key(username: str) -> str:
    # Hashed: a key of fixed size whatever was typed, and no usernames in Valkey.
    return KEY_PREFIX + "user:" + _username_digest(username)


def address_key(address: str | None) -> str:
    return KEY_PREFIX + "addr:" + (address or "unknown")


def device_key(device: str) -> str:
    return KEY_PREFIX + "device:" + device


def address_slot_key(address: str | None) -> str:
    return SLOT_PREFIX + "addr:" + (address or "unknown")


# --- known devices ------------------------------------------------------------------

def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="login-throttle.known-device")


def new_device_cookie(username: str) -> str:
    """The device cookie's value after a successful login: signed with
    SECRET_KEY, naming the username (by its hash: a cookie of fixed size that
    shows no name) and a new random device id."""
    return _device_serializer().dumps({"user": _username_digest(username), "device": secrets.token_urlsafe(16)})


def known_device(cookie: str | None, username: str) -> str | None:
    """The device id in a valid, unexpired device cookie issued for this
    username; None for anything else (absent, forged, garbled, another user's)."""
    if not cookie or len(cookie) > MAX_DEVICE_COOKIE_LENGTH:
        return None
    try:
        payload = _device_serializer().loads(cookie, max_age=DEVICE_COOKIE_MAX_AGE)
    except BadData:
        return None
    if not isinstance(payload, dict) or payload.get("user") != _username_digest(username):
        return None
    device = payload.get("device")
    return device if isinstance(device, str) and DEVICE_ID.fullmatch(device) else None


# --- the shared counters in Valkey --------------------------------------------

def _valkey_waits(client, keys_limits: list[tuple[str, int]]) -> list[int]:
    """For each counter, the seconds until its lock ends (0: below its limit)."""
    pipe = client.pipeline(transaction=False)
    for key, _ in keys_limits:
        pipe.get(key)
        pipe.ttl(key)
    answers = pipe.execute()
    waits = []
    for index, (_, limit) in enumerate(keys_limits):
        count, ttl = answers[2 * index], answers[2 * index + 1]
        waits.append(max(ttl, 1) if count is not None and int(count) >= limit else 0)
    return waits


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


def _valkey_take_slot(client, key: str, seconds: int) -> int:
    """Take the slot (0) or return the seconds until it is free."""
    if client.set(key, 1, ex=seconds, nx=True):
        return 0
    return max(1, math.ceil(client.pttl(key) / 1000))


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


class LocalSlots:
    """The address slots in this process's memory: one taker per key per
    period, bounded in size."""

    MAX_KEYS = 10_000

    def __init__(self):
        self._lock = threading.Lock()
        self._free_at: dict[str, float] = {}  # key -> when the slot is free again, on the monotonic clock

    def take(self, key: str, seconds: int) -> int:
        """Take the slot (0) or return the seconds until it is free."""
        now = time.monotonic()
        with self._lock:
            free_at = self._free_at.get(key, 0.0)
            if free_at > now:
                return max(1, math.ceil(free_at - now))
            if len(self._free_at) >= self.MAX_KEYS:
                self._free_at = {k: v for k, v in self._free_at.items() if v > now}
            if len(self._free_at) < self.MAX_KEYS:
                self._free_at[key] = now + seconds
            return 0

    def clear(self) -> None:
        if self._free_at:
            with self._lock:
                self._free_at.clear()


_local = LocalCounters()
_local_slots = LocalSlots()


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


# --- what the login service calls -------------------------------------------------

def _counters(attempt: Attempt, limits: Limits) -> list[tuple[str, int]]:
    """The counters this attempt's failures count against; the first one can
    lock it out (its device's if trusted, else the username's)."""
    if attempt.device:
        return [(device_key(attempt.device), limits.per_username)]
    return [(username_key(attempt.username), limits.per_username),
            (address_key(attempt.address), limits.per_address)]


def check(attempt: Attempt) -> None:
    """Raise LoginLocked if this attempt's username (untrusted) or device
    (trusted) is locked, AddressSlowed if its address is over its limit and
    must wait its turn."""
    limits = Limits.from_config()
    counters = _counters(attempt, limits)
    try:
        waits = get_store().run(lambda client: _valkey_waits(client, counters))
        _local.clear()  # Valkey answers again: the memory counters are done with
        _local_slots.clear()
    except ValkeyUnavailable:
        waits = [_local.retry_after([counter]) for counter in counters]
    lock_wait = waits[0]
    if not attempt.device:
        # A lock set in PostgreSQL while Valkey was down lasts its full time.
        lock_wait = max(lock_wait, _db_retry_after(attempt.username))
    if lock_wait > 0:
        metrics.login_locked("device" if attempt.device else "username")
        raise LoginLocked(lock_wait)
    if not attempt.device and waits[1] > 0:
        _take_address_turn(attempt.address, limits)


def _take_address_turn(address: str | None, limits: Limits) -> None:
    key = address_slot_key(address)
    try:
        wait = get_store().run(lambda client: _valkey_take_slot(client, key, limits.address_delay_seconds))
    except ValkeyUnavailable:
        wait = _local_slots.take(key, limits.address_delay_seconds)
    if wait > 0:
        metrics.login_locked("address")
        raise AddressSlowed(wait)


def record_failure(attempt: Attempt) -> None:
    limits = Limits.from_config()
    counters = _counters(attempt, limits)
    try:
        get_store().run(lambda client: _valkey_fail(client, counters, limits))
    except ValkeyUnavailable:
        _local.fail(counters, limits)
        if not attempt.device:
            _db_fail(attempt.username, limits)


def record_success(attempt: Attempt) -> None:
    """A trusted success clears its device's counter only: the username's
    holds failures from other clients, which this login says nothing about."""
    if attempt.device:
        _forget(device_key(attempt.device))
    else:
        clear(attempt.username)


def _forget(key: str) -> None:
    try:
        get_store().run(lambda client: client.delete(key))
    except ValkeyUnavailable:
        pass
    _local.forget(key)


def clear(username: str) -> None:
    """Clear the username's counters and lock (Valkey, this process,
    PostgreSQL): after a successful login or a new password."""
    _forget(username_key(username))
    db.session.execute(
        update(User).where(User.username == username, (User.failed_logins != 0) | User.locked_until.is_not(None))
        .values(failed_logins=0, locked_until=None)
    )
    db.session.commit()
