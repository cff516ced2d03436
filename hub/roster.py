"""The roster: people, roles, zones, shifts, who is on duty, the elastic pool, and each day's plan.

People live in the hub database (``people``), seeded once from the roster file (cfg.hub.roster_file, the demo's
``hub/roster-demo.toml``) and edited through ``/api/people``. A day's plan is by the hour (the staffing
plan's grain): proposed from the staffing plan (Erlang C on the forecast, ``propose``), edited by a floor
manager, then published (``RosterStore``). ``Roster`` is the one value the dispatcher, tickets, escalation and
the forecaster read: ``Roster.at(when)`` is who works then, in which zones -- from the published plan of that
day, or from each person's standing shift on a day without one."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from floorops.contract import ID_RE
from hub.db import Database

PERSON_ROLES = ("floor_manager", "maintenance", "staff", "liaison")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The roles the staffing plan places per zone and hour (the dispatcher's roles, hub.dispatch.DISPATCH_ROLES);
# the other roles keep their standing shift in a proposal.
PLANNED_ROLES = ("floor_manager", "staff")


class RosterError(ValueError):
    """The roster file is invalid; the message names the entry."""


def shift_bounds(shift: str) -> tuple[dt.time, dt.time | None]:
    """``"HH:MM-HH:MM"`` as (start, end); an end of ``24:00`` is the end of the day (None), so that
    ``00:00-24:00`` is round the clock (``00:00-23:59`` left the last minute of every day uncovered).
    Raises ValueError on anything else."""
    start_s, end_s = shift.split("-")
    start = dt.time.fromisoformat(start_s)
    return start, None if end_s.strip() == "24:00" else dt.time.fromisoformat(end_s)


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str
    zones: tuple[str, ...] = ()
    shift: str = "00:00-24:00"
    days: tuple[str, ...] = DAYS
    on_duty: bool = True
    elastic: bool = False
    username: str = ""
    name_zh: str = ""
    # Contact points and what reaches the person (hub/notify, docs/notifications.md): an address per channel,
    # the channels to page them on (empty: the notify file's default_channels), the events they choose
    # (empty: all; "severity:major", "type:kiosk_paper_out", "subject:request"), and quiet hours
    # ("22:00-07:00", site time) when only emergencies reach them at once and the rest waits.
    email: str = ""
    phone: str = ""
    channels: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    quiet_hours: str = ""

    def on_shift(self, when: dt.datetime) -> bool:
        """On duty, on one of their days, within their standing shift (local time of ``when``)."""
        return self.on_duty and self.shift_day(when) is not None

    def shift_day(self, when: dt.datetime) -> dt.date | None:
        """The day whose standing shift covers ``when`` (the day before, for the early hours of a shift that
        crosses midnight), or None; ``on_duty`` aside."""
        start, end = shift_bounds(self.shift)
        t = when.time()
        if end is None:  # "24:00": to the end of the day
            inside, day = t >= start, when
        elif start <= end:
            inside, day = start <= t <= end, when
        else:  # crosses midnight: the early part belongs to the previous day's shift
            inside = t >= start or t <= end
            day = when if t >= start else when - dt.timedelta(days=1)
        return day.date() if inside and DAYS[day.weekday()] in self.days else None

    def to_json(self, now_local: dt.datetime) -> dict:
        return {"id": self.id, "name": self.name, "name_zh": self.name_zh, "role": self.role,
                "zones": list(self.zones), "shift": self.shift, "on_duty": self.on_shift(now_local),
                "elastic": self.elastic, "username": self.username}


    def to_admin_json(self) -> dict[str, Any]:
        """Every field, contact points included (admins only: /api/people)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Roster:
    """People, and the published plans from the day it was loaded on: (day, person id, hour) -> zone ('': the
    person's own zones). A day in ``planned`` follows its plan; any other day the standing shifts."""

    people: tuple[Person, ...]
    hours: dict[tuple[dt.date, str, int], str] = field(default_factory=dict)
    planned: frozenset[dt.date] = frozenset()

    def by_username(self, username: str) -> Person | None:
        return next((p for p in self.people if p.username and p.username == username), None)

    def at(self, when: dt.datetime) -> list[Person]:
        """Who works at ``when`` (site local time), with the zones they cover then: the published plan's zone
        for that hour, or their own zones."""
        out = []
        day = when.date()
        for p in self.people:
            if not p.on_duty:
                continue
            if day in self.planned:
                zone = self.hours.get((day, p.id, when.hour))
                if zone is not None:
                    out.append(replace(p, zones=(zone,)) if zone else p)
                continue
            standing = p.shift_day(when)
            # The early hours of a night shift belong to the day it started: that day's plan, if any, says.
            if standing is not None and standing not in self.planned:
                out.append(p)
        return out

    def on_shift(self, role: str, when: dt.datetime) -> list[Person]:
        return [p for p in self.at(when) if p.role == role]


