"""The hub's core: applies the edge's stream to live state, runs the rules, and owns the managers.

Everything that changes state goes through ``apply_messages`` (a batch from the broker) or an action
method, inside one SQLite transaction whose events are delivered only after it commits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections import Counter, deque
from typing import Any, Callable, Iterator, Sequence

from floorops.config import Config
from floorops.contract import ID_RE
from floorops.kinds import KindError
from floorops.site import Site
from floorops.topics import SUPERVISOR_EVENTS, EdgeRecord, InternalTopic
from hub.alarms import AlarmManager
from hub.clock import Clock, iso
from hub.db import Database, environmental
from hub.dispatch import DispatchManager
from hub.escalation import EscalationManager
from hub.events import EventBus
from hub.reliability import equipment_fault_types, fault_rates
from hub.notify.settings import load_notify
from hub.requests import RequestManager
from hub.roster import PERSON_ROLES, Roster, RosterStore
from hub import service_levels, wheelchairs
from hub.satisfaction import SatisfactionManager
from floorops.kinds import charger, queue_screen, satisfaction_terminal
from hub.screens import ScreenCommands
from hub.rules import agents, crowding, forecast, offline, service_level, supervisor, waits
from hub.rules import wheelchairs as wheelchair_rule
from hub.rules import wandering as wandering_rule
from hub.flows import BadFlows, FlowBook, parse_interval
from hub.rules import broker as broker_rule
from hub.rules import ingest as ingest_rule
from hub.rules import reliability as reliability_rule
from hub.rules import satisfaction as satisfaction_rule
from hub.rules import systems as systems_rule
from hub.rules.base import RuleContext, RuleFamily, RuleSet, Signal
from hub.rules.config import load_rules_file, validate_rules
from hub.rules.registry import FAMILIES
from hub.silences import SilenceManager
from hub.state import AgentState, DeviceState, LiveState
from hub.tickets import TicketManager
from hub import views

log = logging.getLogger("hub.core")

CHANNELS = ("telemetry", "event", "status")
SEEN_KEEP_S = 2 * 86400  # redeliveries and edge replays come within hours, not days
DEAD_LETTER_PAYLOAD_MAX = 65536  # bytes of a dead-lettered record kept
DEAD_LETTERS_KEEP = 10_000  # newest dead letters kept by housekeeping


class BadInput(ValueError):
    """A message the hub cannot use; ``reason`` is the counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class RecentKeys:
    """The last ``size`` (seq, ts) keys of one device channel."""

    __slots__ = ("keys", "order", "size")

    def __init__(self, size: int = 512) -> None:
        self.keys: set[tuple[int, int]] = set()
        self.order: deque[tuple[int, int]] = deque()
        self.size = size

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key in self.keys

    def add(self, key: tuple[int, int]) -> None:
        self.keys.add(key)
        self.order.append(key)
        if len(self.order) > self.size:
            self.keys.discard(self.order.popleft())


