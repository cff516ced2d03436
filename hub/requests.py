"""Requests raised by people (issue #15): a desk emergency, an assist (wheelchair, escort), a work order to
a department liaison, a repair, a complaint. Staff raise them in the console; patients through a zone's QR
page (hub.api.public). One lifecycle with the existing machinery: a request that needs someone to go is a
dispatch (hub.dispatch: offered -> accepted -> arrived -> completed), a repair is a manual maintenance
ticket (hub.tickets), a complaint is answered and closed by the service desk. A wheelchair request goes
to the nearest charging station with a charged chair (hub.wheelchairs.nearest_station, through the hub's
``find_station``): the station is stored with the request and shown in its offer, JSON and page.

Escalation (hub.escalation, subject kind ``"request"``): a request raised starts the first chain of the
notify file that matches its kind (the chain's ``types``; a repeat complaint's type is ``repeat_complaint``)
and its severity (``SEVERITY``: an emergency is critical, so never held by quiet hours). The chain stops when
someone takes the request (accepts its offer or its ticket), acknowledges a page about it, or it closes.

Each kind has a target (the seeds': emergency 3 min raise-to-arrival, work order answered in 30 min,
complaint answered in 24 h or 48 h if complex) kept as editable settings (``REQUEST_SETTINGS`` below, the
one home of them, stored in the ``settings`` table under ``requests``). A request is overdue when its
target passed before it was answered. Jobs waiting for a free person wait in hub.dispatch's one queue
(``waiting_jobs`` below), offered most urgent first, then oldest first; an emergency may go to anyone on
shift and pre-empts an unanswered lower-priority offer, with its own shorter ``offer_timeout_s``. A complaint
on the same zone and topic as one raised within ``repeat_window_days`` is escalated to the named manager
(``escalate_to``, a roster person's id): a chain step ``named`` pages them.

Personal data: only the optional phone number a complainant leaves for the closure notice. It is never
logged, never in an event or an API answer (``has_phone`` only). At closure it moves into one row of the
notify outbox (hub.notify.outbox: durable, retried, sent once per key) for the ``sms`` channel, and is erased
from that row once the row is sent or has failed for good; without an SMS channel it is erased at closure.
An open complaint's number is deleted ``phone_keep_days`` after the request (docs/privacy.md).
"""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import json
import logging
import re
import sqlite3
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.dispatch import DISPATCH_ROLES, DispatchManager, Job
from hub.escalation import EscalationManager, Subject
from hub.events import EventBus
from hub.notify import Message
from hub.notify import outbox
from hub.roster import shift_bounds
from hub.tickets import TicketManager

log = logging.getLogger("hub.requests")

KINDS = ("assist", "wheelchair", "emergency", "work_order", "repair", "complaint")
PUBLIC_KINDS = ("assist", "wheelchair", "emergency", "complaint")  # what a patient may raise on a zone's QR page
DISPATCHED = ("assist", "wheelchair", "emergency", "work_order")  # the kinds someone is sent for (hub.dispatch)
URGENT = ("emergency",)  # may go to anyone on shift, and pre-empt an unanswered lower-priority offer
# The escalation severity of each kind: a chain's ``severities`` match it, and the notify file's
# ``urgent_severities`` (critical) make a page ignore quiet hours and event choices.
SEVERITY = {"emergency": "critical", "assist": "major", "wheelchair": "major", "work_order": "minor",
            "repair": "minor", "complaint": "minor"}
REPEAT_TYPE = "repeat_complaint"  # the escalation type of a repeat complaint (its chain pages ``named``)
NOTICE_SUBJECT = "request_notice"  # the notify outbox's subject kind of a closure notice
NOTICE_CHANNEL = "sms"
NOTICE_STATES = ("pending", "sent", "failed", "no_channel", "recorded")
TOPICS = ("wait_time", "attitude", "environment", "billing", "facility", "other")
STATES = ("open", "dispatched", "closed")
SOURCES = ("console", "qr")
DETAIL_MAX = 500
PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")

