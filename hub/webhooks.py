"""Outbound webhooks: every alarm and dispatch event POSTed as JSON to each configured receiver.

Why an outbox: a delivery is a row of the hub's SQLite (``webhook_outbox``) written in the same transaction
as the event it carries, so a ``kill -9`` after the commit loses no delivery and a rolled-back change sends
none. A fixed pool of workers reads the outbox: a hung receiver costs ``webhook_workers`` tasks, never one
task per event. Each request is signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``); ``webhook-id`` is the outbox row's
key, the same on every retry, so a receiver can drop repeats. docs/security.md says how to verify.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import random
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

import aiohttp
from yarl import URL

from floorops.aio import wait_event
from floorops.config import ConfigError, HubConfig
from hub.db import Database
from hub.events import Event, EventBus

log = logging.getLogger("hub.webhooks")

FORWARDED = ("alarm.raised", "alarm.cleared", "alarm.updated", "dispatch.offered", "dispatch.updated")
SECRET_PREFIX = "whsec_"
SEVERITY_RANK = {"critical": 3, "major": 2, "minor": 1, "warning": 0}
# Dropped last: a new alarm outranks news about it, a critical one is never dropped (see priority()).
PROTECTED = SEVERITY_RANK["critical"] * 2 + 1
PRUNE_EVERY_S = 60.0
USER_AGENT = "FloorOps-hub"


@dataclass(frozen=True)
class Receiver:
    """One configured webhook: where, the HMAC key (None: unsigned) and which event types it wants.
    ``repr`` leaves the key out, so a logged receiver never leaks it."""

    url: str
    key: bytes | None = field(repr=False)
    events: frozenset[str]

    @property
    def shown(self) -> str:
        """The URL for logs, without credentials or query (which may carry a token)."""
        u = URL(self.url)
        return str(u.with_user(None).with_password(None).with_query(None).with_fragment(None))


def parse_secret(secret: str, where: str) -> bytes:
    """A Standard Webhooks secret: ``whsec_`` + base64 of the HMAC key (at least 24 bytes)."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ConfigError(f"{where}: expected 'whsec_' + base64 (Standard Webhooks)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ConfigError(f"{where}: the part after 'whsec_' is not base64") from None
    if len(key) < 24:
        raise ConfigError(f"{where}: use at least 24 random bytes (got {len(key)})")
    return key


def new_secret() -> str:
    """A fresh secret to hand a receiver (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def parse_receivers(entries: Iterable[str | Mapping[str, Any]], default_secret: str = "") -> list[Receiver]:
    """``hub.webhooks``: plain URLs or tables ``{url, secret, events?}``; clear errors otherwise. A receiver
    without its own secret is signed with ``default_secret`` (``hub.webhook_secret``), if any."""
    out: list[Receiver] = []
    default_key = parse_secret(default_secret, "hub.webhook_secret") if default_secret else None
    for i, entry in enumerate(entries):
        where = f"hub.webhooks[{i}]"
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a URL or a table {{url, secret, events}}")
        unknown = set(entry) - {"url", "secret", "events"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (use url, secret, events)")
        url = entry.get("url")
        if not isinstance(url, str) or URL(url).scheme not in ("http", "https") or not URL(url).host:
            raise ConfigError(f"{where}.url: expected an http(s) URL, got {url!r}")
        secret = entry.get("secret", "")
        key = parse_secret(secret, f"{where}.secret") if secret else default_key
        events = entry.get("events", list(FORWARDED))
        if isinstance(events, str):
            events = [events]
        if not isinstance(events, list) or not set(events) <= set(FORWARDED):
            raise ConfigError(f"{where}.events: expected a list of {', '.join(FORWARDED)}")
        out.append(Receiver(url, key, frozenset(events)))
    return out


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def priority(event: Event) -> int:
    """Higher is dropped later: the alarm's severity first, then a new alarm over an update about one."""
    rank = SEVERITY_RANK.get(str(event.data.get("severity", "")), 0)
    return rank * 2 + (1 if event.type == "alarm.raised" else 0)


