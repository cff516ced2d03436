"""The notification outbox: a row per (event, person, step, channel) written in the transaction of the
change that pages (so ``kill -9`` after the commit loses no page and a rolled-back change sends none), and
a fixed pool of workers that deliver due rows with retries and exponential backoff.

Exactly once per idempotency key, as far as the hub can: the key is UNIQUE (``INSERT OR IGNORE``: the same
step paged twice writes one row), and a row is marked delivered right after the channel accepts it. A crash
between the channel's acceptance and that mark sends it again on restart (at-least-once at the wire; a
window of one request), so the key travels with the message (``X-FloorOps-Key`` in mail,
``Idempotency-Key`` to the SMS gateway) for receivers to drop a repeat. Quiet hours are decided when the row is written (``next_at`` after their end)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from typing import Any, Callable

import aiohttp

from floorops.aio import wait_event
from hub.clock import Clock
from hub.db import Database, busy
from hub.notify import Channel, DeliveryError, Message
from hub.notify.settings import OutboxSettings

log = logging.getLogger("hub.notify")

PRUNE_EVERY_S = 60.0
MARK_TRIES = 200  # x MARK_WAIT_S: how long a delivery's outcome waits for another process's write lock
MARK_WAIT_S = 0.05


def enqueue(db: Database, key: str, channel: str, person_id: str, subject_kind: str, subject_id: str, step: int,
            message: Message, next_at: float, now: float) -> bool:
    """Inside the caller's transaction; False when this key was written before (nothing new to send)."""
    cur = db.execute(
        "INSERT OR IGNORE INTO notify_outbox(key, channel, person_id, subject_kind, subject_id, step, urgent, "
        "message, next_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (key, channel, person_id, subject_kind, subject_id, step, int(message.urgent),
         json.dumps(message.json(), ensure_ascii=False), next_at, now))
    return cur.rowcount == 1


def cancel(db: Database, subject_kind: str, subject_id: str, now: float) -> int:
    """Pages not sent yet about a subject someone acknowledged: no longer needed."""
    cur = db.execute("UPDATE notify_outbox SET state='cancelled', done_at=? WHERE subject_kind=? AND subject_id=? "
                     "AND state='pending'", (now, subject_kind, subject_id))
    return cur.rowcount


def forget_address(db: Database, row_id: int) -> None:
    """Erase the recipient's address from a row's stored message (a complainant's phone number, once its
    notice is sent or has failed for good: docs/privacy.md)."""
    row = db.one("SELECT message FROM notify_outbox WHERE id=?", (row_id,))
    if row is None:
        return
    message = json.loads(row["message"])
    message["address"] = message["mobile"] = ""
    db.execute("UPDATE notify_outbox SET message=? WHERE id=?", (json.dumps(message, ensure_ascii=False), row_id))


