"""Staff dispatch: when a zone is crowded, a queue waits too long or a surge is forecast, or a person raises
a request (hub.requests), offer the job to the best-placed person on shift. They accept or decline; an offer
not answered in ``offer_timeout_s`` expires and goes to the next person. Each offer is one row; the rows of
one job share ``request_id``.

Measurable lifecycle: offered -> accepted -> arrived (confirmed by the assignee on the phone) -> completed,
each step time-stamped (hub.kpis turns them into time to accept and time to arrive). Who is offered a job:
available people first (at work now per the roster -- the day's published plan, or standing shifts
-- and no open job), then the closest (covering the job's zone,
then a zone on the same floor, then the elastic pool), then the least loaded (fewest jobs today)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hub.alarms import AlarmChange, AlarmManager
from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.events import EventBus
from hub.roster import Person, Roster
from hub.rules.config import RuleSet

DISPATCH_ROLES = ("floor_manager", "staff")
OPEN_STATES = ("offered", "accepted", "arrived")
DEVICE_PRIORITY = 40  # a job started by a device rule; hub.requests gives each request kind its own


class DispatchActionError(ValueError):
    """The dispatch cannot take that action now (HTTP 409)."""


class NotYours(PermissionError):
    """A floor manager acting on a dispatch offered to someone else (HTTP 403)."""


def dispatch_json(r: sqlite3.Row, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r["id"], "request_id": r["request_id"], "zone": r["zone"], "reason": r["reason"],
        "alarm_id": r["alarm_id"], "state": r["state"], "assignee": r["assignee"], "person_id": r["person_id"],
        "created_at": iso(r["created_at"], tz), "expires_at": iso(r["expires_at"], tz),
        "answered_at": iso(r["answered_at"], tz), "arrived_at": iso(r["arrived_at"], tz),
        "completed_at": iso(r["completed_at"], tz), "attempt": r["attempt"], "priority": r["priority"],
        "service_request": r["service_request"],
    }


class DispatchManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rules: RuleSet, roster: Roster, tz: ZoneInfo,
                 alarms: AlarmManager, floors: dict[str, int] | None = None) -> None:
        self.db, self.bus, self.clock, self.rules, self.roster, self.tz = db, bus, clock, rules, roster, tz
        self.floors = floors or {}
        self.roles_of: dict[str, tuple[str, ...]] = {}  # reason -> roles that may take it (hub.requests)  # zone -> floor, for "closest first"
        # Called with the dispatch's JSON after each change of state, in the same transaction (hub.requests).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        alarms.listeners.append(self.on_alarm)

    def get(self, dispatch_id: int) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM dispatches WHERE id=?", (dispatch_id,))

    def on_alarm(self, change: AlarmChange) -> None:
        a = change.alarm
        if change.action == "raised" and self.rules.rule(a["type"]).get("dispatch") and a["zone"] \
                and not a.get("silenced"):  # a silenced alarm pages nobody (hub.silences)
            self.request(a["zone"], a["type"], a["id"])

    def candidates(self, zone: str, exclude: set[str], roles: tuple[str, ...] = DISPATCH_ROLES) -> list[Person]:
        """People on shift and free who may go, best placed first: same zone, same floor, the elastic pool;
        within each, the fewest jobs today."""
        now_local = dt.datetime.fromtimestamp(self.clock.now(), self.tz)
        busy = {r["person_id"] for r in self.db.all(
            f"SELECT person_id FROM dispatches WHERE state IN ({','.join('?' * len(OPEN_STATES))})", OPEN_STATES)}
        day_start = now_local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        today = {r["person_id"]: r["n"] for r in self.db.all(
            "SELECT person_id, COUNT(*) AS n FROM dispatches WHERE created_at >= ? AND state != 'expired' "
            "GROUP BY person_id", (day_start,))}
        floor = self.floors.get(zone)

        def closeness(p: Person) -> int:
            if zone in p.zones:
                return 0
            if floor is not None and any(self.floors.get(z) == floor for z in p.zones):
                return 1
            return 2 if p.elastic else 3

        # Who works now, with the zones they cover now: the published plan of the day, or standing shifts.
        people = [p for p in self.roster.at(now_local) if p.role in roles and p.username
                  and p.id not in busy and p.id not in exclude and closeness(p) < 3]
        return sorted(people, key=lambda p: (closeness(p), today.get(p.id, 0), p.id))

    def request(self, zone: str, reason: str, alarm_id: int | None) -> int | None:
        """Start a device job unless one for this zone and reason is still open."""
        if self.db.one("SELECT 1 FROM dispatches WHERE zone=? AND reason=? AND service_request IS NULL "
                       f"AND state IN ({','.join('?' * len(OPEN_STATES))})", (zone, reason, *OPEN_STATES)):
            return None
        return self._offer(None, zone, reason, alarm_id, attempt=1, tried=set())

    def serve(self, service_request: int, zone: str, reason: str, priority: int, roles: tuple[str, ...],
              tried: set[str] | None = None) -> int | None:
        """Offer a person's request (hub.requests) to the best-placed free person; None when nobody is free
        (the request waits, and hub.requests offers it again, most urgent first, when someone is)."""
        return self._offer(None, zone, reason, None, attempt=1, tried=tried or set(), priority=priority,
                           service_request=service_request, roles=roles)

    def _offer(self, request_id: int | None, zone: str, reason: str, alarm_id: int | None, attempt: int,
               tried: set[str], priority: int = DEVICE_PRIORITY, service_request: int | None = None,
               roles: tuple[str, ...] = DISPATCH_ROLES) -> int | None:
        if attempt > self.rules.dispatch["max_offers"]:
            return None
        people = self.candidates(zone, tried, roles)
        if not people:
            return None
        p = people[0]
        now = self.clock.now()
        cur = self.db.execute(
            "INSERT INTO dispatches(request_id, zone, reason, alarm_id, state, assignee, person_id, created_at, "
            "expires_at, attempt, priority, service_request) VALUES (?,?,?,?,'offered',?,?,?,?,?,?,?)",
            (request_id, zone, reason, alarm_id, p.username, p.id, now, now + self.rules.dispatch["offer_timeout_s"],
             attempt, priority, service_request),
        )
        dispatch_id = inserted_id(cur)
        if request_id is None:
            self.db.execute("UPDATE dispatches SET request_id=? WHERE id=?", (dispatch_id, dispatch_id))
        row = self.get(dispatch_id)
        assert row is not None
        out = dispatch_json(row, self.tz)
        self.bus.emit("dispatch.offered", out, audience=p.username)
        for listener in self.listeners:
            listener(out)
        return dispatch_id

    def _next(self, row: sqlite3.Row) -> None:
        tried = {r["person_id"] for r in self.db.all("SELECT person_id FROM dispatches WHERE request_id=?",
                                                     (row["request_id"],))}
        roles = self.roles_of.get(row["reason"], DISPATCH_ROLES)
        self._offer(row["request_id"], row["zone"], row["reason"], row["alarm_id"], row["attempt"] + 1, tried,
                    row["priority"], row["service_request"], roles)

    def _set(self, dispatch_id: int, state: str, **cols: Any) -> dict[str, Any]:
        sets = ", ".join(["state=?"] + [f"{k}=?" for k in cols])
        self.db.execute(f"UPDATE dispatches SET {sets} WHERE id=?", (state, *cols.values(), dispatch_id))
        row = self.get(dispatch_id)
        assert row is not None
        out = dispatch_json(row, self.tz)
        self.bus.emit("dispatch.updated", out, audience=row["assignee"])
        for listener in self.listeners:
            listener(out)
        return out

    def _mine(self, dispatch_id: int, username: str, role: str, *expect: str) -> sqlite3.Row:
        row = self.get(dispatch_id)
        if row is None:
            raise KeyError(dispatch_id)
        if role != "admin" and row["assignee"] != username:
            raise NotYours("this dispatch was offered to someone else")
        if row["state"] not in expect:
            raise DispatchActionError(f"the dispatch is {row['state']}, not {' or '.join(expect)}")
        return row

    def accept(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        self._mine(dispatch_id, username, role, "offered")
        return self._set(dispatch_id, "accepted", answered_at=self.clock.now())

    def decline(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        row = self._mine(dispatch_id, username, role, "offered")
        out = self._set(dispatch_id, "declined", answered_at=self.clock.now())
        self._next(row)
        return out

    def arrive(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        """The assignee confirms on the phone that they are there: the time to arrive is measured to this."""
        self._mine(dispatch_id, username, role, "accepted")
        return self._set(dispatch_id, "arrived", arrived_at=self.clock.now())

    def complete(self, dispatch_id: int, username: str, role: str) -> dict[str, Any]:
        """Done. From accepted too (a crowding job may need no arrival), but then no arrival is measured."""
        self._mine(dispatch_id, username, role, "accepted", "arrived")
        return self._set(dispatch_id, "completed", completed_at=self.clock.now())

    def tick(self) -> None:
        for row in self.db.all("SELECT * FROM dispatches WHERE state='offered' AND expires_at <= ?", (self.clock.now(),)):
            self._set(row["id"], "expired")
            self._next(row)

    def list(self, state: str | None = None, username: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        q, args = "SELECT * FROM dispatches WHERE 1=1", list[Any]()
        if state:
            q, args = q + " AND state=?", [*args, state]
        if username:
            q, args = q + " AND assignee=?", [*args, username]
        rows = self.db.all(q + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dispatch_json(r, self.tz) for r in rows]
