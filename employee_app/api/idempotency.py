"""@idempotent: the Idempotency-Key header on a POST under /api/v1 (the
Valkey side is services/idempotency.py; docs/api.md says what a client sees).

It goes between token_access (the key belongs to the token's owner) and
spec.validate (it reads the body first, to fingerprint it)."""
import hashlib
import logging
import re
from functools import wraps

from flask import Response, current_app, g, request

from ..errors import RETRY_AFTER_SECONDS, json_problem
from ..extensions import db
from ..services import idempotency
from ..services.idempotency import IdempotencyUnavailable, Stored

KEY_HEADER = "Idempotency-Key"
KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
IN_USE_CODE = "idempotency_key_in_use"

log = logging.getLogger(__name__)


class _HashingInput:
    """The request's input stream, hashed as the form parser reads it: an
    upload is fingerprinted without being held in memory a second time."""

    def __init__(self, stream):
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _body() -> bytes:
    """The body, or for a form or upload the SHA-256 of it: read before the
    view runs (a body over the limit is the 413 here)."""
    if request.mimetype in FORM_TYPES:
        if "stream" in request.__dict__:  # parsed already (POST /imports' upload limit reads it first)
            return _parsed_form_digest()
        hashing = _HashingInput(request.environ["wsgi.input"])
        request.environ["wsgi.input"] = hashing
        request.form  # parsed now, through the hash: files go to temporary files as usual
        while request.stream.read(64 * 1024):  # (an epilogue after the last part)
            pass
        return hashing.digest.digest()
    return request.get_data(cache=True)  # a JSON body: kept once, for the view too


def _parsed_form_digest() -> bytes:
    """The SHA-256 of a form parsed already: each field's name and value and
    each file's name, file name and content (read back from its temporary
    file in chunks), each part length-prefixed so no two forms hash alike."""
    digest = hashlib.sha256()

    def part(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    for name, value in sorted(request.form.items(multi=True)):
        part(b"field:" + name.encode())
        part(value.encode())
    for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
        part(b"file:" + name.encode())
        part((upload.filename or "").encode())
        stream, content = upload.stream, hashlib.sha256()
        stream.seek(0)
        while chunk := stream.read(64 * 1024):
            content.update(chunk)
        stream.seek(0)
        part(content.digest())
    return digest.digest()


def request_fingerprint() -> str:
    return idempotency.fingerprint([request.method.encode(), request.path.encode(), request.query_string, _body()])


def _unavailable(error: IdempotencyUnavailable):
    log.warning("Idempotency-Key not honoured: %s", error)
    return json_problem(503, "An Idempotency-Key cannot be honoured right now (its store is unavailable); "
                             "try again shortly.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _replay(stored: Stored) -> Response:
    response = current_app.response_class(stored.body, stored.status, stored.headers)
    response.headers["Idempotency-Replayed"] = "true"
    return response


def _stored(response: Response) -> Stored:
    return Stored(response.status_code, response.get_data(as_text=True),
                  {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers})


def keep_before_commit(response, pks: list[int]) -> None:
    """For a view, just before the COMMIT that stores the records `pks`:
    its answer is kept as "committing", so that a retry after a lost answer
    replays it (raises IdempotencyUnavailable: then do not commit)."""
    held = g.get("idempotency_claim")
    if held is not None:
        idempotency.keep(held, _stored(current_app.make_response(response)), state="committing", pks=pks)


def idempotent(view):
    """Run the view once per (token owner, Idempotency-Key); a retry with
    the same request gets the first answer again."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(KEY_HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY_RE.fullmatch(key):
            return json_problem(400, f"{KEY_HEADER} must be 1 to 255 visible ASCII characters.")
        request_hash = request_fingerprint()
        try:
            held = idempotency.claim(g.api_user.id, key, request_hash)
        except IdempotencyUnavailable as error:
            return _unavailable(error)
        if held.outcome == "replay":
            return _replay(held.stored)
        if held.outcome == "other_request":
            return json_problem(422, f"This {KEY_HEADER} was used for another request (another body or "
                                     "address); use a new key for a new request.")
        if held.outcome == "in_use":
            return json_problem(409, f"A request with this {KEY_HEADER} is still running; try again in a moment.",
                                headers={"Retry-After": "1"}, extra={"code": IN_USE_CODE})
        g.idempotency_claim = held
        try:
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except IdempotencyUnavailable as error:  # before any commit: nothing stored
                db.session.rollback()
                return _unavailable(error)
            if response.status_code < 500:  # a 5xx says nothing final: the retry runs (or recovers)
                try:
                    idempotency.keep(held, _stored(response), state="done")
                except IdempotencyUnavailable:
                    pass  # a "committing" record, if any, is recovered by the retry
            return response
        finally:
            idempotency.release(held)
    return wrapped
