"""Patient flow against the simulator's ground truth: the simulated probes through the edge's own pipeline
(hashing, the flow tracker, k = 5), compared with what the simulated patients really did
(centre/flow_accuracy.py; the full figures: bench/flow_accuracy.py, docs/benchmarks.md "Patient flow")."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from centre.flow_accuracy import accuracy, simulate
from floorops.config import load_config
from floorops.site import load_site

pytestmark = pytest.mark.slow

IMAGING = ("imaging_ct", "imaging_us", "imaging_xr")


@pytest.fixture(scope="module")
def unclear_day() -> Any:
    """A working day (08:00-18:00) with the imaging zones' signs unclear, through the edge with the demo
    site's calibrations. The day and seed are among the flow calibration's held-out ones (2026-11-19, seeds
    5-7; it was fitted on 2026-11-17/18, seeds 2-4): the correction is tested on a day it has not seen."""
    cfg = load_config(env={})
    flow_cal = Path(cfg.path(cfg.edge.flow_calibration))
    assert 5 in json.loads(flow_cal.read_text())["heldout"]["seeds"]
    return simulate(load_site(cfg.site.file), dt.date(2026, 11, 19), 5, 8, 18, unclear=IMAGING,
                    calibration=Path(cfg.path(cfg.edge.occupancy_calibration)), flow_calibration=flow_cal)


def test_the_busy_pairs_are_mostly_within_15_percent_per_hour(unclear_day: Any) -> None:
    """Pairs with at least 100 people an hour. Over the six held-out days 96 % of such pair-hours are within
    15 % (the oracle, sampling alone: 99 %; median error 5.1 %), and every one is within 15 % of the oracle;
    the misses are sampling (docs/benchmarks.md, "Patient flow"). On this day all 14 are (worst 11 %); with
    5-minute intervals one was not (16 %: the k rule moved walks into the next hour). Guarded: 90 % within
    15 %, none past 20 %, and within 15 % of the oracle."""
    acc = accuracy(unclear_day, busy_min=100)
    assert len(acc.pairs) >= 10
    assert acc.share_within(0.15) >= 0.90, [(p.origin, p.dest, p.truth, p.measured) for p in acc.pairs]
    assert [(p.origin, p.dest, p.truth, p.measured) for p in acc.pairs if p.error > 0.20] == []
    assert [(p.origin, p.dest, round(p.oracle), p.measured) for p in acc.pairs
            if abs(p.measured - p.oracle) > 0.15 * p.oracle] == []


def test_quick_visits_no_probe_heard_do_not_leave_a_pair_under_counted(unclear_day: Any) -> None:
    """Off-peak, a visit to pay or draw blood lasts a minute and often goes unheard: before the edge
    estimated those visits (edge/processors/unheard_visits.py), reg_hall -> pharmacy read 14 % low over this
    day's busy hours. Each busy pair's day, summed, is now within 10 % of the truth."""
    acc = accuracy(unclear_day, busy_min=60)
    days: dict[tuple[str, str], list[int]] = {}
    for p in acc.pairs:
        day = days.setdefault((p.origin, p.dest), [0, 0])
        day[0] += p.truth
        day[1] += p.measured
    assert ("reg_hall", "pharmacy") in days and len(days) >= 3
    assert {pair: round(m / t - 1, 3) for pair, (t, m) in days.items() if abs(m - t) > 0.10 * t} == {}


def test_every_busy_pair_is_counted_and_most_are_close(unclear_day: Any) -> None:
    acc = accuracy(unclear_day, busy_min=30)
    assert all(p.measured > 0 for p in acc.pairs)
    assert acc.share_within(0.35) >= 0.95  # short visits missed at the origin or destination: see the docs


def test_the_wandering_rate_is_within_20_percent_of_the_truth(unclear_day: Any) -> None:
    """Issue #17: the wandering rate within 20 % of the truth. The edge misses about a fifth of the detours
    (a lost patient's first look of 1-2 minutes is often not heard: a phone probes about every 40 s); the
    flow calibration's detection share corrects that. One zone's rate over one day still rests on ~20
    detours seen, a sampling error the oracle shares (docs/benchmarks.md, "Patient flow"): the imaging area
    is held to 20 %, each zone to 30 % (and to 20 % pooled over the held-out days, in the benchmark)."""
    acc = accuracy(unclear_day, zones=IMAGING)
    rows = {z: acc.wandering[z] for z in IMAGING}  # (truth, measured, arrivals, oracle)
    assert all(arrivals >= 100 and truth > 0.15 for truth, _, arrivals, _ in rows.values()), rows
    assert {z: round(abs(m - t) / t, 2) for z, (t, m, _, _) in rows.items() if abs(m - t) > 0.30 * t} == {}, rows
    arrivals = sum(r[2] for r in rows.values())
    truth = sum(r[0] * r[2] for r in rows.values()) / arrivals
    measured = sum(r[1] * r[2] for r in rows.values()) / arrivals
    assert abs(measured - truth) <= 0.20 * truth, (measured, truth, rows)


def test_without_the_correction_the_edge_under_counts(unclear_day: Any) -> None:
    """What the correction is for: the detours as seen (each published zone's ``detection`` undone) read
    lower than the truth over the area."""
    seen = sum(w["back_and_forth"] for iv in unclear_day.intervals for w in iv["wandering"] if w["zone"] in IMAGING)
    estimated = sum(w["back_and_forth"] / w["detection"] for iv in unclear_day.intervals
                    for w in iv["wandering"] if w["zone"] in IMAGING)
    assert all(w["detection"] < 1.0 for iv in unclear_day.intervals for w in iv["wandering"] if w["zone"] in IMAGING)
    assert seen < 0.9 * estimated


def test_no_count_under_k_and_no_hash_in_what_the_edge_publishes(unclear_day: Any) -> None:
    for iv in unclear_day.intervals:
        assert all(f["tracked"] >= iv["k"] for f in iv["flows"])
        assert all(w["visitors"] in (0,) or w["visitors"] >= iv["k"] for w in iv["wandering"])
        assert all(w["back_and_forth"] == 0 or w["back_and_forth"] >= iv["k"] for w in iv["wandering"])
        assert set(iv) == {"v", "start", "end", "interval_s", "k", "scale", "flows", "other", "wandering",
                           "randomised_ignored"}
