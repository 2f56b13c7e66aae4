"""Accounts: creating them, logging in, roles, activation and passwords.

Used by the login and account views, the admin pages and the CLI. A login
session is a user_sessions row, found on every request from the random token
in the session cookie (load_session_user; the answer is kept in Valkey for a
few seconds, see session_cache.py); logging out, a new password and a
deactivation end sessions by deleting their rows, so a copy of an old cookie
opens nothing. Every change to an account's sessions or role also tells
session_cache after it commits, so no kept answer outlives it.

Every change to an account writes its entry in the audit log in the same
transaction (audit.record_account_change): `actor` is who made it (None: the
command line), `source` the path (accounts: an admin's pages, password: one's
own Change password page, cli). A password is recorded as "set", never with
a value.
"""
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import delete, extract, func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import ROLES, User, UserSession
from . import audit, login_throttle, session_cache, text_rules
from .errors import InvalidInput, ServiceError
from .login_throttle import LoginLocked  # noqa: F401  (re-exported for the views)
from .retry import retry_transient

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256  # a bound on the work one login asks of the KDF
MAX_USERNAME_LENGTH = 64
USERNAME_PUNCTUATION = "._-@"
# scrypt (werkzeug's default KDF): memory-hard, per-password salt.
PASSWORD_METHOD = "scrypt"
# Checked when the username is unknown, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("timing-equaliser", method=PASSWORD_METHOD)


class WrongCredentials(ServiceError):
    message = "Wrong username or password."


class AccountInactive(ServiceError):
    """The password was right but the account is deactivated."""

    message = "This account is deactivated. Ask an administrator to reactivate it."


class LastAdminError(ServiceError):
    """The change would leave no active administrator (HTTP 409)."""

    def __init__(self, username: str):
        self.message = (f"{username} is the last active administrator: make another account an admin "
                        "before demoting or deactivating this one.")
        super().__init__(self.message)


def normalize_username(raw: str | None) -> str:
    """The stored form: read as a person reads it (text_rules: invisible
    characters removed, NFKC), lower-case. A value that cannot be a username
    is returned trimmed and lower-cased: it matches no account."""
    try:
        return text_rules.lower_identifier(raw or "")
    except text_rules.TextProblem:
        return (raw or "").strip().lower()


def username_problem(username: str) -> str | None:
    """Letters of one script, digits and ._-@; what the CLI, the admin page and
    the database's CHECK accept (stored lower-case)."""
    try:
        text_rules.lower_identifier(username)
    except text_rules.TextProblem as problem:
        return f"Username {problem}"
    if not username or len(username) > MAX_USERNAME_LENGTH \
            or not all(c.isalnum() or c in USERNAME_PUNCTUATION for c in username):
        return f"Username: 1 to {MAX_USERNAME_LENGTH} letters, digits, '.', '_', '-' or '@'."
    return None


