"""The ingest pipeline: inputs in, validated and normalised batches out, in one thread.

Every input (MQTT, Modbus, serial probes, timers) puts items on one bounded queue; this pipeline takes
them in batches, validates each against the contract, drops duplicates, corrects clocks, hashes MACs,
counts occupancy, and produces for the whole batch: InfluxDB lines, hub records, dead letters and the
MQTT acknowledgements that may be sent once the batch is durably stored. All per-device state (seq,
clock offsets, liveness, occupancy windows) is owned by this one thread, so it needs no locks.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from floorops.contract import ID_RE, ContractError
from floorops.topics import topic_kind
from floorops.influx import point_time_ns
from floorops.measurements import flow_lines, zone_occupancy_line
from floorops.site import Site
from floorops.topics import flows_topic, registry_topic, zone_occupancy_topic

from edge.deadletters import DeadLetter
from edge.kinds import edge_kind, probe_zones
from edge.metrics import EdgeMetrics
from edge.processors import normalise, validate
from edge.processors.clock import FLAG as CLOCK_FLAG
from edge.processors.clock import ClockCorrector
from edge.processors.dedup import SeqTracker, SeqVerdict
from edge.processors.flows import FlowSettings, FlowTracker
from edge.processors.occupancy import OccupancyEstimator, ZoneWindows
from edge.processors.privacy import MacHasher

log = logging.getLogger(__name__)

PROBE_SILENT_OFFLINE_MS = 30_000  # device contract: heartbeat every 10 s; offline after 30 s without
RETAINED_FLAG = "retained"  # EdgeRecord flag: the message was the broker's retained copy


# -- what the inputs put on the queue ------------------------------------------------------------

@dataclass(slots=True)
class MqttIn:
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool = False


@dataclass(slots=True)
class ProbeLine:
    port: str
    line: bytes  # from '$' to the checksum, CR LF removed


@dataclass(slots=True)
class SerialReject:
    """Framing-level rejects from a serial reader: noise between lines, over-long lines."""

    port: str
    reason: str
    message: str
    data: bytes


@dataclass(slots=True)
class ModbusRead:
    bus: str
    unit: int
    device_id: str
    header: list[int]
    slot_regs: list[int]
    ts_ms: int


@dataclass(slots=True)
class Liveness:
    """A state change the edge itself observed (three failed Modbus polls, silent probe)."""

    kind: str
    device_id: str
    state: str  # online | offline
    ts_ms: int
    source: str = ""


@dataclass(slots=True)
class Tick:
    """Timer: time to publish occupancy and to check probe heartbeats."""

    now_ms: int
    publish_occupancy: bool = True


Item = Union[MqttIn, ProbeLine, SerialReject, ModbusRead, Liveness, Tick]


@dataclass
class Batch:
    lines: list[str] = field(default_factory=list)
    records: list[tuple[str, bytes, bool]] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) of MQTT messages to acknowledge
    seq_state: list[tuple[str, str]] = field(default_factory=list)


class Pipeline:
    def __init__(self, site: Site, hasher: MacHasher, metrics: EdgeMetrics, *, clock_skew_bound_s: float,
                 occupancy_window_s: float, occupancy_rssi_min: int, estimator: OccupancyEstimator,
                 now_ms: Callable[[], int] | None = None, flows: FlowSettings | None = None,
                 flow_detection: dict[str, float] | None = None) -> None:
        self.site = site
        self.site_id = site.id
        self.kinds = site.kinds
        # The kinds whose own wire format the serial lines and the Modbus reads are (the probe's line, the
        # charger's register map): declared by the kinds (their transports), not named here.
        self.serial_kind = self.kinds.reader("serial") or ""
        self.modbus_kind = self.kinds.reader("modbus") or ""
        self.hasher = hasher
        self.metrics = metrics
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.clock = ClockCorrector(clock_skew_bound_s, self.now_ms)
        self.use_device_time = clock_skew_bound_s <= 0
        self.seqs = SeqTracker()
        self.windows = ZoneWindows(occupancy_window_s, occupancy_rssi_min)
        self.window_s = occupancy_window_s
        self.estimator = estimator
        self.flows = FlowTracker(flows or FlowSettings(rssi_min=occupancy_rssi_min), flow_detection,
                                 {z.id: z.entered_via for z in site.zones if z.entered_via})
        self._key_day: datetime.date | None = None  # the hashing key's day: tracks are dropped when it changes
        self._people = 0.0  # estimated people and burnt-in phones summed over the occupancy publications of the
        self._universal = 0  # current flow interval: how many people one followed phone stands for ...
        self._pooled_people = 0.0  # ... and the same pooled over the closed intervals (FlowSettings.scale_halflife_s)
        self._pooled_universal = 0.0
        self.zones: dict[str, str] = {d.id: d.zone for d in site.devices}
        self.probe_zones: set[str] = probe_zones(site.devices)
        # What follows storing for each kind's accepted messages (edge/kinds.py), picked once here; a kind
        # without special handling (a site's plugin kind) is forwarded to the hub as it came.
        self.handlers: dict[str, Callable[[validate.DeviceMessage, str, Batch], None]] = {
            name: self._handler(name) for name in self.kinds.names}
        self.serial_probe_seen: dict[str, int] = {}  # probe id -> edge ms of the last line
        self.serial_probe_online: dict[str, bool] = {}
        self.zone_heard: dict[str, int] = {}  # zone -> edge ms of its probes' last report (even an empty one)
        self.registry_prefix = registry_topic(self.site_id, "")
        self._messages_in: dict[tuple[str, str], int] = {}  # (kind, transport) -> count, this batch

    def _count_in(self, kind: str, transport: str) -> None:
        """Tallied per batch and added to the metric once: a labelled ``inc`` per message cost ~1 us."""
        key = (kind, transport)
        self._messages_in[key] = self._messages_in.get(key, 0) + 1

    def restore(self, seq_state: list[tuple[str, str]]) -> None:
        now = self.now_ms()
        for device_id, state in seq_state:
            self.seqs.load(device_id, state, now)

    # -- batch ---------------------------------------------------------------------------------------

    def process(self, items: list[Item]) -> Batch:
        b = Batch()
        self.hasher.rotate_if_needed()
        if self.hasher.day != self._key_day:
            if self._key_day is not None:
                self.flows.forget()
            self._key_day = self.hasher.day
        for item in items:
            try:
                self._one(item, b)
            except Exception as exc:  # noqa: BLE001 - a bug on one input must not stop the agent
                log.exception("unexpected error on one input")
                src = getattr(item, "topic", None) or getattr(item, "port", None) or type(item).__name__
                payload = getattr(item, "payload", None) or getattr(item, "line", b"") or b""
                self._reject(b, str(src), "internal_error", type(exc).__name__, payload)
            if isinstance(item, MqttIn) and item.qos > 0:
                b.acks.append((item.mid, item.qos))
        b.seq_state = self.seqs.take_dirty()
        for (kind, transport), n in self._messages_in.items():
            self.metrics.messages_in.inc(n, kind=kind, transport=transport)
        self._messages_in.clear()
        return b

    def _reject(self, b: Batch, source: str, reason: str, message: str, payload: bytes) -> None:
        self.metrics.rejected.inc(reason=reason)
        b.deadletters.append(DeadLetter.make(source, reason, message, payload))

    def _one(self, item: Item, b: Batch) -> None:
        if isinstance(item, MqttIn):
            if item.topic.startswith(self.registry_prefix):
                self._registry(item)
                return
            kind = topic_kind(item.topic)
            self._count_in(kind if kind in self.kinds.mqtt_names else "unknown", "mqtt")
            try:
                msg = validate.from_mqtt(item.topic, item.payload, self.site_id, self.hasher.hash, self.kinds)
            except ContractError as exc:
                self._reject(b, item.topic, exc.reason, exc.message, item.payload)
                return
            if item.retain:
                # The broker's copy of a device's last status, replayed on (re)subscription: memory, not news.
                msg.flags.append(RETAINED_FLAG)
            self._accept(msg, b)
        elif isinstance(item, ProbeLine):
            self._count_in(self.serial_kind, "serial")
            try:
                msg = validate.from_probe_line(item.line, self.hasher.hash, self.serial_kind)
            except ContractError as exc:
                self._reject(b, f"serial:{item.port}", exc.reason, exc.message, item.line)
                return
            self._serial_probe_alive(msg.device_id, msg.ts, b)
            if msg.channel == "heartbeat":
                # A USB probe's heartbeat is its sign of life for the hub (every 10 s).
                zone = self.zones.get(msg.device_id, "")
                self._record(validate.DeviceMessage(self.serial_kind, msg.device_id, "telemetry", msg.ts, None,
                                                    {"sightings": 0, "uptime_s": msg.data.get("uptime_s", 0)}), zone, b)
                return
            self._accept(msg, b)
        elif isinstance(item, SerialReject):
            self._reject(b, f"serial:{item.port}", item.reason, item.message, item.data)
        elif isinstance(item, ModbusRead):
            self._count_in(self.modbus_kind, "modbus")
            try:
                msg = validate.from_modbus(item.device_id, item.header, item.slot_regs, item.ts_ms, self.modbus_kind)
            except ContractError as exc:
                raw = json.dumps({"header": item.header, "slots": item.slot_regs}).encode()
                self._reject(b, f"modbus:{item.bus}/{item.unit}", exc.reason, exc.message, raw)
                return
            self._accept(msg, b)
        elif isinstance(item, Liveness):
            self._status(item.kind, item.device_id, item.state, item.ts_ms, b)
        elif isinstance(item, Tick):
            self._check_probes(item.now_ms, b)
            if item.publish_occupancy:
                self._occupancy(item.now_ms, b)
                self._flows(item.now_ms, b)

    # -- accepted messages ---------------------------------------------------------------------------

    def _accept(self, msg: validate.DeviceMessage, b: Batch) -> None:
        in_order = False
        kind = self.kinds.get(msg.kind)
        if msg.seq is not None and kind.device_seq:
            before = self.seqs.devices.get(msg.device_id)
            previous_ts = before.ts if before is not None else 0
            r = self.seqs.check(msg.device_id, msg.seq, msg.ts)
            if r.verdict is SeqVerdict.DUPLICATE:
                self.metrics.duplicates.inc(kind=msg.kind)
                return
            if r.gap:
                self.metrics.gaps.inc(r.gap, device_id=msg.device_id)
            if r.verdict is SeqVerdict.LATE:
                self.metrics.late.inc(kind=msg.kind)
            elif r.verdict is SeqVerdict.RESET:
                log.info("device restarted its seq counter", extra={"device_id": msg.device_id, "seq": msg.seq})
            if previous_ts:
                in_order = ((r.verdict is SeqVerdict.NEW and msg.ts >= previous_ts)
                            or (r.verdict is SeqVerdict.LATE and msg.ts <= previous_ts))
        ts, corrected = self.clock.correct(msg.device_id, msg.ts, in_order)
        if corrected:
            offset = ts - msg.ts
            msg.ts = ts
            msg.flags.append(CLOCK_FLAG)
            for s in msg.sightings:
                s.ts += offset
            self.metrics.clock_corrected.inc(kind=msg.kind)
        zone = self.zones.get(msg.device_id, "")
        b.lines.extend(normalise.influx_lines(msg, self.site_id, zone, kind))
        self.handlers.get(msg.kind, self._record)(msg, zone, b)

    def _handler(self, kind: str) -> Callable[[validate.DeviceMessage, str, Batch], None]:
        handling = edge_kind(kind)
        if handling.sightings_channel:
            return self._sightings
        if handling.queue_readings:
            return self._queue_reading
        return self._record

    def _sightings(self, msg: validate.DeviceMessage, zone: str, b: Batch) -> None:
        """A probe's sightings feed its zone's window; the hub hears each probe to know it is alive: a count,
        never a MAC or a hash."""
        if msg.channel == "status":
            self._record(msg, zone, b)
            return
        if msg.channel != edge_kind(msg.kind).sightings_channel:
            return
        if zone:
            self.zone_heard[zone] = self.now_ms()
        for s in msg.sightings:
            self.windows.observe(zone, s.mac_hash, s.ts, s.rssi, s.randomised)
            self.flows.observe(zone, s.mac_hash, s.ts, s.rssi, s.randomised)
        self._record(validate.DeviceMessage(msg.kind, msg.device_id, msg.channel, msg.ts, msg.seq,
                                            {"sightings": len(msg.sightings)}, flags=msg.flags), zone, b)

    def _queue_reading(self, msg: validate.DeviceMessage, zone: str, b: Batch) -> None:
        """A queue screen's telemetry and ticket events feed its zone's queue features, then go to the hub."""
        if msg.channel != "status":
            self.windows.observe_queue(zone, msg.device_id, msg.ts, msg.data)
        self._record(msg, zone, b)

    def _record(self, msg: validate.DeviceMessage, zone: str, b: Batch) -> None:
        """The message as an EdgeRecord for the hub (never retained)."""
        topic, payload = normalise.hub_record(msg, self.site_id, zone)
        b.records.append((topic, payload, False))

    def _status(self, kind: str, device_id: str, state: str, ts_ms: int, b: Batch) -> None:
        zone = self.zones.get(device_id, "")
        msg = validate.DeviceMessage(kind, device_id, "status", ts_ms, None, {"state": state, "source": "edge"})
        b.lines.extend(normalise.influx_lines(msg, self.site_id, zone, self.kinds.get(kind)))
        if state == "offline":
            b.lines.extend(normalise.offline_lines(self.kinds.get(kind), self.site_id, zone, device_id, ts_ms))
        self._record(msg, zone, b)
        log.info("device liveness", extra={"device_id": device_id, "kind": kind, "state": state})

    def _serial_probe_alive(self, probe_id: str, device_ts: int, b: Batch) -> None:
        self.serial_probe_seen[probe_id] = self.now_ms()
        if not self.serial_probe_online.get(probe_id):
            self.serial_probe_online[probe_id] = True
            self._status(self.serial_kind, probe_id, "online", self.now_ms(), b)

    def _check_probes(self, now_ms: int, b: Batch) -> None:
        for probe_id, seen in self.serial_probe_seen.items():
            if self.serial_probe_online.get(probe_id) and now_ms - seen > PROBE_SILENT_OFFLINE_MS:
                self.serial_probe_online[probe_id] = False
                self._status(self.serial_kind, probe_id, "offline", now_ms, b)

    def _occupancy(self, now_ms: int, b: Batch) -> None:
        at = self.windows.latest_ms if self.use_device_time and self.windows.latest_ms else now_ms
        window_ms = int(self.window_s * 1000)
        people = 0.0
        for zone in sorted(self.probe_zones | set(self.windows.zones)):
            universal, randomised = self.windows.counts(zone, at)
            if self.now_ms() - self.zone_heard.get(zone, -window_ms - 1) > window_ms:
                continue  # no probe of the zone reported in the window: no data is not "nobody there"
            occ = round(self.estimator.predict_zone(zone, self.windows.features(zone, at)), 1)
            devices = universal + randomised
            people += occ
            b.lines.append(zone_occupancy_line(self.site_id, zone, float(occ), devices, point_time_ns(at, None)))
            payload = json.dumps({"v": 1, "ts": at, "zone": zone, "occupancy": occ, "devices": devices,
                                  "window_s": self.window_s}, separators=(",", ":")).encode()
            b.records.append((zone_occupancy_topic(self.site_id, zone), payload, False))
            self.metrics.occupancy_published.inc()
        present = self.flows.present(at, window_ms)
        if people and present:  # how many people one followed phone stands for, over the flow interval
            self._people += people
            self._universal += present

    def _scale(self, closing: int) -> float:
        """People per followed phone for the ``closing`` intervals about to close: the occupancy over the
        followed phones since the last close, pooled with the earlier intervals' (weights halving every
        ``scale_halflife_s``; each interval's own figure is off by up to ~20 % in a given hour)."""
        s = self.flows.s
        if closing:
            decay = 0.5 ** (s.interval_s * closing / s.scale_halflife_s) if s.scale_halflife_s else 0.0
            self._pooled_people = self._pooled_people * decay + self._people
            self._pooled_universal = self._pooled_universal * decay + self._universal
            self._people, self._universal = 0.0, 0
        if self._pooled_universal:
            return self._pooled_people / self._pooled_universal
        return 1.0 / self.estimator.phone_ratio

    def _flows(self, now_ms: int, b: Batch) -> None:
        """Closed flow intervals: points for InfluxDB and one record each for the hub (aggregates only)."""
        at = self.windows.latest_ms if self.use_device_time and self.windows.latest_ms else now_ms
        closed = self.flows.close(at, self._scale(self.flows.due(at)))
        if not closed:
            return
        for interval in closed:
            b.lines.extend(flow_lines(self.site_id, interval))
            b.records.append((flows_topic(self.site_id), json.dumps(interval, separators=(",", ":")).encode(), False))
            self.metrics.flows_published.inc()

    # -- registry (hub -> edge) ----------------------------------------------------------------------

    def _registry(self, item: MqttIn) -> None:
        device_id = item.topic[len(self.registry_prefix):]
        if not ID_RE.match(device_id):
            return
        if not item.payload:
            self.zones.pop(device_id, None)
            return
        try:
            d: dict[str, Any] = json.loads(item.payload)
            zone, kind = str(d["zone"]), str(d.get("kind", ""))
        except (ValueError, KeyError, TypeError):
            log.warning("registry entry ignored: not {id, kind, zone}", extra={"device_id": device_id})
            return
        self.zones[device_id] = zone
        if edge_kind(kind).sightings_channel:
            self.probe_zones.add(zone)
