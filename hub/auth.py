"""People, passwords, tokens and what each role may do: the one place for access rules.

Passwords are hashed with argon2id (argon2-cffi). A login returns a random token; only its SHA-256 is
stored, with an expiry (cfg.hub.token_ttl_s), so a leaked database does not leak live sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from floorops.aio import acquire
from hub.db import Database

T = TypeVar("T")

# service_desk: the desk that raises requests for people and answers complaints; liaison: a department's
# contact who raises and takes work orders (hub.requests).
ROLES = ("admin", "monitor", "floor_manager", "maintenance", "service_desk", "liaison")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256

# Permission -> roles that hold it. Every route names one permission (hub/api/*); admin holds all.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "alarms.act": frozenset({"admin", "monitor"}),
    # The people an escalation pages acknowledge and discuss the alarm (issue #15); clearing stays alarms.act.
    "alarms.ack": frozenset({"admin", "monitor", "floor_manager", "maintenance"}),
    "silences.write": frozenset({"admin", "monitor"}),
    "tickets.act": frozenset({"admin", "maintenance"}),
    "dispatches.act": frozenset({"admin", "floor_manager", "liaison"}),
    "requests.raise": frozenset({"admin", "service_desk", "liaison", "floor_manager"}),
    "requests.close": frozenset({"admin", "service_desk", "floor_manager"}),
    # Those a request's escalation pages acknowledge it (hub.requests.acknowledge; their own offer: accepted).
    "requests.ack": frozenset({"admin", "floor_manager", "maintenance", "service_desk", "liaison"}),
    "users.read": frozenset({"admin"}),
    "users.write": frozenset({"admin"}),
    "devices.write": frozenset({"admin"}),
    "rules.write": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
    "screens.notice": frozenset({"admin", "monitor", "floor_manager"}),  # notices to the queue screens
    "reports.read": frozenset({"admin", "monitor", "floor_manager"}),  # day/week/month/quarter reports
    # The satisfaction_low rule's corrective actions are the floor managers' (hub.satisfaction).
    "satisfaction.act": frozenset({"admin", "floor_manager"}),
    "people.read": frozenset({"admin"}),  # the roster's people with their contact points (hub.api.roster)
    "people.write": frozenset({"admin"}),
    "roster.plan": frozenset({"admin", "floor_manager"}),  # propose, edit and publish a day's roster
}

_hasher = PasswordHasher()
# Verified against when the username does not exist, so that a miss costs what a hit costs.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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


def verify_password(stored_hash: str | None, password: str) -> bool:
    """argon2 verification (tens of ms of CPU: run it in a ``PasswordPool``, never on the event loop).
    ``None`` (no such user) verifies against a dummy hash so that the answer takes as long."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class LoginBusy(Exception):
    """Every password thread is busy and the wait queue is full: answer 503 now rather than queue forever."""


