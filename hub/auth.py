"""People, passwords, tokens and what each role may do: the one place for access rules.

Passwords are hashed with argon2id (argon2-cffi). A login returns a random token; only its SHA-256 is
stored, with an expiry (cfg.hub.token_ttl_s), so a leaked database does not leak live sessions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.db import Database

ROLES = ("admin", "monitor", "floor_manager", "maintenance")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256

# Permission -> roles that hold it. Every route names one permission (hub/api/*); admin holds all.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "alarms.act": frozenset({"admin", "monitor"}),
    "tickets.act": frozenset({"admin", "maintenance"}),
    "dispatches.act": frozenset({"admin", "floor_manager"}),
    "users.read": frozenset({"admin"}),
    "users.write": frozenset({"admin"}),
    "devices.write": frozenset({"admin"}),
    "rules.write": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
}

_hasher = PasswordHasher()


class AuthError(ValueError):
    """Bad credentials or a bad user definition (the message is safe to show)."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    person: str = ""

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users and sessions in the hub database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, username: str, role: str, password: str, person: str = "", now: float = 0.0) -> None:
        if not USERNAME_RE.match(username):
            raise AuthError("username must be 1-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AuthError(f"password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO users(username, role, password_hash, person, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(username) DO UPDATE SET role=excluded.role, password_hash=excluded.password_hash, "
                "person=CASE WHEN excluded.person != '' THEN excluded.person ELSE users.person END",
                (username, role, hash_password(password), person, now),
            )
            # A changed password or role ends the user's sessions.
            self.db.execute("DELETE FROM sessions WHERE username=?", (username,))

    def get(self, username: str) -> User | None:
        row = self.db.one("SELECT username, role, person FROM users WHERE username=?", (username,))
        return User(row["username"], row["role"], row["person"]) if row else None

    def list(self) -> list[User]:
        return [User(r["username"], r["role"], r["person"]) for r in self.db.all(
            "SELECT username, role, person FROM users ORDER BY username")]

    def check_password(self, username: str, password: str) -> User:
        row = self.db.one("SELECT username, role, person, password_hash FROM users WHERE username=?", (username,))
        if row is None:
            _hasher.hash(password)  # same cost whether or not the user exists
            raise AuthError("wrong username or password")
        try:
            _hasher.verify(row["password_hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise AuthError("wrong username or password") from None
        return User(row["username"], row["role"], row["person"])

    def login(self, username: str, password: str, now: float, ttl_s: float) -> tuple[str, User]:
        user = self.check_password(username, password)
        token = secrets.token_urlsafe(32)
        with self.db.transaction():
            self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            self.db.execute("INSERT INTO sessions VALUES (?,?,?,?)", (_token_hash(token), username, now, now + ttl_s))
        return token, user

    def user_for_token(self, token: str, now: float) -> User | None:
        row = self.db.one(
            "SELECT u.username, u.role, u.person FROM sessions s JOIN users u ON u.username=s.username "
            "WHERE s.token_hash=? AND s.expires_at > ?", (_token_hash(token), now),
        )
        return User(row["username"], row["role"], row["person"]) if row else None

    def logout(self, token: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM sessions WHERE token_hash=?", (_token_hash(token),))
