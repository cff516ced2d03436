"""The durable on-disk buffer: everything InfluxDB or the hub has not acknowledged yet.

InfluxDB lines are stored as one chunk per batch and hub records as the MQTT messages that will carry
them (batches, ``edge.outputs.hub.pack_records``): a few rows per batch instead of one per message, which
cut the buffer's CPU per message from 20 to 8 us (bench/edge_buffer.py).

SQLite in WAL mode, so a ``kill -9`` loses nothing that was committed: the ingest thread commits a whole
batch (InfluxDB lines, hub records and the sequence state of the devices concerned) in one transaction and
only then acknowledges the devices' MQTT messages to the broker. The outputs read in id order (replay in
order) and delete what was acknowledged. The size is bounded by configuration: past ``max_rows`` the oldest
entries are dropped, and counted. ``max_bytes`` (a disk quota) and a real full disk (ENOSPC, SQLITE_FULL) lose
nothing instead: :meth:`DurableBuffer.commit` raises :class:`BufferFull` with nothing written, the agent keeps
the batch and does not acknowledge it, so the broker keeps the devices' messages until the buffer drains.

Each thread gets its own connection (SQLite connections are not shared across threads).
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS influx_chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS hub_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
                                         payload BLOB NOT NULL, records INTEGER NOT NULL,
                                         retain INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS seq_state (device_id TEXT PRIMARY KEY, state TEXT NOT NULL);
"""

# Buffers written before hub records were batched held one row per record; each becomes a message of one
# record under its own topic (the hub takes both forms), in the same order.
MIGRATE_RECORD_ROWS = """
INSERT INTO hub_messages (topic, payload, records, retain)
    SELECT topic, payload, 1, retain FROM hub_records ORDER BY id;
DROP TABLE hub_records;
"""


# Once a batch was refused over the quota, batches are taken again only when the buffer has drained to this
# share of it. Without the margin the full state flapped while InfluxDB was away: delivered hub messages freed
# a few bytes, one batch fitted, the next was refused, and every flap was a new episode, log line and status.
RESUME_SHARE = 0.9