# -- settings: the one grouped home of the request targets (editable: PUT /api/requests/settings) ----------
# target_min: minutes from raise to the measured step; measure: "arrive" (someone is there), "accept"
# (someone took it), "close" (answered and closed); priority: higher goes first (device jobs are
# hub.dispatch.DEVICE_PRIORITY = 40); roles: roster roles the job is offered to ([] : not dispatched);
# offer_timeout_s (emergency only): an unanswered offer goes to the next person after this long, instead of
# the rules' dispatch.offer_timeout_s (180 s, the whole 3-minute target).
REQUEST_SETTINGS: dict[str, Any] = {
    "kinds": {
        "emergency": {"target_min": 3, "measure": "arrive", "priority": 100, "roles": ["floor_manager", "staff"],
                      "offer_timeout_s": 45},
        "assist": {"target_min": 15, "measure": "arrive", "priority": 60, "roles": ["floor_manager", "staff"]},
        "wheelchair": {"target_min": 15, "measure": "arrive", "priority": 60, "roles": ["floor_manager", "staff"]},
        "work_order": {"target_min": 30, "measure": "accept", "priority": 30, "roles": ["liaison"]},
        "repair": {"target_min": 30, "measure": "accept", "priority": 20, "roles": []},
        "complaint": {"target_min": 1440, "complex_target_min": 2880, "measure": "close", "priority": 10,
                      "roles": []},
    },
    "night_shift": "20:00-08:00",  # site local time; the KPIs split day and night by it
    "repeat_window_days": 30,
    "escalate_to": "",  # the roster id of the manager a repeat complaint is escalated to ("": nobody named)
    "phone_keep_days": 30,
    "public_per_address_per_hour": 6,
}
MEASURES = ("arrive", "accept", "close")


class RequestError(ValueError):
    """A request or setting that cannot be accepted as given (HTTP 400; the message names the field)."""


class RequestActionError(ValueError):
    """The request cannot take that action now (HTTP 409)."""


class UnknownPerson(RequestError):
    """A setting names a person the roster does not have now (HTTP 409: well-formed, but the roster decides)."""


def _whole(value: Any, hi: int) -> int | None:
    """An integer 1..hi (3.0 counts, as in JSON Schema), or None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= hi:
        return None
    return value


def validate_settings(data: Any, roles: tuple[str, ...], people: set[str] | None = None) -> dict[str, Any]:
    """Defaults overlaid with ``data``; anything unknown or out of range is a RequestError naming it.
    ``people``: the roster's ids ``escalate_to`` must be one of (None: not checked)."""
    if not isinstance(data, dict):
        raise RequestError("settings must be an object")
    out = copy.deepcopy(REQUEST_SETTINGS)
    for key, value in data.items():
        if key not in out:
            raise RequestError(f"unknown setting {key!r}")
        if key == "kinds":
            if not isinstance(value, dict):
                raise RequestError("kinds must be an object")
            for kind, cfg in value.items():
                if kind not in KINDS or not isinstance(cfg, dict):
                    raise RequestError(f"kinds.{kind}: unknown kind or not an object")
                for k, v in cfg.items():
                    where = f"kinds.{kind}.{k}"
                    if k not in out["kinds"][kind]:
                        raise RequestError(f"unknown setting {where}")
                    if k in ("target_min", "complex_target_min", "priority", "offer_timeout_s"):
                        if (v := _whole(v, 100_000)) is None:
                            raise RequestError(f"{where} must be an integer 1..100000")
                    elif k == "measure" and v not in MEASURES:
                        raise RequestError(f"{where} must be one of {', '.join(MEASURES)}")
                    elif k == "roles" and (not isinstance(v, list) or any(r not in roles for r in v)):
                        raise RequestError(f"{where} must be a list of roster roles ({', '.join(roles)})")
                    out["kinds"][kind][k] = v
        elif key == "night_shift":
            try:
                shift_bounds(value)
            except (ValueError, AttributeError):
                raise RequestError("night_shift must be HH:MM-HH:MM") from None
            out[key] = value
        elif key == "escalate_to":
            if not isinstance(value, str) or (value and people is not None and value not in people):
                raise UnknownPerson("escalate_to must be the id of a person in the roster (or \"\")")
            out[key] = value
        else:
            if (whole := _whole(value, 10_000)) is None:
                raise RequestError(f"{key} must be an integer 1..10000")
            out[key] = whole
    return out


def in_shift(ts: float, tz: ZoneInfo, shift: str) -> bool:
    """Whether ``ts`` falls in ``shift`` ("20:00-08:00", site local time; may cross midnight)."""
    start, end = shift_bounds(shift)
    t = dt.datetime.fromtimestamp(ts, tz).time()
    if end is None:
        return t >= start
    return start <= t < end if start <= end else (t >= start or t < end)


