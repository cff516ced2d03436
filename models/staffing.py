"""From forecast arrivals to staff per zone and hour, compared with the roster on file.

Erlang C per zone and hour, with the zone's handling time taken from its queues in the site file
(counter-weighted mean of ``service_min``). The median forecast gives ``required``; the 90th percentile
gives ``required_p90``, the staffing that still holds on a busy day. Hourly arrivals are sums of the
15-minute quantiles; summing quantiles assumes the buckets' errors move together, which errs on the
side of enough staff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from floorops.site import Site
from models.erlang import required_positions


@dataclass(frozen=True)
class StaffingPolicy:
    """Service targets (floorops.config models section)."""

    target_wait_s: float = 900.0
    service_level: float = 0.8
    max_occupancy: float = 0.85
    shrinkage: float = 0.3


def handling_minutes(site: Site) -> dict[str, float]:
    """Zone -> mean handling time in minutes, weighted by each queue's counters; zones without queues absent."""
    totals: dict[str, list[float]] = {}
    for q in site.queues:
        t = totals.setdefault(q.zone, [0.0, 0.0])
        w = max(1, q.counters)
        t[0] += q.service_min * w
        t[1] += w
    return {z: s / w for z, (s, w) in totals.items() if w > 0}


def plan_day(hourly_p50: dict[str, np.ndarray], hourly_p90: dict[str, np.ndarray], aht_min: dict[str, float],
             policy: StaffingPolicy, on_roster: dict[tuple[str, int], int] | None = None,
             hours: list[int] | None = None) -> list[dict]:
    """Rows per zone and local hour: forecast arrivals, Erlang C staff needed, roster and gap.

    ``gap`` is ``required - on_roster``: positive means that many people short; ``short`` flags it.
    Without a roster on file, ``on_roster`` and ``gap`` are None.
    """
    rows: list[dict] = []
    for zone in sorted(hourly_p50):
        if zone not in aht_min:
            continue
        p50, p90 = hourly_p50[zone], hourly_p90[zone]
        for i in range(len(p50)):
            hour = hours[i] if hours is not None else i
            need = required_positions(float(p50[i]), 60.0, aht_min[zone], policy.target_wait_s,
                                      policy.service_level, policy.max_occupancy, policy.shrinkage)
            need90 = required_positions(float(p90[i]), 60.0, aht_min[zone], policy.target_wait_s,
                                        policy.service_level, policy.max_occupancy, policy.shrinkage)
            have = None if on_roster is None else int(on_roster.get((zone, hour), 0))
            gap = None if have is None else need.positions - have
            rows.append({
                "zone": zone, "hour": hour,
                "arrivals_p50": round(float(p50[i]), 2), "arrivals_p90": round(float(p90[i]), 2),
                "aht_min": round(aht_min[zone], 2),
                "required": need.positions, "required_p90": need90.positions, "required_raw": need.raw_positions,
                "on_roster": have, "gap": gap, "short": bool(gap is not None and gap > 0),
            })
    return rows
