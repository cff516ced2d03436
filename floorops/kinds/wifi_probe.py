"""Wi-Fi probes: the phones they hear (MAC, RSSI), over MQTT or a USB serial line (NMEA-style).

A probe's telemetry never leaves the edge as it came: the MACs are keyed-hashed there (edge.privacy), the
sightings feed the occupancy estimate, and the hub hears only a count per message."""

from __future__ import annotations

from typing import Any, Final

from floorops.contract import TS_MAX_MS, TS_MIN_MS, ContractError, integer, normalise_mac, require
from floorops.influx import line, point_time_ns
from floorops.kinds.base import DeviceKind
from floorops.messages import DeviceMessage

MAX_SIGHTINGS: Final = 10_000


def telemetry(p: dict[str, Any]) -> dict[str, Any]:
    raw = require(p, "sightings")
    if not isinstance(raw, list):
        raise ContractError("wrong_type", "field 'sightings' must be a list")
    if len(raw) > MAX_SIGHTINGS:
        raise ContractError("out_of_range", f"{len(raw)} sightings in one message (at most {MAX_SIGHTINGS})")
    sightings = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict):
            raise ContractError("wrong_type", f"sightings[{i}] must be an object")
        try:
            sightings.append({"mac": normalise_mac(require(s, "mac")), "rssi": integer(s, "rssi", -120, 0),
                              "ts": integer(s, "ts", TS_MIN_MS, TS_MAX_MS)})
        except ContractError as exc:
            # Never echo the offending value: it may be a raw MAC.
            raise ContractError(exc.reason, f"sightings[{i}]: {exc.message}") from None
    return {"sightings": sightings}


def lines(msg: DeviceMessage, tags: dict[str, str], t: int) -> list[str]:
    """One point per sighting, at the sighting's own time; its sub-millisecond digits come from the MAC hash
    (the same on a replay, different for two phones heard in the same millisecond)."""
    out = []
    for s in msg.sightings:
        fields: dict[str, Any] = {"mac_hash": s.mac_hash, "rssi": s.rssi, "randomized": s.randomised}
        if s.channel is not None:
            fields["channel"] = s.channel
        out.append(line("wifi_sighting", tags, fields, point_time_ns(s.ts, int(s.mac_hash[:8], 16))))
    return out


KIND: Final = DeviceKind(
    "wifi_probe", ("mqtt", "serial"), lines, history_measurement="device_status", offline_after_s=60.0,
    validators={"telemetry": telemetry}, readings=("sightings",), telemetry_qos=0,
)
