"""Occupancy estimator and windows, without the simulator: synthetic days with a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from floorops.config import load_config
from floorops.contract import format_probe_line
from floorops.site import load_site

from edge.metrics import EdgeMetrics
from edge.pipeline import Item, MqttIn, Pipeline, ProbeLine, Tick
from edge.processors.occupancy import QUEUE_STALE_MS, OccupancyEstimator, ZoneFeatures, ZoneWindows
from edge.processors.privacy import MacHasher

SITE = load_site(load_config(env={}).site.file)


def synthetic_day(seed: int, minutes: int = 600) -> tuple[list[str], list[ZoneFeatures], np.ndarray]:
    """A clinic ("clinic": waiting room and 4 counters) and a hall without a queue ("hall").

    Everyone in the clinic holds a ticket (waiting or at a counter); 80 % carry a phone, 30 % of those
    randomise, and a probe hears each phone in the window with probability 0.95."""
    rng = np.random.default_rng(seed)
    zones: list[str] = []
    feats: list[ZoneFeatures] = []
    truth: list[float] = []
    load = 8 + 6 * np.sin(np.linspace(0, np.pi, minutes)) + rng.normal(0, 1, minutes).cumsum() * 0.2
    for m in range(minutes):
        waiting = int(rng.poisson(max(0.5, load[m])))
        counters = 4
        serving = counters if waiting else int(rng.integers(0, counters + 1))
        for zone, people, queue in (("clinic", waiting + serving, True), ("hall", int(rng.poisson(25)), False)):
            phones = rng.binomial(people, 0.8)
            randomising = rng.binomial(phones, 0.3)
            u = rng.binomial(phones - randomising, 0.95)
            r = rng.binomial(randomising, 0.95) + rng.binomial(randomising, 0.3)  # rotated within the window
            f = ZoneFeatures(u, r, rng.binomial(u, 0.7), rng.binomial(r, 0.6), waiting if queue else 0,
                             serving if queue else 0, queues_fresh=queue)
            zones.append(zone)
            feats.append(f)
            truth.append(float(people))
    return zones, feats, np.array(truth)


def mape(est: OccupancyEstimator, zones: list[str], feats: list[ZoneFeatures], truth: np.ndarray, zone: str) -> float:
    idx = [i for i, z in enumerate(zones) if z == zone and truth[i] >= 5]
    return float(np.mean([abs(est.predict_zone(zone, feats[i]) - truth[i]) / truth[i] for i in idx]))


def test_fit_on_one_day_predicts_another_and_the_queue_screens_help() -> None:
    z1, f1, y1 = synthetic_day(1)
    z2, f2, y2 = synthetic_day(2)
    est = OccupancyEstimator().fit([f.universal for f in f1], [f.randomised for f in f1], y1)
    est.fit_zones_linear(z1, f1, y1)
    assert set(est.zone_weights) == {"clinic"}  # the hall has no queue screen: phones only
    assert set(est.zone_phone_weights) == {"clinic", "hall"}
    assert all(0 <= est.zone_weights["clinic"][k] <= 1 for k in ("waiting", "at_counter"))
    fused = mape(est, z2, f2, y2, "clinic")
    phones = mape(OccupancyEstimator(zone_phone_weights=est.zone_phone_weights), z2, f2, y2, "clinic")
    assert fused < 0.02 < 0.05 < phones  # waiting + at a counter is the clinic's head count, phones a sample
    assert mape(est, z2, f2, y2, "hall") < 0.15  # 25 people, 80 % with a phone: binomial noise remains


def test_stale_screens_fall_back_to_phones_and_unfitted_zones_to_the_global_formula() -> None:
    est = OccupancyEstimator(0.8, 2.0, {"hall": 1.5}, zone_weights={"clinic": {"universal": 0.0, "waiting": 1.0}},
                             zone_phone_weights={"clinic": {"universal": 2.0}})
    fresh = ZoneFeatures(universal=3, waiting=10, queues_fresh=True)
    assert est.predict_zone("clinic", fresh) == 10.0
    assert est.predict_zone("clinic", ZoneFeatures(universal=3, waiting=10, queues_fresh=False)) == 6.0
    assert est.predict_zone("hall", ZoneFeatures(universal=8, randomised=4)) == pytest.approx(1.5 * (8 + 4 / 2) / 0.8)
    assert est.predict_zone("clinic", ZoneFeatures(universal=0, waiting=-5, queues_fresh=True)) == 0.0


def test_configured_weights_are_checked_by_name() -> None:
    est = OccupancyEstimator(zone_weights={"lab": {"universal": 0.5, "waiting": 1}})
    assert est.zone_weights["lab"] == {"universal": 0.5, "waiting": 1.0}
    with pytest.raises(ValueError, match=r"occupancy_zone_weights\.lab: unknown feature\(s\) \['wating'\]"):
        OccupancyEstimator(zone_weights={"lab": {"wating": 1.0}})
    with pytest.raises(ValueError, match="occupancy_zone_phone_weights.lab: weights must be numbers"):
        OccupancyEstimator(zone_phone_weights={"lab": {"universal": "many"}})


def test_windows_give_recent_half_queues_by_name_tickets_at_counters_and_staleness() -> None:
    w = ZoneWindows(window_s=120, rssi_min=-80)
    w.observe("z", "a", 10_000, -60, False)  # early in the window
    w.observe("z", "b", 100_000, -60, False)  # in the recent half
    w.observe("z", "r", 110_000, -60, True)
    w.observe("z", "far", 110_000, -90, False)  # next door
    w.observe_queue("z", "screen-1", 100_000, {"queue": "Q1", "waiting": 5, "counters_open": 3})
    w.observe_queue("z", "screen-2", 105_000, {"queue": "Q1", "waiting": 6, "counters_open": 3})  # same queue
    w.observe_queue("z", "screen-3", 100_000, {"queue": "Q2", "waiting": 0, "counters_open": 2})
    assert not w.observe_queue("z", "screen-4", 100_000, {"queue": "Q3"})  # no reading: ignored
    for ts, event, ticket in ((101_000, "ticket_called", "A1"), (102_000, "ticket_called", "A2"),
                              (103_000, "ticket_called", "A3"), (104_000, "ticket_called", "A4"),
                              (106_000, "ticket_served", "A1"),
                              (107_000, "ticket_served", "A0"),  # called before the edge started: ignored
                              (108_000, "ticket_no_show", "A2"), (109_000, "ticket_called", "B1")):
        assert w.observe_queue("z", "screen-1", ts, {"event": event, "queue": "Q1", "ticket": ticket})
    w.observe_queue("z", "screen-3", 109_000, {"event": "ticket_called", "queue": "Q2", "ticket": "C1"})
    w.observe_queue("z", "screen-3", 109_000, {"event": "ticket_called", "queue": "Q2", "ticket": "C2"})
    w.observe_queue("z", "screen-3", 109_000, {"event": "ticket_called", "queue": "Q2", "ticket": "C3"})
    assert not w.observe_queue("z", "screen-1", 109_000, {"event": "display_fault", "queue": "Q1"})
    f = w.features("z", 115_000)
    assert (f.universal, f.randomised, f.universal_recent, f.randomised_recent) == (2, 1, 1, 1)
    # Q1: A3, A4, B1 at counters (3 open); Q2: three called but only 2 counters open: a lost "served"
    assert (f.waiting, f.at_counter, f.queues_fresh) == (6, 3 + 2, True)
    assert w.counts("z", 115_000) == (2, 1)
    later = w.features("z", 100_000 + QUEUE_STALE_MS + 1)  # Q2's screen has gone quiet
    assert later.queues_fresh is False and later.universal == 1  # "a" has left the window


def test_pipeline_feeds_queue_screen_readings_to_the_estimate(tmp_path: Path) -> None:
    """A queue screen's telemetry changes the published occupancy of its zone (lab has two screens)."""
    now = [1_800_000_000_000]
    est = OccupancyEstimator(0.8, 2.0, zone_weights={"lab": {"universal": 0.5, "waiting": 1.0, "at_counter": 1.0}},
                             zone_phone_weights={"lab": {"universal": 1.25}})
    p = Pipeline(SITE, MacHasher(tmp_path / "keys"), EdgeMetrics(), clock_skew_bound_s=120, occupancy_window_s=120,
                 occupancy_rssi_min=-80, estimator=est, now_ms=lambda: now[0])
    lab_probe = next(d for d in SITE.devices if d.kind == "wifi_probe" and d.zone == "lab")
    screens = [d for d in SITE.devices if d.kind == "queue_screen" and d.zone == "lab"]
    fields = ["PRB", lab_probe.id, str(now[0]), "3C:22:FB:00:00:01", "-60", "6"]
    items: list[Item] = [ProbeLine("ttyUSB0", format_probe_line(fields).rstrip(b"\r\n"))]
    b = p.process(items + [Tick(now[0] + 1000)])
    occ = {json.loads(r[1])["zone"]: json.loads(r[1]) for r in b.records if "/zone/" in r[0]}
    assert occ["lab"]["occupancy"] == 1.2  # screens not heard yet: phones only (1.25 x 1 phone, rounded)
    for seq, s in enumerate(screens, 1):
        body = {"v": 1, "ts": now[0], "seq": seq, "queue": s.queue, "waiting": 7, "serving": "A001",
                "counters_open": 2, "avg_wait_s": 300}
        items.append(MqttIn(f"hospital/demo/queue_screen/{s.id}/telemetry", json.dumps(body).encode(), seq, 1))
    called = {"v": 1, "ts": now[0], "seq": 9, "event": "ticket_called", "queue": screens[0].queue, "ticket": "A002",
              "counter": "1"}
    items.append(MqttIn(f"hospital/demo/queue_screen/{screens[0].id}/event", json.dumps(called).encode(), 9, 1))
    b = p.process(items[1:] + [Tick(now[0] + 2000)])
    occ = {json.loads(r[1])["zone"]: json.loads(r[1]) for r in b.records if "/zone/" in r[0]}
    assert occ["lab"]["occupancy"] == 0.5 * 1 + 7 * len(screens) + 1  # a phone, the waiting, one at a counter