def _strs(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and len(v) <= 500 for v in value):
        raise RosterError(f"{where}: {name} must be a list of strings (each at most 500 characters)")
    return tuple(value)


BOOL_FIELDS = ("on_duty", "elastic")
LIST_FIELDS = ("zones", "days", "channels", "events")


def person_from(entry: Any, where: str = "person") -> Person:
    """One person from a table (the roster file) or a JSON object (the API): every field checked."""
    if not isinstance(entry, dict):
        raise RosterError(f"{where}: expected a table")
    unknown = set(entry) - set(Person.__dataclass_fields__)
    if unknown:
        raise RosterError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    for name in ("id", "name", "role"):
        if name not in entry:
            raise RosterError(f"{where}: {name} is required")
    values: dict[str, Any] = {}
    for name, value in entry.items():
        if name in LIST_FIELDS:
            values[name] = _strs(value, where, name)
        elif name in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise RosterError(f"{where}: {name} must be true or false")
            values[name] = value
        elif not isinstance(value, str) or len(value) > 500:
            raise RosterError(f"{where}: {name} must be a string (at most 500 characters)")
        else:
            values[name] = value
    p = Person(**values)
    if not ID_RE.match(p.id):
        raise RosterError(f"{where}: id {p.id!r} is invalid (letters, digits, '_' and '-')")
    if not p.name.strip():
        raise RosterError(f"{where}: name must not be empty")
    if p.role not in PERSON_ROLES:
        raise RosterError(f"{where}: role {p.role!r} is not one of {', '.join(PERSON_ROLES)}")
    bad_days = set(p.days) - set(DAYS)
    if bad_days:
        raise RosterError(f"{where}: unknown days {', '.join(sorted(bad_days))}")
    try:
        shift_bounds(p.shift)
    except ValueError:
        raise RosterError(f"{where}: shift {p.shift!r} is not HH:MM-HH:MM (the end may be 24:00)") from None
    if p.quiet_hours:
        try:
            shift_bounds(p.quiet_hours)
        except ValueError:
            raise RosterError(f"{where}: quiet_hours {p.quiet_hours!r} is not HH:MM-HH:MM") from None
    return p


def parse_roster(data: dict, source: str = "roster") -> Roster:
    people = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("people", [])):
        where = f"{source}: people[{i}]"
        p = person_from(entry, where)
        if p.id in seen:
            raise RosterError(f"{where}: id {p.id!r} is invalid or repeated")
        seen.add(p.id)
        people.append(p)
    return Roster(tuple(people))


def load_roster(path: str | Path) -> Roster:
    p = Path(path)
    if not p.exists():
        return Roster(())
    try:
        return parse_roster(tomllib.loads(p.read_text(encoding="utf-8")), str(p))
    except tomllib.TOMLDecodeError as exc:
        raise RosterError(f"{p}: {exc}") from None


def local(ts: float, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz)


# -- a day's plan ---------------------------------------------------------------------------------------

Cell = tuple[str, int, str]  # (person id, local hour, zone; '' : the person's own zones)


def standing_hours(p: Person, day: dt.date, tz: ZoneInfo) -> list[int]:
    """The hours of ``day`` that the person's standing shift covers (at half past, as the staffing plan's
    hours are counted), if they are on duty."""
    if not p.on_duty:
        return []
    return [h for h in range(24) if p.shift_day(dt.datetime.combine(day, dt.time(h, 30), tz)) is not None]