def clean_phone(text: Any) -> str:
    """A phone number given (the field is optional: leave it out): digits and a leading + only, or RequestError."""
    if not isinstance(text, str) or len(text) > 30:
        raise RequestError("phone must be a phone number")
    digits = re.sub(r"[\s\-()]", "", text)
    if not PHONE_RE.match(digits):
        raise RequestError("phone must be 6 to 15 digits, optionally starting with +")
    return digits


def redact_phone(phone: str) -> str:
    """For logs: never more than the last two digits."""
    return "*" * max(0, len(phone) - 2) + phone[-2:]


class RequestManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, tz: ZoneInfo, dispatch: DispatchManager,
                 tickets: TicketManager, zones: set[str], roster_roles: tuple[str, ...],
                 people: Callable[[], set[str]] = set,
                 find_station: Callable[[str], tuple[str, str] | None] = lambda zone: None) -> None:
        """``people``: the roster's ids now; ``find_station(zone)``: the nearest charger with a charged chair
        (its id and zone), or None."""
        self.db, self.bus, self.clock, self.tz = db, bus, clock, tz
        self.dispatch, self.tickets, self.zones, self.roster_roles = dispatch, tickets, zones, roster_roles
        self.people, self.find_station = people, find_station
        self.escalation: EscalationManager | None = None  # attach_escalation()
        self.notice_channel = False  # whether the notify file configures the SMS channel (attach_escalation)
        self.settings = self._load()
        dispatch.listeners.append(self.on_dispatch)
        dispatch.sources.append(self.waiting_jobs)

    # -- settings ------------------------------------------------------------------------------------

    def attach_escalation(self, escalation: EscalationManager, sms_configured: bool) -> None:
        """Requests escalate through ``escalation``'s chains (it reloads a running chain's request after a
        restart through ``subject``); closure notices go out when the SMS channel is configured."""
        self.escalation, self.notice_channel = escalation, sms_configured
        escalation.register_subject("request", self.subject)

    def _load(self) -> dict[str, Any]:
        row = self.db.one("SELECT value FROM settings WHERE key='requests'")
        if row is None:
            return copy.deepcopy(REQUEST_SETTINGS)
        try:
            stored = json.loads(row["value"])
            if isinstance(stored, dict) and stored.get("escalate_to") not in self.people() | {"", None}:
                # before 0016 it was free text ("分管院长 / Deputy director"); a person must be named again
                log.warning("requests.escalate_to names nobody in the roster; nobody is named",
                            extra={"escalate_to": str(stored["escalate_to"])[:100]})
                stored["escalate_to"] = ""
            return validate_settings(stored, self.roster_roles, self.people())
        except (RequestError, ValueError) as exc:
            log.error("stored request settings invalid; using the defaults", extra={"error": str(exc)})
            return copy.deepcopy(REQUEST_SETTINGS)

    def set_settings(self, data: Any) -> dict[str, Any]:
        """Validate and store (inside the caller's unit of work); applies to requests raised from now on."""
        settings = validate_settings(data, self.roster_roles, self.people())
        self.db.execute("INSERT OR REPLACE INTO settings VALUES ('requests', ?)", (json.dumps(settings),))
        self.settings = settings
        return settings

    def kind(self, kind: str) -> dict[str, Any]:
        return dict(self.settings["kinds"][kind])

    # -- views ---------------------------------------------------------------------------------------

    def get(self, request_id: int) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM requests WHERE id=?", (request_id,))

    def row_json(self, r: sqlite3.Row, now: float) -> dict[str, Any]:
        answered = r["answered_at"]
        overdue = (answered if answered is not None else now) > r["due_at"]
        return {
            "id": r["id"], "kind": r["kind"], "zone": r["zone"], "topic": r["topic"], "detail": r["detail"],
            "complex": bool(r["complex"]), "priority": r["priority"], "source": r["source"],
            "raised_by": r["raised_by"], "has_phone": r["phone"] is not None, "state": r["state"],
            "raised_at": iso(r["raised_at"], self.tz), "due_at": iso(r["due_at"], self.tz),
            "answered_at": iso(answered, self.tz), "closed_at": iso(r["closed_at"], self.tz),
            "closed_by": r["closed_by"], "resolution": r["resolution"], "escalated_to": r["escalated_to"],
            "repeat_of": r["repeat_of"], "ticket_id": r["ticket_id"], "overdue": overdue,
            "acked_by": r["acked_by"], "acked_at": iso(r["acked_at"], self.tz), "ack_comment": r["ack_comment"],
            "station": r["station"], "station_zone": r["station_zone"],
            "no_stock": r["kind"] == "wheelchair" and r["station"] is None,
        }

    def json(self, request_id: int) -> dict[str, Any]:
        row = self.get(request_id)
        assert row is not None
        return self.row_json(row, self.clock.now())

    def _announce(self, request_id: int) -> dict[str, Any]:
        out = self.json(request_id)
        self.bus.emit("request.updated", out, audience="")
        return out

    def list(self, state: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Most urgent first, then oldest first (the order they are served in)."""
        now = self.clock.now()
        q, args = "SELECT * FROM requests", []
        if state:
            q, args = q + " WHERE state=?", [state]
        rows = self.db.all(q + " ORDER BY state='closed', priority DESC, raised_at, id LIMIT ?", (*args, limit))
        return [self.row_json(r, now) for r in rows]

    def tiles(self) -> dict[str, Any]:
        """What is open and what is overdue, per kind (the console's tiles)."""
        now = self.clock.now()
        out = {k: {"open": 0, "overdue": 0} for k in KINDS}
        for r in self.db.all("SELECT kind, due_at, answered_at FROM requests WHERE state != 'closed'"):
            out[r["kind"]]["open"] += 1
            if (r["answered_at"] if r["answered_at"] is not None else now) > r["due_at"]:
                out[r["kind"]]["overdue"] += 1
        return out

    # -- raising -------------------------------------------------------------------------------------

    def raise_request(self, kind: str, zone: str, source: str, raised_by: str = "", topic: str = "",
                      detail: str = "", complex_: bool = False, phone: str | None = None) -> dict[str, Any]:
        """Store a request and start its work (a dispatch offer, a ticket), in the caller's unit of work."""
        if kind not in KINDS:
            raise RequestError(f"kind must be one of {', '.join(KINDS)}")
        if zone not in self.zones:
            raise RequestError(f"no such zone: {zone}")
        if source not in SOURCES:
            raise RequestError(f"source must be one of {', '.join(SOURCES)}")
        if kind == "complaint" and topic not in TOPICS:
            raise RequestError(f"topic must be one of {', '.join(TOPICS)}")
        if topic and topic not in TOPICS:
            raise RequestError(f"topic must be one of {', '.join(TOPICS)}")
        if not isinstance(detail, str) or len(detail) > DETAIL_MAX:
            raise RequestError(f"detail must be text of at most {DETAIL_MAX} characters")
        detail = "".join(ch for ch in detail if ch.isprintable() or ch == "\n").strip()
        if phone is not None and kind != "complaint":
            raise RequestError("a phone number is taken only for a complaint's closure notice")
        cfg = self.kind(kind)
        now = self.clock.now()
        target = cfg.get("complex_target_min", cfg["target_min"]) if complex_ else cfg["target_min"]
        cur = self.db.execute(
            "INSERT INTO requests(kind, zone, topic, detail, complex, priority, source, raised_by, phone, state, "
            "raised_at, due_at) VALUES (?,?,?,?,?,?,?,?,?,'open',?,?)",
            (kind, zone, topic, detail, int(bool(complex_) and kind == "complaint"), cfg["priority"], source,
             raised_by, phone, now, now + target * 60))
        request_id = inserted_id(cur)
        station = self.find_station(zone) if kind == "wheelchair" else None
        if station is not None:
            self.db.execute("UPDATE requests SET station=?, station_zone=? WHERE id=?", (*station, request_id))
        log.info("request raised", extra={"request_id": request_id, "kind": kind, "zone": zone, "source": source,
                                          "phone": redact_phone(phone) if phone else "",
                                          "station": station[0] if station else None})
        if kind == "wheelchair" and station is None:
            # Still dispatched: the person sent finds a chair (the stations' wheelchair_low_stock alarm says why).
            log.warning("wheelchair request: no station has a charged chair", extra={"request_id": request_id})
        if kind == "complaint":
            self._check_repeat(request_id, zone, topic, now)
        elif kind == "repair":
            ticket_id = self.tickets.open_manual(zone, detail or "manual repair request", raised_by or source)
            self.db.execute("UPDATE requests SET ticket_id=?, state='dispatched' WHERE id=?", (ticket_id, request_id))
        else:
            self.dispatch.serve_waiting()  # the one queue: this request takes its place by priority and age
        if self.escalation is not None and (subject := self.subject(str(request_id))) is not None:
            self.escalation.start(subject)
        return self._announce(request_id)

    # -- escalation ------------------------------------------------------------------------------------

    def _taken(self, r: sqlite3.Row) -> bool:
        """Someone took it: accepted its offer (or arrived), or accepted its repair ticket."""
        if r["ticket_id"] is not None:
            t = self.db.one("SELECT accepted_at, state FROM tickets WHERE id=?", (r["ticket_id"],))
            return t is not None and (t["accepted_at"] is not None or t["state"] == "resolved")
        return self.db.one("SELECT 1 FROM dispatches WHERE service_request=? AND state IN "
                           "('accepted','arrived','completed')", (r["id"],)) is not None

    def subject(self, subject_id: str) -> Subject | None:
        """The request as an escalation subject while it still wants escalating (open, not taken, not
        acknowledged); None afterwards (the chain ends)."""
        r = self.get(int(subject_id)) if subject_id.isdigit() else None
        if r is None or r["state"] == "closed" or r["acked_at"] is not None or self._taken(r):
            return None
        severity = SEVERITY[r["kind"]]
        type_ = REPEAT_TYPE if r["repeat_of"] is not None else r["kind"]
        lines = [f"request #{r['id']}: {r['kind']}" + (f" ({r['topic']})" if r["topic"] else ""),
                 f"zone: {r['zone']}", f"raised: {iso(r['raised_at'], self.tz)}, due: {iso(r['due_at'], self.tz)}"]
        if r["detail"]:
            lines.append(f"detail: {r['detail'][:200]}")
        if r["kind"] == "wheelchair":
            lines.append(f"take a chair from {r['station']}, {r['station_zone']}" if r["station"]
                         else "no station has a charged chair: find one")
        if r["repeat_of"] is not None:
            lines.append(f"repeat complaint after #{r['repeat_of']}")
        named = (r["escalated_to"],) if r["escalated_to"] else ()
        return Subject("request", str(r["id"]), severity, type_, r["zone"],
                       f"[{severity.upper()}] request #{r['id']}: {type_} - {r['zone']}", tuple(lines), named)

    def _stop(self, request_id: int, by: str) -> None:
        if self.escalation is not None:
            self.escalation.stop("request", str(request_id), by)

    def acknowledge(self, request_id: int, username: str, role: str, comment: str = "") -> dict[str, Any]:
        """A page about the request acknowledged: the chain stops. When the request's open offer is this
        person's, acknowledging accepts it (they are going); anyone else says "seen, I will see to it" and
        the offer stays where it is."""
        r = self.get(request_id)
        if r is None:
            raise KeyError(request_id)
        if r["state"] == "closed":
            raise RequestActionError("the request is already closed")
        if not isinstance(comment, str) or len(comment) > DETAIL_MAX:
            raise RequestError(f"comment must be text of at most {DETAIL_MAX} characters")
        offer = self.db.one("SELECT id FROM dispatches WHERE service_request=? AND state='offered' AND assignee=?",
                            (request_id, username))
        if offer is not None:
            self.dispatch.accept(offer["id"], username, role)
        if r["acked_at"] is None:
            self.db.execute("UPDATE requests SET acked_by=?, acked_at=?, ack_comment=? WHERE id=?",
                            (username, self.clock.now(), comment.strip(), request_id))
        self._stop(request_id, username)
        return self._announce(request_id)

    def _check_repeat(self, request_id: int, zone: str, topic: str, now: float) -> None:
        window = self.settings["repeat_window_days"] * 86400
        earlier = self.db.one(
            "SELECT id FROM requests WHERE kind='complaint' AND zone=? AND topic=? AND id != ? AND raised_at >= ? "
            "ORDER BY id DESC LIMIT 1", (zone, topic, request_id, now - window))
        if earlier is None:
            return
        manager = self.settings["escalate_to"]
        self.db.execute("UPDATE requests SET escalated_to=?, repeat_of=? WHERE id=?", (manager, earlier["id"], request_id))
        # The record of it; the page itself goes through the escalation chain (a step ``named``).
        self.db.execute("INSERT INTO request_notices(request_id, at, kind, recipient, text, state) "
                        "VALUES (?,?,?,?,?,'recorded')", (request_id, now, "escalation", manager or "-",
                        f"Repeat complaint #{request_id} ({topic}, zone {zone}) after #{earlier['id']}: escalated."))
        self.bus.emit("request.escalated", {"id": request_id, "repeat_of": earlier["id"], "escalated_to": manager,
                                            "zone": zone, "topic": topic}, audience="")

    def waiting_jobs(self) -> builtins.list[Job]:
        """Requests waiting for someone to go (open, no open dispatch): their place in hub.dispatch's queue."""
        jobs = []
        for r in self.db.all(
                f"SELECT * FROM requests r WHERE state='open' AND kind IN ({','.join('?' * len(DISPATCHED))}) "
                "AND NOT EXISTS (SELECT 1 FROM dispatches d WHERE d.service_request=r.id "
                "AND d.state IN ('offered','accepted','arrived'))", DISPATCHED):
            cfg = self.kind(r["kind"])
            timeout = cfg.get("offer_timeout_s")
            jobs.append(Job(r["zone"], r["kind"], r["priority"], r["raised_at"], service_request=r["id"],
                            roles=tuple(cfg["roles"]) or DISPATCH_ROLES, anywhere=r["kind"] in URGENT,
                            preempts=r["kind"] in URGENT, offer_timeout_s=float(timeout) if timeout else None))
        return jobs

    # -- dispatch and ticket progress -----------------------------------------------------------------

    def on_dispatch(self, d: dict[str, Any]) -> None:
        """A dispatch of a request changed state: the request follows it."""
        request_id = d.get("service_request")
        if request_id is None:
            return
        r = self.get(request_id)
        if r is None or r["state"] == "closed":
            return
        measure = self.kind(r["kind"])["measure"]
        now = self.clock.now()
        state, answered = r["state"], r["answered_at"]
        if d["state"] in ("offered", "accepted", "arrived"):
            state = "dispatched"
        if answered is None and ((measure == "accept" and d["state"] in ("accepted", "arrived"))
                                 or (measure == "arrive" and d["state"] == "arrived")):
            answered = now
        if d["state"] == "completed":
            state = "closed"
            answered = answered if answered is not None else now
        if d["state"] in ("declined", "expired", "withdrawn"):
            state = "open"  # the next offer (in the same transaction) sets it back to dispatched
        self.db.execute("UPDATE requests SET state=?, answered_at=?, closed_at=? WHERE id=?",
                        (state, answered, now if state == "closed" else None, request_id))
        if d["state"] in ("accepted", "arrived", "completed"):
            self._stop(request_id, d.get("assignee") or d["state"])
        self._announce(request_id)

    def tick(self) -> None:
        """Repairs closed with their ticket (waiting requests are offered by hub.dispatch's tick)."""
        for r in self.db.all("SELECT r.id, t.state, t.accepted_at, t.resolved_at, t.resolved_by FROM requests r "
                             "JOIN tickets t ON t.id=r.ticket_id WHERE r.state != 'closed' AND "
                             "(t.accepted_at IS NOT NULL OR t.state='resolved')"):
            closed = r["state"] == "resolved"
            self.db.execute(
                "UPDATE requests SET answered_at=COALESCE(answered_at, ?), state=?, closed_at=?, closed_by=? "
                "WHERE id=?", (r["accepted_at"] or r["resolved_at"], "closed" if closed else "dispatched",
                               r["resolved_at"] if closed else None, r["resolved_by"] if closed else None, r["id"]))
            self._stop(r["id"], r["resolved_by"] or "ticket")
            if closed:
                self._announce(r["id"])

    # -- complaints ---------------------------------------------------------------------------------------

    def close(self, request_id: int, username: str, resolution: str) -> dict[str, Any]:
        """Answer and close a complaint; its complainant is told (if they left a number)."""
        r = self.get(request_id)
        if r is None:
            raise KeyError(request_id)
        if r["kind"] != "complaint":
            raise RequestActionError(f"a {r['kind']} closes through its dispatch or ticket, not by hand")
        if r["state"] == "closed":
            raise RequestActionError("the request is already closed")
        if not isinstance(resolution, str) or not 0 < len(resolution.strip()) <= DETAIL_MAX:
            raise RequestError(f"resolution must be text of 1..{DETAIL_MAX} characters")
        now = self.clock.now()
        self.db.execute("UPDATE requests SET state='closed', answered_at=?, closed_at=?, closed_by=?, resolution=?, "
                        "phone=NULL WHERE id=?", (now, now, username, resolution.strip(), request_id))
        if r["phone"]:
            self._closure_notice(request_id, r["phone"], now)
        self._stop(request_id, username)
        return self._announce(request_id)

    def _closure_notice(self, request_id: int, phone: str, now: float) -> None:
        """The complainant told it was closed: one notify outbox row for the SMS channel, in this unit of
        work (durable, retried with backoff, sent once per key ``request-notice:<notice id>``). The number is
        kept only in that row, and erased from it when it is sent or has failed for good (on_outbox_finish);
        ``request_notices`` has it redacted. Without an SMS channel nothing can send it: erased now."""
        text = f"您的投诉 #{request_id} 已处理完毕。Your complaint #{request_id} has been closed."
        state = "pending" if self.notice_channel else "no_channel"
        cur = self.db.execute("INSERT INTO request_notices(request_id, at, kind, recipient, text, state) "
                              "VALUES (?,?,?,?,?,?)", (request_id, now, "closure", redact_phone(phone), text, state))
        notice_id = inserted_id(cur)
        if self.notice_channel:
            message = Message(f"投诉 #{request_id} / Complaint #{request_id}", text, text, "minor", False, phone,
                              "", "", "")
            outbox.enqueue(self.db, f"{NOTICE_SUBJECT}:{notice_id}", NOTICE_CHANNEL, "", NOTICE_SUBJECT,
                           str(notice_id), 0, message, now, now)
        log.info("closure notice", extra={"request_id": request_id, "to": redact_phone(phone), "state": state})

    def on_outbox_finish(self, row: Any, state: str, error: str) -> None:
        """The notify outbox finished a row (hub.notify.outbox.NotifySender.finished): a closure notice's
        outcome recorded, and the number erased from the row either way (docs/privacy.md)."""
        if row["subject_kind"] != NOTICE_SUBJECT:
            return
        sent = state == "delivered"
        self.db.execute("UPDATE request_notices SET state=?, sent_at=?, error=? WHERE id=?",
                        ("sent" if sent else "failed", self.clock.now() if sent else None, error[:300],
                         int(row["subject_id"])))
        outbox.forget_address(self.db, row["id"])
        log.log(logging.INFO if sent else logging.ERROR, "closure notice " + ("sent" if sent else "failed"),
                extra={"notice_id": row["subject_id"], "error": error[:200]})

    def notices(self, limit: int = 100) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """Closure notices and escalations for admins (phone numbers redacted), with their delivery: pending,
        sent, failed (with the error), no_channel, or recorded (an escalation, paged through its chain)."""
        rows = self.db.all("SELECT * FROM request_notices ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": r["id"], "request_id": r["request_id"], "at": iso(r["at"], self.tz), "kind": r["kind"],
                 "recipient": redact_phone(r["recipient"]) if r["kind"] == "closure" else r["recipient"],
                 "text": r["text"], "sent_at": iso(r["sent_at"], self.tz), "state": r["state"], "error": r["error"]}
                for r in rows]

    def notice_counts(self) -> dict[str, int]:
        """Closure notices per delivery state (failures shown on the requests screen and in /api/health)."""
        out = {state: 0 for state in NOTICE_STATES}
        for r in self.db.all("SELECT state, COUNT(*) AS n FROM request_notices WHERE kind='closure' GROUP BY state"):
            out[r["state"]] = r["n"]
        return out

    def housekeeping(self) -> None:
        """Phone numbers older than ``phone_keep_days`` deleted, sent or not (docs/privacy.md)."""
        cutoff = self.clock.now() - self.settings["phone_keep_days"] * 86400
        self.db.execute("UPDATE requests SET phone=NULL WHERE phone IS NOT NULL AND raised_at < ?", (cutoff,))
        self.db.execute("UPDATE request_notices SET recipient='' WHERE kind='closure' AND at < ?", (cutoff,))
