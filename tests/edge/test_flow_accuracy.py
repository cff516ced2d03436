"""Patient flow against the simulator's ground truth: the simulated probes through the edge's own pipeline
(hashing, the flow tracker, k = 5), compared with what the simulated patients really did
(centre/flow_accuracy.py; the full figures: bench/flow_accuracy.py, docs/benchmarks.md "Patient flow")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from centre.flow_accuracy import accuracy, simulate
from floorops.config import load_config
from floorops.site import load_site

pytestmark = pytest.mark.slow

IMAGING = ("imaging_ct", "imaging_us", "imaging_xr")


@pytest.fixture(scope="module")
def site_and_cal() -> tuple[Any, Path]:
    cfg = load_config(env={})
    return load_site(cfg.site.file), Path(cfg.edge.occupancy_calibration)


@pytest.fixture(scope="module")
def unclear_day(site_and_cal: tuple[Any, Path]) -> Any:
    """A working day (08:00-18:00, seed 2) with the imaging zones' signs unclear."""
    site, cal = site_and_cal
    return simulate(site, dt.date(2026, 11, 17), 2, 8, 18, unclear=IMAGING, calibration=cal)


def test_the_busiest_pairs_are_within_15_percent_per_hour(unclear_day: Any) -> None:
    """Pairs with at least 150 people an hour: there the sampling of followed phones is small enough for
    the target (quieter pairs: docs/benchmarks.md says how far off they are, and why)."""
    acc = accuracy(unclear_day, busy_min=150)
    assert len(acc.pairs) >= 8
    assert [(p.origin, p.dest, p.truth, p.measured) for p in acc.pairs if p.error > 0.15] == []


def test_every_busy_pair_is_counted_and_most_are_close(unclear_day: Any) -> None:
    acc = accuracy(unclear_day, busy_min=30)
    assert all(p.measured > 0 for p in acc.pairs)
    assert acc.share_within(0.35) >= 0.95  # short visits missed at the origin or destination: see the docs


def test_unclear_signs_show_as_back_and_forth_at_every_imaging_zone(unclear_day: Any) -> None:
    """Issue #17 asks for the wandering rate within 20 % of the truth; the edge is not there yet. It
    under-counts by about a quarter (a lost patient's first look of 1-2 minutes is often not heard: a phone
    probes about every 40 s), and one zone's rate over a day rests on ~100 followed phones, a ~25 % sampling
    error alone (docs/benchmarks.md, "Patient flow"). What holds on every seed tried, and is guarded here:
    the rise is seen at each imaging zone, and the area's rate is 60-105 % of the truth, never above it."""
    acc = accuracy(unclear_day, zones=IMAGING)
    rows = [acc.wandering[z] for z in IMAGING]  # (truth, measured, arrivals, oracle)
    assert all(arrivals >= 100 and truth > 0.15 for truth, _, arrivals, _ in rows), rows
    assert all(measured > 0.08 for _, measured, _, _ in rows), rows  # clear signs: ~5 % get lost
    arrivals = sum(r[2] for r in rows)
    truth = sum(r[0] * r[2] for r in rows) / arrivals
    measured = sum(r[1] * r[2] for r in rows) / arrivals
    assert 0.60 <= measured / truth <= 1.05, (measured, truth, rows)


def test_no_count_under_k_and_no_hash_in_what_the_edge_publishes(unclear_day: Any) -> None:
    for iv in unclear_day.intervals:
        assert all(f["tracked"] >= iv["k"] for f in iv["flows"])
        assert all(w["visitors"] in (0,) or w["visitors"] >= iv["k"] for w in iv["wandering"])
        assert all(w["back_and_forth"] == 0 or w["back_and_forth"] >= iv["k"] for w in iv["wandering"])
        assert set(iv) == {"v", "start", "end", "interval_s", "k", "scale", "flows", "other", "wandering",
                           "randomised_ignored"}