class WebhookSender:
    """The outbox's writer (inside the event's transaction) and its fixed pool of delivering workers."""

    def __init__(self, db: Database, tz: ZoneInfo, receivers: list[Receiver], workers: int = 4,
                 queue_max: int = 10_000, timeout_s: float = 5.0, retries: int = 8, backoff_s: float = 1.0,
                 backoff_max_s: float = 300.0, keep_s: float = 86_400.0) -> None:
        self.db = db
        self.tz = tz
        self.receivers = {r.url: r for r in receivers}
        self.workers = max(1, workers)
        self.queue_max = queue_max
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.keep_s = keep_s
        self.stats: Counter[str] = Counter()
        self._inflight: set[int] = set()
        self._added = 0  # rows committed since the last bound check
        self._wake: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, cfg: HubConfig, db: Database, tz: ZoneInfo) -> "WebhookSender":
        receivers = parse_receivers(cfg.webhooks, cfg.webhook_secret)
        for r in receivers:
            if r.key is None:
                log.warning("webhook receiver has no secret: its deliveries are unsigned", extra={"url": r.shown})
        return cls(db, tz, receivers, cfg.webhook_workers, cfg.webhook_queue_max, cfg.webhook_timeout_s,
                   cfg.webhook_retries, cfg.webhook_backoff_s, cfg.webhook_backoff_max_s, cfg.webhook_keep_s)

    def attach(self, bus: EventBus) -> None:
        bus.in_transaction.append(self.enqueue)
        bus.sinks.append(self.committed)

    # -- inside the event's transaction ------------------------------------------------------------

    def enqueue(self, event: Event) -> None:
        """One outbox row per receiver that wants this event; rolled back with the change if it fails."""
        if event.type not in FORWARDED:
            return
        if event.type.startswith("alarm.") and event.data.get("silenced"):
            return  # a silence or maintenance window mutes every receiver, as it mutes the chains
        body = event.wire(self.tz)
        now = time.time()
        prio = priority(event)
        self.db.conn.executemany(
            "INSERT INTO webhook_outbox(key, url, event_id, type, priority, body, next_at, created_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [("msg_" + uuid.uuid4().hex, r.url, event.id, event.type, prio, body, now, now)
             for r in self.receivers.values() if event.type in r.events])

    # -- after the commit --------------------------------------------------------------------------

    def committed(self, event: Event) -> None:
        if event.type not in FORWARDED:
            return
        self._added += len(self.receivers)
        if self._added > self.queue_max // 10:
            self._added = 0
            self.enforce_bound()
        if self._wake is not None:
            self._wake.set()

    def pending(self) -> int:
        row = self.db.one("SELECT COUNT(*) FROM webhook_outbox WHERE state='pending'")
        return int(row[0]) if row else 0

    def enforce_bound(self) -> int:
        """Over ``queue_max`` undelivered rows: delete the lowest priority, oldest first, and count them.
        Rows being sent are kept; a critical ``alarm.raised`` is never dropped (the outbox may then stay
        over its bound, which is logged)."""
        excess = self.pending() - self.queue_max
        if excess <= 0:
            return 0
        inflight = tuple(self._inflight)
        marks = ",".join("?" * len(inflight))
        skip = f"AND id NOT IN ({marks})" if inflight else ""
        cur = self.db.execute(
            f"DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox WHERE state='pending' "
            f"AND priority < ? {skip} ORDER BY priority, id LIMIT ?)", (PROTECTED, *inflight, excess))
        dropped = cur.rowcount
        self.stats["dropped"] += dropped
        log.warning("webhook outbox over its bound: deliveries dropped",
                    extra={"dropped": dropped, "bound": self.queue_max, "kept_over_bound": excess - dropped})
        return dropped

    # -- the workers -------------------------------------------------------------------------------

    async def run(self) -> None:
        """The dispatcher: due rows, highest priority first, to a fixed pool of workers."""
        self._wake = asyncio.Event()
        self._session = aiohttp.ClientSession(timeout=self.timeout, headers={"User-Agent": USER_AGENT})
        queue: asyncio.Queue[Any] = asyncio.Queue(self.workers)
        workers = [asyncio.create_task(self._worker(queue), name=f"webhook-{i}") for i in range(self.workers)]
        pruned_at = 0.0
        try:
            self.enforce_bound()
            while True:
                now = time.time()
                if now - pruned_at >= PRUNE_EVERY_S:
                    self.prune(now)
                    pruned_at = now
                self._wake.clear()
                rows = self.db.all(
                    "SELECT id, key, url, body, attempts, type FROM webhook_outbox WHERE state='pending' "
                    "AND next_at <= ? ORDER BY priority DESC, id LIMIT ?", (now, self.workers + len(self._inflight)))
                fresh = [r for r in rows if r["id"] not in self._inflight]
                for r in fresh:
                    self._inflight.add(r["id"])
                    await queue.put(r)
                if fresh:
                    continue
                nxt = self.db.one("SELECT MIN(next_at) FROM webhook_outbox WHERE state='pending' AND next_at > ?",
                                  (now,))
                wait = min(1.0, max(0.01, (nxt[0] - now) if nxt and nxt[0] else 1.0))
                await wait_event(self._wake, wait)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await self._session.close()

    async def _worker(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            row = await queue.get()
            try:
                await self._deliver(row)
            except Exception:  # noqa: BLE001 - one bad row must not stop the worker
                log.exception("webhook delivery failed unexpectedly", extra={"id": row["id"]})
            finally:
                self._inflight.discard(row["id"])
                if self._wake is not None:
                    self._wake.set()

    async def _deliver(self, row: Any) -> None:
        assert self._session is not None
        receiver = self.receivers.get(row["url"])
        if receiver is None:
            self._finish(row, "failed", "receiver no longer configured")
            return
        body = row["body"].encode()
        ts = int(time.time())
        headers = {"Content-Type": "application/json", "webhook-id": row["key"], "webhook-timestamp": str(ts)}
        if receiver.key is not None:
            headers["webhook-signature"] = signature(receiver.key, row["key"], ts, body)
        final = False
        try:
            async with self._session.post(receiver.url, data=body, headers=headers, allow_redirects=False) as r:
                status = r.status
            if 200 <= status < 300:
                self._finish(row, "delivered", "")
                return
            error = f"HTTP {status}"
            # A redirect is not followed (it would send the alarm where nobody configured it to go) and
            # asking again changes nothing: final, like a 4xx other than 408/429.
            final = 300 <= status < 400 or (400 <= status < 500 and status not in (408, 429))
            if 300 <= status < 400:
                error += " redirect not followed: fix the webhook URL"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        attempts = row["attempts"] + 1
        if final or attempts > self.retries:
            self._finish(row, "failed", error)
            log.error("webhook not delivered", extra={"url": receiver.shown, "event": row["type"],
                                                      "attempts": attempts, "error": error})
            return
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        self.db.execute("UPDATE webhook_outbox SET attempts=?, next_at=?, last_error=? WHERE id=?",
                        (attempts, time.time() + delay, error, row["id"]))
        self.stats["retries"] += 1

    def _finish(self, row: Any, state: str, error: str) -> None:
        self.db.execute("UPDATE webhook_outbox SET state=?, attempts=attempts+1, done_at=?, last_error=? WHERE id=?",
                        (state, time.time(), error, row["id"]))
        self.stats[state] += 1

    def prune(self, now: float) -> int:
        """Delivered and failed rows are kept ``keep_s`` (to look at), then deleted."""
        cur = self.db.execute("DELETE FROM webhook_outbox WHERE state != 'pending' AND done_at < ?",
                              (now - self.keep_s,))
        return cur.rowcount
