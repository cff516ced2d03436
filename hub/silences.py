"""Silences and maintenance windows (issue #15 item 5): while one is active, an alarm it matches is still
recorded (with ``silenced_by``) but pages nobody and opens no ticket, and a device it covers shows as
"in maintenance".

Each has a reason, an author, an expiry and an audit entry (the API writes it). A window is one-off
(``starts_at``..``ends_at``) or weekly (days + a local time range in the site's timezone, e.g. every Sunday
02:00-04:00, between ``starts_at`` and ``expires_at``); a weekly range that crosses midnight belongs to the
day it starts on. The active set is held in memory (reloaded on every change), so the per-alarm check and the
device JSON cost no query.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.roster import DAYS, shift_bounds

MATCHERS = ("device_ids", "zones", "kinds", "types")
REASON_MAX = 500
MAX_SPAN_S = 366 * 86400  # a silence lasts at most a year: nothing is muted and forgotten


class SilenceError(ValueError):
    """A silence the hub refuses (HTTP 400); the message names the field."""


@dataclass(frozen=True)
class Weekly:
    days: tuple[str, ...]
    start: dt.time
    end: dt.time | None  # None: to the end of the day ("24:00")

    def covers(self, local: dt.datetime) -> bool:
        t = local.time()
        if self.end is None:
            inside, day = t >= self.start, local
        elif self.start <= self.end:
            inside, day = self.start <= t < self.end, local
        else:  # crosses midnight: the early hours belong to the previous day's window
            inside = t >= self.start or t < self.end
            day = local if t >= self.start else local - dt.timedelta(days=1)
        return inside and DAYS[day.weekday()] in self.days

    def json(self) -> dict[str, Any]:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return {"days": list(self.days), "start": self.start.strftime("%H:%M"), "end": end}


@dataclass(frozen=True)
class Silence:
    id: int
    device_ids: tuple[str, ...]
    zones: tuple[str, ...]
    kinds: tuple[str, ...]
    types: tuple[str, ...]
    starts_at: float
    ends_at: float | None
    weekly: Weekly | None
    expires_at: float
    reason: str
    author: str
    created_at: float

    def matches(self, device_id: str, zone: str, kind: str, type_: str = "") -> bool:
        """Every non-empty matcher must hold; ``type_`` empty asks about the device as a whole."""
        return ((not self.device_ids or device_id in self.device_ids) and (not self.zones or zone in self.zones)
                and (not self.kinds or kind in self.kinds) and (not self.types or (bool(type_) and type_ in self.types)))

    def active(self, now: float, tz: ZoneInfo) -> bool:
        if now < self.starts_at or now >= self.expires_at:
            return False
        if self.weekly is not None:
            return self.weekly.covers(dt.datetime.fromtimestamp(now, tz))
        return self.ends_at is None or now < self.ends_at

    def json(self, tz: ZoneInfo, now: float) -> dict[str, Any]:
        return {"id": self.id, "device_ids": list(self.device_ids), "zones": list(self.zones),
                "kinds": list(self.kinds), "types": list(self.types), "starts_at": iso(self.starts_at, tz),
                "ends_at": iso(self.ends_at, tz), "weekly": self.weekly.json() if self.weekly else None,
                "expires_at": iso(self.expires_at, tz), "reason": self.reason, "author": self.author,
                "created_at": iso(self.created_at, tz), "active": self.active(now, tz)}


def _time(text: Any, where: str, now: float) -> float:
    from hub.clock import parse_since
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise SilenceError(f"{where}: expected ISO 8601 or epoch seconds")
    try:
        return parse_since(str(text), now) if isinstance(text, str) else float(text)
    except ValueError as exc:
        raise SilenceError(f"{where}: {exc}") from None


def _names(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value) \
            or len(value) > 500:
        raise SilenceError(f"{key}: expected a list of names (at most 500)")
    return tuple(value)


def parse_weekly(data: Any) -> Weekly:
    if not isinstance(data, dict) or set(data) - {"days", "start", "end"}:
        raise SilenceError("weekly: expected {days: [\"sun\"], start: \"02:00\", end: \"04:00\"}")
    days = data.get("days")
    if not isinstance(days, list) or not days or not set(days) <= set(DAYS):
        raise SilenceError(f"weekly.days: expected a non-empty list of {', '.join(DAYS)}")
    try:
        start, end = shift_bounds(f"{data.get('start')}-{data.get('end')}")
    except (ValueError, AttributeError):
        raise SilenceError("weekly.start/end: expected HH:MM (the end may be 24:00)") from None
    if start == end:
        raise SilenceError("weekly: start and end are the same time")
    return Weekly(tuple(d for d in DAYS if d in days), start, end)


def parse_silence(data: dict[str, Any], now: float) -> dict[str, Any]:
    """The columns of a new silence from the API's JSON, or SilenceError."""
    unknown = set(data) - {*MATCHERS, "starts_at", "ends_at", "weekly", "expires_at", "reason"}
    if unknown:
        raise SilenceError(f"unknown fields {', '.join(sorted(unknown))}")
    matchers = {k: _names(data, k) for k in MATCHERS}
    if not any(matchers.values()):
        raise SilenceError("name at least one of device_ids, zones, kinds, types (a silence of everything is refused)")
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
        raise SilenceError(f"reason: say why, in 1..{REASON_MAX} characters")
    starts_at = _time(data["starts_at"], "starts_at", now) if data.get("starts_at") is not None else now
    weekly = parse_weekly(data["weekly"]) if data.get("weekly") is not None else None
    ends_at = _time(data["ends_at"], "ends_at", now) if data.get("ends_at") is not None else None
    if weekly is not None and ends_at is not None:
        raise SilenceError("ends_at: a weekly window ends at expires_at")
    if data.get("expires_at") is not None:
        expires_at = _time(data["expires_at"], "expires_at", now)
    elif ends_at is not None:
        expires_at = ends_at
    else:
        raise SilenceError("expires_at: every silence needs an expiry (or ends_at for a one-off window)")
    if ends_at is not None and ends_at <= starts_at:
        raise SilenceError("ends_at must be after starts_at")
    if expires_at <= max(starts_at, now) or expires_at - starts_at > MAX_SPAN_S:
        raise SilenceError("expires_at must be in the future and within a year of starts_at")
    return {"matchers": json.dumps({k: list(v) for k, v in matchers.items()}), "starts_at": starts_at,
            "ends_at": ends_at, "weekly": json.dumps(weekly.json()) if weekly else None, "expires_at": expires_at,
            "reason": reason.strip()}


