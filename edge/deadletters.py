"""Rejected device input, kept (bounded) so people can see what a device sent and why it was refused.

Payloads are redacted before they are stored: anything MAC-shaped is replaced (edge.processors.privacy),
so the store never holds a raw MAC even when the message was too broken to parse.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from edge.processors.privacy import redact, redact_text

MAX_STORED_PAYLOAD = 4096  # bytes kept of a rejected payload (the rest is cut, its length recorded)

SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, source TEXT NOT NULL,
    reason TEXT NOT NULL, message TEXT NOT NULL, size INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS deadletters_reason ON deadletters (reason);
"""


@dataclass
class DeadLetter:
    source: str  # the MQTT topic, or serial:<port>, or modbus:<bus>/<unit>
    reason: str
    message: str
    payload: bytes
    received_ms: int = 0
    size: int = 0
    id: int = 0

    @classmethod
    def make(cls, source: str, reason: str, message: str, payload: bytes) -> "DeadLetter":
        """Redacted at creation, so nothing downstream ever sees a raw MAC from a rejected input: the whole
        payload first (and its JSON-unescaped form), then cut (a MAC across the cut is gone by then), then
        once more, in case the cut left a hex run that now reads as a MAC."""
        return cls(redact_text(source), reason, redact_text(message),
                   redact(redact(payload)[:MAX_STORED_PAYLOAD]), int(time.time() * 1000), len(payload))

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["payload"] = self.payload.decode("utf-8", "backslashreplace")
        return d


class DeadLetterStore:
    def __init__(self, path: Path, max_rows: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self._local = threading.local()
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def add(self, letters: Iterable[DeadLetter]) -> int:
        rows = [(d.received_ms, d.source, d.reason, d.message, d.size, d.payload) for d in letters]
        if not rows:
            return 0
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO deadletters (received_ms, source, reason, message, size, payload) "
                       "VALUES (?, ?, ?, ?, ?, ?)", rows)
        # Bounded: keep the newest max_rows.
        db.execute("DELETE FROM deadletters WHERE id <= (SELECT MAX(id) FROM deadletters) - ?", (self.max_rows,))
        db.execute("COMMIT")
        return len(rows)

    def list(self, limit: int = 50, reason: str | None = None) -> list[DeadLetter]:
        q = "SELECT id, received_ms, source, reason, message, size, payload FROM deadletters"
        args: list[object] = []
        if reason:
            q += " WHERE reason = ?"
            args.append(reason)
        q += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [DeadLetter(source=s, reason=r, message=m, payload=p, received_ms=t, size=n, id=i)
                for i, t, s, r, m, n, p in self._db().execute(q, args)]

    def counts(self) -> dict[str, int]:
        return dict(self._db().execute("SELECT reason, COUNT(*) FROM deadletters GROUP BY reason").fetchall())

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def format_table(letters: list[DeadLetter]) -> str:
    out = []
    for d in letters:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.received_ms / 1000))
        preview = d.payload[:80].decode("utf-8", "backslashreplace").replace("\n", "\\n")
        out.append(f"{d.id:>8} {when} {d.reason:<16} {d.source:<48} {d.message} | {preview}")
    return "\n".join(out)


def dumps(letters: list[DeadLetter]) -> str:
    return "\n".join(json.dumps(d.to_json(), ensure_ascii=False) for d in letters)
