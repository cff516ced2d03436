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
    """One point per sighting, at the sighting's own time: RSSI, randomised bit, channel, and never the MAC's
    hash. Points with the hash would be each phone's path through the zones at rest, which no one may keep
    (docs/privacy.md, "Patient flow"); what counting and flows need is in the edge's memory. The
    sub-millisecond digits are the sighting's place in its message (the same on a replay)."""
    out = []
    for i, s in enumerate(msg.sightings):
        fields: dict[str, Any] = {"rssi": s.rssi, "randomized": s.randomised}
        if s.channel is not None:
            fields["channel"] = s.channel
        out.append(line("wifi_sighting", tags, fields, point_time_ns(s.ts, (msg.seq or 0) * 1000 + i)))
    return out


KIND: Final = DeviceKind(
    "wifi_probe", ("mqtt", "serial"), lines, history_measurement="device_status", offline_after_s=60.0,
    validators={"telemetry": telemetry}, readings=("sightings",), telemetry_qos=0,
)
