"""The hub's event stream: every state change becomes an event with an increasing id.

Events are stored in SQLite in the same transaction as the change they describe, and delivered to
WebSocket subscribers only after that transaction commits, so a client never sees a change that a
crash then undoes. A client that reconnects with ``?since=N`` gets what it missed, then the live stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from hub.auth import User
from hub.clock import Clock, iso
from hub.db import Database, inserted_id

log = logging.getLogger("hub.events")

EVENT_TYPES = (
    "alarm.raised", "alarm.updated", "alarm.cleared", "ticket.updated", "dispatch.offered", "dispatch.updated",
    "zone.updated", "device.updated", "device.removed", "agent.updated", "agent.removed", "forecast.updated",
    "component.restarted",
    "notify.page",  # a page to one console user (audience: their username), hub/escalation.py
    "request.updated", "request.escalated",
    "satisfaction_action.updated",  # a corrective action of satisfaction_low (hub.satisfaction)
    "roster.published",  # a day's roster was published (hub.api.roster)
)


@dataclass
class Event:
    id: int
    type: str
    at: float
    data: dict[str, Any]
    audience: str = ""  # a username: only they (and roles that see everything) receive it
    _wire: str = field(default="", repr=False)

    def wire(self, tz: ZoneInfo) -> str:
        """The WebSocket message, serialised once however many clients receive it."""
        if not self._wire:
            self._wire = json.dumps({"id": self.id, "type": self.type, "ts": iso(self.at, tz), "data": self.data},
                                    ensure_ascii=False, separators=(",", ":"))
        return self._wire


def visible_to(event: Event, user: User) -> bool:
    """A floor manager receives the dispatches offered to them; other roles see the whole floor."""
    if not event.audience or user.role != "floor_manager":
        return True
    return event.audience == user.username


class Subscriber:
    """One WebSocket client: a bounded queue of wire strings; a client that falls too far behind is dropped."""

    def __init__(self, user: User, maxsize: int = 5000, token: str | None = None) -> None:
        self.user = user
        self.token = token  # the session it runs on: when that ends, so does the socket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.last_id = 0
        self.close_code: int | None = None
        self.close_reason = ""

    def offer(self, event: Event, text: str) -> None:
        if self.overflowed or event.id <= self.last_id:
            return
        try:
            self.queue.put_nowait(text)
            self.last_id = event.id
        except asyncio.QueueFull:
            self.overflowed = True
            self.queue._queue.clear()  # type: ignore[attr-defined]  # - asyncio.Queue's deque: drop all at once
            self.queue.put_nowait(None)  # the writer closes; the client reconnects with ?since=

    def end(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` (e.g. 4001: the session ended) as soon as the writer wakes."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.close()

    def close(self) -> None:
        """Wake the writer so that it ends (the client went away)."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.queue._queue.clear()  # type: ignore[attr-defined]  # - asyncio.Queue's deque: drop all at once
            self.queue.put_nowait(None)


class EventBus:
    def __init__(self, db: Database, clock: Clock, tz: ZoneInfo, keep: int = 50_000) -> None:
        self.db = db
        self.clock = clock
        self.tz = tz
        self.keep = keep
        self._pending: list[Event] = []
        self.subscribers: set[Subscriber] = set()
        self.delivered = 0
        # Called with every committed event (webhooks).
        self.sinks: list[Callable[[Event], None]] = []
        # Called with every event inside its transaction (the webhook outbox writes its rows there).
        self.in_transaction: list[Callable[[Event], None]] = []

    def emit(self, type_: str, data: dict[str, Any], audience: str = "") -> Event:
        """Record an event; it is delivered when the current transaction commits (``flush``)."""
        assert type_ in EVENT_TYPES, type_
        at = self.clock.now()
        cur = self.db.execute("INSERT INTO events(type, at, data, audience) VALUES (?,?,?,?)",
                              (type_, at, json.dumps(data, ensure_ascii=False), audience))
        event = Event(inserted_id(cur), type_, at, data, audience)
        for hook in self.in_transaction:
            hook(event)
        self._pending.append(event)
        return event

    def discard(self) -> None:
        self._pending.clear()

    def savepoint(self) -> int:
        """A mark of the pending events, to drop those of a message whose savepoint is rolled back."""
        return len(self._pending)

    def rollback_to(self, mark: int) -> None:
        del self._pending[mark:]

    def flush(self) -> list[Event]:
        events, self._pending = self._pending, []
        for event in events:
            self.publish(event)
        return events

    def publish(self, event: Event) -> None:
        text = event.wire(self.tz)
        for sub in tuple(self.subscribers):
            if visible_to(event, sub.user):
                sub.offer(event, text)
        for sink in self.sinks:
            sink(event)
        self.delivered += 1

    def publish_volatile(self, type_: str, data: dict[str, Any]) -> None:
        """An event that cannot be stored because the database is what fails (``ingest_stalled``): sent to
        the connected clients now with ``"id": null`` (never replayed, no webhook; the console applies it
        without moving its catch-up position). The change itself is stored once the database is back."""
        text = json.dumps({"id": None, "type": type_, "ts": iso(self.clock.now(), self.tz), "data": data},
                          ensure_ascii=False, separators=(",", ":"))
        for sub in tuple(self.subscribers):
            if not sub.overflowed and not sub.queue.full():
                sub.queue.put_nowait(text)

    def since(self, after: int, user: User | None = None, limit: int = 5000) -> list[Event]:
        rows = self.db.all("SELECT id, type, at, data, audience FROM events WHERE id > ? ORDER BY id LIMIT ?",
                           (after, limit))
        events = [Event(r["id"], r["type"], r["at"], json.loads(r["data"]), r["audience"]) for r in rows]
        return [e for e in events if user is None or visible_to(e, user)]

    def backlog(self, after: int, upto: int, user: User, page: int = 1000) -> Iterator[list[Event]]:
        """The events ``after`` < id <= ``upto`` that ``user`` may see, a page at a time (each page one query,
        so a long catch-up neither loads everything into memory nor stops at a fixed count)."""
        while after < upto:
            rows = self.db.all("SELECT id, type, at, data, audience FROM events WHERE id > ? AND id <= ? ORDER BY id "
                               "LIMIT ?", (after, upto, page))
            if not rows:
                return
            after = int(rows[-1]["id"])
            yield [e for e in (Event(r["id"], r["type"], r["at"], json.loads(r["data"]), r["audience"]) for r in rows)
                   if visible_to(e, user)]

    def first_id(self) -> int:
        row = self.db.one("SELECT MIN(id) FROM events")  # an aggregate: always one row
        return int(row[0] or 0) if row is not None else 0

    def last_id(self) -> int:
        row = self.db.one("SELECT MAX(id) FROM events")  # an aggregate: always one row
        return int(row[0] or 0) if row is not None else 0

    def prune(self) -> None:
        """Keep the newest ``keep`` events (catch-up needs minutes of history, not months)."""
        self.db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?", (self.keep,))

    def subscribe(self, user: User, token: str | None = None) -> Subscriber:
        sub = Subscriber(user, token=token)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
