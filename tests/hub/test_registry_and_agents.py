"""The registry's empty payload removes a device; edge agents' retained status raises and clears
``agent_offline``. In-process on a ManualClock, messages as they come off the broker."""

from __future__ import annotations

import json

import pytest

from floorops.config import Config
from floorops.topics import EdgeRecord, agent_status_topic, edge_record_topic, records_topic, registry_topic
from hub import kpis, views
from hub.clock import ManualClock
from floorops.topics import relaying_agent
from hub.core import Hub
from tests.hub.helpers import Feeder, kiosk_ok, make_hub, open_alarms, queue_reading


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def events(hub: Hub, type_: str) -> list[dict]:
    return [e.data for e in hub.bus.since(0) if e.type == type_]


# -- device removal ------------------------------------------------------------------------------------


def remove(hub: Hub, device_id: str) -> None:
    hub.apply_messages([(registry_topic(hub.site.id, device_id), b"")])


def test_removed_device_leaves_live_state_its_alarms_close_and_history_stays(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "telemetry", kiosk_ok(card_reader="jammed", resp_ms=12_000))
    [ticket] = hub.tickets.list("open")
    assert {a["type"] for a in open_alarms(hub)} == {"card_jam", "slow_response"}
    clock.advance(5)

    remove(hub, "kiosk-01")
    assert "kiosk-01" not in hub.state.devices
    assert open_alarms(hub) == []
    closed = [a for a in hub.alarms.list() if a["device_id"] == "kiosk-01"]
    assert len(closed) == 2 and {a["cleared_by"] for a in closed} == {"device_removed"}
    assert hub.tickets.json(ticket["id"])["resolution"] == "device_removed"
    assert kpis.compute(hub)["mttr_s"] is None  # nobody repaired anything: not a repair time
    assert [e["id"] for e in events(hub, "device.removed")] == ["kiosk-01"]
    assert views.device_json(hub, "kiosk-01")["state"] == "removed"  # still answerable for its history
    assert hub.alarms.history(closed[0]["id"])[-1]["action"] == "cleared"

    # What the device or the edge still sends afterwards is refused and counted, and brings nothing back.
    f.record("kiosk-01", "status", {"state": "offline"}, seq=None)  # e.g. its Last Will
    f.record("kiosk-01", "event", {"event": "card_jam"})
    f.record("kiosk-02", "telemetry", kiosk_ok())  # the good record around it is kept
    assert hub.metrics["rejected_removed_device"] == 2
    assert "kiosk-01" not in hub.state.devices and open_alarms(hub) == []
    assert views.device_json(hub, "kiosk-02")["state"] == "online"
    remove(hub, "kiosk-01")  # delivered again: nothing changes
    assert len(events(hub, "device.removed")) == 1


