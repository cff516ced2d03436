"""Valid device messages and the InfluxDB points they become: the schema of docs/architecture.md.

Why here, in the shared package: the edge writes these points from live devices, and the simulator writes
the same points for a simulated history (firmware_sim/screen_history.py), so the mapping has one home that
both may import (docs/architecture.md, "Layers"). The edge's validation makes a :class:`DeviceMessage`
(edge/processors/validate.py).

Points carry the device's time: ``point_time_ns(ts, seq)``, so a replayed message overwrites its own point.
Each kind's telemetry is mapped by the kind's own declaration (floorops.kinds); status and events are
the same measurements for every kind. The zones' measurements (occupancy, hourly stats) and the forecasts are
written here too: each measurement's name and fields are spelled once, and readers use the names below.
"""

from __future__ import annotations

from typing import Any, Final

from floorops.influx import FieldValue, line, point_time_ns
from floorops.kinds.base import DeviceKind
from floorops.messages import DeviceMessage


DEVICE_STATUS: Final = "device_status"
DEVICE_EVENT: Final = "device_event"
ZONE_OCCUPANCY: Final = "zone_occupancy"  # the edge's estimate, per window
ZONE_STATS: Final = "zone_stats"  # the hub's per-bucket arrivals, waiting and occupancy: what models/ trains on
FORECAST: Final = "forecast"
WIFI_SIGHTING: Final = "wifi_sighting"  # written by floorops/kinds/wifi_probe.py; kept a short time (retention)
SYSTEM_CHECK: Final = "system_check"  # the hub's checks of the hospital's systems (hub/systems.py)
# The edge's patient-flow aggregates per interval (edge/processors/flows.py): never a per-phone value, and
# never a count under k (docs/privacy.md, "Patient flow").
ZONE_FLOW: Final = "zone_flow"  # tags origin, dest; fields count, tracked, median_transit_s
ZONE_WANDERING: Final = "zone_wandering"  # tags zone; fields visitors, back_and_forth, rate, extra_walk_s, detection
ZONE_DETOUR: Final = "zone_detour"  # tags zone, via (where the back-and-forths went; "other" under k); back_and_forth
# A charging station's local hour (hub/wheelchairs.py's wheelchair_hours): tags station, zone; fields demand
# (chairs undocked), returned, supply_min (fewest charged chairs). Written by ``firmware_sim load-history``.
WHEELCHAIR_HOUR: Final = "wheelchair_hour"

EVENT_FIELDS = ("queue", "ticket", "counter", "code", "fault", "button")  # button: a satisfaction press


def influx_lines(msg: DeviceMessage, site: str, zone: str, kind: DeviceKind) -> list[str]:
    """The points of one valid message of ``kind`` (``msg.kind``): status and events alike for every kind,
    telemetry as the kind declares (floorops.kinds)."""
    tags = {"site": site, "zone": zone, "device_id": msg.device_id}
    t = point_time_ns(msg.ts, msg.seq)
    d = msg.data
    if msg.channel == "status":
        fields: dict[str, Any] = {"state": d["state"]}
        if d.get("fw"):
            fields["fw"] = d["fw"]
        return [line(DEVICE_STATUS, {**tags, "kind": msg.kind}, fields, t)]
    if msg.channel == "event":
        fields = {"seq": msg.seq}
        fields.update({k: d[k] for k in EVENT_FIELDS if k in d})
        return [line(DEVICE_EVENT, {**tags, "kind": msg.kind, "event": d["event"]}, fields, t)]
    return kind.telemetry_lines(msg, tags, t)


def offline_lines(kind: DeviceKind, site: str, zone: str, device_id: str, ts_ms: int) -> list[str]:
    """The points that mark a device of ``kind`` gone silent, if the kind has any (a charger's ``online=false``)."""
    if kind.offline_lines is None:
        return []
    return kind.offline_lines({"site": site, "zone": zone, "device_id": device_id}, point_time_ns(ts_ms, None))


