"""The live engine: every message meets the device contract, the same seed gives the same messages,
and the live flow follows the same profiles as the history (one flow model, two speeds)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from firmware_sim.engine import SimOptions, Simulation
from firmware_sim.history import simulate_days
from floorops.kinds import BUILTIN
from floorops import contract
from floorops.site import Site

from .conftest import Recorder, local_ms

HOUR = 3_600_000


def run(site: Site, seed: int, hours: float = 0.5, start=(2026, 11, 23, 9, 30), **kw) -> tuple[Simulation, Recorder]:
    rec = Recorder()
    sim = Simulation(site, local_ms(site, *start), rec, SimOptions(seed=seed, **kw))
    sim.start()
    sim.advance_to(sim.start_ms + int(hours * HOUR))
    return sim, rec


@pytest.fixture(scope="module")
def morning(demo_site: Site) -> tuple[Simulation, Recorder]:
    return run(demo_site, seed=5, hours=0.5)


def test_every_mqtt_message_validates(morning) -> None:
    sim, rec = morning
    kinds = Counter()
    for device_id, topic, payload in rec.mqtt_msgs:
        t, data = BUILTIN.validate_message(topic, payload)
        assert t.device_id == device_id and t.site == "demo"
        kinds[(t.kind, t.channel)] += 1
    assert kinds[("queue_screen", "telemetry")] > 100
    assert kinds[("queue_screen", "event")] > 100
    assert kinds[("kiosk", "telemetry")] > 30
    assert kinds[("wifi_probe", "telemetry")] > 100
    assert sim.counts["errors"] == 0


def test_queue_events_tell_a_consistent_story(morning) -> None:
    sim, rec = morning
    events = [json.loads(p) for t, p in rec.of("qs-lab-1") if t.endswith("/event")]
    names = Counter(e["event"] for e in events)
    assert names["ticket_issued"] > 10 and names["ticket_called"] > 10 and names["ticket_served"] > 5
    seqs = [json.loads(p)["seq"] for t, p in rec.of("qs-lab-1")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    issued = {e["ticket"] for e in events if e["event"] == "ticket_issued"}
    called_new = [e for e in events if e["event"] == "ticket_called" and e["ticket"] in issued]
    assert called_new, "tickets issued during the run get called"
    tele = [json.loads(p) for t, p in rec.of("qs-lab-1") if t.endswith("/telemetry")]
    assert tele[-1]["counters_open"] == 6 and tele[-1]["waiting"] >= 0 and tele[-1]["avg_wait_s"] > 0


def test_probe_sightings_follow_the_people_in_the_zone(morning) -> None:
    sim, rec = morning
    macs = set()
    for _t, p in rec.of("probe-03"):  # registration hall
        for s in json.loads(p)["sightings"]:
            macs.add(s["mac"])
    present = sim.truth.current["reg_hall"]["occupancy"]
    assert len(macs) > 0.3 * present
    randomised = [m for m in macs if contract.is_locally_administered(m)]
    assert 0 < len(randomised) < len(macs)


def test_serial_probe_lines_parse(morning) -> None:
    sim, rec = morning
    parsed = Counter()
    for _device_id, data in rec.serial_data:
        for line in data.split(b"\r\n"):
            if line:
                parsed[type(contract.parse_probe_line(line)).__name__] += 1
    assert parsed["ProbeSighting"] > 50
    assert parsed["ProbeHeartbeat"] >= 6 * 6 * 2  # six probes, every 10 s, half an hour (at least)


def test_chargers_registers_are_plausible(morning) -> None:
    sim, _ = morning
    regs = sim.devices["charger-01"].registers()
    assert regs[contract.REG_FIRMWARE] == 203 and regs[contract.REG_SLOT_COUNT] == 8
    assert regs[contract.REG_STATUS] & contract.STATUS_MAINS_OK
    assert 200 <= contract.signed16(regs[contract.REG_TEMPERATURE]) <= 450
    states = [regs[contract.slot_address(k)] for k in range(8)]
    assert set(states) <= {0, 1, 2, 3, 4}
    assert sim.counts["wheelchairs_borrowed"] > 0


def test_same_seed_same_messages(demo_site: Site) -> None:
    _, a = run(demo_site, seed=9, hours=0.1, faults_per_device_day=50, bad_input_per_device_hour=5)
    _, b = run(demo_site, seed=9, hours=0.1, faults_per_device_day=50, bad_input_per_device_hour=5)
    _, c = run(demo_site, seed=10, hours=0.1)
    assert a.mqtt_msgs == b.mqtt_msgs and a.serial_data == b.serial_data and a.power_events == b.power_events
    assert a.mqtt_msgs != c.mqtt_msgs


def test_live_flow_follows_the_history_profile(demo_site: Site) -> None:
    """A whole live Tuesday (no devices, flow and patients only) against the vectorised history."""
    sim, _ = run(demo_site, seed=4, hours=24, start=(2026, 11, 17, 0, 0), only_devices=set())
    rows = [r for r in sim.truth.rows if r.ts.startswith("2026-11-17")]
    assert len(rows) == 96 * len(demo_site.zones)
    live = np.array([r.arrivals for r in rows]).reshape(96, len(demo_site.zones)).sum(axis=1)  # tickets
    hist = simulate_days(demo_site, [__import__("datetime").date(2026, 11, 17)] * 8, seed=4)
    ref = hist.arrivals.sum(axis=(1, 2))
    assert abs(live.sum() - ref.mean()) < 4 * ref.std() + 0.06 * ref.mean()
    hourly = live.reshape(24, 4).sum(axis=1)
    assert int(np.argmax(hourly)) in (8, 9)
    sim.tracker.check(sim.state.waiting, sim.state.serving)
