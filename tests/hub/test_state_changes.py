"""LiveState records its own changes; the hub writes them and shows them (``*.updated``) as it commits."""

from __future__ import annotations

import pytest

from floorops.config import Config
from floorops.topics import EdgeRecord, edge_record_topic
from hub.clock import ManualClock
from tests.hub.helpers import Feeder, kiosk_ok, make_hub, open_alarms


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def shown(hub, type_: str) -> list[dict]:
    return [e.data for e in hub.bus.since(0) if e.type == type_]


def test_a_device_is_shown_again_only_when_its_state_changed(hub) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "telemetry", kiosk_ok())
    assert [(d["id"], d["state"]) for d in shown(hub, "device.updated")] == [("kiosk-01", "online")]
    f.record("kiosk-01", "telemetry", kiosk_ok(resp_ms=700))  # still online: stored, not shown
    assert len(shown(hub, "device.updated")) == 1
    assert hub.db.one("SELECT readings FROM devices WHERE id='kiosk-01'")["readings"].count("700") == 1
    f.record("kiosk-01", "telemetry", kiosk_ok(printer="jam"))
    assert [d["state"] for d in shown(hub, "device.updated")] == ["online", "fault"]
    assert shown(hub, "device.updated")[-1]["faults"] == ["printer_jam"]


def test_a_batch_shows_each_device_once_as_it_is_at_the_commit(hub) -> None:
    """A fault raised and cleared within one batch leaves the device as it was shown: nothing to send."""
    f = Feeder(hub)
    f.record("kiosk-02", "telemetry", kiosk_ok())
    before = len(shown(hub, "device.updated"))
    msgs = []
    for seq, data in [(10, kiosk_ok(app="hung")), (11, kiosk_ok())]:
        rec = EdgeRecord("kiosk-02", "kiosk", "telemetry", int(hub.clock.now() * 1000) + seq, seq, data,
                         zone="reg_hall", site=hub.site.id)
        msgs.append((edge_record_topic(hub.site.id, "kiosk", "kiosk-02", "telemetry"), rec.to_json()))
    hub.apply_messages(msgs)
    assert [a["type"] for a in hub.alarms.list()] == ["app_hung"]  # raised and cleared, both recorded
    assert len(shown(hub, "device.updated")) == before


def test_a_zone_is_shown_when_its_crowding_alarm_is_cleared_by_hand(hub, clock: ManualClock) -> None:
    """The zone's level follows the alarm at once, not at the next batch or tick."""
    f = Feeder(hub)
    f.occupancy("lab", 95)
    clock.advance(121)
    f.occupancy("lab", 95)
    [a] = open_alarms(hub, "zone_crowded")
    assert shown(hub, "zone.updated")[-1]["level"] == "crowded"
    with hub.unit_of_work():
        hub.alarms.clear_by_hand(a["id"], "admin")
    assert shown(hub, "zone.updated")[-1]["level"] != "crowded"


def test_a_failed_transaction_shows_nothing(hub) -> None:
    """Its events are discarded with it (the caller reloads memory, as Hub.apply_messages does)."""
    f = Feeder(hub)
    f.record("kiosk-03", "telemetry", kiosk_ok())
    n = len(shown(hub, "device.updated"))
    with pytest.raises(RuntimeError):
        with hub.unit_of_work():
            hub.state.devices["kiosk-03"].faults |= {"card_jam"}
            raise RuntimeError("the batch failed")
    assert len(shown(hub, "device.updated")) == n


def test_a_plain_assignment_is_stored_and_shown(hub, offline_cfg: Config, clock: ManualClock) -> None:
    """No caller says what it changed: assigning a field is enough for the row and the event."""
    f = Feeder(hub)
    f.record("kiosk-03", "telemetry", kiosk_ok())
    f.occupancy("lab", 10)
    n_dev, n_zone = len(shown(hub, "device.updated")), len(shown(hub, "zone.updated"))
    with hub.unit_of_work():
        hub.state.devices["kiosk-03"].faults |= {"card_jam"}
        hub.state.devices["kiosk-04"].zone = "lab"
        hub.state.zones["lab"].occupancy = 42.0
        hub.state.zones["reg_hall"].crowd_since = 1000.0  # stored, not shown
    assert [(d["id"], d["state"], d["zone"]) for d in shown(hub, "device.updated")[n_dev:]] == [
        ("kiosk-03", "fault", "reg_hall"), ("kiosk-04", "unknown", "lab")]
    assert [(z["id"], z["occupancy"]) for z in shown(hub, "zone.updated")[n_zone:]] == [("lab", 42.0)]
    assert hub.db.one("SELECT state FROM devices WHERE id='kiosk-03'")["state"] == "fault"
    assert hub.db.one("SELECT zone FROM devices WHERE id='kiosk-04'")["zone"] == "lab"
    again = make_hub(offline_cfg, clock)  # a restart reads back what was assigned
    assert again.state.zones["lab"].occupancy == 42.0
    assert again.state.zones["reg_hall"].crowd_since == 1000.0
    assert again.state.devices["kiosk-04"].zone == "lab"


def test_an_unchanged_value_is_no_change(hub) -> None:
    """Assigning what a field already holds writes and shows nothing (a tick's crowding check of every
    zone sets crowd_since to what it was)."""
    f = Feeder(hub)
    f.record("kiosk-01", "telemetry", kiosk_ok())
    n = len(hub.bus.since(0))
    with hub.unit_of_work():
        for z in hub.state.zones.values():
            z.crowd_since = z.crowd_since
        dev = hub.state.devices["kiosk-01"]
        dev.readings = dict(dev.readings)
    assert len(hub.bus.since(0)) == n
    assert hub.state._zones == {} and hub.state._devices == {}


def test_a_removed_device_is_no_longer_recorded(hub) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "telemetry", kiosk_ok())
    with hub.unit_of_work():
        dev = hub.state.remove("kiosk-01")
        assert dev is not None
        dev.readings = {"printer": "jam"}  # the commit must not look it up among the live devices
    assert "kiosk-01" in hub.state.removed
