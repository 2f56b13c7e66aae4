"""Accounts: creating them and checking a password at login."""
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import ROLES, User
from .errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
# scrypt (werkzeug's default KDF): memory-hard, per-password salt.
PASSWORD_METHOD = "scrypt"
# Checked when the username is unknown, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("timing-equaliser", method=PASSWORD_METHOD)


def normalize_username(raw: str | None) -> str:
    return (raw or "").strip().lower()


def password_problem(username: str, password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if username and username in password.lower():
        return "Password must not contain the username."
    return None


def create_user(username: str, password: str, role: str) -> User:
    username = normalize_username(username)
    errors = {}
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
        errors["username"] = "Username: 1 to 64 letters, digits, '.', '_', '-' or '@'."
    if role not in ROLES:
        errors["role"] = f"Role must be one of: {', '.join(ROLES)}."
    problem = password_problem(username, password)
    if problem:
        errors["password"] = problem
    if errors:
        raise InvalidInput(errors)
    user = User(username=username, role=role,
                password_hash=generate_password_hash(password, method=PASSWORD_METHOD))
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidInput({"username": f"User {username} already exists."}) from None
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = db.session.execute(
        select(User).where(User.username == normalize_username(username))
    ).scalar_one_or_none()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    user.last_login_at = datetime.now(timezone.utc)
    db.session.commit()
    return user


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def any_admin_exists() -> bool:
    return db.session.execute(
        select(User.id).where(User.role == "admin", User.active.is_(True)).limit(1)
    ).first() is not None
