"""Alarm lifecycle: one open alarm per (source, type) counting repeats; active -> acknowledged -> cleared
(by itself when the condition ends, or by hand); flapping suppressed; escalation when not acknowledged
in time; every step in alarm_history.

Flapping: when a (source, type) has been raised ``flap_max_raises`` times within ``flap_window_s``, the
last cleared alarm is reopened (not a new one, no new notification) and marked flapping; from then on it
clears only after its condition has stayed away for ``flap_hold_s``.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.events import EventBus
from hub.rules.base import Signal
from hub.rules.config import RuleSet

log = logging.getLogger("hub.alarms")

STATES = ("active", "acknowledged", "cleared")
# ``cleared_by`` of alarms nobody cleared by hand: the condition ended, or the device was taken out of service.
DEVICE_REMOVED = "device_removed"
AUTOMATIC = ("auto", DEVICE_REMOVED)


class AlarmActionError(ValueError):
    """The alarm cannot take that action in its present state (HTTP 409)."""


@dataclass
class AlarmChange:
    """What happened to an alarm, for the ticket and dispatch managers and webhooks."""

    action: str  # raised | repeat | reopened | cleared | removed (device removed) | acknowledged | escalated
    #             | commented | assigned
    alarm: dict[str, Any]
    by: str = ""


def alarm_json(r: sqlite3.Row, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r["id"], "type": r["type"], "severity": r["severity"], "source": r["source"], "zone": r["zone"],
        "device_id": r["device_id"], "kind": r["kind"], "state": r["state"], "raised_at": iso(r["raised_at"], tz),
        "updated_at": iso(r["updated_at"], tz), "acked_at": iso(r["acked_at"], tz), "acked_by": r["acked_by"],
        "cleared_at": iso(r["cleared_at"], tz), "cleared_by": r["cleared_by"], "count": r["count"],
        "flapping": bool(r["flapping"]), "escalated": bool(r["escalated"]), "detail": json.loads(r["detail"]),
        "assignee": r["assignee"], "silenced": r["silenced_by"] is not None, "silenced_by": r["silenced_by"],
    }


class AlarmManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rules: RuleSet, tz: ZoneInfo) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.rules = rules
        self.tz = tz
        self.listeners: list[Callable[[AlarmChange], None]] = []
        # (device_id, zone, kind, type) -> id of the silence muting a new alarm (hub.silences), if any.
        self.silencer: Callable[[str, str, str, str], int | None] | None = None
        # (source, type) -> id of the open alarm: most signals say "still fine", answered without a query.
        self.open: dict[tuple[str, str], int] = {}
        self.reload_open()

    def reload_open(self) -> None:
        self.open.clear()
        self.open.update({(r["source"], r["type"]): r["id"] for r in self.db.all(
            "SELECT id, source, type FROM alarms WHERE state != 'cleared' ORDER BY id")})

    # -- helpers ------------------------------------------------------------------------------------

    def get(self, alarm_id: int) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM alarms WHERE id=?", (alarm_id,))

    def json(self, alarm_id: int) -> dict[str, Any]:
        row = self.get(alarm_id)
        assert row is not None
        return alarm_json(row, self.tz)

    def _history(self, alarm_id: int, action: str, actor: str = "", **detail: Any) -> None:
        self.db.execute("INSERT INTO alarm_history(alarm_id, at, action, actor, detail) VALUES (?,?,?,?,?)",
                        (alarm_id, self.clock.now(), action, actor, json.dumps(detail, default=str)))

    def _announce(self, event_type: str, action: str, alarm_id: int, by: str = "") -> AlarmChange:
        alarm = self.json(alarm_id)
        self.bus.emit(event_type, alarm)
        change = AlarmChange(action, alarm, by)
        for listener in self.listeners:
            listener(change)
        return change

    # -- signals from rules ---------------------------------------------------------------------------

    def apply(self, sig: Signal) -> AlarmChange | None:
        key = (sig.source, sig.type)
        open_id = self.open.get(key)
        if not sig.active:
            if open_id is None:
                return None
            return self._clear_signal(open_id, sig)
        if not self.rules.enabled(sig.type):
            return None
        now = self.clock.now()
        if open_id is not None:
            row = self.get(open_id)
            assert row is not None
            sets = ["updated_at=?", "clear_pending_since=NULL", "last_signal_ts=MAX(last_signal_ts, ?)"]
            if sig.repeat:
                sets.append("count=count+1")
            self.db.execute(f"UPDATE alarms SET {', '.join(sets)} WHERE id=?", (now, sig.device_ts, open_id))
            if sig.repeat:
                self._history(open_id, "repeat", **sig.detail)
                return self._announce("alarm.updated", "repeat", open_id)
            return None
        severity = sig.severity or self.rules.rule(sig.type)["severity"]
        cfg = self.rules.alarms
        recent = self.db.one(
            "SELECT COUNT(*) AS n, MAX(CASE WHEN state='cleared' AND cleared_by='auto' THEN id END) AS last_cleared "
            "FROM alarms WHERE source=? AND type=? AND raised_at >= ?", (sig.source, sig.type, now - cfg["flap_window_s"]),
        )
        assert recent is not None
        if recent["last_cleared"] is not None and recent["n"] + 1 >= cfg["flap_max_raises"]:
            alarm_id = recent["last_cleared"]
            self.db.execute(
                "UPDATE alarms SET state='active', flapping=1, count=count+1, cleared_at=NULL, cleared_by=NULL, "
                "updated_at=?, clear_pending_since=NULL, last_signal_ts=? WHERE id=?", (now, sig.device_ts, alarm_id),
            )
            self.open[key] = alarm_id
            self._history(alarm_id, "reopened_flapping", **sig.detail)
            return self._announce("alarm.updated", "reopened", alarm_id)
        silenced_by = self.silencer(sig.device_id, sig.zone, sig.kind, sig.type) if self.silencer else None
        cur = self.db.execute(
            "INSERT INTO alarms(type, severity, source, device_id, kind, zone, state, raised_at, updated_at, "
            "last_signal_ts, detail, silenced_by) VALUES (?,?,?,?,?,?,'active',?,?,?,?,?)",
            (sig.type, severity, sig.source, sig.device_id, sig.kind, sig.zone, now, now, sig.device_ts,
             json.dumps(sig.detail, default=str), silenced_by),
        )
        alarm_id = inserted_id(cur)
        self.open[key] = alarm_id
        self._history(alarm_id, "raised", **sig.detail)
        if silenced_by is not None:  # recorded, but pages nobody and opens no ticket
            self._history(alarm_id, "silenced", silence=silenced_by)
        return self._announce("alarm.raised", "raised", alarm_id)

    def _clear_signal(self, alarm_id: int, sig: Signal) -> AlarmChange | None:
        row = self.get(alarm_id)
        assert row is not None
        if sig.device_ts and sig.device_ts < row["last_signal_ts"]:
            return None  # an older reading than the one that raised it
        if row["flapping"]:
            if row["clear_pending_since"] is None:
                self.db.execute("UPDATE alarms SET clear_pending_since=? WHERE id=?", (self.clock.now(), alarm_id))
            return None
        return self._clear(alarm_id, "auto", sig.detail)

    def _clear(self, alarm_id: int, by: str, detail: dict[str, Any] | None = None, action: str = "cleared") -> AlarmChange:
        now = self.clock.now()
        self.db.execute("UPDATE alarms SET state='cleared', cleared_at=?, cleared_by=?, updated_at=?, "
                        "clear_pending_since=NULL WHERE id=?", (now, by, now, alarm_id))
        row = self.get(alarm_id)
        assert row is not None
        self.open.pop((row["source"], row["type"]), None)
        self._history(alarm_id, "cleared", "" if by in AUTOMATIC else by, **(detail or {}))
        return self._announce("alarm.cleared", action, alarm_id, by)

    def clear_device(self, device_id: str) -> list[AlarmChange]:
        """Close every open alarm of a device (and its slots) at once: the device was taken out of service."""
        rows = self.db.all("SELECT id FROM alarms WHERE device_id=? AND state != 'cleared' ORDER BY id", (device_id,))
        return [self._clear(r["id"], DEVICE_REMOVED, action="removed") for r in rows]

    # -- people ------------------------------------------------------------------------------------------

    def _not_cleared(self, alarm_id: int) -> sqlite3.Row:
        """The alarm a person acts on: KeyError if there is none (404), AlarmActionError once cleared (409)."""
        row = self.get(alarm_id)
        if row is None:
            raise KeyError(alarm_id)
        if row["state"] == "cleared":
            raise AlarmActionError("the alarm is already cleared")
        return row

    def acknowledge(self, alarm_id: int, username: str, comment: str = "") -> dict[str, Any]:
        """Acknowledge (stops its escalation), with an optional comment added to the alarm's thread."""
        row = self._not_cleared(alarm_id)
        if comment:
            self._comment(alarm_id, username, comment)
        if row["state"] == "acknowledged":
            return alarm_json(row, self.tz)
        now = self.clock.now()
        self.db.execute("UPDATE alarms SET state='acknowledged', acked_at=?, acked_by=?, updated_at=? WHERE id=?",
                        (now, username, now, alarm_id))
        self._history(alarm_id, "acknowledged", username, **({"comment": comment} if comment else {}))
        return self._announce("alarm.updated", "acknowledged", alarm_id, username).alarm

    def _comment(self, alarm_id: int, author: str, body: str) -> dict[str, Any]:
        now = self.clock.now()
        cur = self.db.execute("INSERT INTO alarm_comments(alarm_id, at, author, body) VALUES (?,?,?,?)",
                              (alarm_id, now, author, body))
        self._history(alarm_id, "commented", author, comment_id=inserted_id(cur))
        return {"id": inserted_id(cur), "alarm_id": alarm_id, "at": iso(now, self.tz), "author": author, "body": body}

    def comment(self, alarm_id: int, author: str, body: str) -> dict[str, Any]:
        """Add to an alarm's comment thread (any state: a cleared alarm may still be discussed)."""
        if self.get(alarm_id) is None:
            raise KeyError(alarm_id)
        out = self._comment(alarm_id, author, body)
        self.db.execute("UPDATE alarms SET updated_at=? WHERE id=?", (self.clock.now(), alarm_id))
        self._announce("alarm.updated", "commented", alarm_id, author)
        return out

    def comments(self, alarm_id: int) -> list[dict[str, Any]]:
        return [{"id": r["id"], "alarm_id": r["alarm_id"], "at": iso(r["at"], self.tz), "author": r["author"],
                 "body": r["body"]}
                for r in self.db.all("SELECT * FROM alarm_comments WHERE alarm_id=? ORDER BY id", (alarm_id,))]

    def assign(self, alarm_id: int, assignee: str | None, by: str) -> dict[str, Any]:
        """Give the alarm to a person (a roster id or a username; None takes it back), as tickets have."""
        self._not_cleared(alarm_id)
        self.db.execute("UPDATE alarms SET assignee=?, updated_at=? WHERE id=?", (assignee, self.clock.now(), alarm_id))
        self._history(alarm_id, "assigned", by, assignee=assignee)
        return self._announce("alarm.updated", "assigned", alarm_id, by).alarm

    def clear_by_hand(self, alarm_id: int, username: str) -> dict[str, Any]:
        self._not_cleared(alarm_id)
        return self._clear(alarm_id, username).alarm

    # -- time ---------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Flapping alarms whose condition stayed away; escalation of alarms nobody acknowledged."""
        now = self.clock.now()
        hold = self.rules.alarms["flap_hold_s"]
        for r in self.db.all("SELECT id FROM alarms WHERE state != 'cleared' AND clear_pending_since IS NOT NULL "
                             "AND clear_pending_since <= ?", (now - hold,)):
            self._clear(r["id"], "auto", {"after_flapping": True})
        after = self.rules.alarms["escalate_after_s"]
        # A silenced alarm pages nobody, the older flag included (its alarm.updated reaches the webhooks).
        for r in self.db.all("SELECT id, severity, raised_at FROM alarms WHERE state='active' AND escalated=0 "
                             "AND silenced_by IS NULL"):
            if now - r["raised_at"] >= after.get(r["severity"], float("inf")):
                self.db.execute("UPDATE alarms SET escalated=1, updated_at=? WHERE id=?", (now, r["id"]))
                self._history(r["id"], "escalated", waited_s=round(now - r["raised_at"], 1))
                self._announce("alarm.updated", "escalated", r["id"])

    def list(self, state: str | None = None, limit: int = 500) -> builtins.list[dict[str, Any]]:
        if state:
            rows = self.db.all("SELECT * FROM alarms WHERE state=? ORDER BY id DESC LIMIT ?", (state, limit))
        else:
            rows = self.db.all("SELECT * FROM alarms ORDER BY id DESC LIMIT ?", (limit,))
        return [alarm_json(r, self.tz) for r in rows]

    def history(self, alarm_id: int) -> builtins.list[dict[str, Any]]:
        return [{"at": iso(r["at"], self.tz), "action": r["action"], "actor": r["actor"],
                 "detail": json.loads(r["detail"])}
                for r in self.db.all("SELECT * FROM alarm_history WHERE alarm_id=? ORDER BY id", (alarm_id,))]
