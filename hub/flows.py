"""Patient flow between zones, as the edge measured it (edge/processors/flows.py): aggregates only.

The edge sends one record per closed interval on ``floorops/<site>/flows/interval`` and writes the same
figures to InfluxDB (``zone_flow``, ``zone_wandering``). The hub keeps the last ``KEEP_S`` of intervals in
memory (``FlowBook``) for the live view, for the ``wandering_high`` rule's usual level (hub.rules.wandering)
and for the reports; ``GET /api/flows`` with a time range reads InfluxDB, so a replay outlives a restart.
Nothing here is per phone: a count under the edge's k never came (docs/privacy.md, "Patient flow").
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from floorops.influx import InfluxClient, rows
from floorops.measurements import ZONE_DETOUR, ZONE_FLOW, ZONE_WANDERING

KEEP_S = 8 * 86_400  # a week of usual levels, and today
LIVE_S = 15 * 60  # GET /api/flows without a range: the last 15 minutes (the plan's step)


class BadFlows(ValueError):
    """An interval record the hub cannot use (counted as ``bad_flows``)."""


def _num(v: Any, where: str, lo: float = 0.0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
        raise BadFlows(f"{where} must be a number >= {lo:g}")
    return float(v)


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise BadFlows(f"{where} must be an integer >= 0")
    return v


def _zone(v: Any, where: str, zones: Iterable[str]) -> str:
    if not isinstance(v, str) or (v != "other" and v not in zones):
        raise BadFlows(f"{where} is not a zone of the site")
    return v


def _detection(v: Any, i: int) -> float:
    d = _num(v, f"wandering[{i}].detection")
    if not 0.0 < d <= 1.0:
        raise BadFlows(f"wandering[{i}].detection must be in (0, 1]")
    return d


@dataclass
class Interval:
    start_ms: int
    end_ms: int
    k: int
    flows: list[dict[str, Any]]
    wandering: list[dict[str, Any]]
    other: int = 0


def parse_interval(data: dict[str, Any], zones: Iterable[str]) -> Interval:
    """A validated interval from the edge's JSON; BadFlows says what is wrong (never echoing values)."""
    zones = set(zones)
    start, end = _int(data.get("start"), "start"), _int(data.get("end"), "end")
    if end <= start:
        raise BadFlows("end must be after start")
    k = _int(data.get("k"), "k")
    if not isinstance(data.get("flows"), list) or not isinstance(data.get("wandering"), list):
        raise BadFlows("flows and wandering must be lists")
    flows = []
    for i, f in enumerate(data["flows"]):
        if not isinstance(f, dict):
            raise BadFlows(f"flows[{i}] must be an object")
        tracked = _int(f.get("tracked"), f"flows[{i}].tracked")
        if tracked < k:
            raise BadFlows(f"flows[{i}] is under k: the edge must never send it")
        flows.append({"origin": _zone(f.get("origin"), f"flows[{i}].origin", zones),
                      "dest": _zone(f.get("dest"), f"flows[{i}].dest", zones),
                      "count": _int(f.get("count"), f"flows[{i}].count"), "tracked": tracked,
                      "median_transit_s": _num(f.get("median_transit_s"), f"flows[{i}].median_transit_s")})
    wandering = []
    for i, w in enumerate(data["wandering"]):
        if not isinstance(w, dict):
            raise BadFlows(f"wandering[{i}] must be an object")
        visitors = _int(w.get("visitors"), f"wandering[{i}].visitors")
        bnf = _int(w.get("back_and_forth"), f"wandering[{i}].back_and_forth")
        if 0 < visitors < k or 0 < bnf < k:
            raise BadFlows(f"wandering[{i}] is under k: the edge must never send it")
        via = w.get("via", {})
        if not isinstance(via, dict):
            raise BadFlows(f"wandering[{i}].via must be an object")
        detours = {_zone(z, f"wandering[{i}].via", zones): _int(n, f"wandering[{i}].via") for z, n in via.items()}
        if any(n < k for z, n in detours.items() if z != "other") or sum(detours.values()) > bnf:
            raise BadFlows(f"wandering[{i}].via is under k or more than its back-and-forths")
        wandering.append({"zone": _zone(w.get("zone"), f"wandering[{i}].zone", zones), "visitors": visitors,
                          "back_and_forth": bnf, "via": detours, "detection": _detection(w.get("detection", 1.0), i),
                          "extra_walk_s": _num(w.get("extra_walk_s", 0.0), f"wandering[{i}].extra_walk_s")})
    return Interval(start, end, k, flows, wandering, _int(data.get("other", 0), "other"))