def _from_row(r: sqlite3.Row) -> Silence:
    m = json.loads(r["matchers"])
    return Silence(r["id"], tuple(m.get("device_ids", ())), tuple(m.get("zones", ())), tuple(m.get("kinds", ())),
                   tuple(m.get("types", ())), r["starts_at"], r["ends_at"],
                   parse_weekly(json.loads(r["weekly"])) if r["weekly"] else None, r["expires_at"], r["reason"],
                   r["author"], r["created_at"])


class SilenceManager:
    def __init__(self, db: Database, clock: Clock, tz: ZoneInfo) -> None:
        self.db, self.clock, self.tz = db, clock, tz
        self.silences: list[Silence] = []
        self._maintenance: set[str] = set()  # devices shown "in maintenance" at the last check
        self.reload()

    def reload(self) -> None:
        """The silences not lifted and not expired (reloaded after every change)."""
        rows = self.db.all("SELECT * FROM silences WHERE deleted_at IS NULL AND expires_at > ? ORDER BY id",
                           (self.clock.now(),))
        self.silences = [_from_row(r) for r in rows]

    def create(self, data: dict[str, Any], author: str) -> dict[str, Any]:
        now = self.clock.now()
        cols = parse_silence(data, now)
        cur = self.db.execute(
            "INSERT INTO silences(matchers, starts_at, ends_at, weekly, expires_at, reason, author, created_at) "
            "VALUES (?,?,?,?,?,?,?,?)", (cols["matchers"], cols["starts_at"], cols["ends_at"], cols["weekly"],
                                         cols["expires_at"], cols["reason"], author, now))
        self.reload()
        return self.json(inserted_id(cur))

    def lift(self, silence_id: int, actor: str) -> dict[str, Any]:
        """End a silence before its expiry (KeyError when there is no such silence still in force)."""
        cur = self.db.execute("UPDATE silences SET deleted_at=?, deleted_by=? WHERE id=? AND deleted_at IS NULL",
                              (self.clock.now(), actor, silence_id))
        if cur.rowcount == 0:
            raise KeyError(silence_id)
        self.reload()
        out = self.json(silence_id)
        return {**out, "active": False, "lifted_by": actor}

    def json(self, silence_id: int) -> dict[str, Any]:
        r = self.db.one("SELECT * FROM silences WHERE id=?", (silence_id,))
        if r is None:
            raise KeyError(silence_id)
        return _from_row(r).json(self.tz, self.clock.now())

    def ended(self, since: float) -> list[dict[str, Any]]:
        """Silences that expired or were lifted after ``since``, newest first: what was muted lately, and who
        ended it early (the console's "expired" list)."""
        now = self.clock.now()
        rows = self.db.all("SELECT * FROM silences WHERE (deleted_at IS NOT NULL AND deleted_at > ?) "
                           "OR (deleted_at IS NULL AND expires_at <= ? AND expires_at > ?) "
                           "ORDER BY COALESCE(deleted_at, expires_at) DESC LIMIT 200", (since, now, since))
        return [{**_from_row(r).json(self.tz, now), "active": False, "lifted_at": iso(r["deleted_at"], self.tz),
                 "lifted_by": r["deleted_by"] or ""} for r in rows]

    def list(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [s.json(self.tz, now) for s in self.silences if s.expires_at > now]

    def silencing(self, device_id: str, zone: str, kind: str, type_: str) -> int | None:
        """The id of an active silence that mutes this alarm, if any."""
        now = self.clock.now()
        for s in self.silences:
            if s.active(now, self.tz) and s.matches(device_id, zone, kind, type_):
                return s.id
        return None

    def in_maintenance(self, device_id: str, zone: str, kind: str) -> bool:
        """A device is in maintenance while an active silence covers it whole (no alarm-type matcher)."""
        now = self.clock.now()
        return any(not s.types and s.active(now, self.tz) and s.matches(device_id, zone, kind) for s in self.silences)

    def maintenance_changes(self, devices: Iterable[tuple[str, str, str]]) -> set[str]:
        """Devices (id, zone, kind) that entered or left maintenance since the last call (windows open and
        close with time), so their JSON is sent again; expired silences are dropped from memory."""
        now = self.clock.now()
        if any(s.expires_at <= now for s in self.silences):
            self.silences = [s for s in self.silences if s.expires_at > now]
        current = {d for d, zone, kind in devices if self.in_maintenance(d, zone, kind)}
        changed = current ^ self._maintenance
        self._maintenance = current
        return changed
