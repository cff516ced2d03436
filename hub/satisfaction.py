"""Satisfaction: the terminals' presses per zone and day, the daily 0-100 score, and the corrective-action
tickets of the ``satisfaction_low`` rule (hub/rules/satisfaction.py; docs/hub.md "Satisfaction").

A zone's score of a day is the mean of its presses that day, each worth its button's points
(floorops.kinds.satisfaction_terminal.POINTS: very satisfied 100, satisfied 75, neutral 50, dissatisfied 25,
very dissatisfied 0); a day without presses has no score. Presses are counted in SQLite per zone, day
(the site's local date of the press, device time) and terminal, inside the batch's transaction, so a
hub restart loses none and a redelivered press (same seq) is not counted twice (hub.core's dedup).

A corrective action belongs to the zone's owner: the first floor manager of the roster who covers the
zone (or '' when none does; any floor manager or admin may act on it). Floor managers acknowledge it,
add notes and close it (permission ``satisfaction.act``); the rule records its follow-up on it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from floorops.kinds.satisfaction_terminal import BUTTONS, POINTS
from floorops.site import Site
from hub.alarms import AlarmManager
from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.events import EventBus
from hub.roster import Roster
from hub.rules.base import RuleSet, Signal
from hub.rules.satisfaction import RULE, OpenAction, ZoneDays, followup_days, source

ACTION_STATES = ("open", "acknowledged", "closed")
RANGE_MAX_DAYS = 92
LOOKBACK_DAYS = 14  # complete days the rule is given (its days and follow-up days fit well within)
KEEP_DAYS = 800  # two years of daily counts
NOTE_MAX = 2000
SYSTEM_AUTHOR = "floorops"


class ActionError(ValueError):
    """The corrective action cannot take that action in its present state (HTTP 409)."""


def local_day(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).date().isoformat()


def score_of(counts: Mapping[str, int]) -> float | None:
    """The mean of the presses' points (0-100), None without presses."""
    n = sum(int(counts.get(b, 0)) for b in BUTTONS)
    if n == 0:
        return None
    return sum(POINTS[b] * int(counts.get(b, 0)) for b in BUTTONS) / n


def record(db: Database, tz: ZoneInfo, zone: str, device_id: str, button: str, ts: float) -> bool:
    """Count one press (inside the caller's transaction); False for a button the contract does not have."""
    if button not in POINTS:
        return False
    db.execute(f"INSERT INTO satisfaction_presses(zone, day, device_id, {button}) VALUES (?,?,?,1) "
               f"ON CONFLICT(zone, day, device_id) DO UPDATE SET {button}={button}+1",
               (zone, local_day(ts, tz), device_id))
    return True


def counts_by_zone_day(db: Database, first: str, last: str) -> dict[str, dict[str, dict[str, int]]]:
    """zone -> day -> button -> presses, for the days first..last (inclusive)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    cols = ", ".join(f"SUM({b}) AS {b}" for b in BUTTONS)
    for r in db.all(f"SELECT zone, day, {cols} FROM satisfaction_presses WHERE day BETWEEN ? AND ? "
                    "GROUP BY zone, day", (first, last)):
        out.setdefault(r["zone"], {})[r["day"]] = {b: int(r[b] or 0) for b in BUTTONS}
    return out


def _row(zone: Any, counts: Mapping[str, int] | None) -> dict[str, Any]:
    counts = {b: int((counts or {}).get(b, 0)) for b in BUTTONS}
    s = score_of(counts)
    return {"zone": zone.id, "name": zone.name, "name_zh": zone.name_zh, "score": None if s is None else round(s, 1),
            "ratings": sum(counts.values()), "counts": counts}


def owner_of(roster: Roster, zone: str) -> str:
    """The zone's floor manager (their console login, else their roster id); '' when none covers it."""
    p = next((p for p in roster.people if p.role == "floor_manager" and zone in p.zones), None)
    return "" if p is None else (p.username or p.id)


def action_json(r: sqlite3.Row, notes: list[dict[str, Any]], tz: ZoneInfo, now: float) -> dict[str, Any]:
    return {
        "id": r["id"], "zone": r["zone"], "owner": r["owner"], "state": r["state"],
        "opened_at": iso(r["opened_at"], tz), "due_at": iso(r["due_at"], tz),
        "overdue": r["state"] != "closed" and now > r["due_at"],
        "streak": json.loads(r["streak"]), "followup_from": r["followup_from"], "followup_to": r["followup_to"],
        "followup": json.loads(r["followup"]), "verdict": r["verdict"] or None,
        "checked_at": iso(r["checked_at"], tz), "acknowledged_at": iso(r["acknowledged_at"], tz),
        "acknowledged_by": r["acknowledged_by"], "closed_at": iso(r["closed_at"], tz), "closed_by": r["closed_by"],
        "alarm_id": r["alarm_id"], "notes": notes,
    }


class SatisfactionManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, rules: RuleSet, site: Site, roster: Roster,
                 alarms: AlarmManager) -> None:
        self.db, self.bus, self.clock, self.rules, self.site, self.roster = db, bus, clock, rules, site, roster
        self.tz, self.alarms = site.tz, alarms

    # -- scores ------------------------------------------------------------------------------------

    def record(self, zone: str, device_id: str, button: str, ts: float) -> bool:
        """One press of a terminal in ``zone`` (device time ``ts``, s); False for an unknown button."""
        return record(self.db, self.tz, zone, device_id, button, ts)

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.now(), self.tz).date()

    def scores(self, first: dt.date, last: dt.date, zone: str | None = None) -> dict[str, Any]:
        """Per zone, the score of each day first..last and of the whole range; the site's; open actions."""
        if last < first or (last - first).days >= RANGE_MAX_DAYS:
            raise ValueError(f"from..to must be at most {RANGE_MAX_DAYS} days, from first to last")
        data = counts_by_zone_day(self.db, first.isoformat(), last.isoformat())
        zones = [z for z in self.site.zones if zone is None or z.id == zone]
        days = []
        d = first
        while d <= last:
            days.append({"date": d.isoformat(),
                         "zones": [_row(z, data.get(z.id, {}).get(d.isoformat())) for z in zones]})
            d += dt.timedelta(days=1)
        totals = [_row(z, {b: sum(c[b] for c in data.get(z.id, {}).values()) for b in BUTTONS}) for z in zones]
        site_counts = {b: sum(r["counts"][b] for r in totals) for b in BUTTONS}
        site_score = score_of(site_counts)
        out: dict[str, Any] = {
            "from": first.isoformat(), "to": last.isoformat(), "target": self.rules.rule(RULE)["threshold"],
            "points": dict(POINTS), "zones": totals,
            "site": {"score": None if site_score is None else round(site_score, 1),
                     "ratings": sum(site_counts.values()), "counts": site_counts},
            "days": days,
            "actions": self.actions(open_only=True, zone=zone),
        }
        if first == last:
            out["date"] = first.isoformat()
        return out

    def zone_days(self) -> list[ZoneDays]:
        """What the rule looks at: each zone's scores of the last complete days and its open action."""
        today = self.today()
        first = today - dt.timedelta(days=LOOKBACK_DAYS)
        data = counts_by_zone_day(self.db, first.isoformat(), (today - dt.timedelta(days=1)).isoformat())
        least = int(self.rules.rule(RULE)["min_ratings"])
        open_rows = {r["zone"]: r for r in self.db.all("SELECT * FROM satisfaction_actions WHERE state != 'closed'")}
        # Days a ticket already used never count again: its streak, and its follow-up once judged.
        last_streak = {r["zone"]: r["d"] for r in self.db.all(
            "SELECT zone, MAX(CASE WHEN verdict != '' THEN followup_to ELSE last_streak_day END) AS d "
            "FROM satisfaction_actions GROUP BY zone")}
        out = []
        for z in self.site.zones:
            scores = {}
            for day, counts in data.get(z.id, {}).items():
                s = score_of(counts)
                if s is not None and sum(counts.values()) >= least:
                    scores[day] = s
            row = open_rows.get(z.id)
            action = None if row is None else OpenAction(row["id"], row["followup_from"], row["followup_to"],
                                                         bool(row["verdict"]))
            if scores or action is not None:
                out.append(ZoneDays(z.id, today.isoformat(), scores, action, last_streak.get(z.id) or ""))
        return out

    # -- the rule's signals --------------------------------------------------------------------------

    def apply(self, sig: Signal) -> None:
        """A signal of the satisfaction_low rule: open a ticket (and raise the alarm), or record a
        follow-up's verdict (and clear the alarm when improved)."""
        if not self.rules.enabled(RULE):
            return
        zone = sig.zone
        if "verdict" in sig.detail:
            self._followup(int(sig.detail["action_id"]), sig)
            return
        if self.db.one("SELECT 1 FROM satisfaction_actions WHERE zone=? AND state != 'closed'", (zone,)):
            return  # never a second ticket while one is open
        rule = self.rules.rule(RULE)
        now = self.clock.now()
        days = sig.detail["days"]
        last = days[-1]["date"]
        f_from, f_to = followup_days(last, int(rule["followup_days"]))
        self.alarms.apply(sig)
        alarm_id = self.alarms.open.get((source(zone), RULE))
        cur = self.db.execute(
            "INSERT INTO satisfaction_actions(zone, owner, opened_at, due_at, streak, last_streak_day, followup_from, "
            "followup_to, alarm_id) VALUES (?,?,?,?,?,?,?,?,?)",
            (zone, owner_of(self.roster, zone), now, now + float(rule["due_days"]) * 86400, json.dumps(days), last,
             f_from, f_to, alarm_id))
        action_id = inserted_id(cur)
        scores = ", ".join(f"{d['date']} {d['score']}" for d in days)
        self._note(action_id, SYSTEM_AUTHOR, f"Opened: {len(days)} days below {sig.detail['threshold']:g} ({scores}); "
                                             f"follow-up on {f_from}..{f_to}.")
        self._announce(action_id)

    def _followup(self, action_id: int, sig: Signal) -> None:
        row = self.db.one("SELECT * FROM satisfaction_actions WHERE id=?", (action_id,))
        if row is None or row["verdict"]:
            return
        v = sig.detail["verdict"]
        now = self.clock.now()
        self.db.execute("UPDATE satisfaction_actions SET followup=?, verdict=?, checked_at=? WHERE id=?",
                        (json.dumps(sig.detail["followup"]), v, now, action_id))
        scores = ", ".join(f"{d['date']} {'-' if d['score'] is None else d['score']}" for d in sig.detail["followup"])
        text = {"improved": "improved", "not_improved": "not improved", "no_data": "no ratings to judge"}[v]
        self._note(action_id, SYSTEM_AUTHOR, f"Follow-up: {text} ({scores}; threshold {sig.detail['threshold']:g}).")
        if v == "improved":
            self.db.execute("UPDATE satisfaction_actions SET state='closed', closed_at=?, closed_by=? WHERE id=?",
                            (now, SYSTEM_AUTHOR, action_id))
            self.alarms.apply(sig)  # inactive: clears it
        self._announce(action_id)

    # -- people -------------------------------------------------------------------------------------

    def _get(self, action_id: int) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM satisfaction_actions WHERE id=?", (action_id,))
        if row is None:
            raise KeyError(action_id)
        return row

    def acknowledge(self, action_id: int, username: str, note: str = "") -> dict[str, Any]:
        row = self._get(action_id)
        if row["state"] != "open":
            raise ActionError(f"the corrective action is {row['state']}, not open")
        self.db.execute("UPDATE satisfaction_actions SET state='acknowledged', acknowledged_at=?, acknowledged_by=? "
                        "WHERE id=?", (self.clock.now(), username, action_id))
        if note:
            self._note(action_id, username, note)
        return self._announce(action_id)

    def comment(self, action_id: int, username: str, note: str) -> dict[str, Any]:
        self._get(action_id)
        self._note(action_id, username, note)
        return self._announce(action_id)

    def close(self, action_id: int, username: str, note: str = "") -> dict[str, Any]:
        """Closed by a person (the work is done, whatever the follow-up said); its alarm clears."""
        row = self._get(action_id)
        if row["state"] == "closed":
            raise ActionError("the corrective action is already closed")
        self.db.execute("UPDATE satisfaction_actions SET state='closed', closed_at=?, closed_by=? WHERE id=?",
                        (self.clock.now(), username, action_id))
        if note:
            self._note(action_id, username, note)
        alarm = self.alarms.get(row["alarm_id"]) if row["alarm_id"] else None
        if alarm is not None and alarm["state"] != "cleared":
            self.alarms.clear_by_hand(row["alarm_id"], username)
        return self._announce(action_id)

    # -- reading ------------------------------------------------------------------------------------

    def _note(self, action_id: int, author: str, body: str) -> None:
        self.db.execute("INSERT INTO satisfaction_action_notes(action_id, at, author, body) VALUES (?,?,?,?)",
                        (action_id, self.clock.now(), author, body[:NOTE_MAX]))

    def _notes(self, action_id: int) -> list[dict[str, Any]]:
        return [{"at": iso(r["at"], self.tz), "author": r["author"], "body": r["body"]} for r in self.db.all(
            "SELECT * FROM satisfaction_action_notes WHERE action_id=? ORDER BY id", (action_id,))]

    def json(self, action_id: int) -> dict[str, Any]:
        return action_json(self._get(action_id), self._notes(action_id), self.tz, self.clock.now())

    def _announce(self, action_id: int) -> dict[str, Any]:
        out = self.json(action_id)
        self.bus.emit("satisfaction_action.updated", out)
        return out

    def actions(self, open_only: bool = False, zone: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where, args = [], []
        if open_only:
            where.append("state != 'closed'")
        if zone:
            where.append("zone=?")
            args.append(zone)
        sql = "SELECT * FROM satisfaction_actions" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.all(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        now = self.clock.now()
        return [action_json(r, self._notes(r["id"]), self.tz, now) for r in rows]

    def prune(self, now: float) -> None:
        self.db.execute("DELETE FROM satisfaction_presses WHERE day < ?", (local_day(now - KEEP_DAYS * 86400, self.tz),))
