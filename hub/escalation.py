"""Escalation chains to named people (issue #15 item 3).

A subject (an alarm; a request from the requests module: anything with a kind, an id, a severity and a type)
that a chain matches is escalated step by step: each step pages its people (roster roles on shift, the
subject's zone's people first, or named people), waits its own ``timeout_s`` for an acknowledgement, then
goes on to the next step; after the last step, and between steps, reminders repeat every
``reminder_every_s`` until someone acknowledges (``stop``). Progress is a row of ``escalations`` moved by
``tick`` with the hub's Clock, so a restart resumes where it was and tests move time by hand.

Each page is one outbox row per person and channel (hub.notify.outbox), keyed by (subject, step, reminder,
person, channel), plus a ``notify.page`` event to the person's console session. A person gets only the
events they chose (roster ``events``), and during their quiet hours pages wait for the end, except
emergencies (``urgent_severities``), which always go at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from hub.alarms import AlarmChange, AlarmManager
from hub.clock import Clock
from hub.db import Database
from hub.events import EventBus
from hub.notify import Message
from hub.notify import outbox
from hub.notify.settings import Chain, NotifySettings
from hub.roster import Person, Roster, shift_bounds

log = logging.getLogger("hub.escalation")

PREFS_KEY = "notify_prefs:"  # + person id: a person's own choices (settings table), over the roster's
EVENT_PREFIXES = ("severity:", "type:", "subject:")


class PreferencesError(ValueError):
    """Choices the hub refuses (HTTP 400); the message names the field."""

STOPPING_ACTIONS = ("acknowledged", "cleared", "removed")


@dataclass(frozen=True)
class Subject:
    """What is escalated: ``kind`` "alarm" or "request" (or any other module's), with what chains match on."""

    kind: str
    id: str
    severity: str
    type: str
    zone: str = ""
    title: str = ""
    lines: tuple[str, ...] = field(default=())
    named: tuple[str, ...] = field(default=())  # roster ids a chain step ``named`` pages (a repeat complaint's manager)

    @classmethod
    def of_alarm(cls, a: dict[str, Any]) -> "Subject":
        where = a.get("device_id") or a.get("source") or ""
        return cls("alarm", str(a["id"]), a["severity"], a["type"], a.get("zone") or "",
                   f"[{a['severity'].upper()}] {a['type']} - {where}",
                   (f"alarm #{a['id']}: {a['type']} ({a['severity']})", f"device/source: {where}",
                    f"zone: {a.get('zone') or '-'}", f"raised: {a.get('raised_at')}"))


def in_span(span: str, local: dt.datetime) -> bool:
    start, end = shift_bounds(span)
    t = local.time()
    if end is None:
        return t >= start
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def span_end(span: str, local: dt.datetime) -> dt.datetime:
    """The end of the ``HH:MM-HH:MM`` span that ``local`` is in (the next time its end comes)."""
    _, end = shift_bounds(span)
    end_t = end or dt.time(0, 0)
    candidate = local.replace(hour=end_t.hour, minute=end_t.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += dt.timedelta(days=1)
    return candidate


def wants(person: Person, subject: Subject) -> bool:
    """The events a person chose (empty: all)."""
    if not person.events:
        return True
    tags = {f"severity:{subject.severity}", f"type:{subject.type}", f"subject:{subject.kind}"}
    return bool(tags & set(person.events))


class EscalationManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, tz: ZoneInfo, roster: Roster,
                 settings: NotifySettings, alarms: AlarmManager | None = None) -> None:
        self.db, self.bus, self.clock, self.tz, self.roster, self.settings = db, bus, clock, tz, roster, settings
        self.subjects: dict[str, Any] = {}  # kind -> callable(id) -> Subject | None, to reload after restart
        self.preferences: dict[str, dict[str, Any]] = {
            r["key"][len(PREFS_KEY):]: json.loads(r["value"])
            for r in db.all("SELECT key, value FROM settings WHERE key LIKE ?", (PREFS_KEY + "%",))}
        if alarms is not None:
            self.alarms = alarms
            alarms.listeners.append(self.on_alarm)
            self.register_subject("alarm", self._alarm_subject)

    def register_subject(self, kind: str, lookup: Any) -> None:
        """Another module's subjects (the requests module: ``"request"``): ``lookup(id)`` gives the Subject
        while it still wants escalating (None once handled), so a running chain survives a restart. That
        module calls ``start(Subject(kind, ...))`` when one is created and ``stop(kind, id, by)`` when
        someone takes it."""
        self.subjects[kind] = lookup

    def _alarm_subject(self, subject_id: str) -> Subject | None:
        row = self.alarms.get(int(subject_id))
        if row is None or row["state"] != "active":
            return None
        return Subject.of_alarm(self.alarms.json(int(subject_id)))

    # -- alarms drive escalation --------------------------------------------------------------------

    def on_alarm(self, change: AlarmChange) -> None:
        a = change.alarm
        if change.action in ("raised", "reopened") and a["state"] == "active" and not a.get("silenced"):
            self.start(Subject.of_alarm(a))
        elif change.action in STOPPING_ACTIONS:
            self.stop("alarm", str(a["id"]), change.by or change.action)

    # -- the chain -------------------------------------------------------------------------------------

    def start(self, subject: Subject) -> bool:
        """Begin escalating a subject a chain matches (once: a second start changes nothing)."""
        chain = self.settings.chain_for(subject.kind, subject.severity, subject.type)
        if chain is None:
            return False
        now = self.clock.now()
        cur = self.db.execute("INSERT OR IGNORE INTO escalations(subject_kind, subject_id, chain, step, step_at, "
                              "started_at) VALUES (?,?,?,0,?,?)", (subject.kind, subject.id, chain.name, now, now))
        if cur.rowcount == 0:
            return False
        self.page(subject, chain, 0, 0)
        return True

    def stop(self, subject_kind: str, subject_id: str, by: str) -> bool:
        now = self.clock.now()
        cur = self.db.execute("UPDATE escalations SET state='stopped', stopped_at=?, stopped_by=? "
                              "WHERE subject_kind=? AND subject_id=? AND state='running'",
                              (now, by, subject_kind, subject_id))
        if cur.rowcount:
            outbox.cancel(self.db, subject_kind, subject_id, now)
        return bool(cur.rowcount)

    def tick(self) -> None:
        """Next steps whose timeout passed, and reminders due."""
        now = self.clock.now()
        every = self.settings.reminder_every_s
        for r in self.db.all("SELECT * FROM escalations WHERE state='running' ORDER BY id"):
            chain = self.settings.chain(r["chain"])
            if chain is None:
                self._end(r["id"], now, "chain_removed")
                continue
            step = min(r["step"], len(chain.steps) - 1)
            waited = now - r["step_at"]
            advance = step + 1 < len(chain.steps) and waited >= chain.steps[step].timeout_s
            # A step that pages nobody (``to = []``: time for the person already offered the job) has no reminders.
            remind = (not advance and every > 0 and bool(chain.steps[step].to)
                      and waited >= (r["reminders"] + 1) * every)
            if not (advance or remind):
                continue  # most seconds: nothing due, no lookup of the subject
            lookup = self.subjects.get(r["subject_kind"])
            subject = lookup(r["subject_id"]) if lookup is not None else None
            if subject is None:
                self._end(r["id"], now, "subject_gone")
            elif advance:
                self.db.execute("UPDATE escalations SET step=?, step_at=?, reminders=0 WHERE id=?",
                                (step + 1, now, r["id"]))
                self.page(subject, chain, step + 1, 0)
            else:
                self.db.execute("UPDATE escalations SET reminders=reminders+1 WHERE id=?", (r["id"],))
                self.page(subject, chain, step, r["reminders"] + 1)

    def _end(self, escalation_id: int, now: float, why: str) -> None:
        self.db.execute("UPDATE escalations SET state='stopped', stopped_at=?, stopped_by=? WHERE id=?",
                        (now, why, escalation_id))

    def status(self, subject_kind: str, subject_id: str) -> dict[str, Any] | None:
        r = self.db.one("SELECT * FROM escalations WHERE subject_kind=? AND subject_id=?", (subject_kind, subject_id))
        if r is None:
            return None
        return {"chain": r["chain"], "step": r["step"], "reminders": r["reminders"], "state": r["state"],
                "stopped_by": r["stopped_by"]}

    # -- a person's own choices (issue #15: each person chooses which events reach them) --------------

    def effective(self, person: Person) -> Person:
        """The roster's person with their own choices (channels, events, quiet hours) applied."""
        prefs = self.preferences.get(person.id)
        if not prefs:
            return person
        return dataclasses.replace(person, channels=tuple(prefs["channels"]), events=tuple(prefs["events"]),
                                   quiet_hours=prefs["quiet_hours"])

    def in_force(self, person: Person) -> dict[str, Any]:
        """What pages the person now, and whose choice it is ("own": /api/me/notify, over the roster's values;
        "roster": the admin's), so that /api/people does not show roster values a person has overridden."""
        p = self.effective(person)
        return {"channels": list(p.channels), "events": list(p.events), "quiet_hours": p.quiet_hours,
                "source": "own" if self.preferences.get(person.id) else "roster"}

    def preferences_of(self, person: Person) -> dict[str, Any]:
        p = self.effective(person)
        return {"person": p.id, "channels": list(p.channels), "events": list(p.events),
                "quiet_hours": p.quiet_hours, "available_channels": sorted(self.settings.channels),
                "urgent_severities": list(self.settings.urgent_severities)}

    def set_preferences(self, person: Person, data: dict[str, Any]) -> dict[str, Any]:
        """Store a person's choices (inside the caller's transaction); PreferencesError on bad input."""
        if unknown := set(data) - {"channels", "events", "quiet_hours"}:
            raise PreferencesError(f"unknown fields {', '.join(sorted(unknown))}")
        current = self.effective(person)
        channels = data.get("channels", list(current.channels))
        events = data.get("events", list(current.events))
        quiet = data.get("quiet_hours", current.quiet_hours)
        # Only channels the person names now must be configured: the roster's may name one this hub lacks
        # (skipped when paging), which must not block changing the events or quiet hours.
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels) \
                or ("channels" in data and not set(channels) <= set(self.settings.channels)):
            raise PreferencesError(f"channels: a list of {', '.join(sorted(self.settings.channels)) or '(none configured)'}")
        if not isinstance(events, list) or len(events) > 200 or not all(
                isinstance(e, str) and e.startswith(EVENT_PREFIXES) and 0 < len(e) <= 80 for e in events):
            raise PreferencesError("events: a list of severity:<s>, type:<alarm type or request kind>, subject:<kind>")
        if not isinstance(quiet, str):
            raise PreferencesError("quiet_hours: \"HH:MM-HH:MM\" or \"\"")
        if quiet:
            try:
                shift_bounds(quiet)
            except ValueError:
                raise PreferencesError("quiet_hours: \"HH:MM-HH:MM\" (site time) or \"\"") from None
        prefs = {"channels": channels, "events": events, "quiet_hours": quiet}
        self.db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)",
                        (PREFS_KEY + person.id, json.dumps(prefs)))
        self.preferences[person.id] = prefs
        return self.preferences_of(person)

    def forget_unsaved(self) -> None:
        """Reload choices from the database (after a rolled-back transaction)."""
        self.preferences = {
            r["key"][len(PREFS_KEY):]: json.loads(r["value"])
            for r in self.db.all("SELECT key, value FROM settings WHERE key LIKE ?", (PREFS_KEY + "%",))}

    # -- who, and how --------------------------------------------------------------------------------

    def people(self, step_targets: tuple[str, ...], zone: str, named: tuple[str, ...] = ()) -> list[Person]:
        when = dt.datetime.fromtimestamp(self.clock.now(), self.tz)
        out: list[Person] = []
        for target in step_targets:
            kind, _, name = target.partition(":")
            if kind == "named":
                found = [p for p in self.roster.people if p.id in named and p.on_duty]
            elif kind == "person":
                found = [p for p in self.roster.people if p.id == name and p.on_duty]
            else:
                on_shift = self.roster.on_shift(name, when)
                found = [p for p in on_shift if zone and zone in p.zones] or on_shift
            out += [self.effective(p) for p in found if p.id not in {o.id for o in out}]
        return out

    def page(self, subject: Subject, chain: Chain, step: int, reminder: int) -> int:
        """Page the step's people on their channels; returns how many outbox rows were written. A step with
        nobody to page (``to = []``) only waits its timeout."""
        if not chain.steps[step].to:
            return 0
        now = self.clock.now()
        urgent = subject.severity in self.settings.urgent_severities
        people = self.people(chain.steps[step].to, subject.zone, subject.named)
        written = 0
        paged = []
        for person in people:
            if not urgent and not wants(person, subject):
                continue
            paged.append(person.id)
            next_at = now
            local = dt.datetime.fromtimestamp(now, self.tz)
            if not urgent and person.quiet_hours and in_span(person.quiet_hours, local):
                next_at = span_end(person.quiet_hours, local).timestamp()
            for channel_name in person.channels or self.settings.default_channels:
                channel = self.settings.channels.get(channel_name)
                address = channel.address(person) if channel is not None else None
                if address is None:
                    continue
                message = self.render(subject, person, step, reminder, urgent, address)
                key = f"{subject.kind}:{subject.id}:s{step}:r{reminder}:{person.id}:{channel_name}"
                written += outbox.enqueue(self.db, key, channel_name, person.id, subject.kind, subject.id, step,
                                          message, next_at, now)
            if person.username:
                self.bus.emit("notify.page", {"subject_kind": subject.kind, "subject_id": subject.id,
                                              "title": subject.title, "severity": subject.severity, "step": step,
                                              "reminder": reminder, "urgent": urgent, "person": person.id},
                              audience=person.username)
        if subject.kind == "alarm":
            self.db.execute("INSERT INTO alarm_history(alarm_id, at, action, actor, detail) VALUES (?,?,?,?,?)",
                            (int(subject.id), now, "paged", "", json.dumps(
                                {"chain": chain.name, "step": step, "reminder": reminder, "people": paged})))
        log.info("paged", extra={"subject": f"{subject.kind}:{subject.id}", "chain": chain.name, "step": step,
                                 "reminder": reminder, "people": paged, "rows": written})
        return written

    def render(self, subject: Subject, person: Person, step: int, reminder: int, urgent: bool,
               address: str) -> Message:
        again = f" (reminder {reminder})" if reminder else ""
        title = f"{subject.title}{again}"
        lines = [*subject.lines, f"escalation step {step + 1}, to {person.name}"]
        link = self.settings.link
        text = "\n".join(lines) + ("\nacknowledge: " + link if link else "")
        colour = "warning" if urgent else "comment"
        markdown = (f"### {title}\n" + "\n".join(f"> {line}" for line in lines)
                    + f"\n<font color=\"{colour}\">{subject.severity}</font>" + (f"\n[acknowledge]({link})" if link else ""))
        return Message(title, text, markdown, subject.severity, urgent, address, person.phone, person.id,
                       person.name, link)
