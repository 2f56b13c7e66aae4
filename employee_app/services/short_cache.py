"""Figures a page may show a few seconds old, kept in each process.

The list page shows the departments (its filter) and, for the whole table,
PostgreSQL's estimate of the number of employees. Both change rarely and
neither needs to be exact to the second, so each process keeps them for
SHORT_CACHE_SECONDS (5) instead of asking PostgreSQL on every request.

A kept value also carries the *epoch* it was read under: a random value in
Valkey (EPOCH_KEY), read once per request, before PostgreSQL is asked. A
change the app makes to the lists (a new department from a form, an admin's
rename) gives Valkey a new epoch after it commits (changed()), so every
process reads the lists again at its next request; so does a Valkey that
was flushed or restarted empty (a missing epoch is replaced by a new one).
What the app does not see (an import adding departments in its own
transaction, autovacuum updating the estimate) shows within
SHORT_CACHE_SECONDS. Without Valkey nothing is kept: every request asks
PostgreSQL, as before.
"""
import secrets
import threading
import time

from flask import g
from sqlalchemy import event

from ..extensions import db
from ..valkey_store import ValkeyUnavailable, get_store

SHORT_CACHE_SECONDS = 5.0
EPOCH_KEY = "cache:epoch"
# A session whose transaction changed a cached figure: the epoch is renewed
# after it commits.
_CHANGED = "short_cache_changed"


def _new_epoch() -> str:
    return secrets.token_hex(8)


def note_epoch(epoch: str | None) -> None:
    """The epoch as read by another call in this request (the session check
    reads it in its own round trip); a missing one is set by current_epoch()."""
    if epoch is not None:
        g.short_cache_epoch = epoch


def current_epoch() -> str | None:
    """The epoch for this request (asked once per request); None when Valkey
    does not answer, and nothing may be taken from the caches."""
    if "short_cache_epoch" not in g:
        def read(client):
            epoch = client.get(EPOCH_KEY)
            if epoch is None:  # flushed, or never set: start a new epoch
                client.set(EPOCH_KEY, _new_epoch(), nx=True)
                epoch = client.get(EPOCH_KEY)
            return epoch
        try:
            g.short_cache_epoch = get_store().run(read)
        except ValkeyUnavailable:
            g.short_cache_epoch = None
    return g.short_cache_epoch


class ShortCache:
    """One value, computed by a function that asks PostgreSQL, kept for
    `seconds` within one epoch."""

    def __init__(self, seconds: float = SHORT_CACHE_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._kept: tuple[str, float, object] | None = None  # (epoch, until, value)

    def get(self, compute):
        epoch = current_epoch()  # before PostgreSQL is asked (see changed())
        if epoch is None:
            return compute()
        now = time.monotonic()
        kept = self._kept
        if kept is not None and kept[0] == epoch and now < kept[1]:
            return kept[2]
        value = compute()
        with self._lock:
            self._kept = (epoch, now + self.seconds, value)
        return value


def changed_in_this_transaction() -> None:
    """A cached figure changes when the current transaction commits: every
    process reads it again at its next request."""
    db.session.info[_CHANGED] = True


def _after_commit(session) -> None:
    if session.info.pop(_CHANGED, False):
        changed()


def _after_rollback(session) -> None:
    session.info.pop(_CHANGED, None)


def changed() -> None:
    """A new epoch: what every process keeps is stale. If Valkey does not
    take it, the kept values still expire after SHORT_CACHE_SECONDS."""
    try:
        get_store().run(lambda client: client.set(EPOCH_KEY, _new_epoch()))
    except ValkeyUnavailable:
        pass
    g.pop("short_cache_epoch", None)


event.listen(db.session, "after_commit", _after_commit)
event.listen(db.session, "after_rollback", _after_rollback)
