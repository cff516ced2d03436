"""The simulated satisfaction terminals: presses that meet the contract, a mix that worsens with the zone's
crowding and queue, and ``bad_mood`` forcing low scores until cleared."""

from __future__ import annotations

import json

import numpy as np

from firmware_sim.devices.satisfaction_terminal import button_weights, expected_score
from firmware_sim.engine import SimOptions, Simulation
from firmware_sim.devices import simulated
from firmware_sim.faults import UnknownFault
from floorops.kinds import BUILTIN
from floorops.kinds.satisfaction_terminal import BUTTONS, POINTS
from floorops.site import Site

from .conftest import Recorder, local_ms

HOUR = 3_600_000
TERMINALS = {f"sat-0{i}" for i in range(1, 7)}


def _scores(rec: Recorder, device: str) -> list[int]:
    out = []
    for t, p in rec.of(device):
        if t.endswith("/event"):
            BUILTIN.validate_message(t, p)
            out.append(POINTS[json.loads(p)["button"]])
    return out


def test_the_mix_worsens_with_crowding_and_queues() -> None:
    calm, busy, packed = expected_score(0.1, 0.0), expected_score(0.8, 0.1), expected_score(1.5, 0.6)
    assert calm > busy > packed and calm == 95.0 and packed == 10.0
    mean = [float(np.dot(button_weights(s), [POINTS[b] for b in BUTTONS])) for s in (calm, busy, packed)]
    assert mean[0] > 80 > mean[1] > mean[2] and abs(sum(button_weights(busy)) - 1) < 1e-9


def test_terminals_press_with_the_flow_and_bad_mood_forces_low_scores(demo_site: Site) -> None:
    rec = Recorder()
    start = local_ms(demo_site, 2026, 11, 23, 8, 0)  # a Monday morning
    sim = Simulation(demo_site, start, rec, SimOptions(seed=3, only_devices=TERMINALS))
    sim.start()
    sim.inject("sat-01", "bad_mood", repair_min=0)  # the exit: until cleared by hand
    sim.advance_to(start + 2 * HOUR)
    moody, usual = _scores(rec, "sat-01"), _scores(rec, "sat-02")
    assert len(moody) > 20 and len(usual) > 20
    assert sum(moody) / len(moody) < 30 < 70 < sum(usual) / len(usual)
    tele = [json.loads(p) for t, p in rec.of("sat-02") if t.endswith("/telemetry")]
    counted = [t["presses"] for t in tele]  # the heartbeat's count of presses so far
    assert counted == sorted(counted) and 0 < counted[-1] <= len(usual)
    sim.inject("sat-01", "clear")
    n = len(moody)
    sim.advance_to(start + 4 * HOUR)
    after = _scores(rec, "sat-01")[n:]
    assert after and sum(after) / len(after) > 70
    assert sim.counts["errors"] == 0


def test_bad_mood_is_only_for_terminals_and_never_random() -> None:
    faults = simulated(BUILTIN).faults
    assert faults.check("bad_mood", "satisfaction_terminal", "mqtt") is not None
    try:
        faults.check("bad_mood", "kiosk", "mqtt")
    except UnknownFault:
        pass
    else:
        raise AssertionError("bad_mood applied to a kiosk")
    assert faults.specs["bad_mood"].weight == 0
