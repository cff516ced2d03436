"""What every simulated device shares: identity, seq, its own random stream, faults, bad input.

Devices are pure: given the virtual time and the hospital's state they decide what to send and hand
it to an :class:`Emitter` (MQTT publisher, serial line, or a test's recorder). That keeps a whole day
of device traffic deterministic under a seed and testable without a broker.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from firmware_sim.devices.hearing import Hearing
from firmware_sim.faults import NO_FAULTS, FaultCatalog, FaultSpec
from floorops import contract
from floorops.kinds import BUILTIN, DeviceKind
from floorops.site import Device
from floorops.topics import device_topic

log = logging.getLogger(__name__)

FIRMWARE = "1.4.2"
CLOCK_SKEW_MS = 10 * 60 * 1000


class Emitter(Protocol):
    """Where device output goes."""

    def mqtt(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> bool | None:
        """False: the device had no broker connection and lost the message (no offline queue in firmware)."""

    def serial(self, device_id: str, data: bytes) -> None: ...

    def power(self, device_id: str, on: bool, ts_ms: int) -> None: ...


@dataclass
class ActiveFault:
    name: str
    since_ms: int
    repair_ms: int | None  # when the technician clears it (None: only by hand)


class DeviceSim:
    """A device's identity, fault state and deterministic random stream. The engine gives it its kind's
    declaration and the fault catalogue (``declaration``, ``catalog``) when it builds it."""

    period_ms: int = 30_000

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter) -> None:
        self.device = device
        self.site_id = site_id
        self.rng = rng
        self.emitter = emitter
        self.faults: dict[str, ActiveFault] = {}
        self.pending: list[str] = []  # one-shot bad input armed for the next message
        self.powered = True
        self.sent = 0  # messages handed to the device's connection (or line)
        self.unsent = 0  # messages lost on the device because it had no connection (the seq is used up)
        # When the technician will clear a fault the device raised itself (set by the engine).
        self.repair_due: Callable[[int], int | None] = lambda now_ms: None
        # What the device's messages are checked against (a simulator bug if one fails), and its faults.
        self.declaration: DeviceKind | None = BUILTIN.get(device.kind) if device.kind in BUILTIN else None
        self.catalog: FaultCatalog = NO_FAULTS

    @property
    def id(self) -> str:
        return self.device.id

    @property
    def transport(self) -> str:
        return self.device.transport

    def has(self, fault: str) -> bool:
        return fault in self.faults

    # Faults ----------------------------------------------------------------------------------

    def inject(self, name: str, now_ms: int, repair_ms: int | None) -> None:
        """Start a fault (persistent) or arm one (bad input); ``clear`` repairs everything."""
        spec = self.catalog.check(name, self.device.kind, self.transport)
        if spec is None:
            for f in list(self.faults):
                self.clear(f, now_ms)
            self.pending.clear()
            return
        if not spec.persistent:
            self.pending.append(name)
            return
        if name in self.faults:
            return
        self.faults[name] = ActiveFault(name, now_ms, repair_ms)
        log.info("fault", extra={"device": self.id, "fault": name})
        self.on_fault(name, now_ms)

    def clear(self, name: str, now_ms: int) -> None:
        if self.faults.pop(name, None) is None:
            return
        log.info("fault cleared", extra={"device": self.id, "fault": name})
        self.on_clear(name, now_ms)

    def repairs_due(self, now_ms: int) -> None:
        """The technician clears what is due."""
        for f in list(self.faults.values()):
            if f.repair_ms is not None and now_ms >= f.repair_ms:
                self.clear(f.name, now_ms)

    def on_fault(self, name: str, now_ms: int) -> None:
        """Kind-specific reaction to a new persistent fault."""
        if name in ("power_loss", "probe_offline"):
            self.set_power(False, now_ms)

    def on_clear(self, name: str, now_ms: int) -> None:
        if name in ("power_loss", "probe_offline") and not (self.has("power_loss") or self.has("probe_offline")):
            self.set_power(True, now_ms)

    def set_power(self, on: bool, now_ms: int) -> None:
        self.powered = on
        self.emitter.power(self.id, on, self.clock(now_ms))

    def clock(self, now_ms: int) -> int:
        """The device's own clock: the virtual time, unless it is skewed."""
        return now_ms + (CLOCK_SKEW_MS if self.has("clock_skew") else 0)

    # Time ------------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Periodic work (telemetry, heartbeats)."""

    def minute(self, now_ms: int) -> None:
        """Once a virtual minute, after the patient flow moved."""


