"""Accounts: creating them, logging in, roles, activation and passwords.

Used by the login and account views, the admin pages and the CLI. Every
change that must end an account's other sessions (a new password, a
deactivation) raises users.session_version, which is part of the login
session's id (User.get_id) and checked on every request (load_session_user).
"""
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import ROLES, User
from . import login_throttle
from .errors import InvalidInput, ServiceError
from .login_throttle import LoginLocked  # noqa: F401  (re-exported for the views)

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
    return (raw or "").strip().lower()


def username_problem(username: str) -> str | None:
    """Letters of any script, digits and ._-@; what the CLI, the admin page and
    the database's CHECK accept (stored lower-case)."""
    if not username or len(username) > MAX_USERNAME_LENGTH \
            or not all(c.isalnum() or c in USERNAME_PUNCTUATION for c in username):
        return f"Username: 1 to {MAX_USERNAME_LENGTH} letters, digits, '.', '_', '-' or '@'."
    return None


def password_problem(username: str, password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    if username and normalize_username(username) in password.lower():
        return "Password must not contain the username."
    return None


def _hash(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def create_user(username: str, password: str, role: str) -> User:
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
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidInput({"username": f"User {username} already exists."}) from None
    return user


# --- logging in -------------------------------------------------------------------

def _by_username(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def log_in(username: str, password: str, address: str | None) -> User:
    """The login: throttle, password, activation. Returns the user, or raises
    LoginLocked (429), WrongCredentials (401) or AccountInactive (403).

    A locked username or address is refused before the password is checked,
    with the same answer whether or not the account exists."""
    username = normalize_username(username)
    login_throttle.check(username, address)
    user = _by_username(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)  # as long as a real check
        login_throttle.record_failure(username, address)
        raise WrongCredentials(WrongCredentials.message)
    if not check_password_hash(user.password_hash, password):
        login_throttle.record_failure(username, address)
        raise WrongCredentials(WrongCredentials.message)
    if not user.active:
        raise AccountInactive(AccountInactive.message)
    login_throttle.record_success(username)
    user.last_login_at = datetime.now(timezone.utc)
    db.session.commit()
    return user


def load_session_user(session_id: str | None) -> User | None:
    """The user a login session belongs to ("<id>:<session_version>", see
    User.get_id), or None when the account is gone, deactivated, or its
    sessions were ended (new password, deactivation)."""
    user_id, _, version = (session_id or "").partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


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


def set_role(user_id: int, role: str) -> User:
    if role not in ROLES:
        raise InvalidInput({"role": f"Role must be one of: {', '.join(ROLES)}."})
    user = _lock(user_id, admins_too=True)
    if user is None:
        raise _missing(user_id)
    if role != "admin":
        _refuse_last_admin(user)
    user.role = role
    db.session.commit()
    return user


def set_active(user_id: int, active: bool, actor: User | None = None) -> User:
    """Deactivate (its sessions end on their next request) or reactivate."""
    user = _lock(user_id, admins_too=not active)
    if user is None:
        raise _missing(user_id)
    if not active:
        if actor is not None and actor.id == user.id:
            db.session.rollback()
            raise InvalidInput({"active": "You cannot deactivate your own account."})
        _refuse_last_admin(user)
        if user.active:
            user.session_version += 1
    user.active = active
    db.session.commit()
    return user


def _store_password(user: User, password: str) -> None:
    user.password_hash = _hash(password)
    user.password_changed_at = datetime.now(timezone.utc)
    user.session_version += 1  # every other session of this account ends
    user.failed_logins, user.locked_until = 0, None


def set_password(user_id: int, password: str) -> User:
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
    db.session.commit()
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
    db.session.commit()
    return user
