"""Valid device messages and the InfluxDB points they become: the schema of docs/architecture.md.

Why here, in the shared package: the edge writes these points from live devices, and the simulator writes
the same points for a simulated history (firmware_sim/screen_history.py), so the mapping has one home that
both may import (docs/architecture.md, "Layers"). The edge's validation makes a :class:`DeviceMessage`
(edge/processors/validate.py).

Points carry the device's time: ``point_time_ns(ts, seq)``, so a replayed message overwrites its own point.
Sightings have no seq of their own; the sub-millisecond digits come from the MAC hash instead, which is
the same on a replay and differs between two phones seen in the same millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from floorops.influx import line, point_time_ns


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


EVENT_FIELDS = ("queue", "ticket", "counter", "code", "fault")


def influx_lines(msg: DeviceMessage, site: str, zone: str) -> list[str]:
    tags = {"site": site, "zone": zone, "device_id": msg.device_id}
    t = point_time_ns(msg.ts, msg.seq)
    d = msg.data
    if msg.channel == "status":
        fields: dict[str, Any] = {"state": d["state"]}
        if d.get("fw"):
            fields["fw"] = d["fw"]
        return [line("device_status", {**tags, "kind": msg.kind}, fields, t)]
    if msg.channel == "event":
        fields = {"seq": msg.seq}
        fields.update({k: d[k] for k in EVENT_FIELDS if k in d})
        return [line("device_event", {**tags, "kind": msg.kind, "event": d["event"]}, fields, t)]
    if msg.kind == "queue_screen":
        return [line("queue_screen", {**tags, "queue": d["queue"]}, {
            "waiting": d["waiting"], "serving": d["serving"], "counters_open": d["counters_open"],
            "avg_wait_s": d["avg_wait_s"], "seq": msg.seq}, t)]
    if msg.kind == "kiosk":
        return [line("kiosk", tags, {**d, "seq": msg.seq}, t)]
    if msg.kind == "wifi_probe":
        out = []
        for s in msg.sightings:
            fields = {"mac_hash": s.mac_hash, "rssi": s.rssi, "randomized": s.randomised}
            if s.channel is not None:
                fields["channel"] = s.channel
            out.append(line("wifi_sighting", tags, fields, point_time_ns(s.ts, int(s.mac_hash[:8], 16))))
        return out
    if msg.kind == "charger":
        st = d["station"]
        station_fields = {k: st[k] for k in ("status_bits", "mains_ok", "over_temperature", "ground_fault",
                                             "fan_fault", "temperature_c")}
        station_fields["online"] = True
        out = [line("charger_station", tags, station_fields, t)]
        for s in d["slots"]:
            out.append(line("charger_slot", {**tags, "slot": str(s["slot"])},
                            {k: v for k, v in s.items() if k != "slot"}, t))
        return out
    raise ValueError(f"no InfluxDB mapping for {msg.kind}/{msg.channel}")


def offline_station_line(site: str, zone: str, device_id: str, ts_ms: int) -> str:
    """A station that stopped answering: ``online=false`` so dashboards show the gap."""
    return line("charger_station", {"site": site, "zone": zone, "device_id": device_id}, {"online": False},
                point_time_ns(ts_ms, None))
