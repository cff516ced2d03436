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
            hub.state.devices["kiosk-03"].faults.add("card_jam")
            hub.state.touch_device("kiosk-03")
            raise RuntimeError("the batch failed")
    assert len(shown(hub, "device.updated")) == n
