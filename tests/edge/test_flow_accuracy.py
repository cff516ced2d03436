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


def test_wandering_rate_within_20_percent_where_signs_are_unclear(unclear_day: Any) -> None:
    acc = accuracy(unclear_day, zones=IMAGING)
    truth, measured, arrivals, _ = acc.wandering["imaging_ct"]
    assert arrivals >= 100 and truth > 0.15
    assert abs(measured - truth) / truth <= 0.20
    truth, measured, _, _ = acc.wandering["imaging_us"]
    assert abs(measured - truth) / truth <= 0.20


def test_no_count_under_k_and_no_hash_in_what_the_edge_publishes(unclear_day: Any) -> None:
    for iv in unclear_day.intervals:
        assert all(f["tracked"] >= iv["k"] for f in iv["flows"])
        assert all(w["visitors"] in (0,) or w["visitors"] >= iv["k"] for w in iv["wandering"])
        assert all(w["back_and_forth"] == 0 or w["back_and_forth"] >= iv["k"] for w in iv["wandering"])
        assert set(iv) == {"v", "start", "end", "interval_s", "k", "scale", "flows", "other", "wandering",
                           "randomised_ignored"}