def test_removal_survives_a_restart_and_registering_again_brings_the_device_back(offline_cfg: Config,
                                                                                  clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    remove(hub, "kiosk-03")  # a device of the site's inventory
    hub.db.close()

    hub2 = make_hub(offline_cfg, clock)
    assert "kiosk-03" not in hub2.state.devices  # the inventory does not bring it back
    hub2.apply_messages([(registry_topic("demo", "kiosk-03"), b'{"id":"kiosk-03","kind":"kiosk","zone":"lab"}')])
    assert views.device_json(hub2, "kiosk-03")["zone"] == "lab"
    Feeder(hub2).record("kiosk-03", "telemetry", kiosk_ok())
    assert views.device_json(hub2, "kiosk-03")["state"] == "online"
    hub2.db.close()
    hub3 = make_hub(offline_cfg, clock)
    assert views.device_json(hub3, "kiosk-03")["state"] == "online"
    hub3.db.close()


def test_removal_recorded_while_the_hub_was_down_still_closes_alarms(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    Feeder(hub).record("kiosk-04", "event", {"event": "paper_out"})
    hub.db.close()
    # The CLI marked the row while the hub was down; the broker queued the registry message for it.
    hub.db.__class__(offline_cfg.path(offline_cfg.hub.db_path)).execute(
        "UPDATE devices SET removed_at=1 WHERE id='kiosk-04'")
    hub2 = make_hub(offline_cfg, clock)
    assert "kiosk-04" not in hub2.state.devices and len(open_alarms(hub2)) == 1
    remove(hub2, "kiosk-04")
    assert open_alarms(hub2) == []
    hub2.db.close()


def test_a_new_or_moved_device_is_announced_once(hub: Hub) -> None:
    """The console adds a device to its lists from ``device.updated``; the retained registry entry delivered
    again (at each subscribe) announces nothing."""
    entry = b'{"id":"kiosk-new","kind":"kiosk","zone":"lab"}'
    hub.apply_messages([(registry_topic("demo", "kiosk-new"), entry)])
    assert [d["id"] for d in events(hub, "device.updated")] == ["kiosk-new"]
    hub.apply_messages([(registry_topic("demo", "kiosk-new"), entry)])
    assert len(events(hub, "device.updated")) == 1
    hub.apply_messages([(registry_topic("demo", "kiosk-new"), b'{"id":"kiosk-new","kind":"kiosk","zone":"pharmacy"}')])
    assert [d["zone"] for d in events(hub, "device.updated")] == ["lab", "pharmacy"]


def test_bad_registry_ids_are_refused(hub: Hub) -> None:
    hub.apply_messages([("floorops/demo/registry/bad id!", b"")])
    assert hub.metrics["rejected_bad_registry"] == 1


# -- edge agents ---------------------------------------------------------------------------------------


def agent_status(hub: Hub, agent_id: str, state: str, ts: int | None = None) -> bytes:
    payload = json.dumps({"v": 1, "ts": int(hub.clock.now() * 1000) if ts is None else ts, "state": state}).encode()
    hub.apply_messages([(agent_status_topic(hub.site.id, agent_id), payload)])
    return payload


def run(hub: Hub, clock: ManualClock, seconds: int) -> None:
    for _ in range(seconds):
        clock.advance(1)
        hub.tick()


def test_agent_offline_past_grace_raises_the_rule_alarm_and_online_clears_it(hub: Hub, clock: ManualClock) -> None:
    rule = hub.rules.rule("agent_offline")
    connected_at = int(hub.clock.now() * 1000)
    agent_status(hub, "edge-1", "online")
    assert views.agent_json(hub, "edge-1")["state"] == "online" and open_alarms(hub) == []
    run(hub, clock, 600)
    # The broker publishes the Last Will; it carries the time the agent connected, older than "online".
    agent_status(hub, "edge-1", "offline", ts=connected_at)
    assert views.agent_json(hub, "edge-1")["state"] == "offline"
    run(hub, clock, int(rule["grace_s"]) - 1)
    assert open_alarms(hub) == []  # a restart that is back within the grace raises nothing
    run(hub, clock, 2)
    [alarm] = open_alarms(hub)
    assert (alarm["type"], alarm["source"], alarm["kind"]) == ("agent_offline", "agent:edge-1", "edge_agent")
    assert alarm["severity"] == rule["severity"] == "critical"
    assert hub.tickets.list() == []  # no device to repair
    assert events(hub, "agent.updated")[-1] == views.agent_json(hub, "edge-1")
    run(hub, clock, 60)
    assert len(open_alarms(hub)) == 1 and open_alarms(hub)[0]["count"] == 1

    agent_status(hub, "edge-1", "online")
    assert open_alarms(hub) == [] and hub.alarms.list()[0]["cleared_by"] == "auto"
    assert views.agent_json(hub, "edge-1")["state"] == "online"


def test_quick_restart_raises_nothing_and_retained_redelivery_changes_nothing(hub: Hub, clock: ManualClock) -> None:
    agent_status(hub, "edge-1", "online")
    clock.advance(100)
    agent_status(hub, "edge-1", "offline")  # a clean stop publishes "offline" itself
    run(hub, clock, 10)
    online = agent_status(hub, "edge-1", "online")
    run(hub, clock, 120)
    assert open_alarms(hub) == []
    seen = views.agent_json(hub, "edge-1")
    n = len(events(hub, "agent.updated"))
    hub.apply_messages([(agent_status_topic("demo", "edge-1"), online)])  # the retained copy at a resubscribe
    assert len(events(hub, "agent.updated")) == n and views.agent_json(hub, "edge-1") == seen


def test_agent_state_and_its_alarm_survive_a_restart(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    payload = agent_status(hub, "edge-2", "offline")
    run(hub, clock, 5)
    hub.db.close()
    hub2 = make_hub(offline_cfg, clock)
    assert views.agent_json(hub2, "edge-2")["state"] == "offline"
    hub2.apply_messages([(agent_status_topic("demo", "edge-2"), payload)])  # retained, at the new subscribe
    run(hub2, clock, 30)
    assert [a["source"] for a in open_alarms(hub2)] == ["agent:edge-2"]
    hub2.db.close()


def test_grace_and_severity_are_editable_like_the_other_rules(hub: Hub, clock: ManualClock) -> None:
    settings = json.loads(json.dumps(hub.rules.settings))
    settings["rules"]["agent_offline"].update(grace_s=0, severity="major")
    hub.set_rules(settings, "admin")
    agent_status(hub, "edge-3", "offline")
    [alarm] = open_alarms(hub)
    assert alarm["severity"] == "major"


def test_bad_agent_status_is_counted_and_an_empty_one_forgets_the_agent(hub: Hub, clock: ManualClock) -> None:
    topic = agent_status_topic("demo", "edge-4")
    hub.apply_messages([(topic, b"not json"), (topic, b'{"ts": 1, "state": "sleepy"}'),
                        (topic, b'{"ts": "x", "state": "online"}')])
    assert hub.metrics["rejected_bad_json"] == 1 and hub.metrics["rejected_bad_agent_status"] == 2
    assert "edge-4" not in hub.state.agents
    agent_status(hub, "edge-4", "offline")
    run(hub, clock, 40)
    assert len(open_alarms(hub, "agent_offline")) == 1
    hub.apply_messages([(topic, b"")])  # the retained status deleted: the agent is decommissioned
    assert "edge-4" not in hub.state.agents and open_alarms(hub) == []
    assert events(hub, "agent.removed") == [{"id": "edge-4", "state": "removed"}]


# -- an offline agent is one alarm, not one per silent device --------------------------------------


def test_agent_offline_holds_back_silence_alarms_of_its_devices_until_grace_after_return(
        hub: Hub, clock: ManualClock) -> None:
    """60 silent devices behind a dead edge agent are one cause: one agent_offline, no device tickets.
    A device's own Last Will (relayed by the edge) still raises; after the agent is back and the grace
    is over, the devices that stayed silent raise as usual and those heard again do not."""
    f = Feeder(hub)
    grace = hub.rules.rule("device_offline")["startup_grace_s"]
    agent_status(hub, "edge-1", "online")
    run(hub, clock, int(grace) + 5)  # past the hub's start-up grace and the agent's first-online grace
    kiosks = ["kiosk-01", "kiosk-02", "kiosk-03"]
    for k in kiosks:
        f.record(k, "telemetry", kiosk_ok())
    f.record("qs-reg-1", "telemetry", queue_reading("REG-1", 3, 60))
    agent_status(hub, "edge-1", "offline")
    run(hub, clock, 400)  # far past every kind's heartbeat timeout (screens 90 s, kiosks 180 s)
    assert [a["type"] for a in open_alarms(hub)] == ["agent_offline"]
    assert hub.tickets.list() == []
    assert views.device_json(hub, "kiosk-01")["state"] == "online"
    # An explicit offline status (the device's Last Will) is not silence: it still counts.
    f.record("kiosk-02", "status", {"state": "offline"}, seq=None)
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["kiosk-02"]
    assert [t["alarm_id"] for t in hub.tickets.list()] == [open_alarms(hub, "device_offline")[0]["id"]]

    agent_status(hub, "edge-1", "online")
    assert open_alarms(hub, "agent_offline") == []
    f.record("kiosk-01", "telemetry", kiosk_ok())  # heard again within the grace
    run(hub, clock, int(grace) - 2)
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["kiosk-02"]  # still held back
    run(hub, clock, 3)
    assert sorted(a["source"] for a in open_alarms(hub, "device_offline")) == ["kiosk-02", "kiosk-03", "qs-reg-1"]
    assert {a["detail"]["reason"] for a in open_alarms(hub, "device_offline") if a["source"] != "kiosk-02"} \
        == {"heartbeat"}


def test_with_the_relaying_agent_known_only_its_own_devices_are_held_back(hub: Hub, clock: ManualClock) -> None:
    """Two agents: records that came in an agent's batch (``Hub.apply_messages`` with the agent id, as the
    ingest passes it from ``floorops/<site>/records/<agent_id>/<stream>``) tie the device to that agent.
    edge-a down holds back its kiosks' silence only; edge-b's screen, silent too, is that screen's fault."""
    agent_status(hub, "edge-a", "online")
    agent_status(hub, "edge-b", "online")
    run(hub, clock, 65)
    batch_topic = {a: records_topic("demo", a, "stream") for a in ("edge-a", "edge-b")}
    assert relaying_agent(batch_topic["edge-a"]) == "edge-a" and relaying_agent("floorops/demo/zone/lab/occupancy") == ""

    def via(agent_id: str, device_id: str, kind: str, data: dict) -> None:
        rec = EdgeRecord(device_id, kind, "telemetry", int(clock.now() * 1000), None, data, zone="reg_hall", site="demo")
        hub.apply_messages([(edge_record_topic("demo", kind, device_id, "telemetry"), rec.to_json(),
                             relaying_agent(batch_topic[agent_id]))])

    via("edge-a", "kiosk-01", "kiosk", kiosk_ok())
    via("edge-a", "kiosk-02", "kiosk", kiosk_ok())
    via("edge-b", "qs-reg-1", "queue_screen", queue_reading("REG-1", 3, 60))
    agent_status(hub, "edge-a", "offline")
    run(hub, clock, 200)
    assert sorted((a["type"], a["source"]) for a in open_alarms(hub)) == [
        ("agent_offline", "agent:edge-a"), ("device_offline", "qs-reg-1")]
    agent_status(hub, "edge-a", "online")
    run(hub, clock, 61)
    assert sorted(a["source"] for a in open_alarms(hub, "device_offline")) == ["kiosk-01", "kiosk-02", "qs-reg-1"]


def test_silence_alarms_are_not_held_back_without_an_offline_agent(hub: Hub, clock: ManualClock) -> None:
    """An agent online for longer than the grace holds nothing back: a silent device alone is the device."""
    f = Feeder(hub)
    agent_status(hub, "edge-1", "online")
    run(hub, clock, 65)
    f.record("qs-reg-1", "telemetry", queue_reading("REG-1", 3, 60))
    run(hub, clock, 91)
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["qs-reg-1"]


def test_an_agent_offline_across_a_hub_restart_still_holds_back(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    f = Feeder(hub)
    f.record("qs-reg-1", "telemetry", queue_reading("REG-1", 3, 60))
    agent_status(hub, "edge-1", "offline")
    hub.db.close()
    clock.advance(30)
    hub2 = make_hub(offline_cfg, clock)
    try:
        run(hub2, clock, 300)
        assert [a["type"] for a in open_alarms(hub2)] == ["agent_offline"]
    finally:
        hub2.db.close()
