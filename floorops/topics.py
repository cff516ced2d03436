"""Every MQTT topic FloorOps uses: built, parsed, filtered and turned into broker ACL patterns here only.

Devices publish under ``hospital/<site>/<kind>/<device_id>/<channel>`` (docs/device-contract.md; what the
payloads hold is floorops.contract). FloorOps' components talk under ``floorops/<site>/...``; no device may
read or write there (see the broker ACL in floorops.dynsec). No other module splits a topic at its ``/``.

| topic | from -> to | payload |
|---|---|---|
| ``floorops/<site>/edge/<kind>/<device_id>/<channel>`` | edge -> hub | :class:`EdgeRecord` JSON, QoS 1 |
| ``floorops/<site>/records/<agent_id>/<stream>`` | edge -> hub | many of the records above in one message (below) |
| ``floorops/<site>/zone/<zone>/occupancy`` | edge -> hub | ``{"v","ts","zone","occupancy","devices","window_s"}`` QoS 1 |
| ``floorops/<site>/flows/interval`` | edge -> hub | one interval's flow aggregates (edge/processors/flows.py), QoS 1 |
| ``floorops/<site>/agent/<agent_id>/status`` | edge -> hub | retained ``{"v","ts","state"}``, Last Will offline |
| ``floorops/<site>/registry/<device_id>`` | hub CLI -> edge, hub | retained ``{"id","kind","zone"}``; empty deletes |
| ``floorops/<site>/supervisor/<component>/<event>`` | launcher -> hub | a child restarted or ran steady, QoS 1, retained (the latest per component); empty deletes |
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Collection, Final

from floorops.contract import CHANNELS, ID_RE, ContractError

ROOT: Final = "floorops"
DEVICE_ROOT: Final = "hospital"


# -- devices: hospital/<site>/<kind>/<device_id>/<channel> ---------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """``hospital/<site>/<kind>/<device_id>/<channel>``."""

    site: str
    kind: str
    device_id: str
    channel: str

    def __str__(self) -> str:
        return device_topic(self.site, self.kind, self.device_id, self.channel)

    @property
    def prefix(self) -> str:
        """Everything under which this device may publish."""
        return device_topic_prefix(self.site, self.kind, self.device_id)

    @classmethod
    def levels(cls, topic: str) -> "DeviceTopic | None":
        """The five levels of a device topic, unchecked (None when there are not five under ``hospital/``):
        for tests and tools that sort topics; input is checked with :func:`parse_device_topic`."""
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != DEVICE_ROOT:
            return None
        return cls(parts[1], parts[2], parts[3], parts[4])


def device_topic(site: str, kind: str, device_id: str, channel: str) -> str:
    return f"{DEVICE_ROOT}/{site}/{kind}/{device_id}/{channel}"


def device_topic_prefix(site: str, kind: str, device_id: str) -> str:
    return f"{DEVICE_ROOT}/{site}/{kind}/{device_id}/"


def device_publish_pattern(site: str, kind: str, device_id: str) -> str:
    """The ACL pattern of everything one device may publish (floorops.dynsec)."""
    return device_topic_prefix(site, kind, device_id) + "#"


# The downlink (docs/device-contract.md, "Commands to queue screens"): the one topic a device reads. It is
# not one of CHANNELS, which are what devices send: the edge never accepts a message on it.
COMMAND_CHANNEL: Final = "cmd"


def command_topic(site: str, kind: str, device_id: str) -> str:
    """Where the hub sends one device its commands; only that device may read it (floorops.dynsec)."""
    return f"{DEVICE_ROOT}/{site}/{kind}/{device_id}/{COMMAND_CHANNEL}"


def command_filter(site: str, kind: str = "+") -> str:
    """Every device's command topic (of one kind, or of all kinds with the default)."""
    return f"{DEVICE_ROOT}/{site}/{kind}/+/{COMMAND_CHANNEL}"


def device_filter(site: str, kind: str, channel: str = "") -> str:
    """Every device of ``kind``: all its channels, or one channel of every such device."""
    return f"{DEVICE_ROOT}/{site}/{kind}/+/{channel}" if channel else f"{DEVICE_ROOT}/{site}/{kind}/#"


