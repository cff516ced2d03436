"""The best any forecaster could do on the simulator's history: an oracle that knows the simulator.

Why: "30 % below seasonal naive" is only a fair goal if it is reachable. The simulator's days are
independent (each starts empty two hours before local midnight) and random (a log-normal level per day,
Poisson arrivals, random routes), so from a midnight origin nothing is knowable about a day beyond its
calendar. The oracle therefore re-runs the simulator's own flow model (firmware_sim.history.simulate_days,
same site, same demand profile, fresh random seeds) many times over each test day and takes, per bucket
and zone, the median (the forecast that minimises expected absolute error) and the 10th/90th
percentiles of those replicas. No forecaster working from the calendar and the past can beat it in
expectation; the replicas only add Monte Carlo noise, which makes the oracle very slightly worse than
the true optimum (a conservative reference).

Used by bench/forecast_bench.py; not part of the product.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from firmware_sim.history import simulate_days
from floorops.site import Site
from models.backtest import BacktestResult
from models.data import History

ORACLE_SEED = 1_000_000  # far from the seeds the history itself uses (seed + batch offset)


@dataclass
class OracleTable:
    """Replica quantiles per test day: ``values[target]`` has shape (days, buckets_per_day, zones, 3)."""

    days: list[dt.date]
    zones: list[str]
    bucket_min: int
    values: dict[str, np.ndarray]
    replicas: int

    def day_index(self, day: dt.date) -> int:
        return self.days.index(day)


def simulate_oracle(site: Site, days: list[dt.date], replicas: int, batch_days: int = 512) -> OracleTable:
    """Run ``replicas`` fresh simulations of every day in ``days``; keep 15-minute and hourly quantiles."""
    runs_arr, runs_occ = [], []
    jobs = [d for _ in range(replicas) for d in days]
    zones: list[str] = []
    for i in range(0, len(jobs), batch_days):
        h = simulate_days(site, jobs[i:i + batch_days], ORACLE_SEED + i)
        zones = list(h.zones)
        runs_arr.append(h.arrivals.astype(np.float64))
        runs_occ.append(h.occupancy)
    arr = np.concatenate(runs_arr).reshape(replicas, len(days), -1, len(zones))
    occ = np.concatenate(runs_occ).reshape(replicas, len(days), -1, len(zones))
    return OracleTable(days, zones, 1440 // arr.shape[2], {"arrivals": arr, "occupancy": occ}, replicas)


def aggregate(samples: np.ndarray, target: str, factor: int) -> np.ndarray:
    """Replica samples (replicas, days, buckets, zones) into buckets ``factor`` times wider, as read_csv does:
    counts summed, levels averaged."""
    if factor == 1:
        return samples
    r, d, b, z = samples.shape
    grouped = samples.reshape(r, d, b // factor, factor, z)
    return grouped.sum(axis=3) if target == "arrivals" else grouped.mean(axis=3)


def oracle_quantiles(table: OracleTable, target: str, freq_min: int) -> np.ndarray:
    """(days, buckets, zones, 3): 10th, 50th, 90th percentile of the replicas at bucket width ``freq_min``."""
    samples = aggregate(table.values[target], target, freq_min // table.bucket_min)
    return np.moveaxis(np.quantile(samples, [0.1, 0.5, 0.9], axis=0), 0, -1)


def oracle_forecasts(result: BacktestResult, history: History, table: OracleTable, target: str) -> list[np.ndarray]:
    """The oracle's (keys, steps, 3) forecast for every origin of a backtest, on the same points."""
    q = oracle_quantiles(table, target, result.freq_min)
    per_day = q.shape[1]
    zone_idx = [table.zones.index(k) for k in result.keys]
    out = []
    for o, act in zip(result.origins, result.actual):
        steps = act.shape[1]
        fc = np.full(act.shape + (3,), np.nan)
        for s in range(steps):
            when = history.time_of(o + 1 + s)
            day = when.date()
            if day not in table.days:
                continue
            slot = (when.hour * 60 + when.minute) // result.freq_min
            if slot < per_day:
                fc[:, s, :] = q[table.day_index(day), slot][zone_idx]
        out.append(fc)
    return out


def day_kinds(result: BacktestResult, history: History, holidays: set[dt.date]) -> list[np.ndarray]:
    """Per origin, (keys, steps) labels: 2 holiday, 1 a week after a holiday (its seasonal-naive lag is a
    holiday), 0 any other day. Where seasonal naive is worst, and what holiday features are for."""
    out = []
    for o, act in zip(result.origins, result.actual):
        labels = np.zeros(act.shape[1], dtype=np.int64)
        for s in range(act.shape[1]):
            day = history.time_of(o + 1 + s).date()
            if day in holidays:
                labels[s] = 2
            elif day - dt.timedelta(days=7) in holidays:
                labels[s] = 1
        out.append(np.broadcast_to(labels, act.shape))
    return out