def propose(people: Sequence[Person], staffing: Iterable[dict[str, Any]], day: dt.date,
            tz: ZoneInfo) -> tuple[list[Cell], list[dict[str, Any]]]:
    """Tomorrow's roster from the staffing plan: per zone and hour, ``required`` people (Erlang C on the
    forecast, models.staffing) chosen among the floor managers and staff available then (on duty, within
    their standing shift): those covering the zone first, then the elastic pool; staying in the zone they
    were in the hour before, then the fewest hours. People of other roles, and floor people whose zones the
    staffing plan does not cover, keep their standing shift. Returns the cells and the places left unfilled
    ([{zone, hour, short}])."""
    need = {(r["zone"], int(r["hour"])): int(r["required"]) for r in staffing if int(r.get("required") or 0) > 0}
    planned_zones = {z for z, _ in need}
    cells: dict[tuple[str, int], str] = {}
    placed = [p for p in people if p.role in PLANNED_ROLES and (p.elastic or set(p.zones) & planned_zones)]
    for p in people:
        if p not in placed:
            cells.update({(p.id, h): "" for h in standing_hours(p, day, tz)})
    free = {p.id: set(standing_hours(p, day, tz)) for p in placed}
    hours_of: Counter[str] = Counter()
    unfilled = []
    for hour in range(24):
        # The most needed zones first, so that the elastic pool goes where the gap is widest.
        for zone in sorted((z for z, h in need if h == hour), key=lambda z: (-need[(z, hour)], z)):
            candidates = [p for p in placed if hour in free[p.id] and (p.id, hour) not in cells
                          and (zone in p.zones or p.elastic)]
            candidates.sort(key=lambda p: (cells.get((p.id, hour - 1)) != zone, zone not in p.zones,
                                           hours_of[p.id], p.id))
            chosen = candidates[:need[(zone, hour)]]
            for p in chosen:
                cells[(p.id, hour)] = zone
                hours_of[p.id] += 1
            if len(chosen) < need[(zone, hour)]:
                unfilled.append({"zone": zone, "hour": hour, "short": need[(zone, hour)] - len(chosen)})
    return [(pid, hour, zone) for (pid, hour), zone in sorted(cells.items())], unfilled


def shifts_of(cells: Iterable[Cell]) -> list[dict[str, Any]]:
    """Cells merged into shifts: a person's consecutive hours in one zone, ``{person, zone, start, end}``
    ("HH:MM", an end of 24:00 is midnight)."""
    by_person: dict[str, dict[int, str]] = {}
    for pid, hour, zone in cells:
        by_person.setdefault(pid, {})[hour] = zone
    out = []
    for pid in sorted(by_person):
        hours = by_person[pid]
        start: int | None = None
        for h in range(25):
            if start is not None and (h not in hours or hours[h] != hours[start]):
                out.append({"person": pid, "zone": hours[start], "start": f"{start:02d}:00", "end": f"{h:02d}:00"})
                start = None
            if start is None and h in hours:
                start = h
    return out


class PlanError(ValueError):
    """A plan that cannot change that way (HTTP 409)."""


