"""Issue #17's "done when": switching the CT area's signage to unclear raises the wandering figure there and
a guide is suggested. The simulated hospital's probes go through the edge's own pipeline (k = 5), the
intervals it would publish go to a hub on a clock that follows them; the signs go unclear at 10:00."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from centre.flow_accuracy import simulate
from floorops.config import load_config
from floorops.site import load_site
from floorops.topics import flows_topic
from hub.clock import ManualClock
from tests.hub.conftest import make_cfg
from tests.hub.helpers import make_hub, open_alarms

pytestmark = pytest.mark.slow


def test_unclear_ct_signs_raise_wandering_there_and_a_guide_is_offered(tmp_path: Path) -> None:
    cfg = load_config(env={})
    site = load_site(cfg.site.file)
    run = simulate(site, dt.date(2026, 11, 17), 2, 8, 14, unclear=("imaging_ct",), unclear_from_hour=10,
                   calibration=Path(cfg.path(cfg.edge.occupancy_calibration)),
                   flow_calibration=Path(cfg.path(cfg.edge.flow_calibration)))
    clock = ManualClock(run.start_ms / 1000)
    hub = make_hub(make_cfg(tmp_path), clock, site)
    spoiled_ms = run.start_ms + 2 * 3_600_000
    raised_at: dict[str, int] = {}
    rates: list[tuple[int, float]] = []
    for iv in run.intervals:
        clock.t = iv["end"] / 1000 + 60
        hub.apply_messages([(flows_topic(site.id), json.dumps(iv).encode())])
        for a in open_alarms(hub, "wandering_high"):
            raised_at.setdefault(a["zone"], iv["end"])
        summary = hub.flows.summary(iv["end"] - 7_200_000, iv["end"])
        rate = summary.rate("imaging_ct")
        if rate is not None:
            rates.append((iv["end"], rate))
    assert hub.metrics["rejected_bad_flows"] == 0
    # Only CT, and only after its signs went unclear (no alarm from the clear-signs morning elsewhere).
    assert list(raised_at) == ["imaging_ct"] and raised_at["imaging_ct"] > spoiled_ms
    before = [r for t, r in rates if t <= spoiled_ms]
    assert max(before, default=0.0) < 0.1 and max(r for _, r in rates) >= 0.2
    [a] = [a for a in hub.alarms.list() if a["type"] == "wandering_high"]
    assert a["detail"]["suggestion"] == "send a guide to CT"
    offers = hub.db.all("SELECT zone, reason FROM dispatches WHERE reason = 'wandering_high'")
    assert [r["zone"] for r in offers][:1] == ["imaging_ct"]
    hub.db.close()
