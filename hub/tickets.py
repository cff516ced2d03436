"""Maintenance tickets: one per equipment fault episode, assigned to the maintenance person on shift,
with a respond-by and a repair-by time, accepted and resolved with a resolution code, resolved by itself
when the device reports the fault cleared, and reopened when the same fault comes back soon after."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from hub.alarms import AlarmChange, AlarmManager
from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.events import EventBus
from hub.roster import Roster
from hub.rules.config import RuleSet

RESOLUTION_CODES = ("repaired", "replaced_part", "restarted", "cleared_jam", "refilled", "no_fault_found", "other")
AUTO_RESOLUTION = "auto_cleared"
REMOVED_RESOLUTION = "device_removed"  # nothing left to repair: not counted in MTTR (hub.kpis)


class TicketActionError(ValueError):
    """The ticket cannot take that action in its present state (HTTP 409)."""


def ticket_json(r: sqlite3.Row, tz: ZoneInfo, now: float) -> dict[str, Any]:
    responded = r["accepted_at"] if r["accepted_at"] is not None else (r["resolved_at"] or now)
    finished = r["resolved_at"] if r["resolved_at"] is not None else now
    return {
        "id": r["id"], "alarm_id": r["alarm_id"], "device_id": r["device_id"], "kind": r["kind"], "zone": r["zone"],
        "fault": r["fault"], "severity": r["severity"], "state": r["state"], "assignee": r["assignee"],
        "opened_at": iso(r["opened_at"], tz), "respond_due_at": iso(r["respond_due_at"], tz),
        "due_at": iso(r["due_at"], tz), "accepted_at": iso(r["accepted_at"], tz),
        "resolved_at": iso(r["resolved_at"], tz), "resolution": r["resolution"], "resolved_by": r["resolved_by"],
        "reopened": r["reopened"],
        "sla_breached": responded > r["respond_due_at"] or finished > r["due_at"],
    }


class TicketManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rules: RuleSet, roster: Roster, tz: ZoneInfo,
                 alarms: AlarmManager) -> None:
        self.db, self.bus, self.clock, self.rules, self.roster, self.tz = db, bus, clock, rules, roster, tz
        self.alarms = alarms
        alarms.listeners.append(self.on_alarm)

    def get(self, ticket_id: int) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM tickets WHERE id=?", (ticket_id,))

    def json(self, ticket_id: int) -> dict[str, Any]:
        row = self.get(ticket_id)
        assert row is not None
        return ticket_json(row, self.tz, self.clock.now())

    def _history(self, ticket_id: int, action: str, actor: str = "", **detail: Any) -> None:
        self.db.execute("INSERT INTO ticket_history(ticket_id, at, action, actor, detail) VALUES (?,?,?,?,?)",
                        (ticket_id, self.clock.now(), action, actor, json.dumps(detail)))

    def _announce(self, ticket_id: int) -> dict[str, Any]:
        t = self.json(ticket_id)
        self.bus.emit("ticket.updated", t, audience="")
        return t

    def _due(self, severity: str, now: float) -> tuple[float, float]:
        cfg = self.rules.tickets
        return now + cfg["respond_min"] * 60, now + cfg["repair_min"].get(severity, cfg["repair_min"]["major"]) * 60

    def assignee(self) -> str | None:
        """The maintenance person on shift with the fewest unresolved tickets."""
        people = self.roster.on_shift("maintenance", dt.datetime.fromtimestamp(self.clock.now(), self.tz))
        if not people:
            return None
        load = {r["assignee"]: r["n"] for r in self.db.all(
            "SELECT assignee, COUNT(*) AS n FROM tickets WHERE state != 'resolved' GROUP BY assignee")}
        return min((p.username or p.id for p in people), key=lambda name: (load.get(name, 0), name))

    # -- alarms drive tickets --------------------------------------------------------------------

    def on_alarm(self, change: AlarmChange) -> None:
        a = change.alarm
        if not a["device_id"] or not self.rules.rule(a["type"]).get("ticket"):
            return
        if change.action == "raised":
            if not a.get("silenced"):  # a silence or maintenance window: recorded, no ticket (hub.silences)
                self.open_for(a)
        elif change.action == "reopened":
            row = self.db.one("SELECT id, state FROM tickets WHERE alarm_id=? ORDER BY id DESC LIMIT 1", (a["id"],))
            if row is None:
                self.open_for(a)
            elif row["state"] == "resolved":
                self._reopen(row["id"], a)
        elif (change.action == "cleared" and change.by == "auto") or change.action == "removed":
            code = AUTO_RESOLUTION if change.action == "cleared" else REMOVED_RESOLUTION
            for r in self.db.all("SELECT id FROM tickets WHERE alarm_id=? AND state != 'resolved'", (a["id"],)):
                self._resolve(r["id"], code, "device")

    def open_for(self, alarm: dict[str, Any]) -> int:
        now = self.clock.now()
        recent = self.db.one(
            "SELECT id FROM tickets WHERE device_id=? AND fault=? AND state='resolved' AND resolved_at >= ? "
            "ORDER BY id DESC LIMIT 1", (alarm["device_id"], alarm["type"], now - self.rules.tickets["reopen_window_s"]),
        )
        if recent is not None:
            self._reopen(recent["id"], alarm)
            return int(recent["id"])
        respond_due, due = self._due(alarm["severity"], now)
        cur = self.db.execute(
            "INSERT INTO tickets(alarm_id, device_id, kind, zone, fault, severity, state, assignee, opened_at, "
            "respond_due_at, due_at) VALUES (?,?,?,?,?,?,'open',?,?,?,?)",
            (alarm["id"], alarm["device_id"], alarm["kind"], alarm["zone"], alarm["type"], alarm["severity"],
             self.assignee(), now, respond_due, due),
        )
        ticket_id = inserted_id(cur)
        self._history(ticket_id, "opened", alarm_id=alarm["id"])
        self._announce(ticket_id)
        return ticket_id

    def open_manual(self, zone: str, fault: str, actor: str) -> int:
        """A ticket a person asked for (hub.requests "repair"): no alarm, no device; same targets and
        assignment as a device fault of severity major."""
        now = self.clock.now()
        respond_due, due = self._due("major", now)
        cur = self.db.execute(
            "INSERT INTO tickets(alarm_id, device_id, kind, zone, fault, severity, state, assignee, opened_at, "
            "respond_due_at, due_at) VALUES (0,'','',?,?,'major','open',?,?,?,?)",
            (zone, fault[:200], self.assignee(), now, respond_due, due))
        ticket_id = inserted_id(cur)
        self._history(ticket_id, "opened", actor, manual=True)
        self._announce(ticket_id)
        return ticket_id

    def _reopen(self, ticket_id: int, alarm: dict[str, Any]) -> None:
        now = self.clock.now()
        respond_due, due = self._due(alarm["severity"], now)
        self.db.execute(
            "UPDATE tickets SET state='open', alarm_id=?, reopened=reopened+1, resolved_at=NULL, resolution=NULL, "
            "resolved_by=NULL, accepted_at=NULL, respond_due_at=?, due_at=?, assignee=COALESCE(assignee, ?) "
            "WHERE id=?", (alarm["id"], respond_due, due, self.assignee(), ticket_id),
        )
        self._history(ticket_id, "reopened", alarm_id=alarm["id"])
        self._announce(ticket_id)

    def _resolve(self, ticket_id: int, code: str, by: str) -> dict[str, Any]:
        self.db.execute("UPDATE tickets SET state='resolved', resolved_at=?, resolution=?, resolved_by=? WHERE id=?",
                        (self.clock.now(), code, by, ticket_id))
        self._history(ticket_id, "resolved", by, code=code)
        return self._announce(ticket_id)

    # -- people --------------------------------------------------------------------------------------

    def accept(self, ticket_id: int, username: str) -> dict[str, Any]:
        row = self.get(ticket_id)
        if row is None:
            raise KeyError(ticket_id)
        if row["state"] != "open":
            raise TicketActionError(f"the ticket is {row['state']}, not open")
        self.db.execute("UPDATE tickets SET state='accepted', accepted_at=?, assignee=? WHERE id=?",
                        (self.clock.now(), username, ticket_id))
        self._history(ticket_id, "accepted", username)
        return self._announce(ticket_id)

    def resolve(self, ticket_id: int, username: str, code: str) -> dict[str, Any]:
        if code not in RESOLUTION_CODES:
            raise ValueError(f"resolution code must be one of {', '.join(RESOLUTION_CODES)}")
        row = self.get(ticket_id)
        if row is None:
            raise KeyError(ticket_id)
        if row["state"] == "resolved":
            raise TicketActionError("the ticket is already resolved")
        if row["accepted_at"] is None:
            self.db.execute("UPDATE tickets SET accepted_at=?, assignee=COALESCE(assignee, ?) WHERE id=?",
                            (self.clock.now(), username, ticket_id))
        out = self._resolve(ticket_id, code, username)
        # The repair is done: the alarm it came from is cleared by the person who fixed it.
        alarm = self.alarms.get(row["alarm_id"])
        if alarm is not None and alarm["state"] != "cleared":
            self.alarms.clear_by_hand(row["alarm_id"], username)
        return out

    def list(self, state: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        now = self.clock.now()
        if state:
            rows = self.db.all("SELECT * FROM tickets WHERE state=? ORDER BY id DESC LIMIT ?", (state, limit))
        else:
            rows = self.db.all("SELECT * FROM tickets ORDER BY id DESC LIMIT ?", (limit,))
        return [ticket_json(r, self.tz, now) for r in rows]
