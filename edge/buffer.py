"""The durable on-disk buffer: everything InfluxDB or the hub has not acknowledged yet.

SQLite in WAL mode, so a ``kill -9`` loses nothing that was committed: the ingest thread commits a whole
batch (InfluxDB lines, hub records and the sequence state of the devices concerned) in one transaction and
only then acknowledges the devices' MQTT messages to the broker. The outputs read in id order (replay in
order) and delete what was acknowledged. The size is bounded by configuration: past the bound the oldest
entries are dropped, and counted.

Each thread gets its own connection (SQLite connections are not shared across threads).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS influx_chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS hub_records (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
                                        payload BLOB NOT NULL, retain INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS seq_state (device_id TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


@dataclass
class Dropped:
    points: int = 0
    records: int = 0


@dataclass
class InfluxChunk:
    id: int
    n: int
    body: bytes


@dataclass
class HubRow:
    id: int
    topic: str
    payload: bytes
    retain: bool


class DurableBuffer:
    """Crash-safe FIFO of InfluxDB line chunks and hub records, bounded at ``max_rows`` entries in all."""

    def __init__(self, path: Path, max_rows: int, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.synchronous = synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        db = self._db()
        db.executescript(SCHEMA)
        self.pending_points = db.execute("SELECT COALESCE(SUM(n), 0) FROM influx_chunks").fetchone()[0]
        self.pending_records = db.execute("SELECT COUNT(*) FROM hub_records").fetchone()[0]
        self.dropped = Dropped()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process (kill -9); FULL also survives
            # a power cut, at the cost of an fsync per batch.
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.db = db
        return db

    # -- ingest side ----------------------------------------------------------------------------

    def commit(self, lines: list[str], records: list[tuple[str, bytes, bool]],
               seq_state: Iterable[tuple[str, str]] = ()) -> Dropped:
        """One transaction for a whole batch; returns what the size bound pushed out."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if lines:
                db.execute("INSERT INTO influx_chunks (n, body) VALUES (?, ?)",
                           (len(lines), "\n".join(lines).encode()))
            if records:
                db.executemany("INSERT INTO hub_records (topic, payload, retain) VALUES (?, ?, ?)", records)
            db.executemany("INSERT OR REPLACE INTO seq_state (device_id, state) VALUES (?, ?)", seq_state)
            dropped = self._enforce_bound(db, len(lines), len(records))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._lock:
            self.pending_points += len(lines) - dropped.points
            self.pending_records += len(records) - dropped.records
            self.dropped.points += dropped.points
            self.dropped.records += dropped.records
        return dropped

    def _enforce_bound(self, db: sqlite3.Connection, new_points: int, new_records: int) -> Dropped:
        dropped = Dropped()
        over = self.pending_points + self.pending_records + new_points + new_records - self.max_rows
        if over <= 0:
            return dropped
        # Oldest InfluxDB chunks first (the hub only needs the present), then the oldest records.
        for chunk_id, n in db.execute("SELECT id, n FROM influx_chunks ORDER BY id").fetchall():
            if over <= 0:
                break
            db.execute("DELETE FROM influx_chunks WHERE id = ?", (chunk_id,))
            dropped.points += n
            over -= n
        if over > 0:
            cur = db.execute("DELETE FROM hub_records WHERE id IN (SELECT id FROM hub_records ORDER BY id LIMIT ?)",
                             (over,))
            dropped.records += cur.rowcount
        log.warning("edge buffer full: dropped the oldest entries",
                    extra={"points": dropped.points, "records": dropped.records, "max_rows": self.max_rows})
        return dropped

    def load_seq_state(self) -> list[tuple[str, str]]:
        return self._db().execute("SELECT device_id, state FROM seq_state").fetchall()

    # -- output side ----------------------------------------------------------------------------

    def influx_chunks(self, after_id: int, max_points: int) -> list[InfluxChunk]:
        """Chunks in order after ``after_id`` adding up to about ``max_points`` (at least one chunk)."""
        out: list[InfluxChunk] = []
        total = 0
        cur = self._db().execute("SELECT id, n, body FROM influx_chunks WHERE id > ? ORDER BY id LIMIT 1000",
                                 (after_id,))
        for cid, n, body in cur:
            if out and total + n > max_points:
                break
            out.append(InfluxChunk(cid, n, body))
            total += n
        return out

    def ack_influx(self, chunks: list[InfluxChunk]) -> None:
        if not chunks:
            return
        # Chunks are read in id order, so they are one id range; an overflow may have dropped some already.
        rows = self._db().execute("DELETE FROM influx_chunks WHERE id BETWEEN ? AND ? RETURNING n",
                                  (chunks[0].id, chunks[-1].id)).fetchall()
        with self._lock:
            self.pending_points = max(0, self.pending_points - sum(n for (n,) in rows))

    def hub_rows(self, after_id: int, limit: int) -> list[HubRow]:
        cur = self._db().execute(
            "SELECT id, topic, payload, retain FROM hub_records WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return [HubRow(i, t, p, bool(r)) for i, t, p, r in cur]

    def ack_hub(self, ids: list[int]) -> None:
        if not ids:
            return
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        before = db.total_changes
        db.executemany("DELETE FROM hub_records WHERE id = ?", [(i,) for i in ids])
        removed = db.total_changes - before
        db.execute("COMMIT")
        with self._lock:
            self.pending_records = max(0, self.pending_records - removed)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