def password_problem(username: str, password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    # Any script, spaces and symbols are fine; a character no keyboard types
    # (NUL, a line break, a surrogate: pasted by mistake) is not, and
    # invisible ones (a zero-width space) do not count towards the length.
    forbidden = text_rules.FORBIDDEN_RE.search(password)
    if forbidden:
        return f"Password must not contain {text_rules.describe(forbidden.group())}: type it again without it."
    if len(text_rules.INVISIBLE_RE.sub("", password)) < MIN_PASSWORD_LENGTH:
        return (f"Password must be at least {MIN_PASSWORD_LENGTH} characters you can see: invisible ones "
                "(such as a zero-width space) do not count.")
    if username and normalize_username(username) in password.lower():
        return "Password must not contain the username."
    return None


def _hash(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def create_user(username: str, password: str, role: str, *, actor=None, source: str = "cli") -> User:
    username = normalize_username(username)
    errors = {}
    problem = username_problem(username)
    if problem:
        errors["username"] = problem
    if role not in ROLES:
        errors["role"] = f"Role must be one of: {', '.join(ROLES)}."
    problem = password_problem(username, password)
    if problem:
        errors["password"] = problem
    if errors:
        raise InvalidInput(errors)
    user = User(username=username, role=role, password_hash=_hash(password),
                password_changed_at=datetime.now(timezone.utc))
    db.session.add(user)
    try:
        db.session.flush()  # its id, for the audit entry
    except IntegrityError:
        db.session.rollback()
        raise InvalidInput({"username": f"User {username} already exists."}) from None
    audit.record_account_change(user, {"username": [None, username], "role": [None, role]}, action="create",
                                source=source, actor=actor)
    db.session.commit()
    return user


# --- logging in -------------------------------------------------------------------

def _by_username(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def log_in(username: str, password: str, address: str | None, device_cookie: str | None = None) -> User:
    """The login: throttle, password, activation. Returns the user, or raises
    LoginLocked (429; AddressSlowed, a short wait, is one), WrongCredentials
    (401) or AccountInactive (403).

    device_cookie is the browser's known-device cookie, if any (see
    login_throttle). A locked username, device or address is refused before
    the password is checked, with the same answer whether or not the account
    exists."""
    username = normalize_username(username)
    attempt = login_throttle.Attempt(username, address, login_throttle.known_device(device_cookie, username))
    login_throttle.check(attempt)
    user = _by_username(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)  # as long as a real check
        login_throttle.record_failure(attempt)
        raise WrongCredentials(WrongCredentials.message)
    if not check_password_hash(user.password_hash, password):
        login_throttle.record_failure(attempt)
        raise WrongCredentials(WrongCredentials.message)
    if not user.active:
        raise AccountInactive(AccountInactive.message)
    login_throttle.record_success(attempt)
    user.last_login_at = datetime.now(timezone.utc)
    db.session.commit()
    return user


# --- login sessions ---------------------------------------------------------------

# last_seen_at is written at most this often per session, not on every request.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)
# Expired rows deleted at each login: enough to keep up, never a long statement.
SESSION_PRUNE_BATCH = 100
# open_session's tokens are 43 characters; a longer one is not ours.
MAX_SESSION_TOKEN_LENGTH = 64


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session_alive():
    """SQL: the session is within its idle time and its lifetime (the
    database's clock, the one that wrote created_at and last_seen_at)."""
    config = current_app.config
    return ((UserSession.last_seen_at > func.now() - timedelta(minutes=config["SESSION_IDLE_MINUTES"]))
            & (UserSession.created_at > func.now() - timedelta(hours=config["SESSION_MAX_HOURS"])))


def open_session(user: User) -> str:
    """A new login session for user; returns its token, for the session
    cookie (only its hash is stored). Also deletes some expired sessions."""
    expired = (select(UserSession.id).where(~_session_alive())
               .limit(SESSION_PRUNE_BATCH).with_for_update(skip_locked=True))
    db.session.execute(delete(UserSession).where(UserSession.id.in_(expired)))
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_token_hash(token)))
    db.session.commit()
    return token


class SessionUser(UserMixin):
    """The logged-in account as a request sees it (current_user): who, and
    with which role. Not a database row: to change the account, load it."""

    def __init__(self, id: int, username: str, role: str):
        self.id, self.username, self.role = id, username, role

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<SessionUser {self.username} ({self.role})>"


@retry_transient
def load_session_user(user_id: str, token) -> SessionUser | None:
    """The account of the login session with this token (from the session
    cookie), or None when the session is over: logged out or ended (no row),
    idle too long or too old, or the account deactivated. Answered from
    Valkey when a live answer is kept there (session_cache), else by one
    query, whose answer is then kept; an over session's row is deleted."""
    if not isinstance(token, str) or not token or len(token) > MAX_SESSION_TOKEN_LENGTH:
        return None
    token_hash = _token_hash(token)
    kept, generation = session_cache.read(token_hash, user_id)
    if kept is not None:
        return SessionUser(*kept)
    config = current_app.config
    idle_left = UserSession.last_seen_at + timedelta(minutes=config["SESSION_IDLE_MINUTES"]) - func.now()
    life_left = UserSession.created_at + timedelta(hours=config["SESSION_MAX_HOURS"]) - func.now()
    found = db.session.execute(
        select(User.id, User.username, User.role, User.active, UserSession.id, _session_alive(),
               UserSession.last_seen_at < func.now() - SESSION_TOUCH_INTERVAL,
               func.least(extract("epoch", idle_left), extract("epoch", life_left)))
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == token_hash)
    ).one_or_none()
    if found is None:
        return None
    account_id, username, role, active, session_id, alive, stale, seconds_left = found
    if str(account_id) != user_id:  # the cookie is signed, so only a bug gets here
        return None
    if not (alive and active):
        db.session.execute(delete(UserSession).where(UserSession.id == session_id))
        db.session.commit()
        return None
    if stale:
        db.session.execute(update(UserSession).where(UserSession.id == session_id)
                           .values(last_seen_at=func.now()))
        db.session.commit()
    if generation is not None:
        session_cache.store(token_hash, generation, [account_id, username, role], float(seconds_left))
    return SessionUser(account_id, username, role)


def end_session(token) -> None:
    """Logging out: the session's row goes, so its cookie opens nothing."""
    if isinstance(token, str) and token and len(token) <= MAX_SESSION_TOKEN_LENGTH:
        ended = db.session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token))
                                   .returning(UserSession.user_id)).scalars().all()
        db.session.commit()
        for user_id in set(ended):
            session_cache.forget_account(user_id)