class Hub:
    def __init__(self, cfg: Config, site: Site, db: Database, clock: Clock, roster: Roster) -> None:
        self.cfg, self.site, self.db, self.clock = cfg, site, db, clock
        self.tz = site.tz
        # The roster is in the database (hub.roster.RosterStore); ``roster`` (the roster file) seeds it once.
        self.roster_store = RosterStore(db)
        with db.transaction():
            self.roster_store.seed(roster, clock.now())
        self.roster = roster = self.roster_store.load(self.today() - dt.timedelta(days=1))
        self.rules = RuleSet(self._load_rules())
        self.bus = EventBus(db, clock, self.tz)
        self.state = LiveState(site)
        self.state.load(db)
        self.alarms = AlarmManager(db, self.bus, clock, self.rules, self.tz)
        self.tickets = TicketManager(db, self.bus, clock, self.rules, roster, self.tz, self.alarms)
        self.dispatch = DispatchManager(db, self.bus, clock, self.rules, roster, self.tz, self.alarms,
                                        floors={z.id: z.floor for z in site.zones})
        self.dispatch.audit = self.audit  # a withdrawn offer leaves an audit line
        self.requests = RequestManager(db, self.bus, clock, self.tz, self.dispatch, self.tickets,
                                       {z.id for z in site.zones}, PERSON_ROLES,
                                       lambda: {p.id for p in self.roster_store.people()}, self.wheelchair_station_for)
        self.alarms.listeners.append(self._on_alarm_for_state)
        self.satisfaction = SatisfactionManager(db, self.bus, clock, self.rules, site, roster, self.alarms)
        self.screens = ScreenCommands(db, self.bus, clock, self.rules, site, self.alarms, lambda: self.state)
        # -- issue #15 (notify branch): silences and escalation to named people; logic in their modules --
        self.silences = SilenceManager(db, clock, self.tz)
        self.alarms.silencer = self.silences.silencing
        self.notify_settings = load_notify(cfg.hub.notify_file, {p.id for p in roster.people})
        self.escalation = EscalationManager(db, self.bus, clock, self.tz, roster, self.notify_settings, self.alarms)
        self.requests.attach_escalation(self.escalation, "sms" in self.notify_settings.channels)
        # -- end notify hooks --
        self.metrics: Counter[str] = Counter()
        self.started_at = clock.now()
        self.forecasts: dict[str, list[dict[str, Any]]] = {}
        self.forecast_at: float | None = None
        self._last_rejection_log: dict[str, float] = {}
        self._recent: dict[tuple[str, str], RecentKeys] = {}
        # The ingest_stalled alarm while the database could not store it (hub.rules.ingest).
        self.held_alarm: dict[str, Any] | None = None
        self.drop_watch = broker_rule.DropWatch()  # the broker's dropped-messages counter (hub.rules.broker)
        self.flows = FlowBook()  # the edge's patient-flow intervals, aggregates only (hub.flows)
        self._kind_rules = self._rule_sets_of_kinds()
        with self.unit_of_work():
            pass  # the site's devices not stored yet (LiveState.load) get their rows

    # -- rules settings ------------------------------------------------------------------------------

    def _rule_sets_of_kinds(self) -> dict[str, list[RuleFamily]]:
        """Each kind's rule families, as its declaration names them (``DeviceKind.rules``, the registered
        families with ``per_kind``); the offline rule applies to every kind. A name the hub does not have
        stops the start with the kind named."""
        sets = {f.name: f for f in FAMILIES if f.per_kind}
        out = {}
        for k in self.site.kinds:
            if unknown := [r for r in k.rules if r not in sets]:
                raise KindError(f"kind {k.name}: the hub has no rule set {', '.join(unknown)} ({', '.join(sets)})")
            out[k.name] = [sets[r] for r in k.rules]
        return out

    def _context(self, **occasion: Any) -> RuleContext:
        """The rules' view of now: the settings in force, the clock, the open alarms, and the occasion."""
        return RuleContext(rules=self.rules, now=self.clock.now(), open=self.alarms.open, **occasion)

    def _raise_or_clear(self, signals: list[Signal]) -> None:
        for sig in signals:
            self.alarms.apply(sig)

    def _load_rules(self) -> dict[str, Any]:
        row = self.db.one("SELECT value FROM settings WHERE key='rules'")
        if row is not None:
            return validate_rules(json.loads(row["value"]), self.site.kinds)
        return load_rules_file(self.cfg.hub.rules_file, self.site.kinds)

    def set_rules(self, data: Any, actor: str) -> dict[str, Any]:
        settings = validate_rules(data, self.site.kinds)
        with self.unit_of_work():
            self.db.execute("INSERT OR REPLACE INTO settings VALUES ('rules', ?)", (json.dumps(settings),))
            self.audit(actor, "rules.update", "rules", {})
        self.rules.settings = settings
        return settings

    # -- transactions --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """One transaction; its events go out after the commit, or nowhere if it fails. What it changed
        in the live state is written and shown (``_commit_state``) as it commits."""
        try:
            with self.db.transaction():
                yield
                self._commit_state()
        except BaseException:
            self.bus.discard()
            raise
        self.bus.flush()

    def _commit_state(self) -> None:
        """Write the live state's recorded changes, and emit the views the consoles must see again."""
        shown = self.state.commit(self.db)
        for device_id in shown.devices:
            self.bus.emit("device.updated", views.device_json(self, device_id))
        for zone_id in shown.zones:
            self.bus.emit("zone.updated", views.zone_json(self, zone_id))
        for agent_id in shown.agents:
            self.bus.emit("agent.updated", views.agent_json(self, agent_id))

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.now(), self.tz).date()

    def reload_roster(self) -> Roster:
        """Read the roster again after a change of people or a publication (in or after its transaction): every
        part that reads it (dispatch, tickets, escalation, the forecaster's staffing) sees the new one."""
        self.roster = self.roster_store.load(self.today() - dt.timedelta(days=1))
        self.dispatch.roster = self.tickets.roster = self.escalation.roster = self.satisfaction.roster = self.roster
        return self.roster

    def audit(self, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
        self.db.execute("INSERT INTO audit(at, actor, action, target, detail) VALUES (?,?,?,?,?)",
                        (self.clock.now(), actor, action, target, json.dumps(detail or {}, default=str)))

    # -- the stream --------------------------------------------------------------------------------------

    def apply_messages(self, messages: Sequence[tuple[str, bytes] | tuple[str, bytes, str]]) -> int:
        """Apply a batch in one transaction; bad messages are counted and skipped, the good ones kept.

        A message is ``(topic, payload)``, or ``(topic, payload, agent_id)`` for a record that came in the
        batch of that edge agent (``floorops.topics.relaying_agent``).

        Fast path: no savepoint per message (bad input is refused before it changes anything). If a
        message fails in an unexpected way, the batch is rolled back and applied again message by
        message, each in its own savepoint, so that one bug costs one message, not the batch: a message
        that fails alone is dead-lettered (``dead_letters``) with its reason. A failure of the database
        or the machine (``hub.db.environmental``: locked, disk full, I/O error) is no message's fault: the
        batch is rolled back, memory reloaded, and the exception raised for the caller to retry the
        same batch later (hub.ingest). Memory is reloaded after any failure, whichever pass failed."""
        return self._apply(messages, None)[0]

    def apply_until(self, messages: Sequence[tuple[str, bytes] | tuple[str, bytes, str]],
                    preempt: Callable[[], bool] | None = None) -> int:
        """``apply_messages``, but the transaction commits early once ``preempt()`` is true (asked between
        messages, after the first): returns how many of ``messages``, from the start, were applied and
        committed; the caller applies the rest later, in order. So a fault never waits for a whole bulk
        transaction of readings (hub.ingest), and per-device order holds. The careful pass after an
        unexpected failure is never preempted (it is rare, and it must finish the messages it retried)."""
        return self._apply(messages, preempt)[1]

    def _apply(self, messages: Sequence[tuple[str, bytes] | tuple[str, bytes, str]],
               preempt: Callable[[], bool] | None) -> tuple[int, int]:
        """(applied, consumed) of ``apply_messages`` / ``apply_until``."""
        try:
            return self._apply_batch(messages, careful=False, preempt=preempt)
        except Exception as exc:  # noqa: BLE001 - any failure of the fast pass is retried message by message
            self.reload_memory()
            if environmental(exc):
                raise
            log.warning("batch failed; applying it again message by message",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:300], "messages": len(messages)})
        try:
            return self._apply_batch(messages, careful=True)
        finally:
            self.reload_memory()

    def _apply_batch(self, messages: Sequence[tuple[str, bytes] | tuple[str, bytes, str]], careful: bool,
                     preempt: Callable[[], bool] | None = None) -> tuple[int, int]:
        applied = 0
        consumed = 0
        dead = 0
        with self.unit_of_work():
            for topic, payload, *via in messages:
                if consumed and preempt is not None and preempt():
                    break
                consumed += 1
                agent_id = via[0] if via else ""
                mark = self.bus.savepoint()
                try:
                    if careful:
                        with self.db.transaction():
                            applied += self.apply_message(topic, payload, agent_id)
                            self._commit_state()  # inside the savepoint: a value SQLite refuses is this message's
                    else:
                        applied += self.apply_message(topic, payload, agent_id)
                except BadInput as exc:
                    self.metrics[f"rejected_{exc.reason}"] += 1
                    self._log_rejection(topic, exc)
                except Exception as exc:
                    if not careful or environmental(exc):
                        raise
                    self.bus.rollback_to(mark)
                    self._dead_letter(topic, payload, agent_id, exc)
                    dead += 1
                    self.reload_memory()  # what the failed message changed in memory is undone too
        self.metrics["dead_letters"] += dead
        return applied, consumed

    def _dead_letter(self, topic: str, payload: bytes, agent_id: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        self.db.execute("INSERT INTO dead_letters(received_at, topic, agent_id, reason, payload) VALUES (?,?,?,?,?)",
                        (self.clock.now(), topic, agent_id, reason, bytes(payload[:DEAD_LETTER_PAYLOAD_MAX])))
        log.error("record dead-lettered", extra={"topic": topic, "agent_id": agent_id, "reason": reason})

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest records that failed alone, for admins."""
        rows = self.db.all("SELECT * FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,))
        return [{"id": r["id"], "received_at": iso(r["received_at"], self.tz), "topic": r["topic"],
                 "agent_id": r["agent_id"], "reason": r["reason"],
                 "payload": bytes(r["payload"]).decode("utf-8", "replace")} for r in rows]

    def reload_memory(self) -> None:
        """Rebuild what is held in memory from the database (after a rolled-back batch)."""
        self.state = LiveState(self.site)
        self.state.load(self.db)
        self.alarms.reload_open()
        self._recent.clear()

    def _log_rejection(self, topic: str, exc: BadInput) -> None:
        """At most one log line per reason and second: a flood of bad input must not flood the log."""
        now = self.clock.now()
        if now - self._last_rejection_log.get(exc.reason, 0.0) >= 1.0:
            self._last_rejection_log[exc.reason] = now
            log.warning("message rejected", extra={"topic": topic, "reason": exc.reason, "error": str(exc),
                                                   "rejected_total": self.metrics[f"rejected_{exc.reason}"]})

    def apply_message(self, topic: str, payload: bytes, agent_id: str = "") -> bool:
        t = InternalTopic.parse(topic)
        if t is None or t.site != self.site.id:
            raise BadInput("bad_topic", f"not a topic of site {self.site.id}: {topic}")
        self.metrics["messages"] += 1
        section, rest = t.section, t.rest
        if section == "edge" and len(rest) == 3:
            kind, device_id, channel = rest
            return self.apply_record(kind, device_id, channel, payload, agent_id)
        if section == "zone" and len(rest) == 2 and rest[1] == "occupancy":
            return self.apply_occupancy(rest[0], _json(payload))
        if section == "flows" and rest == ("interval",):
            return self.apply_flows(_json(payload))
        if section == "registry" and len(rest) == 1:
            return self.apply_registry(rest[0], payload)
        if section == "agent" and len(rest) == 2 and rest[1] == "status":
            return self.apply_agent_status(rest[0], payload)
        if section == "supervisor" and len(rest) == 2 and rest[1] in SUPERVISOR_EVENTS:
            return self.apply_supervisor(rest[0], rest[1], payload)
        raise BadInput("bad_topic", f"unknown topic {topic}")

    def apply_record(self, kind: str, device_id: str, channel: str, payload: bytes, agent_id: str = "") -> bool:
        """One edge record, from ``floorops/<site>/edge/<kind>/<device_id>/<channel>``."""
        try:
            rec = EdgeRecord.from_json(payload)
        except (ValueError, TypeError, KeyError) as exc:
            raise BadInput("bad_record", f"not an EdgeRecord: {type(exc).__name__}") from None
        if kind not in self.site.kinds or channel not in CHANNELS or rec.device_id != device_id or rec.channel != channel:
            raise BadInput("bad_record", "topic and record disagree")
        if not ID_RE.match(device_id):
            raise BadInput("bad_record", "device id is not [A-Za-z0-9_-]{1,64}")
        if not isinstance(rec.data, dict) or not isinstance(rec.ts, int):
            raise BadInput("bad_record", "data must be an object and ts an integer")
        if device_id in self.state.removed:
            raise BadInput("removed_device", f"{device_id} was removed (registry); register it again to use it")
        # A reading without a seq (a USB probe's sighting or heartbeat) has nothing that tells a replay from
        # another reading in the same millisecond; replaying a reading is harmless, so it is not checked.
        seq = rec.seq if isinstance(rec.seq, int) else None
        if (seq is not None or channel != "telemetry") and self._duplicate(device_id, channel, -1 if seq is None else seq,
                                                                           rec.ts):
            self.metrics["duplicates"] += 1
            return False
        dev = self.state.device(device_id, kind, rec.zone or "")
        rec.zone = rec.zone or dev.zone
        now = self.clock.now()
        before = dev.state  # a screen back from offline is sent its commands again (hub.screens)
        dev.last_seen = now
        dev.agent = agent_id or dev.agent
        if channel == "telemetry":
            dev.previous_readings, dev.readings = dev.readings, dict(rec.data)
        elif channel == "status":
            dev.readings = {**dev.readings, "status": rec.data.get("state")}
        families = self._kind_rules[kind]
        ctx = self._context(rec=rec, device=dev, queue=self._apply_queue(rec, dev.queue), site=self.site)
        if wheelchair_rule.FAMILY in families:
            self._record_wheelchairs(rec, dev)
        signals: list[Signal] = offline.evaluate(ctx)
        for family in families:
            signals += family.evaluate(ctx)
        if waits.FAMILY in families:
            signals += self._ticket_event(rec, ctx.queue)
        self._raise_or_clear(signals)
        on_record = ON_RECORD.get(kind)
        if on_record is not None:
            on_record(self, rec, before)
        return True

    def _screen_record(self, rec: EdgeRecord, before: str) -> None:
        """A queue screen's acknowledgement of a command, or its return (hub.screens)."""
        if rec.channel == "event" and rec.data.get("event") == "cmd_ack":
            self.screens.acked(rec.device_id, str(rec.data.get("cmd", "")))
        elif rec.channel == "status" and rec.data.get("state") == "online" and before in ("offline", "unknown"):
            self.screens.back_online(rec.device_id)

    def _press_record(self, rec: EdgeRecord, before: str) -> None:
        """A satisfaction terminal's button press, into the zone's score (hub.satisfaction)."""
        if rec.channel == "event" and rec.data.get("event") == satisfaction_terminal.PRESS:
            if not self.satisfaction.record(rec.zone, rec.device_id, str(rec.data.get("button")), rec.ts / 1000):
                self.metrics["presses_unknown_button"] += 1

    def _duplicate(self, device_id: str, channel: str, seq: int, ts: int) -> bool:
        """Seen before? Recent keys are checked in memory; events and status (which count and change
        state) are also recorded in SQLite, in the batch's transaction, so a redelivery after a crash is
        recognised too. A replayed reading is harmless (same values) and not stored."""
        recent = self._recent.get((device_id, channel))
        if recent is None:
            recent = self._recent[(device_id, channel)] = RecentKeys()
        key = (seq, ts)
        if key in recent:
            return True
        if channel != "telemetry":
            cur = self.db.execute("INSERT OR IGNORE INTO seen_records VALUES (?,?,?,?,?)",
                                  (device_id, channel, seq, ts, self.clock.now()))
            if cur.rowcount == 0:
                return True
        recent.add(key)
        return False

    def _apply_queue(self, rec: EdgeRecord, queue_hint: str) -> str:
        """A record about a queue (its screen's, or one naming it): arrivals counted, the queue's live state
        updated from a reading. Returns the queue's id ('' if none) for the rules (hub.rules.waits)."""
        queue = str(rec.data.get("queue") or queue_hint or "")
        if not queue:
            return ""
        if rec.channel == "event" and rec.data.get("event") == "ticket_issued":
            self._count_arrival(rec.zone, rec.ts / 1000)
        if rec.channel != "telemetry":
            return queue
        q = self.state.queues.get(queue)
        if q is None:
            return queue
        q.device_id = rec.device_id
        q.waiting = int(rec.data.get("waiting", 0))
        q.avg_wait_s = float(rec.data.get("avg_wait_s", 0.0))
        q.at = self.clock.now()
        return queue

    def _ticket_event(self, rec: EdgeRecord, queue: str) -> list[Signal]:
        """A ticket issued, called, served or not shown (a queue screen's event): stored
        (hub.service_levels); a call judges the queue's service level of the ticket's day."""
        q = self.state.queues.get(queue)
        event, ticket = rec.data.get("event"), rec.data.get("ticket")
        if (q is None or rec.channel != "event" or not isinstance(event, str) or not event.startswith("ticket_")
                or not isinstance(ticket, str)):
            return []
        ts = rec.ts / 1000
        day = service_levels.record(self.db, self.tz, event, q.id, q.zone, ticket, ts)
        if day is None:
            self.metrics["tickets_unmatched"] += 1
            return []
        if event != "ticket_called":
            return []
        rule = self.rules.rule(service_level.RULE)
        target = service_levels.target_wait_s(self.rules, q.id, self.site.zone(q.zone).kind)
        counts = service_levels.queue_counts(self.db, q.id, day, target, ts - rule["abandon_after_s"])
        return service_level.evaluate(self._context(
            queue=q.id, service_day={**counts, "target_wait_s": target, "zone": q.zone}))

    def _record_wheelchairs(self, rec: EdgeRecord, dev: DeviceState) -> None:
        """A station's reading: the chairs taken and returned since its previous reading (its low stock is
        the wheelchairs rule family's)."""
        if rec.channel != "telemetry":
            return
        stock = wheelchairs.stock(rec.data, self.rules.rule(wheelchair_rule.RULE)["charged_soc_pct"])
        if stock is None:
            return
        taken, returned = wheelchairs.transitions(dev.previous_readings, rec.data)
        wheelchairs.record(self.db, self.tz, dev.id, dev.zone, self.clock.now(), taken, returned, stock.charged)

    def wheelchair_station_for(self, zone_id: str) -> tuple[str, str] | None:
        """A wheelchair request's station (hub.requests): the nearest with a charged chair, and its zone."""
        station = self.nearest_wheelchair_station(zone_id)
        return (station, self.state.devices[station].zone) if station is not None else None

    def nearest_wheelchair_station(self, zone_id: str, need: int = 1) -> str | None:
        """Where a wheelchair request from ``zone_id`` goes (hub.wheelchairs.nearest_station)."""
        stations = wheelchairs.stations_now(self.site, self.state.devices.values(),
                                            self.rules.rule(wheelchair_rule.RULE)["charged_soc_pct"])
        return wheelchairs.nearest_station(self.site, stations, zone_id, need)

    def _count_arrival(self, zone: str, ts: float) -> None:
        bucket_s = self.cfg.models.bucket_min * 60
        start = ts - ts % bucket_s
        self.db.execute("INSERT INTO zone_buckets(zone, bucket_start, arrivals) VALUES (?,?,1) "
                        "ON CONFLICT(zone, bucket_start) DO UPDATE SET arrivals=arrivals+1", (zone, start))

    def apply_occupancy(self, zone_id: str, data: dict[str, Any]) -> bool:
        z = self.state.zones.get(zone_id)
        if z is None:
            raise BadInput("unknown_zone", f"zone {zone_id!r} is not in the site")
        occ = data.get("occupancy")
        if isinstance(occ, bool) or not isinstance(occ, (int, float)) or occ < 0:
            raise BadInput("bad_occupancy", "occupancy must be a number >= 0")
        z.occupancy = float(occ)
        z.occupancy_at = self.clock.now()
        self._raise_or_clear(crowding.evaluate(self._context(zone=z)))
        return True

    def apply_flows(self, data: dict[str, Any]) -> bool:
        """One closed interval of the edge's flow aggregates: kept in memory (hub.flows), then the
        wandering rule over its window, per zone, against the zone's usual level."""
        try:
            iv = parse_interval(data, self.state.zones)
        except BadFlows as exc:
            raise BadInput("bad_flows", str(exc)) from None
        self.flows.add(iv)
        window_ms = int(self.rules.rule("wandering_high")["window_s"] * 1000)
        recent = self.flows.summary(iv.end_ms - window_ms, iv.end_ms)
        usual = self.flows.usual(iv.end_ms - window_ms)
        figures = {w["zone"]: {**w, "usual": usual.get(w["zone"])} for w in recent.wandering_json(usual)}
        self._raise_or_clear(wandering_rule.evaluate(self._context(wandering=figures, site=self.site)))
        return True

    def apply_registry(self, device_id: str, payload: bytes) -> bool:
        """``{"id","kind","zone"}`` registers or moves a device; the empty payload removes it."""
        if not ID_RE.match(device_id):
            raise BadInput("bad_registry", "device id is not [A-Za-z0-9_-]{1,64}")
        if not payload:
            return self.remove_device(device_id)
        data = _json(payload)
        kind, zone = data.get("kind"), data.get("zone")
        if not isinstance(kind, str) or not isinstance(zone, str) or kind not in self.site.kinds \
                or zone not in self.state.zones:
            raise BadInput("bad_registry", f"registry entry of {device_id} has an unknown kind or zone")
        self.register_device(device_id, kind, zone)
        return True

    def register_device(self, device_id: str, kind: str, zone: str) -> None:
        """A device (new, moved, or registered again after a removal) is live with this kind and zone."""
        dev = self.state.device(device_id, kind, zone)  # a new or returning device is shown (LiveState.device)
        dev.kind, dev.zone = kind, zone  # a move is stored and shown (DeviceState.SHOWN) without a reload
        # Its row may say removed while the hub held it live (the CLI's removal while the hub was down).
        self.db.execute("UPDATE devices SET removed_at=NULL WHERE id=?", (device_id,))

    def remove_device(self, device_id: str) -> bool:
        """Take a device out of service: off the live lists, its open alarms closed (``cleared_by =
        "device_removed"``, their tickets resolved as ``device_removed``); alarms, tickets, the audit log
        and its InfluxDB readings stay. Idempotent: the removal may arrive again (redelivery), or after the
        CLI already marked the row while the hub was down."""
        known = self.state.known(device_id) is not None
        dev = self.state.remove(device_id)
        self.alarms.clear_device(device_id)
        if (device_id, wheelchair_rule.RULE) in self.alarms.open:  # a station's stock alarm has no device id
            self.alarms.apply(Signal(wheelchair_rule.RULE, device_id, False, kind=charger.KIND.name,
                                     detail={"device_removed": True}))
        if dev is not None:
            dev.faults = frozenset()
        self.db.execute("UPDATE devices SET removed_at=COALESCE(removed_at, ?) WHERE id=?", (self.clock.now(), device_id))
        for key in [k for k in self._recent if k[0] == device_id]:
            del self._recent[key]
        if dev is not None:
            self.bus.emit("device.removed", views.device_json(self, device_id))
            log.info("device removed", extra={"device_id": device_id})
        return known

    def apply_agent_status(self, agent_id: str, payload: bytes) -> bool:
        """An edge agent's retained status. The same status delivered again (retained, at each subscribe)
        changes nothing; the empty payload (retained status deleted) forgets a decommissioned agent."""
        if not ID_RE.match(agent_id):
            raise BadInput("bad_agent_status", "agent id is not [A-Za-z0-9_-]{1,64}")
        now = self.clock.now()
        if not payload:
            return self._forget_agent(agent_id)
        data = _json(payload)
        state, ts = data.get("state"), data.get("ts")
        if state not in ("online", "offline") or isinstance(ts, bool) or not isinstance(ts, int):
            raise BadInput("bad_agent_status", "agent status must be {ts: integer, state: online|offline}")
        agent = self.state.agents.get(agent_id)
        if agent is not None and (agent.state, agent.ts) == (state, ts):
            return False
        # Arrival order, not ``ts``, decides: the Last Will carries the time the agent connected.
        if agent is None:
            agent = self.state.add_agent(AgentState(agent_id, state, ts, now, now))
        elif agent.state != state:
            agent.state, agent.since = state, now
        agent.ts, agent.seen_at = ts, now
        self._evaluate_agent(agent)
        return True

    def apply_supervisor(self, component: str, event: str, payload: bytes) -> bool:
        """make run's launcher restarted a component (``component.restarted``; a crash loop raises an alarm),
        or a restarted one runs steadily again (clears it). A redelivered notice changes nothing, and
        the notices are retained, so one arrives again at every subscribe; the empty payload is the
        launcher deleting a retained notice (centre.supervision), not news."""
        if not ID_RE.match(component):
            raise BadInput("bad_supervisor", "component is not [A-Za-z0-9_-]{1,64}")
        if not payload:
            return False
        try:
            notice = supervisor.Notice.parse(component, event, payload)
        except ValueError as exc:
            raise BadInput("bad_supervisor", str(exc)) from None
        if self._duplicate(f"supervisor-{notice.run}-{component}", event, notice.seq, 0):  # seq: one per run
            self.metrics["duplicates"] += 1
            return False
        if event == "restarted":
            self.bus.emit("component.restarted", notice.json())
            log.warning("component restarted by the launcher", extra=notice.json())
        self._raise_or_clear(supervisor.evaluate(self._context(notice=notice)))
        return True

    def _evaluate_agent(self, agent: AgentState) -> None:
        self._raise_or_clear(agents.evaluate(self._context(agent=agent)))

    def _forget_agent(self, agent_id: str) -> bool:
        if self.state.forget_agent(agent_id) is None:
            return False
        self.db.execute("DELETE FROM agents WHERE id=?", (agent_id,))
        key = (agents.source(agent_id), agents.RULE)
        if key in self.alarms.open:
            self.alarms.apply(Signal(agents.RULE, key[0], False, kind=agents.KIND, detail={"forgotten": True}))
        self.bus.emit("agent.removed", {"id": agent_id, "state": "removed"})
        return True

    # -- events about state ----------------------------------------------------------------------------

    def _on_alarm_for_state(self, change: Any) -> None:
        a = change.alarm
        dev = self.state.devices.get(a["device_id"]) if a["device_id"] else None
        if dev is not None:
            if a["state"] == "cleared":
                still_open = any(k[1] == a["type"] and (k[0] == dev.id or k[0].startswith(dev.id + ":"))
                                 for k in self.alarms.open)
                if not still_open:
                    dev.faults -= {a["type"]}
            else:
                dev.faults |= {a["type"]}
        if a["type"] == "zone_crowded" and a["zone"]:
            self.state.show_zone(a["zone"])

    # -- time ---------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Everything that happens because time passed: heartbeats, crowding durations, escalation,
        flapping holds, dispatch offers expiring, old dedup keys and events pruned."""
        with self.unit_of_work():
            self._raise_or_clear(offline.evaluate(self._context(
                devices=list(self.state.devices.values()), agents=self.state.agents.values(),
                started_at=self.started_at)))
            for agent in self.state.agents.values():
                self._evaluate_agent(agent)
            for z in self.state.zones.values():
                self._raise_or_clear(crowding.evaluate(self._context(zone=z)))  # its crowd_since is recorded
            self.alarms.tick()
            self.dispatch.tick()  # expired offers marked, then all waiting work served by priority then age
            self.screens.plan()
            self.escalation.tick()  # notify branch: next steps and reminders
            for device_id in sorted(self.silences.maintenance_changes(  # notify branch: windows open and close
                    (d.id, d.zone, d.kind) for d in self.state.devices.values())):
                self.state.show_device(device_id)  # its state is unchanged; its maintenance flag is not
            self.requests.tick()
        self.metrics["ticks"] += 1
        self.flush_screens()

    def flush_screens(self) -> None:
        """Put the screens' pending commands on the wire (after the transaction that stored them)."""
        with self.unit_of_work():
            self.screens.flush()

    def send_notice(self, devices: list[str], text: str, text_zh: str, expires_s: float, actor: str) -> list[str]:
        """An operator's notice to queue screens, audited; sent at once to the reachable ones."""
        with self.unit_of_work():
            ids = self.screens.notice(devices, text, text_zh, expires_s, actor)
            self.audit(actor, "screens.notice", ",".join(devices)[:500], {"text": text, "text_zh": text_zh,
                                                                         "expires_s": expires_s, "commands": ids})
        self.flush_screens()
        return ids

    def check_ingest(self, stalled_s: float, error: str = "") -> None:
        """Raise or clear ``ingest_stalled``. Called by the ticker whether or not the tick itself works: when
        the database cannot store the alarm, it is held in memory and pushed to the consoles now, and
        stored (raised, then cleared if ingest is back) at the first call that can write."""
        key = (ingest_rule.SOURCE, ingest_rule.RULE)
        is_open = key in self.alarms.open or self.held_alarm is not None
        ctx = RuleContext(rules=self.rules, now=self.clock.now(), open={key} if is_open else set(),
                          stalled_s=stalled_s, error=error)
        sig = next(iter(ingest_rule.evaluate(ctx)), None)
        if sig is None and (self.held_alarm is None or stalled_s <= 0):
            return
        held = self.held_alarm
        try:
            with self.unit_of_work():
                if held is not None and key not in self.alarms.open:
                    self.alarms.apply(Signal(ingest_rule.RULE, ingest_rule.SOURCE, True, kind=ingest_rule.KIND,
                                             detail={**held["detail"], "held_since": held["raised_at"]}))
                if sig is not None:
                    self.alarms.apply(sig)
        except Exception as exc:
            with contextlib.suppress(Exception):  # alarms.open may hold the rolled-back id
                self.alarms.reload_open()
            if not environmental(exc):
                raise
            if sig is not None and sig.active and held is None:
                now = iso(self.clock.now(), self.tz)
                self.held_alarm = {"id": f"held:{ingest_rule.RULE}", "type": ingest_rule.RULE,
                                   "severity": self.rules.rule(ingest_rule.RULE)["severity"],
                                   "source": ingest_rule.SOURCE, "zone": "", "device_id": "", "kind": ingest_rule.KIND,
                                   "state": "active", "raised_at": now, "updated_at": now, "acked_at": None,
                                   "acked_by": None, "cleared_at": None, "cleared_by": None, "count": 1,
                                   "flapping": False, "escalated": False, "detail": sig.detail, "held": True}
                self.bus.publish_volatile("alarm.raised", self.held_alarm)
                log.error("ingest stalled; alarm held in memory until the database can store it",
                          extra={"stalled_s": round(stalled_s, 1), "error": error})
            return
        if held is not None:
            self.held_alarm = None
            self.bus.publish_volatile("alarm.cleared", {**held, "state": "cleared", "stored": True})

    def check_broker(self, dropped_total: int | None) -> None:
        """Raise, repeat or clear ``broker_dropping`` from the broker's dropped-messages counter (None: not
        received yet). Called by the ticker."""
        if dropped_total is None:
            return
        now = self.clock.now()
        watch = dataclasses.replace(self.drop_watch)  # kept only once the alarm is stored: a failed write retries
        new = watch.observe(dropped_total, now)
        sig = next(iter(broker_rule.evaluate(self._context(drop_watch=watch, dropped_new=new))), None)
        if sig is not None:
            if sig.active:
                log.error("the broker is dropping messages: readings or records were lost",
                          extra={"dropped_new": new, "dropped_total": dropped_total})
            with self.unit_of_work():
                self.alarms.apply(sig)
        self.drop_watch = watch

    def check_system(self, name: str, track: systems_rule.Track, outcome: systems_rule.Outcome,
                     slow_ms: float = 0.0) -> None:
        """Raise or clear ``system_slow`` / ``system_down`` after a check of a hospital system (hub.systems).
        Raises when the database cannot store it; the next check gives the same signal again."""
        sigs = systems_rule.evaluate(self._context(system_check=systems_rule.Check(name, track, outcome, slow_ms)))
        self._apply_signals(sigs)

    def check_fault_rate(self) -> None:
        """Raise or clear ``fault_rate_high`` from each kind's fault rate today (hub.reliability). Called by
        the ticker every minute; a failure (database locked) is retried at the next call."""
        now = self.clock.now()
        day = dt.datetime.fromtimestamp(now, self.tz).date()
        start = dt.datetime.combine(day, dt.time(), self.tz).timestamp()
        rates = fault_rates(self.db, equipment_fault_types(self.rules.settings),
                            {d.id: d.kind for d in self.state.devices.values()}, start, start + 86400)
        sigs = reliability_rule.evaluate(self._context(fault_rates=rates))
        self._apply_signals(sigs)

    def check_satisfaction(self) -> None:
        """The satisfaction_low rule on the zones' daily scores (hub.satisfaction): opens corrective-action
        tickets and records their follow-ups. Called by the ticker every minute; idempotent (a ticket's
        streak and follow-up are acted on once); a failure (database locked) is retried at the next call."""
        sigs = satisfaction_rule.evaluate(self._context(satisfaction=self.satisfaction.zone_days()))
        if not sigs:
            return
        try:
            with self.unit_of_work():
                for sig in sigs:
                    self.satisfaction.apply(sig)
        except Exception:
            with contextlib.suppress(Exception):  # alarms.open may hold a rolled-back id
                self.alarms.reload_open()
            raise

    def _apply_signals(self, sigs: list[Signal]) -> None:
        """Apply signals computed outside a transaction (the systems' checks, the fault-rate watch), in one
        of their own. On failure (database locked) memory forgets the rolled-back alarms and the exception
        goes to the caller, whose next call gives the same signals again."""
        if not sigs:
            return
        try:
            with self.unit_of_work():
                for sig in sigs:
                    self.alarms.apply(sig)
        except Exception:
            with contextlib.suppress(Exception):  # alarms.open may hold a rolled-back id
                self.alarms.reload_open()
            raise

    def housekeeping(self) -> None:
        with self.unit_of_work():
            self.db.execute("DELETE FROM seen_records WHERE received_at < ?", (self.clock.now() - SEEN_KEEP_S,))
            self.db.execute("DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?",
                            (DEAD_LETTERS_KEEP,))
            self.screens.prune()
            service_levels.prune(self.db, self.clock.now())
            wheelchairs.prune(self.db, self.clock.now())
            self.satisfaction.prune(self.clock.now())
            self.requests.housekeeping()
            self.bus.prune()

    def apply_forecast(self, forecasts: dict[str, list[dict[str, Any]]]) -> None:
        with self.unit_of_work():
            self.forecasts = forecasts
            self.forecast_at = self.clock.now()
            self._raise_or_clear(forecast.evaluate(self._context(forecasts=forecasts, site=self.site)))
            self.bus.emit("forecast.updated", {"at": iso(self.forecast_at, self.tz), "zones": forecasts})


# What the hub does with a recorded message of a kind besides its rule families (DeviceKind.rules), keyed by
# the kinds' declarations: the hub's part of a kind, as edge/kinds.py is the edge's. (state before, record)
ON_RECORD: dict[str, Callable[[Hub, EdgeRecord, str], None]] = {
    queue_screen.KIND.name: Hub._screen_record,
    satisfaction_terminal.NAME: Hub._press_record,
}


def _json(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadInput("bad_json", "payload is not JSON") from None
    if not isinstance(data, dict):
        raise BadInput("bad_json", "payload must be a JSON object")
    return data
