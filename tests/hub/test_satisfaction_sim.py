"""The README's satisfaction demo, simulator and hub together on virtual days: ``inject sat-03 bad_mood``
(the pharmacy's terminal), and the pharmacy's daily scores from the simulated presses stay below 80 for
three days, so ``satisfaction_low`` opens a corrective action on the fourth night. Before bad_mood was
declared not a device fault, the simulated technician "repaired" it within the hour and no ticket opened.

The simulator runs in virtual time (``Simulation.advance_to``, no network); its terminal's messages are
checked against the contract and handed to a hub on a ManualClock set to each press's device time, as the
edge would relay them (the network path of presses is tested in tests/test_satisfaction_live.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from firmware_sim.engine import SimOptions, Simulation
from floorops.config import Config
from floorops.kinds import BUILTIN
from hub.clock import ManualClock
from tests.firmware_sim.conftest import Recorder
from tests.hub.helpers import Feeder, make_hub, open_alarms

TERMINAL, ZONE = "sat-03", "pharmacy"
DAY_MS = 86_400_000


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock) -> Any:
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def test_bad_mood_lasts_three_days_and_opens_the_pharmacys_corrective_action(hub: Any, clock: ManualClock) -> None:
    assert hub.site.device(TERMINAL).zone == ZONE
    tz = hub.tz
    monday = dt.date(2026, 11, 23)
    start_ms = int(dt.datetime.combine(monday, dt.time(7, 30), tz).timestamp() * 1000)
    rec = Recorder()
    # repair_min as make run has it: the technician repairs device faults within ~20 virtual minutes.
    sim = Simulation(hub.site, start_ms, rec, SimOptions(seed=4, only_devices={TERMINAL}, repair_min=20))
    sim.start()
    assert sim.inject(TERMINAL, "bad_mood")["repair_at_ms"] is None
    feed = Feeder(hub)
    fed = 0
    for n in range(1, 4):
        midnight = int(dt.datetime.combine(monday + dt.timedelta(days=n), dt.time(), tz).timestamp() * 1000)
        sim.advance_to(midnight)
        for topic, payload in rec.of(TERMINAL)[fed:]:
            _, body = BUILTIN.validate_message(topic, payload)
            if topic.endswith("/event") and body["event"] == "press":
                clock.set(body["ts"] / 1000)
                feed.record(TERMINAL, "event", {"event": "press", "button": body["button"]})
        fed = len(rec.of(TERMINAL))
        clock.set(midnight / 1000 + 60)
        hub.check_satisfaction()
        assert sim.devices[TERMINAL].has("bad_mood"), f"bad_mood was cleared on day {n}"
        if n < 3:
            assert open_alarms(hub, "satisfaction_low") == []
    scores = hub.satisfaction.scores(monday, monday + dt.timedelta(days=2), zone=ZONE)
    daily = [d["zones"][0] for d in scores["days"]]
    assert all(z["ratings"] >= 5 and z["score"] < 80 for z in daily), daily
    [alarm] = open_alarms(hub, "satisfaction_low")
    assert alarm["source"] == f"satisfaction:{ZONE}"
    [action] = hub.satisfaction.actions(open_only=True, zone=ZONE)
    assert [d["date"] for d in action["streak"]] == [(monday + dt.timedelta(days=k)).isoformat() for k in range(3)]
    assert action["state"] == "open" and json.dumps(action)  # what the console lists