class BufferFull(Exception):
    """The batch does not fit (quota ``max_bytes``, or the disk is full); nothing of it was written."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"edge buffer full ({reason}): {detail}")
        self.reason = reason  # "quota" or "disk"


def is_disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL (SQLite's answer to ENOSPC and to its own size limits) or an OSError ENOSPC/EDQUOT."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass
class Dropped:
    points: int = 0
    records: int = 0
    bytes: int = 0


@dataclass
class InfluxChunk:
    id: int
    n: int
    body: bytes


@dataclass(slots=True)
class HubMessage:
    """One MQTT message for the hub: a batch of ``records`` records (floorops.topics), or a single one."""

    topic: str
    payload: bytes
    records: int
    retain: bool = False
    id: int = 0


class DurableBuffer:
    """Crash-safe FIFO of InfluxDB line chunks and hub records, bounded at ``max_rows`` entries in all
    (oldest dropped) and at ``max_bytes`` of stored bodies and payloads (0: no quota; new batches refused)."""

    def __init__(self, path: Path, max_rows: int, synchronous: str = "NORMAL", max_bytes: int = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.over_quota = False  # a batch was refused over max_bytes; taken again below RESUME_SHARE of it
        self.synchronous = synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        db = self._db()
        db.executescript(SCHEMA)
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'hub_records'").fetchone():
            db.executescript(f"BEGIN IMMEDIATE; {MIGRATE_RECORD_ROWS} COMMIT;")
        self.pending_points = db.execute("SELECT COALESCE(SUM(n), 0) FROM influx_chunks").fetchone()[0]
        self.pending_records = db.execute("SELECT COALESCE(SUM(records), 0) FROM hub_messages").fetchone()[0]
        self.pending_bytes = (db.execute("SELECT COALESCE(SUM(length(body)), 0) FROM influx_chunks").fetchone()[0]
                              + db.execute("SELECT COALESCE(SUM(length(payload)), 0) FROM hub_messages").fetchone()[0])
        self.dropped = Dropped()
        # Acknowledged entries whose DELETE failed on a full disk: deleted with the next acknowledgement of
        # the same output (each output acknowledges from its own thread only). Never raised to the output: a
        # dead publisher or writer thread would stop delivery for good.
        self._deferred_chunks: list[tuple[int, int]] = []
        self._deferred_messages: list[int] = []

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

    def commit(self, lines: list[str], messages: list[HubMessage],
               seq_state: Iterable[tuple[str, str]] = ()) -> Dropped:
        """One transaction for a whole batch; returns what the row bound pushed out.

        Raises :class:`BufferFull` (nothing written) when the batch would take the buffer past ``max_bytes``
        (a batch alone larger than the quota still goes into an empty buffer: it could never fit otherwise)
        or when the disk is full. After a refusal over the quota, batches go in again only once the buffer
        has drained to ``RESUME_SHARE`` of it."""
        db = self._db()
        records = sum(m.records for m in messages)
        body = "\n".join(lines).encode() if lines else b""
        size = len(body) + sum(len(m.payload) for m in messages)
        if self.max_bytes and self.pending_bytes > 0:
            limit = int(self.max_bytes * RESUME_SHARE) if self.over_quota else self.max_bytes
            if self.pending_bytes + size > limit:
                self.over_quota = True
                raise BufferFull("quota", f"{self.pending_bytes} + {size} bytes > {limit} "
                                          f"(max_bytes {self.max_bytes})")
        self.over_quota = False
        counted: Dropped | None = None
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if is_disk_full(exc):
                raise BufferFull("disk", str(exc)) from exc
            raise
        try:
            if lines:
                db.execute("INSERT INTO influx_chunks (n, body) VALUES (?, ?)", (len(lines), body))
            if messages:
                db.executemany("INSERT INTO hub_messages (topic, payload, records, retain) VALUES (?, ?, ?, ?)",
                               [(m.topic, m.payload, m.records, m.retain) for m in messages])
            db.executemany("INSERT OR REPLACE INTO seq_state (device_id, state) VALUES (?, ?)", seq_state)
            dropped = self._enforce_bound(db, len(lines), records)
            # Counted before COMMIT: the outputs can only acknowledge (and subtract) what is committed, so
            # their subtraction never comes first. Counted after it, an output that was quick enough had its
            # subtraction clamped at zero and the gauge stayed above zero for good.
            self._count(len(lines), records, size, dropped)
            counted = dropped
            db.execute("COMMIT")
        except BaseException as exc:
            if counted is not None:
                self._count(len(lines), records, size, counted, sign=-1)
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.warning("edge buffer rollback failed", exc_info=True)
            if is_disk_full(exc):
                raise BufferFull("disk", str(exc)) from exc
            raise
        return dropped

    def _count(self, points: int, records: int, size: int, dropped: Dropped, sign: int = 1) -> None:
        """Add a committed batch to the pending and dropped counts (``sign=-1``: take it back)."""
        with self._lock:
            self.pending_points += sign * (points - dropped.points)
            self.pending_records += sign * (records - dropped.records)
            self.pending_bytes += sign * (size - dropped.bytes)
            self.dropped.points += sign * dropped.points
            self.dropped.records += sign * dropped.records
            self.dropped.bytes += sign * dropped.bytes

    def _enforce_bound(self, db: sqlite3.Connection, new_points: int, new_records: int) -> Dropped:
        dropped = Dropped()
        over = self.pending_points + self.pending_records + new_points + new_records - self.max_rows
        if over <= 0:
            return dropped
        # Oldest InfluxDB chunks first (the hub only needs the present), then the oldest records.
        for chunk_id, n, size in db.execute("SELECT id, n, length(body) FROM influx_chunks ORDER BY id").fetchall():
            if over <= 0:
                break
            db.execute("DELETE FROM influx_chunks WHERE id = ?", (chunk_id,))
            dropped.points += n
            dropped.bytes += size
            over -= n
        if over > 0:
            for msg_id, n, size in db.execute(
                    "SELECT id, records, length(payload) FROM hub_messages ORDER BY id").fetchall():
                if over <= 0:
                    break
                db.execute("DELETE FROM hub_messages WHERE id = ?", (msg_id,))
                dropped.records += n
                dropped.bytes += size
                over -= n
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
        if not chunks and not self._deferred_chunks:
            return
        # Chunks are read in id order, so they are one id range; an overflow may have dropped some already.
        ranges = self._deferred_chunks + ([(chunks[0].id, chunks[-1].id)] if chunks else [])
        try:
            db = self._db()
            rows = []
            db.execute("BEGIN IMMEDIATE")
            for lo, hi in ranges:
                rows += db.execute("DELETE FROM influx_chunks WHERE id BETWEEN ? AND ? RETURNING n, length(body)",
                                   (lo, hi)).fetchall()
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            if not is_disk_full(exc):
                raise
            self._deferred_chunks = ranges
            log.warning("edge buffer: cannot delete written points on a full disk; deleted later",
                        extra={"ranges": len(ranges)})
            return
        self._deferred_chunks = []
        with self._lock:
            self.pending_points = max(0, self.pending_points - sum(n for n, _ in rows))
            self.pending_bytes = max(0, self.pending_bytes - sum(b for _, b in rows))

    def hub_messages(self, after_id: int, max_records: int) -> list[HubMessage]:
        """Messages in order after ``after_id`` adding up to about ``max_records`` (at least one)."""
        out: list[HubMessage] = []
        total = 0
        cur = self._db().execute("SELECT id, topic, payload, records, retain FROM hub_messages WHERE id > ? "
                                 "ORDER BY id LIMIT 1000", (after_id,))
        for i, t, p, n, r in cur:
            if out and total + n > max_records:
                break
            out.append(HubMessage(t, p, n, bool(r), i))
            total += n
        return out

    def ack_hub(self, ids: list[int]) -> None:
        ids = self._deferred_messages + list(ids)
        if not ids:
            return
        try:
            db = self._db()
            rows = []
            db.execute("BEGIN IMMEDIATE")
            for i in range(0, len(ids), 500):  # SQLite bounds the number of parameters of one statement
                part = ids[i:i + 500]
                rows += db.execute(f"DELETE FROM hub_messages WHERE id IN ({','.join('?' * len(part))}) "
                                   "RETURNING records, length(payload)", part).fetchall()
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            if not is_disk_full(exc):
                raise
            self._deferred_messages = ids
            log.warning("edge buffer: cannot delete delivered hub records on a full disk; deleted later",
                        extra={"messages": len(ids)})
            return
        self._deferred_messages = []
        with self._lock:
            self.pending_records = max(0, self.pending_records - sum(n for n, _ in rows))
            self.pending_bytes = max(0, self.pending_bytes - sum(b for _, b in rows))

    def _rollback(self) -> None:
        db = self._db()
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                log.warning("edge buffer rollback failed", exc_info=True)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