class RosterStore:
    """People and the days' plans in the hub database (migration 0014). Writes run in the caller's
    transaction (hub.core.Hub.unit_of_work), which also writes their audit entries."""

    SEEDED_KEY = "roster_seeded"

    def __init__(self, db: Database) -> None:
        self.db = db

    # people

    def seed(self, roster: Roster, now: float) -> bool:
        """Copy the roster file's people in on the first start (never again, even if all are deleted)."""
        if self.db.one("SELECT 1 FROM settings WHERE key=?", (self.SEEDED_KEY,)):
            return False
        for p in roster.people:
            if not self.db.one("SELECT 1 FROM people WHERE id=?", (p.id,)):
                self.put(p, now)
        self.db.execute("INSERT INTO settings(key, value) VALUES (?, ?)", (self.SEEDED_KEY, json.dumps(now)))
        return True

    def people(self) -> tuple[Person, ...]:
        out = []
        for r in self.db.all("SELECT * FROM people ORDER BY rowid"):
            values = {k: r[k] for k in Person.__dataclass_fields__}
            values.update({k: tuple(json.loads(r[k])) for k in LIST_FIELDS})
            values.update({k: bool(r[k]) for k in BOOL_FIELDS})
            out.append(Person(**values))
        return tuple(out)

    def get(self, person_id: str) -> Person | None:
        return next((p for p in self.people() if p.id == person_id), None)

    def put(self, p: Person, now: float) -> None:
        """Insert or replace one person (the caller has checked it with ``person_from``)."""
        cols = list(Person.__dataclass_fields__)
        values = [json.dumps(list(getattr(p, c))) if c in LIST_FIELDS else int(getattr(p, c)) if c in BOOL_FIELDS
                  else getattr(p, c) for c in cols]
        self.db.execute(f"INSERT INTO people({', '.join(cols)}, updated_at) VALUES ({', '.join('?' * len(cols))}, ?) "
                        f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols[1:])}, "
                        "updated_at=excluded.updated_at", (*values, now))
        if p.username:  # the account of that name is this person (hub.auth.User.person)
            self.db.execute("UPDATE users SET person=? WHERE username=?", (p.id, p.username))

    def delete(self, person_id: str, from_day: dt.date) -> None:
        """Remove the person, and their hours from the plans of ``from_day`` on (past plans stay as they were)."""
        self.db.execute("DELETE FROM people WHERE id=?", (person_id,))
        self.db.execute("DELETE FROM roster_hours WHERE person_id=? AND day >= ?", (person_id, from_day.isoformat()))
        self.db.execute("UPDATE users SET person='' WHERE person=?", (person_id,))

    # plans

    def load(self, since: dt.date) -> Roster:
        """The Roster: everyone, and the published plans of ``since`` and after."""
        rows = self.db.all("SELECT day, person_id, hour, zone FROM roster_hours WHERE status='published' AND day >= ?",
                           (since.isoformat(),))
        hours = {(dt.date.fromisoformat(r["day"]), r["person_id"], r["hour"]): r["zone"] for r in rows}
        planned = frozenset(dt.date.fromisoformat(r["day"]) for r in self.db.all(
            "SELECT day FROM roster_plans WHERE published_at IS NOT NULL AND day >= ?", (since.isoformat(),)))
        return Roster(self.people(), hours, planned)

    def cells(self, day: dt.date, status: str) -> list[Cell]:
        return [(r["person_id"], r["hour"], r["zone"]) for r in self.db.all(
            "SELECT person_id, hour, zone FROM roster_hours WHERE day=? AND status=? ORDER BY person_id, hour",
            (day.isoformat(), status))]

    def plan(self, day: dt.date) -> dict[str, Any] | None:
        row = self.db.one("SELECT * FROM roster_plans WHERE day=?", (day.isoformat(),))
        return dict(row) if row else None

    def save_proposal(self, day: dt.date, cells: list[Cell], unfilled: list[dict[str, Any]], actor: str,
                      now: float) -> None:
        """A new proposal replaces the day's draft (its edits included); the published plan stays until the
        next publication."""
        d = day.isoformat()
        self.db.execute("DELETE FROM roster_hours WHERE day=? AND status='proposed'", (d,))
        for pid, hour, zone in cells:
            self.db.execute("INSERT INTO roster_hours(day, status, person_id, hour, zone, source) "
                            "VALUES (?, 'proposed', ?, ?, ?, 'proposal')", (d, pid, hour, zone))
        self.db.execute(
            "INSERT INTO roster_plans(day, proposed_at, proposed_by, unfilled) VALUES (?,?,?,?) ON CONFLICT(day) DO "
            "UPDATE SET proposed_at=excluded.proposed_at, proposed_by=excluded.proposed_by, unfilled=excluded.unfilled, "
            "edited_at=NULL, edited_by=''", (d, now, actor, json.dumps(unfilled)))

    def edit(self, day: dt.date, changes: list[tuple[str, int, str | None]], actor: str, now: float) -> None:
        """Set cells of the draft: (person, hour, zone) works there ('' : their own zones), None: off."""
        d = day.isoformat()
        if not self.db.one("SELECT 1 FROM roster_plans WHERE day=? AND proposed_at IS NOT NULL", (d,)):
            raise PlanError(f"there is no proposal for {d}: propose one first (POST /api/roster/proposal)")
        for pid, hour, zone in changes:
            self.db.execute("DELETE FROM roster_hours WHERE day=? AND status='proposed' AND person_id=? AND hour=?",
                            (d, pid, hour))
            if zone is not None:
                self.db.execute("INSERT INTO roster_hours(day, status, person_id, hour, zone, source) "
                                "VALUES (?, 'proposed', ?, ?, ?, 'edit')", (d, pid, hour, zone))
        self.db.execute("UPDATE roster_plans SET edited_at=?, edited_by=? WHERE day=?", (now, actor, d))

    def publish(self, day: dt.date, actor: str, now: float) -> int:
        """The draft becomes the day's published plan; returns its number of hours."""
        d = day.isoformat()
        if not self.db.one("SELECT 1 FROM roster_plans WHERE day=? AND proposed_at IS NOT NULL", (d,)):
            raise PlanError(f"there is no proposal for {d} to publish: propose one first (POST /api/roster/proposal)")
        self.db.execute("DELETE FROM roster_hours WHERE day=? AND status='published'", (d,))
        cur = self.db.execute("INSERT INTO roster_hours(day, status, person_id, hour, zone, source) SELECT day, "
                              "'published', person_id, hour, zone, source FROM roster_hours WHERE day=? AND "
                              "status='proposed'", (d,))
        self.db.execute("UPDATE roster_plans SET published_at=?, published_by=? WHERE day=?", (now, actor, d))
        return int(cur.rowcount)
