"""Idempotency-Key: a retried request gets the first one's answer, and
nothing is stored twice (docs/api.md, "Batches and Idempotency-Key").

Per (token owner, key), in Valkey:

- a lock (SET NX, LOCK_SECONDS) held by the one request running the key;
- its record, JSON: the request's fingerprint (SHA-256 of method, path,
  query and body), a state and the answer (status, body, headers):
  "committing" is written just before the COMMIT that stores records, with
  their primary keys; "done" after the answer is final. Both live KEEP_SECONDS.

A request that finds "done" replays it. One that finds "committing" and no
lock (the first died at its COMMIT, or its answer was lost on the way)
asks PostgreSQL whether those rows were committed: replayed if so, run
again if not. So a retry never stores twice and never meets its own
records as duplicates. The "committing" record is written only while the
lock is still this request's (one Lua script): a request whose lock expired
stores nothing, so two runs of one key never both commit.

Without Valkey no key can be honoured: IdempotencyUnavailable (a 503).
"""
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import text

from ..extensions import db
from ..valkey_store import ValkeyUnavailable, get_store

KEEP_SECONDS = 24 * 3600
# Longer than a request under /api/v1 can run (gunicorn's timeout is 120 s);
# after a crash a retry waits this long at most (409 in-use meanwhile).
LOCK_SECONDS = 130
# How long a request waits for another one running the same key.
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05
PREFIX = "idempotency:"

# Write the record only while holding the lock (KEYS: lock, record; ARGV:
# token, record, seconds).
_WRITE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""


class IdempotencyUnavailable(Exception):
    """Valkey could not be reached: a key cannot be honoured now."""


@dataclass
class Stored:
    status: int
    body: str
    headers: dict[str, str]


@dataclass
class Claim:
    """What to do with a request: run it (holding the key), replay an
    answer, or refuse: 'other_request' (the key was used for another
    body) or 'in_use' (still running elsewhere)."""

    outcome: str  # run | replay | other_request | in_use
    lock: str | None = None
    record: str | None = None
    token: str | None = None
    fingerprint: str | None = None
    stored: Stored | None = None


def fingerprint(parts: list[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))  # no two requests' parts join into the same bytes
        digest.update(part)
    return digest.hexdigest()


def _names(owner_id: int, key: str) -> tuple[str, str]:
    hashed = hashlib.sha256(key.encode()).hexdigest()  # a key is up to 255 characters: kept short
    return f"{PREFIX}lock:{owner_id}:{hashed}", f"{PREFIX}answer:{owner_id}:{hashed}"


def _run(operation):
    try:
        return get_store().run(operation)
    except ValkeyUnavailable as error:
        raise IdempotencyUnavailable(str(error)) from None


def claim(owner_id: int, key: str, request_hash: str) -> Claim:
    """Decide a request's fate; waits up to WAIT_SECONDS for a request
    running the same key."""
    lock, record_key = _names(owner_id, key)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        token = secrets.token_hex(16)
        acquired, raw = _run(lambda client: _lock_and_read(client, lock, record_key, token))
        record = json.loads(raw) if raw else None
        if record is not None and record["fingerprint"] != request_hash:
            if acquired:
                release(Claim("run", lock, record_key, token, request_hash))
            return Claim("other_request")
        if record is not None and record["state"] == "done":
            if acquired:
                release(Claim("run", lock, record_key, token, request_hash))
            return Claim("replay", stored=Stored(**record["answer"]))
        if acquired:
            held = Claim("run", lock, record_key, token, request_hash)
            if record is not None:  # "committing", and its request is gone
                if _committed(record["pks"]):
                    keep(held, Stored(**record["answer"]), state="done")
                    release(held)
                    return Claim("replay", stored=Stored(**record["answer"]))
                _run(lambda client: client.delete(record_key))  # never committed: run it again
            return held
        if time.monotonic() >= deadline:
            return Claim("in_use")
        time.sleep(POLL_SECONDS)


def _lock_and_read(client, lock: str, record_key: str, token: str):
    pipe = client.pipeline(transaction=False)
    pipe.set(lock, token, nx=True, ex=LOCK_SECONDS)
    pipe.get(record_key)
    acquired, raw = pipe.execute()
    return bool(acquired), raw


def _committed(pks: list[int]) -> bool:
    """Whether the COMMIT of the records with these primary keys went
    through: a key is taken from a sequence, never given twice, so one row
    (or its creation entry, should it have been deleted since) tells."""
    if not pks:
        return False
    found = db.session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM employees WHERE id = :pk)"
        " OR EXISTS (SELECT 1 FROM audit_log WHERE employee_pk = :pk AND action = 'create')"),
        {"pk": pks[0]}).scalar()
    db.session.rollback()  # a read: end it, the request's work starts afresh
    return bool(found)


def keep(held: Claim, answer: Stored, *, state: str, pks: list[int] | None = None) -> None:
    """Write the key's record; for "committing", only while the lock is
    still ours (else IdempotencyUnavailable: the caller must not commit)."""
    record = json.dumps({"fingerprint": held.fingerprint, "state": state, "pks": pks or [],
                         "answer": {"status": answer.status, "body": answer.body, "headers": answer.headers}})
    if state == "committing":
        written = _run(lambda client: client.eval(_WRITE_IF_HELD, 2, held.lock, held.record, held.token, record,
                                                  KEEP_SECONDS))
        if not written:
            raise IdempotencyUnavailable("the key's lock expired before the commit")
    else:
        _run(lambda client: client.set(held.record, record, ex=KEEP_SECONDS))


def release(held: Claim) -> None:
    try:
        _run(lambda client: client.eval(_RELEASE, 1, held.lock, held.token))
    except IdempotencyUnavailable:
        pass  # it expires
