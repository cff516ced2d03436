"""Patient-flow accuracy against the simulator's ground truth (bench/flow_accuracy.py, tests).

Why in centre/: it runs the simulator (firmware_sim) and the edge's pipeline together, as the occupancy
calibration does (centre/calibration.py). The simulated probes hear the simulated patients' phones (some
without a phone, some randomising their MAC); their messages go through the edge's own pipeline
(validation, hashing, the flow tracker with its k rule), and the flow intervals the edge would publish
are compared, per hour, with the transitions and back-and-forths the simulator's patients really made
(firmware_sim.patients.FlowTruth).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import flow_calibration as flow_calibration_store
from edge.calibration_store import load_for_site
from edge.inputs.serial_probe import LineFramer
from edge.kinds import edge_kind
from edge.metrics import EdgeMetrics
from edge.pipeline import Item, MqttIn, Pipeline, Tick
from edge.processors.flows import FlowSettings
from edge.processors.occupancy import OccupancyEstimator
from edge.processors.privacy import MacHasher
from firmware_sim import patients
from firmware_sim.engine import SimOptions, Simulation
from floorops.site import Site

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def imaging_zones(site: Site) -> tuple[str, ...]:
    """The zones where the simulator's patients get lost (firmware_sim.patients.LOST_ZONE_KINDS)."""
    return tuple(z.id for z in site.zones if z.kind in patients.LOST_ZONE_KINDS)


@dataclass
class FlowRun:
    """One simulated stretch: the edge's intervals and the simulator's truth."""

    intervals: list[dict[str, Any]]
    truth: patients.FlowTruth
    start_ms: int
    end_ms: int
    # zone -> (visitors, detours seen, detection share) the edge still holds back under k at the end: it
    # publishes them once more come (the next day), so they count as measured, not as lost.
    held: dict[str, tuple[int, int, float]] = field(default_factory=dict)