@dataclass
class _Pair:
    count: int = 0
    tracked: int = 0
    transit_weighted: float = 0.0


@dataclass
class _Wander:
    visitors: int = 0
    back_and_forth: int = 0  # detours seen
    estimated: float = 0.0  # detours seen, each over the share of them the edge sees (its flow calibration)
    extra_weighted: float = 0.0
    via: dict[str, int] = field(default_factory=dict)


@dataclass
class Summary:
    """Intervals merged: pairs summed (transit: the intervals' medians weighted by count), zones summed."""

    k: int = 5
    pairs: dict[tuple[str, str], _Pair] = field(default_factory=dict)
    zones: dict[str, _Wander] = field(default_factory=dict)
    other: int = 0
    intervals: int = 0

    def add_flow(self, origin: str, dest: str, count: int, tracked: int, transit_s: float) -> None:
        p = self.pairs.setdefault((origin, dest), _Pair())
        p.count += count
        p.tracked += tracked
        p.transit_weighted += transit_s * tracked

    def add_wandering(self, zone: str, visitors: int, bnf: int, extra_s: float,
                      via: dict[str, int] | None = None, detection: float = 1.0) -> None:
        w = self.zones.setdefault(zone, _Wander())
        w.visitors += visitors
        w.back_and_forth += bnf
        w.estimated += bnf / detection
        w.extra_weighted += extra_s * bnf
        for z, n in (via or {}).items():
            w.via[z] = w.via.get(z, 0) + n

    def add(self, iv: Interval) -> None:
        self.k = iv.k
        self.intervals += 1
        self.other += iv.other
        for f in iv.flows:
            self.add_flow(f["origin"], f["dest"], f["count"], f["tracked"], f["median_transit_s"])
        for w in iv.wandering:
            self.add_wandering(w["zone"], w["visitors"], w["back_and_forth"], w["extra_walk_s"], w.get("via"),
                               w.get("detection", 1.0))

    def rate(self, zone: str) -> float | None:
        w = self.zones.get(zone)
        return w.estimated / w.visitors if w and w.visitors else None

    def flows_json(self, zone: str = "") -> list[dict[str, Any]]:
        out = [{"origin": o, "dest": d, "count": p.count, "tracked": p.tracked,
                "median_transit_s": round(p.transit_weighted / p.tracked, 1) if p.tracked else None}
               for (o, d), p in self.pairs.items() if not zone or zone in (o, d)]
        return sorted(out, key=lambda f: (-f["count"], f["origin"], f["dest"]))

    def wandering_json(self, usual: dict[str, float | None], zone: str = "") -> list[dict[str, Any]]:
        out = []
        for z, w in sorted(self.zones.items()):
            if zone and z != zone:
                continue
            out.append({"zone": z, "visitors": w.visitors, "back_and_forth": w.back_and_forth,
                        "rate": round(w.estimated / w.visitors, 4) if w.visitors else None,
                        "rate_seen": round(w.back_and_forth / w.visitors, 4) if w.visitors else None,
                        "usual": None if usual.get(z) is None else round(float(usual[z] or 0.0), 4),
                        "extra_walk_s": round(w.extra_weighted / w.back_and_forth, 1) if w.back_and_forth else 0.0,
                        "via": dict(sorted(w.via.items(), key=lambda kv: (-kv[1], kv[0])))})
        return out


