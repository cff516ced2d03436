"""Occupancy calibration against the simulator's ground truth (``python -m centre calibrate``).

Why in centre/: it runs the simulator (firmware_sim) and the edge's pipeline together, and neither of those
imports the other (docs/architecture.md, "Layers"). The simulated probes hear the simulated patients'
phones (some without a phone, some randomising their MAC) and the simulated queue screens report their
queues; their messages go through the edge's own pipeline (validation, hashing, windows, queue readings),
and the estimate for each probe zone is compared minute by minute with the number of people the flow
model has in the zone (edge/calibration.py fits and scores).

Error is MAPE (mean absolute percentage error) over the minutes of the peak hours, on a day that was not
used for the fit. The result is a calibration file (edge/calibration_store.py) the edge loads at start.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edge.calibration_store import Calibration as CalibrationFile
from edge.calibration import (MINUTE_MS, Score, SimulatedDay, counts, fit, global_only, peak_hours, phones_only,
                              score)
from edge.inputs.serial_probe import LineFramer
from edge.kinds import edge_kind, probe_zones
from edge.metrics import EdgeMetrics
from edge.pipeline import Item, MqttIn, Pipeline
from edge.processors.occupancy import OccupancyEstimator, ZoneWindows
from edge.processors.privacy import MacHasher
from firmware_sim.engine import SimOptions, Simulation
from floorops.site import Site


def simulate_day(site: Site, day: dt.date, seed: int, rssi_min: int, from_hour: int = 7,
                 to_hour: int = 18, on_minute: Callable[[int, Any], None] | None = None) -> SimulatedDay:
    """One simulated day of the site's probes and queue screens through the edge pipeline (validation,
    hashing, RSSI bound). ``on_minute(t_ms, simulation)`` lets an analysis look inside the simulator after
    each flow step (bench/occupancy_error_sources.py)."""
    zones = sorted(probe_zones(site.devices))
    probes = {d.id for d in site.devices if edge_kind(d.kind).sightings_channel}
    screens = {d.id for d in site.devices if edge_kind(d.kind).queue_readings and d.zone in zones}
    items: list[Item] = []
    framers: dict[str, LineFramer] = {}

    class Capture:
        def mqtt(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> None:
            items.append(MqttIn(topic, payload, 0, 0))

        def serial(self, device_id: str, data: bytes) -> None:
            items.extend(framers.setdefault(device_id, LineFramer(device_id)).feed(data))

        def power(self, device_id: str, on: bool, ts_ms: int) -> None:
            pass

    seen: dict[str, list[tuple[int, str, bool]]] = {z: [] for z in zones}
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
            previous = {z: float(population[zone_index[z]]) for z in zones}
    for v in seen.values():
        v.sort()
    queues.sort(key=lambda q: q[0])
    return SimulatedDay(seen, truth, queues)


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


def calibration_file(cal: Calibration, site: Site, window_s: float, rssi_min: int, fit_day: dt.date,
                     test_day: dt.date, from_hour: int, to_hour: int) -> CalibrationFile:
    """The calibration as the edge loads it: the estimator, what it was fitted under, its held-out error."""
    s = cal.fused
    return CalibrationFile(
        site.id, sorted(probe_zones(site.devices)), window_s, rssi_min, cal.estimator,
        fit={"source": "firmware_sim", "days": [fit_day.isoformat()], "seeds": [1], "hours": [from_hour, to_hour]},
        test={"source": "firmware_sim", "days": [test_day.isoformat()], "seeds": [2], "hours": [from_hour, to_hour],
              "peak_hours": list(s.peak_hours), "zone_minutes": s.zone_minutes},
        heldout_mape={"zone_minute": s.zone_minute, "zone_bucket": s.zone_bucket, "site_minute": s.site_minute,
                      "per_zone": {z: list(v) for z, v in sorted(s.per_zone.items())},
                      "phones_only_zone_minute": cal.phones.zone_minute})


def format_scores(cal: Calibration) -> str:
    """Per-zone table (Markdown) of the held-out day's MAPE for the three models."""
    lines = ["| zone | fused, minute | fused, 15 min | phones only, minute | phones only, 15 min | "
             "global + zone factor, minute | global + zone factor, 15 min |", "|---|---|---|---|---|---|---|"]
    for z in sorted(cal.fused.per_zone):
        f, p, g = cal.fused.per_zone[z], cal.phones.per_zone.get(z, (0, 0)), cal.global_factors.per_zone.get(z, (0, 0))
        lines.append(f"| {z} | {f[0]} % | {f[1]} % | {p[0]} % | {p[1]} % | {g[0]} % | {g[1]} % |")
    fs, ps, gs = cal.fused, cal.phones, cal.global_factors
    lines.append(f"| **all zones (mean)** | **{fs.zone_minute} %** | **{fs.zone_bucket} %** | {ps.zone_minute} % | "
                 f"{ps.zone_bucket} % | {gs.zone_minute} % | {gs.zone_bucket} % |")
    lines.append(f"| site-wide (all probe zones together, each minute) | {fs.site_minute} % | | {ps.site_minute} % | | "
                 f"{gs.site_minute} % | |")
    return "\n".join(lines)


def summary(cal: Calibration, fit_day: dt.date, test_day: dt.date) -> str:
    """What ``python -m centre calibrate`` prints: the held-out day's scores."""
    s = cal.fused
    return (f"Held-out day {test_day} (seed 2), fitted on {fit_day} (seed 1), peak hours "
            f"{s.peak_hours[0]}:00-{s.peak_hours[1]}:00, MAPE: per zone and minute {s.zone_minute} %, per zone "
            f"and 15 minutes {s.zone_bucket} %, all probe zones together {s.site_minute} % "
            f"({s.zone_minutes} zone-minutes)\n\n" + format_scores(cal) + "\n")
