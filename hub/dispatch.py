"""Staff dispatch: when a zone is crowded, a queue waits too long or a surge is forecast, offer the job to
the best-placed person on shift (the zone's own people first, then the elastic pool, fewest jobs today
first). They accept or decline; an offer not answered in ``offer_timeout_s`` expires and goes to the next
person. Each offer is one row; the rows of one request share ``request_id``."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from hub.alarms import AlarmChange, AlarmManager
from hub.clock import Clock, iso
from hub.db import Database
from hub.events import EventBus
from hub.roster import Person, Roster
from hub.rules.config import RuleSet

DISPATCH_ROLES = ("floor_manager", "staff")
OPEN_STATES = ("offered", "accepted")


class DispatchActionError(ValueError):
    """The dispatch cannot take that action now (HTTP 409)."""


class NotYours(PermissionError):
    """A floor manager acting on a dispatch offered to someone else (HTTP 403)."""


def dispatch_json(r: sqlite3.Row, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r["id"], "request_id": r["request_id"], "zone": r["zone"], "reason": r["reason"],
        "alarm_id": r["alarm_id"], "state": r["state"], "assignee": r["assignee"], "person_id": r["person_id"],
        "created_at": iso(r["created_at"], tz), "expires_at": iso(r["expires_at"], tz),
        "answered_at": iso(r["answered_at"], tz), "completed_at": iso(r["completed_at"], tz), "attempt": r["attempt"],
    }


class DispatchManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rules: RuleSet, roster: Roster, tz: ZoneInfo,
                 alarms: AlarmManager) -> None:
        self.db, self.bus, self.clock, self.rules, self.roster, self.tz = db, bus, clock, rules, roster, tz
        alarms.listeners.append(self.on_alarm)

    def get(self, dispatch_id: int) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM dispatches WHERE id=?", (dispatch_id,))

    def on_alarm(self, change: AlarmChange) -> None:
        a = change.alarm
        if change.action == "raised" and self.rules.rule(a["type"]).get("dispatch") and a["zone"] \
                and not a.get("silenced"):  # a silenced alarm pages nobody (hub.silences)
            self.request(a["zone"], a["type"], a["id"])

    def candidates(self, zone: str, exclude: set[str]) -> list[Person]:
        """People on shift who may go, best placed first."""
        now_local = dt.datetime.fromtimestamp(self.clock.now(), self.tz)
        busy = {r["person_id"] for r in self.db.all(
            "SELECT person_id FROM dispatches WHERE state IN ('offered','accepted')")}
        day_start = now_local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        today = {r["person_id"]: r["n"] for r in self.db.all(
            "SELECT person_id, COUNT(*) AS n FROM dispatches WHERE created_at >= ? AND state != 'expired' "
            "GROUP BY person_id", (day_start,))}
        people = [p for p in self.roster.people if p.role in DISPATCH_ROLES and p.username and p.on_shift(now_local)
                  and p.id not in busy and p.id not in exclude and (zone in p.zones or p.elastic)]
        return sorted(people, key=lambda p: (zone not in p.zones, today.get(p.id, 0), p.id))

    def request(self, zone: str, reason: str, alarm_id: int | None) -> int | None:
        """Start a request unless one for this zone and reason is still open."""
        if self.db.one("SELECT 1 FROM dispatches WHERE zone=? AND reason=? AND state IN ('offered','accepted')",
                       (zone, reason)):
            return None
        return self._offer(None, zone, reason, alarm_id, attempt=1, tried=set())

    def _offer(self, request_id: int | None, zone: str, reason: str, alarm_id: int | None, attempt: int,
               tried: set[str]) -> int | None:
        if attempt > self.rules.dispatch["max_offers"]:
            return None
        people = self.candidates(zone, tried)
        if not people:
            return None
        p = people[0]
        now = self.clock.now()
        cur = self.db.execute(
            "INSERT INTO dispatches(request_id, zone, reason, alarm_id, state, assignee, person_id, created_at, "
            "expires_at, attempt) VALUES (?,?,?,?,'offered',?,?,?,?,?)",
            (request_id, zone, reason, alarm_id, p.username, p.id, now, now + self.rules.dispatch["offer_timeout_s"],
             attempt),
        )
        dispatch_id = int(cur.lastrowid)
        if request_id is None:
            self.db.execute("UPDATE dispatches SET request_id=? WHERE id=?", (dispatch_id, dispatch_id))
        row = self.get(dispatch_id)
        assert row is not None
        self.bus.emit("dispatch.offered", dispatch_json(row, self.tz), audience=p.username)
        return dispatch_id

    def _next(self, row: sqlite3.Row) -> None:
        tried = {r["person_id"] for r in self.db.all("SELECT person_id FROM dispatches WHERE request_id=?",
                                                     (row["request_id"],))}
        self._offer(row["request_id"], row["zone"], row["reason"], row["alarm_id"], row["attempt"] + 1, tried)

    def _set(self, dispatch_id: int, state: str, **cols: Any) -> dict[str, Any]:
        sets = ", ".join(["state=?"] + [f"{k}=?" for k in cols])
        self.db.execute(f"UPDATE dispatches SET {sets} WHERE id=?", (state, *cols.values(), dispatch_id))
        row = self.get(dispatch_id)
        assert row is not None
        out = dispatch_json(row, self.tz)
        self.bus.emit("dispatch.updated", out, audience=row["assignee"])
        return out

    def _mine(self, dispatch_id: int, username: str, role: str, expect: str) -> sqlite3.Row:
        row = self.get(dispatch_id)
        if row is None:
            raise KeyError(dispatch_id)
        if role != "admin" and row["assignee"] != username:
            raise NotYours("this dispatch was offered to someone else")
        if row["state"] != expect:
            raise DispatchActionError(f"the dispatch is {row['state']}, not {expect}")
        return row

    def accept(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        self._mine(dispatch_id, username, role, "offered")
        return self._set(dispatch_id, "accepted", answered_at=self.clock.now())

    def decline(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        row = self._mine(dispatch_id, username, role, "offered")
        out = self._set(dispatch_id, "declined", answered_at=self.clock.now())
        self._next(row)
        return out

    def complete(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        self._mine(dispatch_id, username, role, "accepted")
        return self._set(dispatch_id, "completed", completed_at=self.clock.now())

    def tick(self) -> None:
        for row in self.db.all("SELECT * FROM dispatches WHERE state='offered' AND expires_at <= ?", (self.clock.now(),)):
            self._set(row["id"], "expired")
            self._next(row)

    def list(self, state: str | None = None, username: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        q, args = "SELECT * FROM dispatches WHERE 1=1", []
        if state:
            q, args = q + " AND state=?", [*args, state]
        if username:
            q, args = q + " AND assignee=?", [*args, username]
        rows = self.db.all(q + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dispatch_json(r, self.tz) for r in rows]
