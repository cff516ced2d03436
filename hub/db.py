"""The hub's SQLite database: WAL, numbered SQL migrations, one writer transaction at a time.

Why SQLite in WAL mode: readers (the HTTP API, the CLI in another process) never block the writer, and a
committed transaction survives ``kill -9`` of the hub. The ingest loop applies a batch of records, its
alarms, tickets and events in one transaction, then acknowledges the batch to the broker: a crash
before the commit means the broker redelivers, and the dedup table makes the redelivery harmless.

``synchronous=FULL``: a commit is on disk (WAL fsynced) before the batch is acknowledged, so a power cut
after the ack loses nothing either (NORMAL only survived a process crash); its cost is measured in
docs/benchmarks.md. The hub's event loop runs with ``busy_timeout=0`` (``fail_fast()``): when another
process holds the write lock, ``BEGIN IMMEDIATE`` fails at once with ``database is locked`` and the
caller retries the whole unit of work later (ingest, ticks, HTTP actions), instead of the loop sleeping in
SQLite's busy handler. Reads never wait in WAL mode.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Waiting for the write lock outside the event loop (start-up migrations, the CLI in another process).
BUSY_TIMEOUT_MS = 10_000


class DatabaseCorrupt(Exception):
    """The database file fails SQLite's integrity check or is not a database (exit code 3 of the CLI)."""


def environmental(exc: BaseException) -> bool:
    """True when a failure is the database's or the machine's (locked, busy, disk full, I/O error, read-only,
    corrupt page), not the record's: such work is retried, never dead-lettered. A record's own failures
    are constraint violations, values SQLite cannot bind (an integer over 64 bits) and Python errors."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                        sqlite3.DataError)):
        return False
    return isinstance(exc, (sqlite3.DatabaseError, OSError, MemoryError))


def busy(exc: BaseException) -> bool:
    """Another connection holds the write lock (SQLITE_BUSY / SQLITE_LOCKED): wait and try again."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def quick_check(conn: sqlite3.Connection) -> str:
    """``PRAGMA quick_check``: 'ok', or SQLite's first complaint (a corrupt file)."""
    rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    if [tuple(r) for r in rows] == [("ok",)]:
        return "ok"
    return " ".join("; ".join(str(r[0]) for r in rows).split())[:300]  # one line


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote (sqlite3 types lastrowid Optional: None only before any insert)."""
    if cur.lastrowid is None:
        raise RuntimeError("no row was inserted")
    return cur.lastrowid


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped in hub/migrations, in order."""
    found = []
    for entry in resources.files("hub.migrations").iterdir():
        m = MIGRATION_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """One connection; ``transaction()`` nests (only the outermost commits)."""

    def __init__(self, path: str | Path, synchronous: str = "FULL", check: bool = True) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                    timeout=BUSY_TIMEOUT_MS / 1000)
        self.conn.row_factory = sqlite3.Row
        self._depth = 0
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            if check and (problem := quick_check(self.conn)) != "ok":
                raise DatabaseCorrupt(f"{path}: integrity check failed: {problem}")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise
            raise DatabaseCorrupt(f"{path}: {exc}") from None
        except DatabaseCorrupt:
            self.conn.close()
            raise

    def fail_fast(self) -> None:
        """No waiting for another process's write lock: for the connection of the hub's event loop."""
        self.conn.execute("PRAGMA busy_timeout=0")

    def migrate(self) -> int:
        """Apply the migrations not applied yet; returns the schema version."""
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
        done = {r[0] for r in self.conn.execute("SELECT version FROM schema_version")}
        for version, name, sql in migrations():
            if version in done:
                continue
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                if self.conn.execute("SELECT 1 FROM schema_version WHERE version=?", (version,)).fetchone():
                    self.conn.execute("COMMIT")
                    continue
                for statement in _statements(sql):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, strftime('%s','now'))", (version, name)
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return self.version

    @property
    def version(self) -> int:
        row = self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Outermost: BEGIN IMMEDIATE .. COMMIT. Nested: a savepoint, so an inner failure undoes only itself."""
        depth = self._depth
        self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
        self._depth += 1
        try:
            yield self.conn
        except BaseException:
            self._depth -= 1
            if depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{depth}")
                self.conn.execute(f"RELEASE sp{depth}")
            raise
        self._depth -= 1
        self.conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def ping(self) -> bool:
        try:
            self.conn.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    def close(self) -> None:
        self.conn.close()


def backup(source: str | Path, dest: str | Path) -> dict[str, Any]:
    """Copy a live database with SQLite's online backup API (a consistent snapshot; the hub keeps writing)
    to ``dest`` through a temporary file renamed into place, then check the copy."""
    dest = Path(dest)
    if not Path(source).is_file():
        raise FileNotFoundError(f"no database at {source}")
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(str(source), timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        out = sqlite3.connect(str(tmp))
        try:
            src.backup(out)
            problem = quick_check(out)
            version = out.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        finally:
            out.close()
    finally:
        src.close()
    if problem != "ok":
        tmp.unlink(missing_ok=True)
        raise DatabaseCorrupt(f"the copy of {source} fails its integrity check: {problem}")
    tmp.replace(dest)
    return {"backup": str(dest), "bytes": dest.stat().st_size, "schema_version": version, "quick_check": "ok"}


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (no triggers with inner semicolons in our migrations)."""
    text = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]
