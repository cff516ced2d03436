"""What the charging stations' hours would have been over a simulated history (``wheelchair_hour`` points).

Why: the hub's wheelchair demand forecast is the same weekday's hours over the last weeks (hub/wheelchairs.py);
without a past, ``make run`` shows no forecast for a week. ``load-history`` writes these hours and the hub
imports the ones it lacks at start.

The live simulation's model, replayed minute by minute (firmware_sim/engine.py ``_wheelchairs``,
firmware_sim/devices/charger.py):

* each outpatient through the door borrows a chair with probability ``WHEELCHAIR_SHARE`` (40 a day on the
  demo site), so demand follows the door's arrivals, the live hour profile (firmware_sim/profiles.py);
* a chair is taken from a station in an entrance or registration zone first (the fullest chair), else from
  any station with one; none docked anywhere: no loan (the hub would see no undock);
* it comes back when its patient leaves, after a stay drawn around the history's own mean stay (people in
  the hospital over arrivals, Little's law), to a random station with a free slot, at a state of charge
  drawn as live, and charges at the station's rate;
* a station's supply in an hour is the fewest chairs it held at or above the hub's default
  ``charged_soc_pct`` (floorops.kinds.charger.CHARGED_SOC_PCT).

Deterministic per seed (its own random stream: the zones and the queue screens do not move).
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from firmware_sim.devices.charger import CHARGE_PCT_PER_MIN, DOCKED_AT_START
from firmware_sim.history import MIN_PER_DAY, History
from firmware_sim.patients import WHEELCHAIR_FIRST_ZONE_KINDS, WHEELCHAIR_RETURN_SOC_PCT, WHEELCHAIR_SHARE
from floorops.kinds import charger
from floorops.measurements import wheelchair_hour_line

STREAM = 0x5743  # "WC": apart from the flow's and the screens' streams
MIN_STAY_MIN = 10.0  # nobody borrows a chair for less


@dataclass(frozen=True)
class StationHour:
    hour_start: dt.datetime  # aware, UTC
    station: str
    zone: str
    demand: int
    returned: int
    supply_min: int


def mean_stay_min(hist: History) -> float:
    """Minutes an outpatient spends in the hospital on average: people present over arrivals (Little's law)."""
    came = float(hist.outpatients.sum())
    return float(hist.occupancy.sum()) * hist.bucket_min / came if came else 120.0


def station_hours(hist: History, seed: int, not_after: dt.datetime) -> Iterator[StationHour]:
    """Every station's hours that start before ``not_after``, oldest first (a generator, day by day)."""
    site = hist.site
    stations = [d for d in site.devices if d.kind == charger.KIND.name]
    if not stations:
        return
    kinds = {z.id: z.kind for z in site.zones}
    first = [i for i, d in enumerate(stations) if kinds.get(d.zone) in WHEELCHAIR_FIRST_ZONE_KINDS]
    borrow_order = first + [i for i in range(len(stations)) if i not in first]
    rng = np.random.default_rng([seed, STREAM])
    # Each docked chair as the minute (from the history's first midnight) it is charged from: the fullest chair
    # is the one charged earliest. Chairs docked overnight start charged.
    docked: list[list[float]] = [[-math.inf] * int(rng.binomial(d.slots, DOCKED_AT_START)) for d in stations]
    returns: list[tuple[float, int]] = []  # (minute, loan number): chairs out on loan
    stay = mean_stay_min(hist)
    limit_min = (not_after - hist.day_starts_utc()[0]).total_seconds() / 60 if hist.days else 0.0
    per_bucket = hist.bucket_min
    loan = 0
    for d, midnight in enumerate(hist.day_starts_utc()):
        day0 = d * MIN_PER_DAY
        if day0 >= limit_min:
            return
        loans = rng.binomial(hist.outpatients[d], WHEELCHAIR_SHARE)
        at = np.sort(np.repeat(np.arange(len(loans)) * per_bucket, loans) + rng.integers(0, per_bucket, loans.sum()))
        taken_at = np.bincount(at, minlength=MIN_PER_DAY)
        for h in range(MIN_PER_DAY // 60):
            if day0 + h * 60 >= limit_min:
                return
            demand = [0] * len(stations)
            returned = [0] * len(stations)
            fewest = [len(c) for c in docked]
            for m in range(h * 60, h * 60 + 60):
                t = day0 + m
                if t >= limit_min:
                    break
                while returns and returns[0][0] <= t:
                    heapq.heappop(returns)
                    soc = float(rng.uniform(*WHEELCHAIR_RETURN_SOC_PCT))
                    for k in rng.permutation(len(stations)):
                        if len(docked[k]) < stations[k].slots:
                            docked[k].append(t + 1 + max(0.0, charger.CHARGED_SOC_PCT - soc) / CHARGE_PCT_PER_MIN)
                            returned[k] += 1
                            break
                for _ in range(int(taken_at[m])):
                    k = next((k for k in borrow_order if docked[k]), None)
                    if k is None:
                        break  # no chair docked anywhere: nothing to undock
                    docked[k].remove(min(docked[k]))
                    demand[k] += 1
                    loan += 1
                    heapq.heappush(returns, (t + max(MIN_STAY_MIN, float(rng.exponential(stay))), loan))
                for k, chairs in enumerate(docked):
                    fewest[k] = min(fewest[k], sum(1 for c in chairs if c <= t))
            start = midnight + dt.timedelta(hours=h)
            for k, dev in enumerate(stations):
                yield StationHour(start, dev.id, dev.zone, demand[k], returned[k], fewest[k])


def wheelchair_lines(hist: History, site_id: str, not_after: dt.datetime, seed: int) -> Iterator[str]:
    """``wheelchair_hour`` points of :func:`station_hours`, at each hour's start."""
    for h in station_hours(hist, seed, not_after):
        yield wheelchair_hour_line(site_id, h.station, h.zone, h.demand, h.returned, h.supply_min,
                                   int(h.hour_start.timestamp()) * 1_000_000_000)