def _end_all_sessions(user: User) -> None:
    """In the caller's transaction: every session of the account ends."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))


# --- reading ----------------------------------------------------------------------

def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def get_by_username(username: str) -> User | None:
    return _by_username(normalize_username(username))


def list_users() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.username)).scalars())


def any_admin_exists() -> bool:
    return db.session.execute(
        select(User.id).where(User.role == "admin", User.active.is_(True)).limit(1)
    ).first() is not None


# --- changes (admin pages, own password) ------------------------------------------

def _lock(user_id: int, *, admins_too: bool) -> User | None:
    """Lock the account's row for this transaction. With admins_too, first
    lock every active admin (in id order, so concurrent changes queue up
    rather than deadlock): two admins demoting each other at the same moment
    then run one after the other, and the second sees the first's change."""
    if admins_too:
        db.session.execute(
            select(User.id).where(User.role == "admin", User.active.is_(True)).order_by(User.id).with_for_update()
        ).all()
    return db.session.execute(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _refuse_last_admin(user: User) -> None:
    """Called with the admins locked: refuse if user is the only active admin."""
    others = db.session.execute(
        select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id).limit(1)
    ).first()
    if user.role == "admin" and user.active and others is None:
        db.session.rollback()
        raise LastAdminError(user.username)


def _missing(user_id: int) -> InvalidInput:
    db.session.rollback()
    return InvalidInput({"user": f"There is no account #{user_id}."})


def set_role(user_id: int, role: str, *, actor=None, source: str = "cli") -> User:
    if role not in ROLES:
        raise InvalidInput({"role": f"Role must be one of: {', '.join(ROLES)}."})
    user = _lock(user_id, admins_too=True)
    if user is None:
        raise _missing(user_id)
    if role != "admin":
        _refuse_last_admin(user)
    if role == user.role:  # nothing changes, nothing to record
        db.session.rollback()
        return user
    audit.record_account_change(user, {"role": [user.role, role]}, source=source, actor=actor)
    user.role = role
    db.session.commit()
    session_cache.forget_account(user.id)  # the new role counts from the next request
    return user


def set_active(user_id: int, active: bool, *, actor=None, source: str = "cli") -> User:
    """Deactivate (its sessions end on their next request) or reactivate."""
    user = _lock(user_id, admins_too=not active)
    if user is None:
        raise _missing(user_id)
    if not active:
        if actor is not None and actor.id == user.id:
            db.session.rollback()
            raise InvalidInput({"active": "You cannot deactivate your own account."})
        _refuse_last_admin(user)
        _end_all_sessions(user)
    if user.active != active:
        audit.record_account_change(user, {"active": [_yes_no(user.active), _yes_no(active)]},
                                    source=source, actor=actor)
    user.active = active
    db.session.commit()
    session_cache.forget_account(user.id)
    return user


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


# What the log keeps of a new password: that it was set, never a value.
PASSWORD_SET = {"password": [None, "set"]}


def _store_password(user: User, password: str) -> None:
    user.password_hash = _hash(password)
    user.password_changed_at = datetime.now(timezone.utc)
    _end_all_sessions(user)  # the own-password view then opens a fresh one for its browser
    user.failed_logins, user.locked_until = 0, None


def set_password(user_id: int, password: str, *, actor=None, source: str = "cli") -> User:
    """An administrator (page or command line) sets a new password for an
    account; this also lifts its login lock."""
    user = _lock(user_id, admins_too=False)
    if user is None:
        raise _missing(user_id)
    problem = password_problem(user.username, password)
    if problem:
        db.session.rollback()
        raise InvalidInput({"password": problem})
    _store_password(user, password)
    audit.record_account_change(user, PASSWORD_SET, source=source, actor=actor)
    db.session.commit()
    session_cache.forget_account(user.id)
    login_throttle.clear(user.username)  # a locked-out person can log in with it at once
    return user


def change_own_password(user_id: int, current: str, new: str) -> User:
    """A person changes their own password: the current one must be right,
    the new one must follow the rules and differ from it."""
    user = _lock(user_id, admins_too=False)
    if user is None:
        raise _missing(user_id)
    errors = {}
    if not check_password_hash(user.password_hash, current):
        errors["current_password"] = "The current password is not right."
    elif new == current:
        errors["new_password"] = "The new password must differ from the current one."
    else:
        problem = password_problem(user.username, new)
        if problem:
            errors["new_password"] = problem
    if errors:
        db.session.rollback()
        raise InvalidInput(errors)
    _store_password(user, new)
    audit.record_account_change(user, PASSWORD_SET, source="password", actor=user)
    db.session.commit()
    session_cache.forget_account(user.id)
    return user