class NotifySender:
    """The outbox's fixed pool of delivering workers (an asyncio task of the hub)."""

    def __init__(self, db: Database, clock: Clock, channels: dict[str, Channel], settings: OutboxSettings) -> None:
        self.db, self.clock, self.channels, self.settings = db, clock, channels, settings
        self.stats: Counter[str] = Counter()
        # Called with (row, "delivered" | "failed", error) in the transaction that marks a row finished: the
        # module that wrote the row records the outcome (hub.requests: a closure notice).
        self.finished: list[Callable[[Any, str, str], None]] = []
        self._inflight: set[int] = set()
        self._wake: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                                              headers={"User-Agent": "FloorOps-hub"})
        workers_n = max(1, self.settings.workers)
        queue: asyncio.Queue[Any] = asyncio.Queue(workers_n)
        workers = [asyncio.create_task(self._worker(queue), name=f"notify-{i}") for i in range(workers_n)]
        pruned_at = float("-inf")
        try:
            while True:
                now = self.clock.now()
                if now - pruned_at >= PRUNE_EVERY_S:
                    self._prune(now)
                    pruned_at = now
                self._wake.clear()
                rows = self._due(now, workers_n + len(self._inflight))
                fresh = [r for r in rows if r["id"] not in self._inflight]
                for r in fresh:
                    self._inflight.add(r["id"])
                    await queue.put(r)
                if fresh:
                    continue
                await wait_event(self._wake, 0.5)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await self._session.close()

    def _due(self, now: float, limit: int) -> list[Any]:
        try:
            return self.db.all("SELECT * FROM notify_outbox WHERE state='pending' AND next_at <= ? "
                               "ORDER BY urgent DESC, id LIMIT ?", (now, limit))
        except Exception as exc:  # noqa: BLE001 - a locked or failing database: try again at the next turn
            self.stats["db_errors"] += 1
            log.warning("notify outbox not readable", extra={"error": str(exc)[:200]})
            return []

    def _prune(self, now: float) -> None:
        try:
            self.db.execute("DELETE FROM notify_outbox WHERE state != 'pending' AND COALESCE(done_at, created_at) < ?",
                            (now - self.settings.keep_s,))
        except Exception as exc:  # noqa: BLE001 - pruning waits for the next minute
            log.warning("notify outbox not pruned", extra={"error": str(exc)[:200]})

    async def _worker(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            row = await queue.get()
            try:
                await self.deliver(row)
            except Exception:  # noqa: BLE001 - one bad row must not stop the worker
                log.exception("notification failed unexpectedly", extra={"id": row["id"]})
            finally:
                self._inflight.discard(row["id"])
                self.wake()

    async def deliver(self, row: Any) -> None:
        assert self._session is not None
        channel = self.channels.get(row["channel"])
        if channel is None:
            self._finish(row, "failed", "channel no longer configured")
            return
        try:
            message = Message.from_json({**json.loads(row["message"]), "key": row["key"]})
            await channel.send(message, self._session)
        except DeliveryError as exc:
            await self._marked(self._retry_or_fail, row, str(exc), exc.final)
            return
        except ValueError as exc:
            await self._marked(self._retry_or_fail, row, f"bad message: {exc}"[:300], True)
            return
        await self._marked(self._finish, row, "delivered", "")
        log.info("notification delivered", extra={"channel": row["channel"], "person": row["person_id"],
                                                  "subject": f"{row['subject_kind']}:{row['subject_id']}",
                                                  "step": row["step"], "key": row["key"]})

    async def _marked(self, mark: Any, *args: Any) -> None:
        """Record the outcome, waiting (async) while another process holds the write lock: a delivered row
        left pending would be sent again."""
        for attempt in range(MARK_TRIES):
            try:
                mark(*args)
                return
            except Exception as exc:  # noqa: BLE001 - only a busy database is waited for
                if not busy(exc) or attempt == MARK_TRIES - 1:
                    raise
                self.stats["mark_waits"] += 1
                await asyncio.sleep(MARK_WAIT_S)

    def _retry_or_fail(self, row: Any, error: str, final: bool) -> None:
        attempts = row["attempts"] + 1
        if final or attempts > self.settings.retries:
            self._finish(row, "failed", error)
            log.error("notification not delivered", extra={"channel": row["channel"], "person": row["person_id"],
                                                           "attempts": attempts, "error": error})
            return
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_s * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        self.db.execute("UPDATE notify_outbox SET attempts=?, next_at=?, last_error=? WHERE id=?",
                        (attempts, self.clock.now() + delay, error, row["id"]))
        self.stats["retries"] += 1

    def _finish(self, row: Any, state: str, error: str) -> None:
        with self.db.transaction():
            cur = self.db.execute("UPDATE notify_outbox SET state=?, attempts=attempts+1, done_at=?, last_error=? "
                                  "WHERE id=? AND state='pending'", (state, self.clock.now(), error, row["id"]))
            if cur.rowcount:
                for listener in self.finished:
                    listener(row, state, error)
        self.stats[state] += 1
