"""Calibrating and checking the occupancy estimator against ground truth (``python -m edge calibrate``).

Ground truth comes from the simulator's patient-flow model (firmware_sim): the simulated probes hear the
simulated patients' phones (some without a phone, some randomising their MAC) and the simulated queue
screens report their queues; their messages go through the edge's own pipeline (validation, hashing,
windows, queue readings), and the estimate for each probe zone is compared minute by minute with the
number of people the flow model has in the zone. In a hospital the same fit works with manual head
counts instead of the simulator.

Error is MAPE (mean absolute percentage error) over the minutes of the peak hours, on a day that was not
used for the fit.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from floorops.site import Site

from edge.inputs.serial_probe import LineFramer
from edge.metrics import EdgeMetrics
from edge.pipeline import Item, MqttIn, Pipeline
from edge.processors.occupancy import OccupancyEstimator, ZoneFeatures, ZoneWindows
from edge.processors.privacy import MacHasher

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


def simulate_day(site: Site, day: dt.date, seed: int, rssi_min: int, from_hour: int = 7,
                 to_hour: int = 18, on_minute: Callable[[int, Any], None] | None = None) -> SimulatedDay:
    """One simulated day of the site's probes and queue screens through the edge pipeline (validation,
    hashing, RSSI bound). ``on_minute(t_ms, simulation)`` lets an analysis look inside the simulator after
    each flow step (bench/occupancy_error_sources.py)."""
    from firmware_sim.engine import SimOptions, Simulation  # the simulator is only needed here

    probes = {d.id for d in site.devices if d.kind == "wifi_probe"}
    probe_zones = sorted({d.zone for d in site.devices if d.kind == "wifi_probe"})
    screens = {d.id for d in site.devices if d.kind == "queue_screen" and d.zone in probe_zones}
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
    queues: list[tuple[int, str, str, dict[str, Any]]] = []

    class Recording(ZoneWindows):
        def observe(self, zone: str, mac_hash: str, ts_ms: int, rssi: int, randomised: bool) -> bool:
            if rssi >= self.rssi_min and zone in seen:
                seen[zone].append((ts_ms, mac_hash, randomised))
            return False

        def observe_queue(self, zone: str, device_id: str, ts_ms: int, data: Any) -> bool:
            if zone in seen:
                queues.append((ts_ms, zone, device_id, dict(data)))
            return False

    start = dt.datetime(day.year, day.month, day.day, from_hour, tzinfo=site.tz)
    start_ms = int(start.timestamp() * 1000)
    sim = Simulation(site, start_ms, Capture(), SimOptions(seed=seed, only_devices=probes | screens))
    sim.start()
    truth: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as keys:
        pipeline = Pipeline(site, MacHasher(Path(keys), site.tz), EdgeMetrics(), clock_skew_bound_s=0,
                            occupancy_window_s=60, occupancy_rssi_min=rssi_min, estimator=OccupancyEstimator())
        pipeline.windows = Recording(60, rssi_min)  # keep what the pipeline accepted; windows come later
        zone_index = {z: i for i, z in enumerate(sim.model.zone_ids)}
        t = start_ms
        end = start_ms + (to_hour - from_hour) * 3600_000
        previous: dict[str, float] | None = None
        while t < end:
            t += MINUTE_MS
            sim.advance_to(t)
            pipeline.process(items)
            items.clear()
            # The flow step at t decides who is where for the minute that starts at t (its ticket events
            # are spread over that minute), so the minute that ends at t is the previous step's count: the
            # truth an estimate made at t, from what the devices said until t, is compared with.
            if previous is not None:
                truth[t] = previous
            if on_minute is not None:
                on_minute(t, sim)
            population = sim.model.zone_population(sim.state)[0]
            previous = {z: float(population[zone_index[z]]) for z in probe_zones}
    for v in seen.values():
        v.sort()
    queues.sort(key=lambda q: q[0])
    return SimulatedDay(seen, truth, queues)


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


def next_weekday(d: dt.date) -> dt.date:
    while d.weekday() >= 5:
        d += dt.timedelta(days=1)
    return d


@dataclass
class Calibration:
    """A fitted estimator and its scores on the held-out day, for it and for the simpler models."""

    estimator: OccupancyEstimator
    fused: Score
    phones: Score
    global_factors: Score


def calibrate(site: Site, window_s: float, rssi_min: int, fit_day: dt.date, test_day: dt.date,
              from_hour: int = 7, to_hour: int = 18) -> Calibration:
    """Fit on one simulated day (seed 1), score on another (seed 2)."""
    a = counts(simulate_day(site, fit_day, 1, rssi_min, from_hour, to_hour), window_s)
    b = counts(simulate_day(site, test_day, 2, rssi_min, from_hour, to_hour), window_s)
    est = fit(a)
    peak = peak_hours(b, site.tz)
    return Calibration(est, score(b, est, site.tz, peak), score(b, phones_only(est), site.tz, peak),
                       score(b, global_only(est), site.tz, peak))


def _tables(name: str, weights: dict[str, dict[str, float]]) -> str:
    rows = "".join(f"{z} = {{ " + ", ".join(f"{k} = {v:g}" for k, v in w.items()) + " }\n"
                   for z, w in sorted(weights.items()))
    return f"[edge.{name}]\n{rows}"


def toml_snippet(est: OccupancyEstimator, window_s: float) -> str:
    """The calibration as floorops.toml lines: paste at the end of the [edge] section (the two tables of
    per-zone weights are sub-tables of [edge])."""
    factors = ", ".join(f"{z} = {f}" for z, f in sorted(est.zone_factors.items()))
    return (f"[edge]\noccupancy_window_s = {window_s:g}\noccupancy_phone_ratio = {est.phone_ratio:.3f}\n"
            f"occupancy_random_mac_factor = {est.random_mac_factor:.3f}\n"
            f"occupancy_zone_factors = {{ {factors} }}\n\n"
            + _tables("occupancy_zone_weights", est.zone_weights) + "\n"
            + _tables("occupancy_zone_phone_weights", est.zone_phone_weights))


def format_scores(cal: Calibration) -> str:
    """Per-zone table (Markdown) of the held-out day's MAPE for the three models."""
    lines = ["| zone | fused, minute | fused, 15 min | phones only, minute | phones only, 15 min | "
             "global + zone factor, minute | global + zone factor, 15 min |", "|---|---|---|---|---|---|---|"]
    for z in sorted(cal.fused.per_zone):
        f, p, g = cal.fused.per_zone[z], cal.phones.per_zone.get(z, (0, 0)), cal.global_factors.per_zone.get(z, (0, 0))
        lines.append(f"| {z} | {f[0]} % | {f[1]} % | {p[0]} % | {p[1]} % | {g[0]} % | {g[1]} % |")
    f, p, g = cal.fused, cal.phones, cal.global_factors
    lines.append(f"| **all zones (mean)** | **{f.zone_minute} %** | **{f.zone_bucket} %** | {p.zone_minute} % | "
                 f"{p.zone_bucket} % | {g.zone_minute} % | {g.zone_bucket} % |")
    lines.append(f"| site-wide (all probe zones together, each minute) | {f.site_minute} % | | {p.site_minute} % | | "
                 f"{g.site_minute} % | |")
    return "\n".join(lines)


def report(site: Site, window_s: float, rssi_min: int, fit_day: dt.date, test_day: dt.date, from_hour: int,
           to_hour: int) -> str:
    """What ``python -m edge calibrate`` prints: the TOML to paste, then the held-out day's scores."""
    cal = calibrate(site, window_s, rssi_min, fit_day, test_day, from_hour, to_hour)
    s = cal.fused
    return (toml_snippet(cal.estimator, window_s)
            + f"\n# Held-out day {test_day} (seed 2), fitted on {fit_day} (seed 1), peak hours "
              f"{s.peak_hours[0]}:00-{s.peak_hours[1]}:00, MAPE: per zone and minute {s.zone_minute} %, per zone "
              f"and 15 minutes {s.zone_bucket} %, all probe zones together {s.site_minute} % "
              f"({s.zone_minutes} zone-minutes)\n\n" + format_scores(cal) + "\n")
