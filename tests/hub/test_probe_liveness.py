"""Wi-Fi probe liveness as the edge reports it (a sighting count, or a USB probe's heartbeat; never a MAC):
the hub keeps a probe online while these arrive, raises the rules' ``device_offline`` when they stop for
longer than the probe's bound, and brings it back when they resume.

The records are built by the edge's own serializer (``edge.processors.normalise.hub_record``) with the
shapes ``edge/pipeline.py`` sends, so a change on either side of the contract shows here."""

from __future__ import annotations

import pytest

from edge.processors.normalise import hub_record
from edge.processors.validate import DeviceMessage
from floorops.config import Config
from hub import views
from hub.clock import ManualClock
from hub.core import Hub
from tests.hub.helpers import make_hub, open_alarms


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


class ProbeEdge:
    """What the edge sends the hub about probes, timed by the hub's ManualClock."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.seq = 0

    def _send(self, msg: DeviceMessage) -> None:
        zone = self.hub.site.device(msg.device_id).zone
        topic, payload = hub_record(msg, self.hub.site.id, zone)
        self.hub.apply_messages([(topic, payload)])

    def now_ms(self) -> int:
        return int(self.hub.clock.now() * 1000)

    def sightings(self, probe: str, count: int) -> None:
        """A networked probe's batch, summarised as a count (pipeline._accept)."""
        self.seq += 1
        self._send(DeviceMessage("wifi_probe", probe, "telemetry", self.now_ms(), self.seq, {"sightings": count}))

    def usb_sighting(self, probe: str) -> None:
        """A USB probe's $PRB line: one record per sighting, without a seq (pipeline._accept)."""
        self._send(DeviceMessage("wifi_probe", probe, "telemetry", self.now_ms(), None, {"sightings": 1}))

    def heartbeat(self, probe: str, uptime_s: int) -> None:
        """A USB probe's $HBT line, forwarded without a seq (pipeline._one)."""
        self._send(DeviceMessage("wifi_probe", probe, "telemetry", self.now_ms(), None,
                                 {"sightings": 0, "uptime_s": uptime_s}))

    def status(self, probe: str, state: str) -> None:
        """The edge's own verdict on a USB probe (pipeline._status)."""
        self._send(DeviceMessage("wifi_probe", probe, "status", self.now_ms(), None, {"state": state, "source": "edge"}))


def run(hub: Hub, clock: ManualClock, seconds: int, every_s: int, send) -> None:
    """``seconds`` of hub time, ticking each second, calling ``send(t)`` every ``every_s``."""
    for t in range(seconds):
        if t % every_s == 0:
            send(t)
        clock.advance(1)
        hub.tick()


def test_networked_probe_stays_online_goes_offline_when_silent_and_comes_back(hub: Hub, clock: ManualClock) -> None:
    edge = ProbeEdge(hub)
    bound = hub.rules.rule("device_offline")["timeout_s"]["wifi_probe"]
    # Past the start-up grace, sending every 10 s (the contract's slowest), some batches empty.
    run(hub, clock, 180, 10, lambda t: edge.sightings("probe-03", t % 3))
    assert open_alarms(hub) == []
    probe = views.device_json(hub, "probe-03")
    assert probe["state"] == "online" and probe["zone"] == "reg_hall"
    assert set(probe["readings"]) == {"sightings"}  # a count only: nothing MAC-shaped reaches the hub

    edge.sightings("probe-03", 1)  # the last one
    run(hub, clock, int(bound), 1000, lambda t: None)  # silent for exactly the bound: not yet
    assert open_alarms(hub) == []
    run(hub, clock, 2, 1000, lambda t: None)
    [alarm] = open_alarms(hub)
    assert (alarm["type"], alarm["source"], alarm["zone"]) == ("device_offline", "probe-03", "reg_hall")
    assert alarm["severity"] == hub.rules.rule("device_offline")["severity"] == "major"
    assert alarm["detail"]["reason"] == "heartbeat"
    assert views.device_json(hub, "probe-03")["state"] == "offline"
    assert [t["device_id"] for t in hub.tickets.list("open")] == ["probe-03"]  # the rule asks for a ticket

    edge.sightings("probe-03", 0)  # back, even with nobody around
    assert open_alarms(hub) == []
    assert hub.alarms.list()[0]["cleared_by"] == "auto"
    assert views.device_json(hub, "probe-03")["state"] == "online"
    assert hub.tickets.list()[0]["resolution"] == "auto_cleared"
    run(hub, clock, 120, 5, lambda t: edge.sightings("probe-03", 2))
    assert open_alarms(hub) == []


def test_usb_probe_heartbeats_keep_it_online_and_the_edge_verdict_takes_it_offline(hub: Hub, clock: ManualClock) -> None:
    edge = ProbeEdge(hub)
    edge.status("probe-11", "online")
    run(hub, clock, 180, 10, lambda t: edge.heartbeat("probe-11", 1000 + t))  # $HBT every 10 s
    assert open_alarms(hub) == []
    edge.heartbeat("probe-11", 1180)
    assert views.device_json(hub, "probe-11")["state"] == "online"
    assert views.device_json(hub, "probe-11")["readings"]["sightings"] == 0

    # The edge hears nothing for 30 s and says so; the hub does not wait for its own, longer bound.
    run(hub, clock, 31, 1000, lambda t: None)
    edge.status("probe-11", "offline")
    [alarm] = open_alarms(hub)
    assert (alarm["type"], alarm["source"], alarm["detail"]["reason"]) == ("device_offline", "probe-11", "status")
    assert views.device_json(hub, "probe-11")["state"] == "offline"
    run(hub, clock, 120, 1000, lambda t: None)  # the silence goes on: still one alarm, not a second one
    assert len(open_alarms(hub)) == 1 and open_alarms(hub)[0]["count"] == 1

    edge.status("probe-11", "online")
    edge.heartbeat("probe-11", 5)  # it rebooted
    assert open_alarms(hub) == []
    assert views.device_json(hub, "probe-11")["state"] == "online"


def test_usb_probe_silent_while_the_edge_says_nothing_goes_offline_by_the_hub_bound(hub: Hub, clock: ManualClock) -> None:
    edge = ProbeEdge(hub)
    run(hub, clock, 120, 10, lambda t: edge.heartbeat("probe-12", t))
    edge.heartbeat("probe-12", 120)
    bound = hub.rules.rule("device_offline")["timeout_s"]["wifi_probe"]
    run(hub, clock, int(bound), 1000, lambda t: None)
    assert open_alarms(hub) == []
    run(hub, clock, 2, 1000, lambda t: None)
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["probe-12"]
    run(hub, clock, 30, 10, lambda t: edge.heartbeat("probe-12", t))
    assert open_alarms(hub) == [] and views.device_json(hub, "probe-12")["state"] == "online"


def test_usb_probe_records_in_the_same_millisecond_are_not_counted_as_duplicates(hub: Hub, clock: ManualClock) -> None:
    """Two phones seen in one millisecond are two records with no seq and the same time: nothing tells a
    replay from them, and counting them as duplicates would make the hub's duplicate counter lie."""
    edge = ProbeEdge(hub)
    for _ in range(3):
        edge.usb_sighting("probe-11")
    edge.heartbeat("probe-11", 50)
    assert hub.metrics["duplicates"] == 0
    assert views.device_json(hub, "probe-11")["state"] == "online"