class PasswordPool:
    """A few threads for argon2 (argon2-cffi releases the GIL) and a bounded line of waiting logins.

    A login waits (costing the loop nothing) at most ``wait_s`` for a thread; beyond ``queue`` waiters, or
    after that wait, it is refused (503). Waiting instead of refusing at once paces a flood of clients to
    what the threads can verify, so the loop is not busy answering thousands of refusals a second."""

    def __init__(self, workers: int = 1, queue: int = 64, wait_s: float = 2.0) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(max(1, workers))
        self.queue = max(0, queue)
        self.wait_s = wait_s
        self.waiting = 0

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await self._run(verify_password, stored_hash, password)

    async def hash(self, password: str) -> str:
        """A new password's argon2 hash, computed in the pool (an admin adding users must not stall the loop)."""
        return await self._run(hash_password, password)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.waiting >= self.queue and self._slots.locked():
            await asyncio.sleep(self.wait_s)  # held, not answered at once: a flooder waits like the rest
            raise LoginBusy()
        self.waiting += 1
        try:
            if not await acquire(self._slots, self.wait_s):
                raise LoginBusy()
        finally:
            self.waiting -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LoginThrottle:
    """Failed logins per client address and per (address, username), with exponential backoff.

    A key with ``free`` failures waits nothing; each further failure doubles the wait (1 s, 2 s, 4 s ...
    up to ``max_wait_s``). Keys are the address, never the username alone, so a stranger cannot lock the
    admin out from elsewhere. At most ``max_keys`` records (oldest dropped first); a record is forgotten
    ``forget_s`` after its last failure; a success clears the (address, username) record.
    """

    def __init__(self, free_per_user: int = 3, free_per_address: int = 10, base_s: float = 1.0,
                 max_wait_s: float = 300.0, forget_s: float = 900.0, max_keys: int = 10_000) -> None:
        self.free = {"user": free_per_user, "addr": free_per_address}
        self.base_s = base_s
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._failures: OrderedDict[tuple[str, ...], tuple[int, float]] = OrderedDict()  # key -> (count, last)

    def _keys(self, address: str, username: str) -> list[tuple[str, tuple[str, ...]]]:
        return [("addr", (address,)), ("user", (address, username))]

    def _prune(self, now: float) -> None:
        while self._failures:
            key, (_, last) = next(iter(self._failures.items()))
            if now - last < self.forget_s and len(self._failures) <= self.max_keys:
                break
            del self._failures[key]

    def wait_s(self, address: str, username: str, now: float) -> float:
        """Seconds until this address may try this username again (0: now)."""
        self._prune(now)
        wait = 0.0
        for kind, key in self._keys(address, username):
            count, last = self._failures.get(key, (0, now))
            over = count - self.free[kind]
            if over >= 0:
                wait = max(wait, last + min(self.max_wait_s, self.base_s * 2 ** min(over, 30)) - now)
        return max(0.0, wait)

    def failed(self, address: str, username: str, now: float) -> None:
        for _, key in self._keys(address, username):
            count, _ = self._failures.pop(key, (0, now))
            self._failures[key] = (count + 1, now)  # to the end: the oldest failure is first
        self._prune(now)

    def succeeded(self, address: str, username: str) -> None:
        self._failures.pop((address, username), None)

    def __len__(self) -> int:
        return len(self._failures)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users and sessions in the hub database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def check(username: str, role: str, password: str) -> None:
        """Raise :class:`AuthError` naming what is wrong with a user to be stored."""
        if not USERNAME_RE.match(username):
            raise AuthError("username must be 1-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AuthError(f"password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")

    def upsert(self, username: str, role: str, password: str, person: str = "", now: float = 0.0,
               password_hash: str | None = None) -> None:
        """Store a user; ``password_hash``, when the caller hashed ``password`` already (off the event loop)."""
        self.check(username, role, password)
        hashed = password_hash if password_hash is not None else hash_password(password)
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO users(username, role, password_hash, person, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(username) DO UPDATE SET role=excluded.role, password_hash=excluded.password_hash, "
                "person=CASE WHEN excluded.person != '' THEN excluded.person ELSE users.person END",
                (username, role, hashed, person, now),
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
        """Synchronous check (CLI, tests); the HTTP login uses ``password_hash`` + ``PasswordPool``."""
        stored = self.password_hash(username)
        if not verify_password(stored[1] if stored else None, password) or stored is None:
            raise AuthError("wrong username or password")  # (verify_password(None) is False, at full cost)
        return stored[0]

    def password_hash(self, username: str) -> tuple[User, str] | None:
        row = self.db.one("SELECT username, role, person, password_hash FROM users WHERE username=?", (username,))
        return (User(row["username"], row["role"], row["person"]), row["password_hash"]) if row else None

    def open_session(self, user: User, now: float, ttl_s: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.db.transaction():
            self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            self.db.execute("INSERT INTO sessions VALUES (?,?,?,?)",
                            (_token_hash(token), user.username, now, now + ttl_s))
        return token

    def login(self, username: str, password: str, now: float, ttl_s: float) -> tuple[str, User]:
        user = self.check_password(username, password)
        return self.open_session(user, now, ttl_s), user

    def live_sessions(self, tokens: Sequence[str], now: float) -> dict[str, User]:
        """token -> its user now, for the tokens whose session still exists and has not expired (one query:
        the hub checks its open WebSockets with it every second)."""
        if not tokens:
            return {}
        by_hash = {_token_hash(t): t for t in tokens}
        out: dict[str, User] = {}
        hashes = list(by_hash)
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            for r in self.db.all(
                    "SELECT s.token_hash, u.username, u.role, u.person FROM sessions s JOIN users u ON "
                    f"u.username=s.username WHERE s.expires_at > ? AND s.token_hash IN ({','.join('?' * len(chunk))})",
                    (now, *chunk)):
                out[by_hash[r["token_hash"]]] = User(r["username"], r["role"], r["person"])
        return out

    def user_for_token(self, token: str, now: float) -> User | None:
        row = self.db.one(
            "SELECT u.username, u.role, u.person FROM sessions s JOIN users u ON u.username=s.username "
            "WHERE s.token_hash=? AND s.expires_at > ?", (_token_hash(token), now),
        )
        return User(row["username"], row["role"], row["person"]) if row else None

    def logout(self, token: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM sessions WHERE token_hash=?", (_token_hash(token),))
