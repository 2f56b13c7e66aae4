"""The answer to "is this login session alive, and whose is it?", kept in
Valkey for a few seconds, so that a busy person's requests do not each ask
PostgreSQL (services/users.load_session_user asks it on a miss).

PostgreSQL's user_sessions rows stay the truth. An answer is kept under the
hash of the session's token for at most SESSION_CACHE_SECONDS (10), and
never past the session's idle or lifetime limit. It counts only together
with its account's *generation*: a random value in Valkey that every change
to the account's sessions or role renews after it commits (logout, a new
password, a deactivation, a role change: forget_account). Both are read in
one round trip, so the very next request of any of the account's sessions,
in any process, asks PostgreSQL again, and finds the session ended.

The generation is read before PostgreSQL is asked and stored with the
answer: an account changed between the two has a new generation by then,
and the answer is dead on arrival.

Each process also keeps what Valkey answered (tracked_keys.py: Valkey
itself tells the process of every change to these keys, and the process
reads those messages before it answers from what it keeps), so a busy
session's requests need no round trip at all. An answer stored in Valkey
carries its deadline (the session's idle or lifetime limit), which a kept
copy honours to the second.

Without Valkey every request asks PostgreSQL. An account change that cannot
renew its generation (Valkey down or hung at that moment) is retried by this
process at its next request; should Valkey answer again with the old answers
meanwhile, they last at most SESSION_CACHE_SECONDS.
"""
import json
import secrets
import threading
import time

from ..valkey_store import ValkeyUnavailable, get_store
from . import short_cache

SESSION_CACHE_SECONDS = 10
# A generation outlives every answer stored under the one before it.
GENERATION_SECONDS = 3600
# The keys a process may keep (tracked_keys.py): the answers, the
# generations and short_cache's epoch, which the same round trip reads.
TRACKED_PREFIXES = ("session:", "session-generation:", short_cache.EPOCH_KEY)


def _answer_key(token_hash: str) -> str:
    return f"session:{token_hash}"


def _generation_key(user_id) -> str:
    return f"session-generation:{user_id}"


_pending_lock = threading.Lock()
_pending: set[int] = set()  # accounts whose new generation Valkey has not taken yet


def read(token_hash: str, user_id: str) -> tuple[list | None, str | None]:
    """(the kept answer [id, username, role] if it is still good, the
    generation to store a fresh answer under). The generation is None when
    Valkey does not answer: nothing may be kept then. The same round trip
    brings short_cache's epoch for this request."""
    keys = (_answer_key(token_hash), _generation_key(user_id), short_cache.EPOCH_KEY)
    store = get_store()
    kept = store.tracked(TRACKED_PREFIXES)
    # An account change Valkey has not taken yet: ask Valkey, not the copies.
    found = kept.get(keys) if not _pending else None
    if found is None:
        if _pending:
            _retry_pending()
        ticket = kept.ticket()
        try:
            found = store.run(lambda client: client.mget(*keys))
        except ValkeyUnavailable:
            return None, None
        kept.keep(ticket, keys, found)
    answer, generation, epoch = found
    short_cache.note_epoch(epoch)
    generation = generation or ""
    if answer is not None:
        kept_generation, values, *deadline = json.loads(answer)
        if (kept_generation == generation and str(values[0]) == user_id
                and not (deadline and time.time() >= deadline[0])):
            return values, generation
    return None, generation


def store(token_hash: str, generation: str, values: list, seconds: float) -> None:
    """Keep PostgreSQL's answer (values: [id, username, role]) for at most
    `seconds` (the session's time left) and SESSION_CACHE_SECONDS."""
    seconds = int(min(seconds, SESSION_CACHE_SECONDS))
    if seconds < 1:
        return
    # The deadline: a copy a process keeps (see read) must not outlive Valkey's.
    answer = json.dumps([generation, values, time.time() + seconds])
    try:
        get_store().run(lambda client: client.set(_answer_key(token_hash), answer, ex=seconds))
    except ValkeyUnavailable:
        pass


def forget_account(user_id: int) -> None:
    """After a change to the account's sessions or role has committed: every
    kept answer of the account stops counting."""
    try:
        _renew([user_id])
    except ValkeyUnavailable:
        with _pending_lock:
            _pending.add(user_id)


def _renew(user_ids) -> None:
    def write(client):
        pipe = client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.set(_generation_key(user_id), secrets.token_hex(8), ex=GENERATION_SECONDS)
        pipe.execute()
    get_store().run(write)


def _retry_pending() -> None:
    with _pending_lock:
        waiting = list(_pending)
    try:
        _renew(waiting)
    except ValkeyUnavailable:
        return
    with _pending_lock:
        _pending.difference_update(waiting)
