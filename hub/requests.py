"""Requests raised by people (issue #15): a desk emergency, an assist (wheelchair, escort), a work order to
a department liaison, a repair, a complaint. Staff raise them in the console; patients through a zone's QR
page (hub.api.public). One lifecycle with the existing machinery: a request that needs someone to go is a
dispatch (hub.dispatch: offered -> accepted -> arrived -> completed), a repair is a manual maintenance
ticket (hub.tickets), a complaint is answered and closed by the service desk.

Each kind has a target (the seeds': emergency 3 min raise-to-arrival, work order answered in 30 min,
complaint answered in 24 h or 48 h if complex) kept as editable settings (``REQUEST_SETTINGS`` below, the
one home of them, stored in the ``settings`` table under ``requests``). A request is overdue when its
target passed before it was answered. Jobs waiting for a free person wait in hub.dispatch's one queue
(``waiting_jobs`` below), offered most urgent first, then oldest first; an emergency may go to anyone on
shift and pre-empts an unanswered lower-priority offer, with its own shorter ``offer_timeout_s``. A complaint on the same zone and topic as one raised within ``repeat_window_days`` is
escalated to the named manager (``escalate_to``).

Personal data: only the optional phone number a complainant leaves for the closure notice. It is never
logged, never in an event or an API answer (``has_phone`` only), moved to the notice outbox at closure
and deleted from both once the notice is sent or ``phone_keep_days`` after the request (docs/privacy.md).
"""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import json
import logging
import re
import sqlite3
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from hub.clock import Clock, iso
from hub.db import Database, inserted_id
from hub.dispatch import DISPATCH_ROLES, DispatchManager, Job
from hub.events import EventBus
from hub.roster import shift_bounds
from hub.tickets import TicketManager

log = logging.getLogger("hub.requests")

KINDS = ("assist", "emergency", "work_order", "repair", "complaint")
DISPATCHED = ("assist", "emergency", "work_order")  # the kinds someone is sent for (hub.dispatch)
URGENT = ("emergency",)  # may go to anyone on shift, and pre-empt an unanswered lower-priority offer
PUBLIC_KINDS = ("assist", "emergency", "complaint")  # what a patient may raise on a zone's QR page
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
        "work_order": {"target_min": 30, "measure": "accept", "priority": 30, "roles": ["liaison"]},
        "repair": {"target_min": 30, "measure": "accept", "priority": 20, "roles": []},
        "complaint": {"target_min": 1440, "complex_target_min": 2880, "measure": "close", "priority": 10,
                      "roles": []},
    },
    "night_shift": "20:00-08:00",  # site local time; the KPIs split day and night by it
    "repeat_window_days": 30,
    "escalate_to": "分管院长 / Deputy director",
    "phone_keep_days": 30,
    "public_per_address_per_hour": 6,
}
MEASURES = ("arrive", "accept", "close")


class RequestError(ValueError):
    """A request or setting that cannot be accepted as given (HTTP 400; the message names the field)."""


class RequestActionError(ValueError):
    """The request cannot take that action now (HTTP 409)."""