def zone_occupancy_line(site: str, zone: str, occupancy: float, devices: int, ts_ns: int) -> str:
    return line(ZONE_OCCUPANCY, {"site": site, "zone": zone}, {"occupancy": occupancy, "devices": devices}, ts_ns)


def zone_stats_line(site: str, zone: str, arrivals: int, waiting: int, occupancy: float | None, ts_ns: int) -> str:
    """A zone's bucket starting at ``ts_ns``; occupancy is left out when no estimate came in."""
    fields: dict[str, FieldValue] = {"arrivals": arrivals, "waiting": waiting}
    if occupancy is not None:
        fields["occupancy"] = occupancy
    return line(ZONE_STATS, {"site": site, "zone": zone}, fields, ts_ns)


def forecast_line(tags: dict[str, str], p10: float, p50: float, p90: float, ts_ns: int) -> str:
    """One forecast bucket; ``tags`` are ``site``, ``target`` and ``zone`` or ``queue``."""
    return line(FORECAST, tags, {"p10": p10, "p50": p50, "p90": p90}, ts_ns)


def system_check_line(site: str, check: str, kind: str, ok: bool, response_ms: float | None,
                      status_code: int | None, error: str, ts_ns: int) -> str:
    """One check of a hospital system by the hub (hub/systems.py): tags site, check, kind; fields ok,
    response_ms (absent when nothing answered), status_code (http, when one came), error ("" when ok)."""
    fields: dict[str, FieldValue] = {"ok": ok, "error": error}
    if response_ms is not None:
        fields["response_ms"] = float(response_ms)
    if status_code is not None:
        fields["status_code"] = int(status_code)
    return line(SYSTEM_CHECK, {"site": site, "check": check, "kind": kind}, fields, ts_ns)


def flow_lines(site: str, interval: dict[str, Any]) -> list[str]:
    """The points of one flow interval as edge/processors/flows.py closes it, at the interval's start:
    ``zone_flow`` per published pair (and the pair ``other``/``other`` for merged small flows), and
    ``zone_wandering`` per published zone, with ``zone_detour`` per zone it was left for."""
    t = int(interval["start"]) * 1_000_000
    out = [line(ZONE_FLOW, {"site": site, "origin": f["origin"], "dest": f["dest"]},
                {"count": int(f["count"]), "tracked": int(f["tracked"]),
                 "median_transit_s": float(f["median_transit_s"])}, t) for f in interval["flows"]]
    if interval.get("other"):
        out.append(line(ZONE_FLOW, {"site": site, "origin": "other", "dest": "other"},
                        {"count": int(interval["other"])}, t))
    for w in interval["wandering"]:
        fields: dict[str, FieldValue] = {"visitors": int(w["visitors"]), "back_and_forth": int(w["back_and_forth"]),
                                         "extra_walk_s": float(w["extra_walk_s"]),
                                         "detection": float(w.get("detection", 1.0))}
        if w.get("rate") is not None:
            fields["rate"] = float(w["rate"])
        out.append(line(ZONE_WANDERING, {"site": site, "zone": w["zone"]}, fields, t))
        for via, n in (w.get("via") or {}).items():
            out.append(line(ZONE_DETOUR, {"site": site, "zone": w["zone"], "via": via}, {"back_and_forth": int(n)}, t))
    return out


def wheelchair_hour_line(site: str, station: str, zone: str, demand: int, returned: int, supply_min: int | None,
                         hour_start_ns: int) -> str:
    """A station's hour at its start: chairs taken (demand), returned, and the fewest charged chairs seen
    (left out when unknown)."""
    fields: dict[str, FieldValue] = {"demand": int(demand), "returned": int(returned)}
    if supply_min is not None:
        fields["supply_min"] = int(supply_min)
    return line(WHEELCHAIR_HOUR, {"site": site, "station": station, "zone": zone}, fields, hour_start_ns)