class FlowBook:
    """The intervals received, oldest first, the last ``KEEP_S`` (by interval start)."""

    def __init__(self, keep_s: float = KEEP_S) -> None:
        self.keep_ms = int(keep_s * 1000)
        self.intervals: collections.deque[Interval] = collections.deque()

    def add(self, iv: Interval) -> None:
        if any(x.start_ms == iv.start_ms for x in self.intervals):
            return  # a redelivered record: already counted
        self.intervals.append(iv)
        if len(self.intervals) > 1 and self.intervals[-2].start_ms > iv.start_ms:
            self.intervals = collections.deque(sorted(self.intervals, key=lambda x: x.start_ms))
        newest = self.intervals[-1].start_ms
        while self.intervals and self.intervals[0].start_ms < newest - self.keep_ms:
            self.intervals.popleft()

    def summary(self, from_ms: int, to_ms: int) -> Summary:
        """Intervals that started in [from_ms, to_ms)."""
        s = Summary()
        for iv in self.intervals:
            if from_ms <= iv.start_ms < to_ms:
                s.add(iv)
        return s

    def usual(self, before_ms: int, days: float = 7.0) -> dict[str, float | None]:
        """Each zone's back-and-forth rate over the ``days`` before ``before_ms``: its usual level."""
        s = self.summary(before_ms - int(days * 86_400_000), before_ms)
        return {z: s.rate(z) for z in s.zones}


def intervals_from_points(flow_rows: Iterable[dict[str, Any]], wandering_rows: Iterable[dict[str, Any]], k: int,
                          interval_ms: int, detour_rows: Iterable[dict[str, Any]] = ()) -> list[Interval]:
    """Intervals rebuilt from InfluxDB's ``zone_flow`` and ``zone_wandering`` rows (``time`` in ms, tags as
    columns), as the edge wrote them: after a restart the hub's memory starts with the last days again."""
    by_start: dict[int, Interval] = {}

    def at(r: dict[str, Any]) -> Interval:
        start = int(r["time"])
        return by_start.setdefault(start, Interval(start, start + interval_ms, k, [], []))

    for r in flow_rows:
        iv = at(r)
        if r.get("origin") == "other":
            iv.other += int(r.get("count") or 0)
        elif r.get("origin") and r.get("dest"):
            iv.flows.append({"origin": str(r["origin"]), "dest": str(r["dest"]), "count": int(r.get("count") or 0),
                             "tracked": int(r.get("tracked") or 0),
                             "median_transit_s": float(r.get("median_transit_s") or 0.0)})
    for r in wandering_rows:
        if r.get("zone"):
            at(r).wandering.append({"zone": str(r["zone"]), "visitors": int(r.get("visitors") or 0),
                                    "back_and_forth": int(r.get("back_and_forth") or 0),
                                    "extra_walk_s": float(r.get("extra_walk_s") or 0.0), "via": {},
                                    "detection": float(r.get("detection") or 1.0)})
    for r in detour_rows:
        iv = at(r)
        w = next((w for w in iv.wandering if w["zone"] == r.get("zone")), None)
        if w is not None and r.get("via"):
            w["via"][str(r["via"])] = int(r.get("back_and_forth") or 0)
    return [by_start[s] for s in sorted(by_start)]


async def intervals_from_influx(influx: InfluxClient, site: str, from_ms: int, to_ms: int | None, k: int,
                                interval_ms: int) -> list[Interval]:
    """The intervals the edge wrote to InfluxDB that started in ``[from_ms, to_ms)`` (no end: up to now),
    the one reading of ``zone_flow``, ``zone_wandering`` and ``zone_detour``; InfluxWriteError if it is down."""
    where = f"\"site\" = '{site}' AND time >= {from_ms}ms" + (f" AND time < {to_ms}ms" if to_ms is not None else "")
    flows = await influx.query(f'SELECT * FROM "{ZONE_FLOW}" WHERE {where}', epoch="ms")
    wander = await influx.query(f'SELECT * FROM "{ZONE_WANDERING}" WHERE {where}', epoch="ms")
    detours = await influx.query(f'SELECT * FROM "{ZONE_DETOUR}" WHERE {where}', epoch="ms")
    return intervals_from_points([r for s in flows for r in rows(s)], [r for s in wander for r in rows(s)], k,
                                 interval_ms, [r for s in detours for r in rows(s)])