def simulate(site: Site, day: dt.date, seed: int, from_hour: int = 8, to_hour: int = 12,
             unclear: tuple[str, ...] = (), randomising_share: float | None = None,
             settings: FlowSettings | None = None, calibration: Path | None = None,
             unclear_from_hour: float | None = None, flow_calibration: Path | None = None) -> FlowRun:
    """The site's probes through the edge pipeline for ``from_hour`` to ``to_hour`` (local) of ``day``.
    ``unclear``: imaging zones whose signage is unclear all along; ``randomising_share``: the share of
    phones that randomise their MAC (the simulator's default otherwise); ``unclear_from_hour``: the
    ``unclear`` zones' signs go unclear only at that local hour (as ``inject <zone> signage_unclear``);
    ``flow_calibration``: the detection shares the edge corrects its wandering rates with (none: as seen)."""
    probes = {d.id for d in site.devices if edge_kind(d.kind).sightings_channel}
    items: list[Item] = []
    framers: dict[str, LineFramer] = {}

    class Capture:
        def mqtt(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> None:
            items.append(MqttIn(topic, payload, 0, 0))

        def serial(self, device_id: str, data: bytes) -> None:
            items.extend(framers.setdefault(device_id, LineFramer(device_id)).feed(data))

        def power(self, device_id: str, on: bool, ts_ms: int) -> None:
            pass

    start = dt.datetime(day.year, day.month, day.day, from_hour, tzinfo=site.tz)
    start_ms = int(start.timestamp() * 1000)
    end_ms = start_ms + (to_hour - from_hour) * HOUR_MS
    saved = patients.RANDOMISING_SHARE
    if randomising_share is not None:
        patients.RANDOMISING_SHARE = randomising_share
    try:
        sim = Simulation(site, start_ms, Capture(), SimOptions(seed=seed, only_devices=probes))
        spoil_at = start_ms + int(((unclear_from_hour or from_hour) - from_hour) * HOUR_MS)
        sim.start()
        estimator = OccupancyEstimator()
        s = settings or FlowSettings()
        if calibration is not None:
            loaded = load_for_site(calibration, site, 120.0, s.rssi_min)
            if loaded.estimator is not None:
                estimator = loaded.estimator
        flow_cal = flow_calibration_store.load_for_site(flow_calibration, site, s) \
            if flow_calibration is not None else None
        detection = flow_cal.detection if flow_cal else {}
        intervals: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory() as keys:
            pipeline = Pipeline(site, MacHasher(Path(keys), site.tz), EdgeMetrics(), clock_skew_bound_s=0,
                                occupancy_window_s=120, occupancy_rssi_min=s.rssi_min, estimator=estimator,
                                flows=s, flow_detection=detection)
            t = start_ms
            while t < end_ms + 2 * int(s.interval_s * 1000):
                if t >= spoil_at:
                    for z in unclear:
                        sim.tracker.set_signage(z, True)
                t += MINUTE_MS
                sim.advance_to(t)
                b = pipeline.process(items + [Tick(t)])
                items.clear()
                intervals += [_json(r) for topic, r, _ in b.records if topic.endswith("/flows/interval")]
            held = {z: (w.visitors, w.back_and_forth, detection.get(z, 1.0))
                    for z, w in pipeline.flows.carried_zones.items()}
    finally:
        patients.RANDOMISING_SHARE = saved
    truth = sim.tracker.truth
    return FlowRun([iv for iv in intervals if start_ms <= iv["start"] < end_ms], truth, start_ms, end_ms, held)


def _json(payload: bytes) -> dict[str, Any]:
    import json
    out: dict[str, Any] = json.loads(payload)
    return out


@dataclass
class PairError:
    hour: int
    origin: str
    dest: str
    truth: int
    measured: int
    oracle: float  # the transitions of followable phones, scaled by the true share of them: sampling alone

    @property
    def error(self) -> float:
        return abs(self.measured - self.truth) / self.truth

    @property
    def oracle_error(self) -> float:
        return abs(self.oracle - self.truth) / self.truth


@dataclass
class Accuracy:
    pairs: list[PairError] = field(default_factory=list)  # the busy pairs, per hour
    # zone -> (true rate, measured rate, true arrivals, rate among followable phones: the oracle)
    wandering: dict[str, tuple[float, float, int, float]] = field(default_factory=dict)

    def worst_pair(self) -> float:
        return max((p.error for p in self.pairs), default=0.0)

    def mean_pair(self) -> float:
        return sum(p.error for p in self.pairs) / len(self.pairs) if self.pairs else 0.0

    def share_within(self, bound: float, oracle: bool = False) -> float:
        if not self.pairs:
            return 1.0
        return sum((p.oracle_error if oracle else p.error) <= bound for p in self.pairs) / len(self.pairs)


def accuracy(run: FlowRun, busy_min: int = 30, zones: tuple[str, ...] = ()) -> Accuracy:
    """Per hour and zone pair with at least ``busy_min`` true transitions (the busy pairs): the edge's
    count against the truth. Per zone in ``zones`` (or every zone with a back-and-forth): the true and the
    measured back-and-forth rate over the whole run."""
    measured: dict[tuple[int, str, str], int] = {}
    for iv in run.intervals:
        hour = iv["start"] - iv["start"] % HOUR_MS
        for f in iv["flows"]:
            key = (hour, f["origin"], f["dest"])
            measured[key] = measured.get(key, 0) + int(f["count"])
    acc = Accuracy()
    t = run.truth
    share = sum(t.followable.values()) / max(1, sum(t.transitions.values()))
    for (hour, o, d), n in sorted(t.transitions.items()):
        if run.start_ms <= hour < run.end_ms and n >= busy_min:
            acc.pairs.append(PairError(hour, o, d, n, measured.get((hour, o, d), 0),
                                       t.followable.get((hour, o, d), 0) / share))
    visitors: dict[str, int] = {}
    bnf: dict[str, float] = {}  # detours seen, each divided by the share of them the edge sees (calibrated)
    for iv in run.intervals:
        for w in iv["wandering"]:
            visitors[w["zone"]] = visitors.get(w["zone"], 0) + w["visitors"]
            bnf[w["zone"]] = bnf.get(w["zone"], 0) + w["back_and_forth"] / float(w.get("detection", 1.0))
    for zone, (v, b, share) in run.held.items():
        visitors[zone] = visitors.get(zone, 0) + v
        bnf[zone] = bnf.get(zone, 0) + b / share
    t_arr: dict[str, int] = {}
    t_bnf: dict[str, int] = {}
    for (hour, z), n in run.truth.arrivals.items():
        if run.start_ms <= hour < run.end_ms:
            t_arr[z] = t_arr.get(z, 0) + n
    for (hour, z), n in run.truth.back_and_forth.items():
        if run.start_ms <= hour < run.end_ms:
            t_bnf[z] = t_bnf.get(z, 0) + n
    f_arr = {z: sum(n for (h, zz), n in t.followable_arrivals.items() if zz == z and run.start_ms <= h < run.end_ms)
             for z in t_arr}
    f_bnf = {z: sum(n for (h, zz), n in t.followable_back_and_forth.items() if zz == z and run.start_ms <= h < run.end_ms)
             for z in t_arr}
    for z in zones or tuple(sorted(t_bnf)):
        truth_rate = t_bnf.get(z, 0) / t_arr[z] if t_arr.get(z) else 0.0
        rate = bnf.get(z, 0) / visitors[z] if visitors.get(z) else 0.0
        oracle = f_bnf.get(z, 0) / f_arr[z] if f_arr.get(z) else 0.0
        acc.wandering[z] = (truth_rate, rate, t_arr.get(z, 0), oracle)
    return acc
