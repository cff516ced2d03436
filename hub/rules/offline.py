"""Device offline: the device's own status (Last Will, or the edge's liveness for serial devices), or no
message for longer than its kind's heartbeat timeout. Any message from the device brings it back."""

from __future__ import annotations

from typing import Container, Iterable

from floorops.topics import EdgeRecord
from hub.rules.base import Signal, device_signal
from hub.rules.config import RuleSet
from hub.state import DeviceState


def signals(rec: EdgeRecord, rules: RuleSet, open_: Container[tuple[str, str]] = ()) -> list[Signal]:
    if rec.channel == "status" and rec.data.get("state") == "offline":
        return [device_signal(rec, "device_offline", True, reason="status")]
    if (rec.device_id, "device_offline") in open_:
        return [device_signal(rec, "device_offline", False)]
    return []


def heartbeat(devices: Iterable[DeviceState], now: float, started_at: float, rules: RuleSet) -> list[Signal]:
    """Devices silent for longer than their timeout; none in the first ``startup_grace_s`` after a start."""
    rule = rules.rule("device_offline")
    if now - started_at < rule["startup_grace_s"]:
        return []
    out = []
    for d in devices:
        timeout = rule["timeout_s"].get(d.kind)
        if not timeout or d.last_seen is None or "device_offline" in d.faults:
            continue
        if now - d.last_seen > timeout:
            out.append(Signal("device_offline", d.id, True, device_id=d.id, kind=d.kind, zone=d.zone,
                              detail={"reason": "heartbeat", "silent_s": round(now - d.last_seen, 1)}))
    return out
