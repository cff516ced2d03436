"""Staff dispatch: when a zone is crowded, a queue waits too long or a surge is forecast, or a person raises
a request (hub.requests), offer the job to the best-placed person on shift. They accept or decline; an offer
not answered in its offer timeout expires and goes to the next person. Each offer is one row; the rows of
one job's chain of offers share ``request_id``.

Measurable lifecycle: offered -> accepted -> arrived (confirmed by the assignee on the phone) -> completed,
each step time-stamped (hub.kpis turns them into time to accept and time to arrive).

One queue of waiting work (``waiting``): device jobs (an open alarm whose rule dispatches and that nobody
has taken) and people's requests (hub.requests registers them in ``sources``). It is served most urgent
first (an emergency above everything), then oldest, each time work may have become possible: a tick (after
expired offers are marked, so the person just freed goes to the most urgent job, not to the expired one), a
new alarm or request, a decline. Who is offered a job: people at work now per the roster (the day's
published plan, or standing shifts) and free (no open job), the closest first (covering the job's zone,
then a zone on the same floor, then the elastic pool; for a job that may go anywhere, an emergency, anyone
else after those), then the least loaded (fewest jobs today). A job that pre-empts (an emergency) and finds
nobody free withdraws the lowest-priority unanswered offer of the best-placed person (never an accepted
job); the withdrawn job waits again."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
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
ENDED_UNTAKEN = ("declined", "expired", "withdrawn")  # the job goes back to waiting
DEVICE_PRIORITY = 40  # a job started by a device rule; hub.requests gives each request kind its own
FAR = 3  # closeness of someone covering no zone of the job's floor and not in the elastic pool


class DispatchActionError(ValueError):
    """The dispatch cannot take that action now (HTTP 409)."""


class NotYours(PermissionError):
    """A floor manager acting on a dispatch offered to someone else (HTTP 403)."""


@dataclass(frozen=True)
class Job:
    """A piece of waiting work. ``anywhere``: any on-shift person may go (closeness only orders them);
    ``preempts``: when nobody is free, it may withdraw a lower-priority unanswered offer;
    ``offer_timeout_s``: None for the rules' ``dispatch.offer_timeout_s``."""

    zone: str
    reason: str
    priority: int
    since: float
    alarm_id: int | None = None
    service_request: int | None = None
    roles: tuple[str, ...] = DISPATCH_ROLES
    anywhere: bool = False
    preempts: bool = False
    offer_timeout_s: float | None = None


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
        self.alarms = alarms
        self.floors = floors or {}  # zone -> floor, for "closest first"
        # Waiting work of other modules (hub.requests), joined with the device jobs in one queue.
        self.sources: list[Callable[[], list[Job]]] = []
        # Called with the dispatch's JSON after each change of state, in the same transaction (hub.requests).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        # The audit trail (Hub.audit): a withdrawn offer leaves a line there.
        self.audit: Callable[[str, str, str, dict[str, Any]], None] | None = None
        alarms.listeners.append(self.on_alarm)

    def get(self, dispatch_id: int) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM dispatches WHERE id=?", (dispatch_id,))

    def on_alarm(self, change: AlarmChange) -> None:
        a = change.alarm
        if change.action == "raised" and self.rules.rule(a["type"]).get("dispatch") and a["zone"] \
                and not a.get("silenced"):  # a silenced alarm pages nobody (hub.silences)
            self.serve_waiting()

    # -- who may go --------------------------------------------------------------------------------------

    def _ranked(self, zone: str, exclude: set[str], roles: tuple[str, ...], anywhere: bool,
                busy: set[str]) -> list[Person]:
        """People at work now with a login and a role that may go, not in ``exclude`` nor ``busy``, best
        placed first: same zone, same floor, the elastic pool, (``anywhere``: everyone else); then the
        fewest jobs today."""
        now_local = dt.datetime.fromtimestamp(self.clock.now(), self.tz)
        day_start = now_local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        today = {r["person_id"]: r["n"] for r in self.db.all(
            "SELECT person_id, COUNT(*) AS n FROM dispatches WHERE created_at >= ? "
            "AND state NOT IN ('expired', 'withdrawn') GROUP BY person_id", (day_start,))}
        floor = self.floors.get(zone)

        def closeness(p: Person) -> int:
            if zone in p.zones:
                return 0
            if floor is not None and any(self.floors.get(z) == floor for z in p.zones):
                return 1
            return 2 if p.elastic else FAR

        # Who works now, with the zones they cover now: the published plan of the day, or standing shifts.
        people = [p for p in self.roster.at(now_local) if p.role in roles and p.username
                  and p.id not in busy and p.id not in exclude and (anywhere or closeness(p) < FAR)]
        return sorted(people, key=lambda p: (closeness(p), today.get(p.id, 0), p.id))

    def _open_by_person(self) -> dict[str, list[sqlite3.Row]]:
        out: dict[str, list[sqlite3.Row]] = {}
        for r in self.db.all(f"SELECT * FROM dispatches WHERE state IN ({','.join('?' * len(OPEN_STATES))})",
                             OPEN_STATES):
            out.setdefault(r["person_id"], []).append(r)
        return out

    def candidates(self, zone: str, exclude: set[str], roles: tuple[str, ...] = DISPATCH_ROLES,
                   anywhere: bool = False) -> list[Person]:
        """People on shift and free who may go, best placed first."""
        return self._ranked(zone, exclude, roles, anywhere, set(self._open_by_person()))

    # -- the queue ---------------------------------------------------------------------------------------

    def device_waiting(self) -> list[Job]:
        """Open alarms whose rule dispatches (not silenced, with a zone) that nobody has taken: no open job
        for the same zone and reason, and none of its offers accepted. One job per zone and reason."""
        taken = {(r["zone"], r["reason"]) for r in self.db.all(
            "SELECT zone, reason FROM dispatches WHERE service_request IS NULL "
            f"AND state IN ({','.join('?' * len(OPEN_STATES))})", OPEN_STATES)}
        alarms = [a for a in self.db.all(
            "SELECT id, type, zone, raised_at FROM alarms WHERE state != 'cleared' AND zone != '' "
            "AND silenced_by IS NULL ORDER BY raised_at, id") if self.rules.rule(a["type"]).get("dispatch")]
        ids = [a["id"] for a in alarms]
        done = {r["alarm_id"] for r in self.db.all(
            f"SELECT DISTINCT alarm_id FROM dispatches WHERE alarm_id IN ({','.join('?' * len(ids))}) "
            "AND state='completed'", ids)} if ids else set()
        jobs: dict[tuple[str, str], Job] = {}
        for a in alarms:
            key = (a["zone"], a["type"])
            if key in taken or key in jobs or a["id"] in done:
                continue
            jobs[key] = Job(a["zone"], a["type"], DEVICE_PRIORITY, a["raised_at"], alarm_id=a["id"])
        return list(jobs.values())

    def waiting(self) -> list[Job]:
        """All waiting work, in the order it is served: most urgent first, then oldest."""
        jobs = self.device_waiting() + [j for source in self.sources for j in source()]
        return sorted(jobs, key=lambda j: (-j.priority, j.since, j.service_request or 0, j.alarm_id or 0))

    def serve_waiting(self, again: bool = False) -> None:
        """Offer the waiting work, most urgent first then oldest, while there is someone to offer it to. A
        job withdrawn for an emergency is waiting again, so the queue is served once more after that."""
        for _ in range(2):
            if not any([self._serve(job, again) == "preempted" for job in self.waiting()]):
                return

    def _chain(self, job: Job) -> tuple[int | None, int, set[str]]:
        """The chain of offers this job continues: (its request_id, or None for a new one; the attempt; the
        people who declined it or let it expire). A chain that used its ``max_offers`` starts again. An
        offer withdrawn for an emergency neither counts nor excludes its person."""
        if job.service_request is not None:
            rows = self.db.all("SELECT * FROM dispatches WHERE service_request=? ORDER BY id", (job.service_request,))
        elif job.alarm_id is not None:
            rows = self.db.all("SELECT * FROM dispatches WHERE alarm_id=? AND service_request IS NULL ORDER BY id",
                               (job.alarm_id,))
        else:
            rows = []
        if not rows:
            return None, 1, set()
        chain = [r for r in rows if r["request_id"] == rows[-1]["request_id"]]
        asked = [r for r in chain if r["state"] != "withdrawn"]
        if len(asked) >= self.rules.dispatch["max_offers"]:
            return None, 1, set()
        return chain[0]["request_id"], len(asked) + 1, {r["person_id"] for r in asked}

    def _serve(self, job: Job, again: bool) -> str:
        """'offered', 'preempted' (offered after withdrawing another job's offer) or 'waiting'. ``again``:
        when everyone free has already declined or let this chain expire, start a new chain (each tick,
        never straight after a decline)."""
        request_id, attempt, tried = self._chain(job)
        busy = self._open_by_person()
        people = self._ranked(job.zone, tried, job.roles, job.anywhere, set(busy))
        if not people and tried and again:
            request_id, attempt, tried = None, 1, set()
            people = self._ranked(job.zone, tried, job.roles, job.anywhere, set(busy))
        if people:
            self._offer(job, people[0], request_id, attempt)
            return "offered"
        if not job.preempts:
            return "waiting"
        # Nobody free: those holding only unanswered offers of lower priority could be asked instead.
        holding = {pid for pid, rows in busy.items()
                   if all(r["state"] == "offered" and r["priority"] < job.priority for r in rows)}
        people = self._ranked(job.zone, tried, job.roles, job.anywhere, set(busy) - holding)
        if not people:
            return "waiting"
        p = people[0]
        for victim in sorted(busy[p.id], key=lambda r: (r["priority"], r["id"])):
            self._withdraw(victim, job)
        self._offer(job, p, request_id, attempt)
        return "preempted"

    def _withdraw(self, row: sqlite3.Row, job: Job) -> None:
        """Take back an unanswered offer for a more urgent job; its own job waits again."""
        self._set(row["id"], "withdrawn")
        if self.audit is not None:
            self.audit("hub", "dispatch.withdraw", str(row["id"]),
                       {"assignee": row["assignee"], "reason": row["reason"], "priority": row["priority"],
                        "for_reason": job.reason, "for_priority": job.priority,
                        "for_request": job.service_request, "for_alarm": job.alarm_id})

    def _offer(self, job: Job, p: Person, request_id: int | None, attempt: int) -> int:
        now = self.clock.now()
        timeout = job.offer_timeout_s if job.offer_timeout_s is not None else self.rules.dispatch["offer_timeout_s"]
        cur = self.db.execute(
            "INSERT INTO dispatches(request_id, zone, reason, alarm_id, state, assignee, person_id, created_at, "
            "expires_at, attempt, priority, service_request) VALUES (?,?,?,?,'offered',?,?,?,?,?,?,?)",
            (request_id, job.zone, job.reason, job.alarm_id, p.username, p.id, now, now + timeout,
             attempt, job.priority, job.service_request),
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

    # -- answers -----------------------------------------------------------------------------------------

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
        self._mine(dispatch_id, username, role, "offered")
        out = self._set(dispatch_id, "declined", answered_at=self.clock.now())
        self.serve_waiting()  # the declined job goes to the next person, unless something more urgent waits
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
        """Expired offers first marked (their jobs wait again), then the whole queue served in order: the
        person an expiry frees goes to the most urgent job, not back to the job that expired."""
        for row in self.db.all("SELECT * FROM dispatches WHERE state='offered' AND expires_at <= ?", (self.clock.now(),)):
            self._set(row["id"], "expired")
        self.serve_waiting(again=True)

    def list(self, state: str | None = None, username: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        q, args = "SELECT * FROM dispatches WHERE 1=1", list[Any]()
        if state:
            q, args = q + " AND state=?", [*args, state]
        if username:
            q, args = q + " AND assignee=?", [*args, username]
        rows = self.db.all(q + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dispatch_json(r, self.tz) for r in rows]
