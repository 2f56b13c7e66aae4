"""API tokens: made, listed, revoked, and turned back into their account.

A token is TOKEN_PREFIX and 32 random bytes (base64url); only its SHA-256 is
stored, so a copy of the table opens nothing. Looking a token up by that
hash is the check: the database compares hashes, never the token itself,
and the found hash is compared again in constant time.

Making and revoking a token are changes to its account: each writes an
audit entry (api_token: the token's name, never the token) in its
transaction."""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from ..extensions import db
from ..models import ApiToken, User
from . import audit
from .errors import InvalidInput
from .retry import retry_transient

TOKEN_PREFIX = "emp_"
# The prefix and token_urlsafe(32)'s 43 characters; nothing else is one of ours,
# so a hostile header (huge, NUL, non-ASCII) is refused before any query.
TOKEN_RE = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}")
HINT_LENGTH = 6
MAX_NAME_LENGTH = 100
# last_used_at is written at most this often per token: a busy client does
# not turn every read into a write.
LAST_USED_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenUser:
    """The account a request's token acts for, with that account's role."""

    id: int
    username: str
    role: str
    token_id: int
    is_authenticated = True  # for the audit log's actor (audit.record)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(raw: str | None) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidInput({"name": "Name the token, e.g. after the program that will use it."})
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInput({"name": f"Use at most {MAX_NAME_LENGTH} printable characters."})
    return name


@retry_transient
def create_token(user_id: int, raw_name: str | None, *, actor=None, source: str = "cli") -> tuple[ApiToken, str]:
    """A new token for the account: (its row, the token itself, to be shown
    once and never again). actor: who made it (None: the command line)."""
    name = clean_name(raw_name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, name=name, token_hash=_hash(token),
                   hint=token[len(TOKEN_PREFIX):len(TOKEN_PREFIX) + HINT_LENGTH])
    db.session.add(row)
    audit.record_account_change(db.session.get(User, user_id), {"api_token": [None, name]}, source=source,
                                actor=actor)
    db.session.commit()
    return row, token


@retry_transient
def authenticate(token: str) -> TokenUser | None:
    """The account a token acts for, or None: not one of ours, unknown,
    revoked, or its owner deactivated (checked on every request, so a
    deactivation stops the owner's tokens at once)."""
    if not TOKEN_RE.fullmatch(token):
        return None
    token_hash = _hash(token)
    found = db.session.execute(
        select(ApiToken.id, ApiToken.token_hash, User.id, User.username, User.role,
               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < func.now() - LAST_USED_INTERVAL))
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None), User.active)
    ).one_or_none()
    if found is None or not hmac.compare_digest(found[1], token_hash):
        db.session.rollback()
        return None
    token_id, _, user_id, username, role, stale = found
    if stale:
        db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=func.now()))
    db.session.commit()
    return TokenUser(user_id, username, role, token_id)


def list_tokens(user, *, everyone: bool = False) -> list[ApiToken]:
    """The account's tokens (everyone's for an admin's view), live first, newest first."""
    statement = select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                                          ApiToken.id.desc())
    if not everyone:
        statement = statement.where(ApiToken.user_id == user.id)
    return list(db.session.execute(statement).scalars())


@retry_transient
def revoke_token(token_id: int, actor) -> ApiToken | None:
    """Revoke a token of the actor's own, or anyone's for an admin; None when
    there is no such token the actor may see (a 404, not a 403: no probing
    for other people's token ids)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and not actor.has_role("admin")):
        return None
    if token.revoked_at is None:
        token.revoked_at = func.now()
        audit.record_account_change(db.session.get(User, token.user_id), {"api_token": [token.name, None]},
                                    source="tokens", actor=actor)
        db.session.commit()
        db.session.refresh(token)
    return token
