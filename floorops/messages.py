"""A valid device message, as the edge holds it after validation: one type for every kind and transport.

The edge's validation makes it (edge/processors/validate.py), a kind's declaration maps its telemetry to
InfluxDB points (floorops.kinds), and the simulator builds it for simulated history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Sighting:
    mac_hash: str
    rssi: int
    ts: int
    randomised: bool
    channel: int | None = None


@dataclass(slots=True)
class DeviceMessage:
    """One valid device message: kind, device, channel, device time, seq and the contract's fields."""

    kind: str
    device_id: str
    channel: str  # telemetry | event | status
    ts: int
    seq: int | None
    data: dict[str, Any]
    sightings: list[Sighting] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