def site_devices_filter(site: str) -> str:
    """Every device topic of ``site`` (the edge's subscription and broker ACL)."""
    return f"{DEVICE_ROOT}/{site}/#"


def topic_kind(topic: str) -> str:
    """The kind level of a device topic, '' when there is none: cheap, for counting before validation."""
    parts = topic.split("/", 3)
    return parts[2] if len(parts) > 3 else ""


def parse_device_topic(topic: str, kinds: Collection[str]) -> DeviceTopic:
    """The topic's levels, checked (a :class:`ContractError` ``bad_topic`` otherwise); ``kinds`` are the kinds
    that may publish over MQTT (floorops.kinds.KindRegistry.mqtt_names)."""
    t = DeviceTopic.levels(topic)
    if t is None:
        raise ContractError("bad_topic", f"topic {topic!r} is not hospital/<site>/<kind>/<device_id>/<channel>")
    if not ID_RE.match(t.site):
        raise ContractError("bad_topic", f"site {t.site!r} is not [A-Za-z0-9_-]{{1,64}}")
    if t.kind not in kinds:
        raise ContractError("bad_topic", f"kind {t.kind!r} is not one of {', '.join(kinds)}")
    if not ID_RE.match(t.device_id):
        raise ContractError("bad_topic", f"device id {t.device_id!r} is not [A-Za-z0-9_-]{{1,64}}")
    if t.channel not in CHANNELS:
        raise ContractError("bad_topic", f"channel {t.channel!r} is not one of {', '.join(CHANNELS)}")
    return t


# -- FloorOps' own: floorops/<site>/<section>/... ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InternalTopic:
    """A topic under ``floorops/<site>/<section>/...`` split once: the levels after the section in ``rest``.
    Every reader of FloorOps' own topics parses them here, not with its own ``split("/")``."""

    site: str
    section: str
    rest: tuple[str, ...]

    @classmethod
    def parse(cls, topic: str) -> "InternalTopic | None":
        """None when ``topic`` is not under ``floorops/<site>/<section>``."""
        parts = topic.split("/")
        if len(parts) < 3 or parts[0] != ROOT:
            return None
        return cls(parts[1], parts[2], tuple(parts[3:]))


def site_filter(site: str) -> str:
    """Every internal topic of ``site`` (the edge's and the hub's broker ACLs, floorops.dynsec)."""
    return f"{ROOT}/{site}/#"


def shared_subscription_pattern(topic_filter: str) -> str:
    """The ACL pattern of a shared subscription (``$share/<any group>/<filter>``) to ``topic_filter``."""
    return f"$share/+/{topic_filter}"


def edge_record_topic(site: str, kind: str, device_id: str, channel: str) -> str:
    return f"{ROOT}/{site}/edge/{kind}/{device_id}/{channel}"


def edge_record_filter(site: str, channel: str) -> str:
    """Every device's edge records of one channel (telemetry, event, status)."""
    return f"{ROOT}/{site}/edge/+/+/{channel}"


def section_filter(site: str, section: str) -> str:
    """Everything under ``floorops/<site>/<section>/`` (zone, registry, agent, supervisor, ...)."""
    return f"{ROOT}/{site}/{section}/#"


def zone_occupancy_topic(site: str, zone: str) -> str:
    return f"{ROOT}/{site}/zone/{zone}/occupancy"


def flows_topic(site: str) -> str:
    """The edge's patient-flow aggregates, one message per closed interval (never a per-phone value)."""
    return f"{ROOT}/{site}/flows/interval"


def agent_status_topic(site: str, agent_id: str) -> str:
    return f"{ROOT}/{site}/agent/{agent_id}/status"


def registry_topic(site: str, device_id: str) -> str:
    return f"{ROOT}/{site}/registry/{device_id}"


def registry_filter(site: str) -> str:
    """Every device's registry entry (the registry publisher's ACL, floorops.dynsec)."""
    return section_filter(site, "registry")


# -- supervision (make run's launcher) ------------------------------------------------------------------
# The launcher restarts a crashed child and says so here, QoS 1: if the hub is the one that crashed, the
# broker keeps the message for the hub's persistent session. ``restarted`` after each restart, ``steady``
# once a restarted child has run long enough for its backoff to reset.