def _whole(value: Any, hi: int) -> int | None:
    """An integer 1..hi (3.0 counts, as in JSON Schema), or None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= hi:
        return None
    return value


def validate_settings(data: Any, roles: tuple[str, ...]) -> dict[str, Any]:
    """Defaults overlaid with ``data``; anything unknown or out of range is a RequestError naming it."""
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
            if not isinstance(value, str) or not 0 < len(value) <= 100:
                raise RequestError("escalate_to must be a name of 1..100 characters")
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


class Notifier(Protocol):
    """A channel that delivers a notice (SMS, e-mail ...); True when sent. Another module provides real ones."""

    def send(self, recipient: str, text: str) -> bool: ...


class OutboxOnly:
    """The default: nothing is sent; the notice waits in ``request_notices`` for a channel, logged redacted."""

    def send(self, recipient: str, text: str) -> bool:
        return False


class RequestManager:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, tz: ZoneInfo, dispatch: DispatchManager,
                 tickets: TicketManager, zones: set[str], roster_roles: tuple[str, ...]) -> None:
        self.db, self.bus, self.clock, self.tz = db, bus, clock, tz
        self.dispatch, self.tickets, self.zones, self.roster_roles = dispatch, tickets, zones, roster_roles
        self.notifier: Notifier = OutboxOnly()
        self.settings = self._load()
        dispatch.listeners.append(self.on_dispatch)
        dispatch.sources.append(self.waiting_jobs)

    # -- settings ------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        row = self.db.one("SELECT value FROM settings WHERE key='requests'")
        if row is None:
            return copy.deepcopy(REQUEST_SETTINGS)
        try:
            return validate_settings(json.loads(row["value"]), self.roster_roles)
        except (RequestError, ValueError) as exc:
            log.error("stored request settings invalid; using the defaults", extra={"error": str(exc)})
            return copy.deepcopy(REQUEST_SETTINGS)

    def set_settings(self, data: Any) -> dict[str, Any]:
        """Validate and store (inside the caller's unit of work); applies to requests raised from now on."""
        settings = validate_settings(data, self.roster_roles)
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
        log.info("request raised", extra={"request_id": request_id, "kind": kind, "zone": zone, "source": source,
                                          "phone": redact_phone(phone) if phone else ""})
        if kind == "complaint":
            self._check_repeat(request_id, zone, topic, now)
        elif kind == "repair":
            ticket_id = self.tickets.open_manual(zone, detail or "manual repair request", raised_by or source)
            self.db.execute("UPDATE requests SET ticket_id=?, state='dispatched' WHERE id=?", (ticket_id, request_id))
        else:
            self.dispatch.serve_waiting()  # the one queue: this request takes its place by priority and age
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
        self._notice(request_id, "escalation", manager,
                     f"Repeat complaint #{request_id} ({topic}, zone {zone}) after #{earlier['id']}: escalated.")
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
            self._notice(request_id, "closure", r["phone"],
                         f"您的投诉 #{request_id} 已处理完毕。Your complaint #{request_id} has been closed.")
        return self._announce(request_id)

    def _notice(self, request_id: int, kind: str, recipient: str, text: str) -> None:
        """Queue a notice and try the channel; a sent phone number is erased from the outbox at once."""
        now = self.clock.now()
        cur = self.db.execute("INSERT INTO request_notices(request_id, at, kind, recipient, text) VALUES (?,?,?,?,?)",
                              (request_id, now, kind, recipient, text))
        try:
            sent = self.notifier.send(recipient, text)
        except Exception as exc:  # noqa: BLE001 - a failing channel leaves the notice in the outbox
            log.warning("notice not sent", extra={"request_id": request_id, "error": type(exc).__name__})
            sent = False
        shown = redact_phone(recipient) if kind == "closure" else recipient
        if sent:
            self.db.execute("UPDATE request_notices SET sent_at=?, recipient=? WHERE id=?",
                            (now, shown, inserted_id(cur)))
        log.info("request notice", extra={"request_id": request_id, "notice": kind, "to": shown, "sent": sent})

    def notices(self, limit: int = 100) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """The notice outbox for admins, phone numbers redacted."""
        rows = self.db.all("SELECT * FROM request_notices ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": r["id"], "request_id": r["request_id"], "at": iso(r["at"], self.tz), "kind": r["kind"],
                 "recipient": redact_phone(r["recipient"]) if r["kind"] == "closure" else r["recipient"],
                 "text": r["text"], "sent_at": iso(r["sent_at"], self.tz)} for r in rows]

    def housekeeping(self) -> None:
        """Phone numbers older than ``phone_keep_days`` deleted, sent or not (docs/privacy.md)."""
        cutoff = self.clock.now() - self.settings["phone_keep_days"] * 86400
        self.db.execute("UPDATE requests SET phone=NULL WHERE phone IS NOT NULL AND raised_at < ?", (cutoff,))
        self.db.execute("UPDATE request_notices SET recipient='' WHERE kind='closure' AND at < ?", (cutoff,))
