from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

ROLES = ("admin", "hr", "viewer")
# The roles in words (the account menu, the History's account entries).
ROLE_LABELS = {"admin": "Administrator", "hr": "HR staff", "viewer": "Read only"}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The login throttle's fallback when Valkey is down: coarse, per account.
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="ck_users_role"),
        CheckConstraint("username = lower(btrim(username)) AND username <> ''", name="ck_users_username_canonical"),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role})>"


class UserSession(db.Model):
    """A login session, checked on every request (services.users.load_session_user):
    deleting the row ends the session, whatever the browser's cookie holds."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # sha256 of the random token in the session cookie: a copy of this table
    # opens no session.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