SUPERVISOR_EVENTS = ("restarted", "steady")


def supervisor_topic(site: str, component: str, event: str) -> str:
    return f"{ROOT}/{site}/supervisor/{component}/{event}"


def supervisor_filter(site: str) -> str:
    return section_filter(site, "supervisor")


def parse_supervisor_topic(topic: str) -> tuple[str, str] | None:
    """``(component, event)`` of a supervisor topic, or None if ``topic`` is not one."""
    t = InternalTopic.parse(topic)
    if t is None or t.section != "supervisor" or len(t.rest) != 2:
        return None
    component, event = t.rest
    if not ID_RE.match(component) or event not in SUPERVISOR_EVENTS:
        return None
    return component, event


# -- record batches ---------------------------------------------------------------------------------
#
# Publishing one QoS 1 message per record costs a Python MQTT client about 40 us of CPU on each side
# (docs/benchmarks.md), more than validating the record. So the edge sends the records of one ingest
# batch as one message: a line per record, ``<record topic> TAB <record payload>``, joined by LF. Payloads
# are compact JSON, which never holds a raw TAB or LF. Records keep their own topics inside the batch, so
# the hub applies them exactly as if they had come one by one (same dedup, same rules).
#
# Two streams, so that a fault never waits behind a flood of readings: ``priority`` carries devices'
# events and status records, ``stream`` everything else; the hub reads each with its own session.

RECORD_STREAMS = ("priority", "stream")


def records_topic(site: str, agent_id: str, stream: str) -> str:
    return f"{ROOT}/{site}/records/{agent_id}/{stream}"


def records_filter(site: str, stream: str) -> str:
    return f"{ROOT}/{site}/records/+/{stream}"


def record_stream(topic: str) -> str:
    """Which stream a record's topic belongs to: devices' events and status go first."""
    t = InternalTopic.parse(topic)
    urgent = t is not None and t.section == "edge" and len(t.rest) == 3 and t.rest[2] in ("event", "status")
    return "priority" if urgent else "stream"


def encode_records(records: list[tuple[str, bytes]]) -> bytes:
    return b"\n".join(topic.encode() + b"\t" + payload for topic, payload in records)


def is_records_topic(topic: str) -> bool:
    t = InternalTopic.parse(topic)
    return t is not None and t.section == "records" and len(t.rest) == 2


def relaying_agent(topic: str) -> str:
    """The edge agent whose records batch ``topic`` is (``records_topic``), or '' for any other topic."""
    t = InternalTopic.parse(topic)
    if t is None or t.section != "records" or len(t.rest) != 2:
        return ""
    return t.rest[0] if ID_RE.match(t.rest[0]) else ""


def expand(topic: str, payload: bytes) -> list[tuple[str, bytes]]:
    """A received message as the records it carries: itself, or each line of a batch.

    A batch line without a TAB is passed on under the batch's own topic, which the hub refuses and
    counts as a bad topic; the good lines around it are kept."""
    if not is_records_topic(topic):
        return [(topic, payload)]
    out: list[tuple[str, bytes]] = []
    for line in payload.split(b"\n"):
        if not line:
            continue
        t, sep, p = line.partition(b"\t")
        try:
            out.append((t.decode(), p) if sep else (topic, line))
        except UnicodeDecodeError:
            out.append((topic, line))
    return out


@dataclass(slots=True)
class EdgeRecord:
    """One validated, normalised device message as the edge hands it to the hub.

    ``ts`` is the device's time (epoch ms), corrected when its clock was out of bounds (then
    ``flags`` holds ``"clock_corrected"``). ``data`` holds the contract's fields for the kind and
    channel, with no raw MAC ever (probe sightings are summarised as zone occupancy instead).
    """

    device_id: str
    kind: str
    channel: str
    ts: int
    seq: int | None
    data: dict[str, Any]
    zone: str = ""
    site: str = ""
    flags: list[str] = field(default_factory=list)
    v: int = 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> "EdgeRecord":
        d = json.loads(payload)
        return cls(**{k: d[k] for k in cls.__slots__ if k in d})