class MqttDeviceSim(DeviceSim):
    """JSON over MQTT: header (v, ts, seq), status with Last Will, bad input on telemetry."""

    telemetry_qos = 1  # docs/device-contract.md: QoS 1 except Wi-Fi probes (raw MACs), QoS 0

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.seq = int(rng.integers(0, 1000))
        self._held: bytes | None = None  # out-of-order: a telemetry message kept back

    def topic(self, channel: str) -> str:
        return device_topic(self.site_id, self.device.kind, self.id, channel)

    def status_payload(self, state: str, now_ms: int) -> bytes:
        return json.dumps({"v": 1, "ts": self.clock(now_ms), "state": state, "fw": FIRMWARE}).encode()

    def _header(self, now_ms: int) -> dict[str, Any]:
        self.seq = (self.seq + 1) % contract.SEQ_MODULUS
        return {"v": contract.CONTRACT_VERSION, "ts": self.clock(now_ms), "seq": self.seq}

    def _publish(self, channel: str, payload: bytes, qos: int) -> None:
        if self.emitter.mqtt(self.id, self.topic(channel), payload, False, qos) is False:
            self.unsent += 1
        else:
            self.sent += 1

    def send_event(self, now_ms: int, body: dict[str, Any]) -> None:
        if not self.powered:
            return
        msg = self._header(now_ms) | body
        payload = json.dumps(msg, separators=(",", ":")).encode()
        if self.declaration is not None:
            self.declaration.validate("event", msg)  # a simulator bug if this raises
        self._publish("event", payload, 1)

    def send_telemetry(self, now_ms: int, body: dict[str, Any]) -> None:
        if not self.powered:
            return
        msg = self._header(now_ms) | body
        if self.declaration is not None:
            self.declaration.validate("telemetry", msg)
        bad = self.pending.pop(0) if self.pending else None
        if bad is not None:
            log.info("bad input", extra={"device": self.id, "fault": bad})
        if bad == "malformed_json":
            text = json.dumps(msg, separators=(",", ":"))
            payload = text[: max(1, len(text) // 2)].encode()
        elif bad == "wrong_type":
            payload = json.dumps(_spoil(msg, "type")).encode()
        elif bad == "out_of_range":
            payload = json.dumps(_spoil(msg, "range")).encode()
        else:
            payload = json.dumps(msg, separators=(",", ":")).encode()
        if bad == "out_of_order_seq":
            self._held = payload
            return
        self._publish("telemetry", payload, self.telemetry_qos)
        if bad == "duplicate_seq":
            self._publish("telemetry", payload, self.telemetry_qos)
        if self._held is not None:
            held, self._held = self._held, None
            self._publish("telemetry", held, self.telemetry_qos)


# The simulated device of one transport: (device, site id, its rng, the emitter, what a probe there hears).
DeviceFactory = Callable[[Device, str, np.random.Generator, Emitter, Hearing], DeviceSim]


def plain(cls: Callable[[Device, str, np.random.Generator, Emitter], DeviceSim]) -> DeviceFactory:
    """The factory of a device class that hears no phones (all but the probes)."""
    return lambda device, site_id, rng, emitter, hearing: cls(device, site_id, rng, emitter)


@dataclass(frozen=True)
class SimModel:
    """The simulator's model of one kind, its one registration (``SIM`` in firmware_sim/devices/<kind>.py,
    or beside a plugin's ``KIND``): the simulated device on each transport, and the kind's own faults
    (firmware_sim.faults adds the generic ones)."""

    kind: str
    models: Mapping[str, DeviceFactory]
    faults: tuple[FaultSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))


def _spoil(msg: dict[str, Any], how: str) -> dict[str, Any]:
    """A copy of ``msg`` with its first reading made a string (type) or impossible (range)."""
    out = json.loads(json.dumps(msg))
    if "sightings" in out:
        if not out["sightings"]:
            out["sightings"] = [{"mac": "02:00:00:00:00:01", "rssi": -60, "ts": out["ts"]}]
        s = out["sightings"][0]
        s["rssi"] = str(s["rssi"]) if how == "type" else 20
        return out
    for key, value in out.items():
        if key in ("v", "ts", "seq") or isinstance(value, (str, bool)):
            continue
        out[key] = str(value) if how == "type" else -1
        return out
    out["seq"] = str(out["seq"]) if how == "type" else -1
    return out
