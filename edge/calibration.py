"""Calibrating and checking the occupancy estimator against ground truth (``python -m edge calibrate``).

Ground truth comes from the simulator's patient-flow model (firmware_sim): the simulated probes hear the
simulated patients' phones (some without a phone, some randomising their MAC), their messages go through
the edge's own pipeline (validation, hashing, windows), and the estimate for each probe zone is compared
minute by minute with the number of people the flow model has in the zone. In a hospital the same fit
works with manual head counts instead of the simulator.

Error is MAPE (mean absolute percentage error) over the minutes of the peak hours, on a day that was not
used for the fit.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from floorops.site import Site

from edge.inputs.serial_probe import LineFramer
from edge.metrics import EdgeMetrics
from edge.pipeline import Item, MqttIn, Pipeline
from edge.processors.occupancy import OccupancyEstimator, ZoneWindows
from edge.processors.privacy import MacHasher

MINUTE_MS = 60_000


@dataclass
class ZoneMinute:
    t_ms: int
    zone: str
    universal: int
    randomised: int
    truth: float


@dataclass
class Score:
    """MAPE (%) in the peak hours, three ways: per zone and minute (what is published), per zone and
    15-minute bucket (what zone_stats and the forecasts use), and for all probe zones together."""

    zone_minute: float
    zone_bucket: float
    site_minute: float
    peak_hours: tuple[int, int]
    zone_minutes: int


@dataclass
class SimulatedDay:
    """What the probe zones' probes reported (hashed, as the edge keeps it) and the true head counts."""

    sightings: dict[str, list[tuple[int, str, bool]]]  # zone -> (ts, mac hash, randomised), above the RSSI bound
    truth: dict[int, dict[str, float]]  # minute (epoch ms) -> zone -> people


