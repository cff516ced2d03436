"""The roster: people, roles, zones, shifts, who is on duty, and the elastic pool (hub/roster-demo.toml)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from floorops.contract import ID_RE

PERSON_ROLES = ("floor_manager", "maintenance", "staff", "liaison")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
        """On duty, on one of their days, within their shift (local time of ``when``)."""
        if not self.on_duty:
            return False
        start, end = shift_bounds(self.shift)
        t = when.time()
        if end is None:  # "24:00": to the end of the day
            inside, day = t >= start, when
        elif start <= end:
            inside, day = start <= t <= end, when
        else:  # crosses midnight: the early part belongs to the previous day's shift
            inside = t >= start or t <= end
            day = when if t >= start else when - dt.timedelta(days=1)
        return inside and DAYS[day.weekday()] in self.days

    def to_json(self, now_local: dt.datetime) -> dict:
        return {"id": self.id, "name": self.name, "name_zh": self.name_zh, "role": self.role,
                "zones": list(self.zones), "shift": self.shift, "on_duty": self.on_shift(now_local),
                "elastic": self.elastic, "username": self.username}


@dataclass(frozen=True)
class Roster:
    people: tuple[Person, ...]

    def by_username(self, username: str) -> Person | None:
        return next((p for p in self.people if p.username and p.username == username), None)

    def on_shift(self, role: str, when: dt.datetime) -> list[Person]:
        return [p for p in self.people if p.role == role and p.on_shift(when)]


def parse_roster(data: dict, source: str = "roster") -> Roster:
    people = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("people", [])):
        where = f"{source}: people[{i}]"
        if not isinstance(entry, dict):
            raise RosterError(f"{where}: expected a table")
        unknown = set(entry) - set(Person.__dataclass_fields__)
        if unknown:
            raise RosterError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        try:
            p = Person(**{**entry, "zones": tuple(entry.get("zones", ())), "days": tuple(entry.get("days", DAYS)),
                          "channels": tuple(entry.get("channels", ())), "events": tuple(entry.get("events", ()))})
        except TypeError as exc:
            raise RosterError(f"{where}: {exc}") from None
        if not ID_RE.match(p.id) or p.id in seen:
            raise RosterError(f"{where}: id {p.id!r} is invalid or repeated")
        seen.add(p.id)
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
