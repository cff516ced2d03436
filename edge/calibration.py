"""Calibrating and checking the occupancy estimator against ground truth: the edge's half.

A :class:`SimulatedDay` holds what the probe zones' devices reported (as the edge keeps it) and the true
head counts; this module replays it through the edge's windows, fits the estimator and scores it. The
day itself comes from the simulator's patient-flow model through the edge's own pipeline
(centre/calibration.py, ``python -m centre calibrate``): the edge does not import the simulator
(docs/architecture.md, "Layers"). In a hospital the same fit works with manual head counts instead.

Error is MAPE (mean absolute percentage error) over the minutes of the peak hours, on a day that was not
used for the fit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.processors.occupancy import OccupancyEstimator, ZoneFeatures, ZoneWindows

MINUTE_MS = 60_000


@dataclass
class ZoneMinute:
    t_ms: int
    zone: str
    features: ZoneFeatures
    truth: float

    @property
    def universal(self) -> int:
        return self.features.universal

    @property
    def randomised(self) -> int:
        return self.features.randomised


@dataclass
class Score:
    """MAPE (%) in the peak hours, three ways: per zone and minute (what is published), per zone and
    15-minute bucket (what zone_stats and the forecasts use), and for all probe zones together; and
    per zone (minute, bucket)."""

    zone_minute: float
    zone_bucket: float
    site_minute: float
    peak_hours: tuple[int, int]
    zone_minutes: int
    per_zone: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class SimulatedDay:
    """What the probe zones' probes and queue screens reported (hashed, as the edge keeps it) and the
    true head counts."""

    sightings: dict[str, list[tuple[int, str, bool]]]  # zone -> (ts, mac hash, randomised), above the RSSI bound
    truth: dict[int, dict[str, float]]  # minute (epoch ms) -> zone -> people
    queues: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)  # (ts, zone, device, data)


def counts(day: SimulatedDay, window_s: float, rssi_min: int = -200) -> list[ZoneMinute]:
    """Replay the day's sightings and queue readings through ZoneWindows of ``window_s``: the inputs the
    agent's estimator would have each minute."""
    rows: list[ZoneMinute] = []
    first = min(day.truth) + int(window_s * 1000)  # the first window has filled
    for zone, sightings in day.sightings.items():
        w = ZoneWindows(window_s, rssi_min)
        readings = [q for q in day.queues if q[1] == zone]
        i = j = 0
        for t in sorted(day.truth):
            while i < len(sightings) and sightings[i][0] <= t:
                ts, h, rnd = sightings[i]
                w.observe(zone, h, ts, 0, rnd)
                i += 1
            while j < len(readings) and readings[j][0] <= t:
                ts, _, device_id, data = readings[j]
                w.observe_queue(zone, device_id, ts, data)
                j += 1
            if t >= first:
                rows.append(ZoneMinute(t, zone, w.features(zone, t), day.truth[t][zone]))
    return rows


def peak_hours(rows: list[ZoneMinute], tz: Any, width: int = 3) -> tuple[int, int]:
    """The ``width`` consecutive local hours with the most people in the probe zones."""
    by_hour: dict[int, float] = {}
    for r in rows:
        h = dt.datetime.fromtimestamp(r.t_ms / 1000, tz).hour
        by_hour[h] = by_hour.get(h, 0.0) + r.truth
    hours = sorted(by_hour)
    best = max(hours[: max(1, len(hours) - width + 1)], key=lambda h: sum(by_hour.get(h + k, 0) for k in range(width)))
    return best, best + width


def _mean_pct(values: list[float]) -> float:
    return round(100 * float(np.mean(values)), 1) if values else float("nan")


def score(rows: list[ZoneMinute], est: OccupancyEstimator, tz: Any, peak: tuple[int, int] | None = None,
          min_people: float = 5.0, bucket_min: int = 15) -> Score:
    """MAPE in the peak hours; zone figures leave out zone-minutes (and buckets averaging) under
    ``min_people`` (a percentage of nearly nobody says nothing)."""
    peak = peak or peak_hours(rows, tz)
    rows = [r for r in rows if peak[0] <= dt.datetime.fromtimestamp(r.t_ms / 1000, tz).hour < peak[1]]
    pred = [est.predict_zone(r.zone, r.features) for r in rows]
    zone_ape: dict[str, list[float]] = {}
    buckets: dict[tuple[str, int], list[float]] = {}
    site: dict[int, list[float]] = {}
    for r, p in zip(rows, pred):
        if r.truth >= min_people:
            zone_ape.setdefault(r.zone, []).append(abs(p - r.truth) / r.truth)
        b = buckets.setdefault((r.zone, r.t_ms // (bucket_min * MINUTE_MS)), [0.0, 0.0, 0])
        b[0] += p
        b[1] += r.truth
        b[2] += 1
        t = site.setdefault(r.t_ms, [0.0, 0.0])
        t[0] += p
        t[1] += r.truth
    bucket_ape: dict[str, list[float]] = {}
    for (zone, _), (p, y, n) in buckets.items():
        if y / n >= min_people:
            bucket_ape.setdefault(zone, []).append(abs(p - y) / y)
    site_ape = [abs(p - y) / y for p, y in site.values() if y > 0]
    per_zone = {z: (_mean_pct(zone_ape.get(z, [])), _mean_pct(bucket_ape.get(z, [])))
                for z in sorted(set(zone_ape) | set(bucket_ape))}
    all_minutes = [e for v in zone_ape.values() for e in v]
    all_buckets = [e for v in bucket_ape.values() for e in v]
    return Score(_mean_pct(all_minutes), _mean_pct(all_buckets), _mean_pct(site_ape), peak, len(all_minutes),
                 per_zone)


def fit(rows: list[ZoneMinute]) -> OccupancyEstimator:
    """The global formula with zone factors (fallback for zones without weights) and both per-zone
    linear models."""
    u, r, y, z = ([x.universal for x in rows], [x.randomised for x in rows], [x.truth for x in rows],
                  [x.zone for x in rows])
    est = OccupancyEstimator().fit(u, r, y).fit_zones(u, r, y, z)
    return est.fit_zones_linear(z, [x.features for x in rows], y)


def phones_only(est: OccupancyEstimator) -> OccupancyEstimator:
    """The same calibration without the queue screens (what the agent uses while they are silent)."""
    return OccupancyEstimator(est.phone_ratio, est.random_mac_factor, dict(est.zone_factors), {},
                              est.zone_phone_weights)


def global_only(est: OccupancyEstimator) -> OccupancyEstimator:
    """The global formula with its zone factors (the model before the per-zone weights)."""
    return OccupancyEstimator(est.phone_ratio, est.random_mac_factor, dict(est.zone_factors))