def simulate_day(site: Site, day: dt.date, seed: int, rssi_min: int, from_hour: int = 7,
                 to_hour: int = 18) -> SimulatedDay:
    """One simulated day of the site's probes through the edge pipeline (validation, hashing, RSSI bound)."""
    from firmware_sim.engine import SimOptions, Simulation  # the simulator is only needed here

    probes = {d.id for d in site.devices if d.kind == "wifi_probe"}
    probe_zones = sorted({d.zone for d in site.devices if d.kind == "wifi_probe"})
    items: list[Item] = []
    framers: dict[str, LineFramer] = {}

    class Capture:
        def mqtt(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> None:
            items.append(MqttIn(topic, payload, 0, 0))

        def serial(self, device_id: str, data: bytes) -> None:
            items.extend(framers.setdefault(device_id, LineFramer(device_id)).feed(data))

        def power(self, device_id: str, on: bool, ts_ms: int) -> None:
            pass

    seen: dict[str, list[tuple[int, str, bool]]] = {z: [] for z in probe_zones}

    class Recording(ZoneWindows):
        def observe(self, zone: str, mac_hash: str, ts_ms: int, rssi: int, randomised: bool) -> bool:
            if rssi >= self.rssi_min and zone in seen:
                seen[zone].append((ts_ms, mac_hash, randomised))
            return False

    start = dt.datetime(day.year, day.month, day.day, from_hour, tzinfo=site.tz)
    start_ms = int(start.timestamp() * 1000)
    sim = Simulation(site, start_ms, Capture(), SimOptions(seed=seed, only_devices=probes))
    sim.start()
    truth: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as keys:
        pipeline = Pipeline(site, MacHasher(Path(keys), site.tz), EdgeMetrics(), clock_skew_bound_s=0,
                            occupancy_window_s=60, occupancy_rssi_min=rssi_min, estimator=OccupancyEstimator())
        pipeline.windows = Recording(60, rssi_min)
        zone_index = {z: i for i, z in enumerate(sim.model.zone_ids)}
        t = start_ms
        end = start_ms + (to_hour - from_hour) * 3600_000
        while t < end:
            t += MINUTE_MS
            sim.advance_to(t)
            pipeline.process(items)
            items.clear()
            population = sim.model.zone_population(sim.state)[0]
            truth[t] = {z: float(population[zone_index[z]]) for z in probe_zones}
    for v in seen.values():
        v.sort()
    return SimulatedDay(seen, truth)


def counts(day: SimulatedDay, window_s: float, rssi_min: int = -200) -> list[ZoneMinute]:
    """Replay the day's sightings through ZoneWindows of ``window_s``: the counts the agent would publish."""
    rows: list[ZoneMinute] = []
    first = min(day.truth) + int(window_s * 1000)  # the first window has filled
    for zone, sightings in day.sightings.items():
        w = ZoneWindows(window_s, rssi_min)
        i = 0
        for t in sorted(day.truth):
            while i < len(sightings) and sightings[i][0] <= t:
                ts, h, rnd = sightings[i]
                w.observe(zone, h, ts, 0, rnd)
                i += 1
            if t >= first:
                u, r = w.counts(zone, t)
                rows.append(ZoneMinute(t, zone, u, r, day.truth[t][zone]))
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


def score(rows: list[ZoneMinute], est: OccupancyEstimator, tz: Any, peak: tuple[int, int] | None = None,
          min_people: float = 5.0, bucket_min: int = 15) -> Score:
    """MAPE in the peak hours; zone figures leave out zone-minutes under ``min_people`` (a percentage of
    nearly nobody says nothing)."""
    peak = peak or peak_hours(rows, tz)
    rows = [r for r in rows if peak[0] <= dt.datetime.fromtimestamp(r.t_ms / 1000, tz).hour < peak[1]]
    pred = est.predict([r.universal for r in rows], [r.randomised for r in rows], [r.zone for r in rows])
    zone_ape: list[float] = []
    buckets: dict[tuple[str, int], list[float]] = {}
    site: dict[int, list[float]] = {}
    for r, p in zip(rows, pred):
        if r.truth >= min_people:
            zone_ape.append(abs(p - r.truth) / r.truth)
        b = buckets.setdefault((r.zone, r.t_ms // (bucket_min * MINUTE_MS)), [0.0, 0.0, 0])
        b[0] += p
        b[1] += r.truth
        b[2] += 1
        t = site.setdefault(r.t_ms, [0.0, 0.0])
        t[0] += p
        t[1] += r.truth
    bucket_ape = [abs(p - y) / y for p, y, n in buckets.values() if y / n >= min_people]
    site_ape = [abs(p - y) / y for p, y in site.values() if y > 0]
    return Score(round(100 * float(np.mean(zone_ape)), 1), round(100 * float(np.mean(bucket_ape)), 1),
                 round(100 * float(np.mean(site_ape)), 1), peak, len(zone_ape))


def fit(rows: list[ZoneMinute]) -> OccupancyEstimator:
    u, r, y, z = ([x.universal for x in rows], [x.randomised for x in rows], [x.truth for x in rows],
                  [x.zone for x in rows])
    return OccupancyEstimator().fit(u, r, y).fit_zones(u, r, y, z)


def next_weekday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d += dt.timedelta(days=1)
    return d


def calibrate(site: Site, window_s: float, rssi_min: int, fit_day: dt.date, test_day: dt.date,
              from_hour: int = 7, to_hour: int = 18) -> tuple[OccupancyEstimator, Score]:
    """Fit on one simulated day (seed 1), score on another (seed 2)."""
    a = counts(simulate_day(site, fit_day, 1, rssi_min, from_hour, to_hour), window_s)
    b = counts(simulate_day(site, test_day, 2, rssi_min, from_hour, to_hour), window_s)
    est = fit(a)
    return est, score(b, est, site.tz)


def toml_snippet(est: OccupancyEstimator, window_s: float) -> str:
    zones = ", ".join(f"{z} = {f}" for z, f in est.zone_factors.items())
    return (f"[edge]\noccupancy_window_s = {window_s:g}\noccupancy_phone_ratio = {est.phone_ratio:.3f}\n"
            f"occupancy_random_mac_factor = {est.random_mac_factor:.3f}\noccupancy_zone_factors = {{ {zones} }}\n")
