"""Every rule family, on a ManualClock (no sleeping): what raises, what clears, what does not."""

from __future__ import annotations

import pytest

from floorops.config import Config
from floorops.topics import EdgeRecord, edge_record_topic
from hub import views
from hub.clock import ManualClock
from tests.hub.helpers import Feeder, kiosk_ok, make_hub, open_alarms, queue_reading


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


@pytest.mark.parametrize("event,type_", [("card_jam", "card_jam"), ("app_crash", "app_crashed"),
                                         ("app_hang", "app_hung"), ("paper_out", "paper_out"),
                                         ("printer_jam", "printer_jam")])
def test_kiosk_fault_event_raises_and_fault_cleared_clears(hub, event: str, type_: str) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "event", {"event": event})
    [a] = open_alarms(hub)
    assert (a["type"], a["source"], a["state"], a["zone"]) == (type_, "kiosk-01", "active", "reg_hall")
    f.record("kiosk-01", "event", {"event": "fault_cleared", "fault": event})
    assert open_alarms(hub) == []
    assert hub.alarms.list()[0]["cleared_by"] == "auto"


@pytest.mark.parametrize("field,value,type_", [("card_reader", "jammed", "card_jam"),
                                               ("card_reader", "error", "card_reader_error"),
                                               ("printer", "paper_out", "paper_out"), ("printer", "jam", "printer_jam"),
                                               ("printer", "offline", "printer_offline"), ("app", "hung", "app_hung"),
                                               ("app", "crashed", "app_crashed")])
def test_kiosk_telemetry_state_raises_and_ok_clears(hub, field: str, value: str, type_: str) -> None:
    f = Feeder(hub)
    f.record("kiosk-02", "telemetry", kiosk_ok(**{field: value}))
    assert [a["type"] for a in open_alarms(hub)] == [type_]
    f.record("kiosk-02", "telemetry", kiosk_ok(**{field: value}))
    assert open_alarms(hub)[0]["count"] == 1  # a reading that still shows it is not a repeat
    f.record("kiosk-02", "telemetry", kiosk_ok())
    assert open_alarms(hub) == []


def test_paper_low_is_not_a_fault(hub) -> None:
    Feeder(hub).record("kiosk-02", "telemetry", kiosk_ok(printer="paper_low", paper_pct=5))
    assert open_alarms(hub) == []


def test_slow_response_above_10_s_with_hysteresis(hub) -> None:
    f = Feeder(hub)
    f.record("kiosk-03", "telemetry", kiosk_ok(resp_ms=10_000))
    assert open_alarms(hub) == []  # exactly 10 s is not slower than 10 s
    f.record("kiosk-03", "telemetry", kiosk_ok(resp_ms=12_500))
    [a] = open_alarms(hub, "slow_response")
    assert a["severity"] == "minor" and a["detail"]["resp_ms"] == 12_500
    f.record("kiosk-03", "telemetry", kiosk_ok(resp_ms=9_000))  # between clear and raise: stays
    assert open_alarms(hub, "slow_response")
    f.record("kiosk-03", "telemetry", kiosk_ok(resp_ms=7_000))
    assert open_alarms(hub, "slow_response") == []
    assert hub.tickets.list() == []  # slow responses open no ticket


def test_offline_from_last_will_and_back(hub) -> None:
    f = Feeder(hub)
    f.record("qs-reg-1", "status", {"state": "offline"}, seq=None)
    [a] = open_alarms(hub, "device_offline")
    assert views.device_json(hub, "qs-reg-1")["state"] == "offline"
    f.record("qs-reg-1", "status", {"state": "online"})
    assert open_alarms(hub, "device_offline") == []
    assert views.device_json(hub, "qs-reg-1")["state"] == "online"


def test_a_retained_offline_status_replayed_at_start_raises_nothing_until_the_silence_rule_does(
        hub, clock: ManualClock) -> None:
    """After a restart the edge relays every device's retained Last Will from the shutdown: no flood."""
    f = Feeder(hub)
    rec = EdgeRecord("qs-reg-1", "queue_screen", "status", int(clock.now() * 1000), None, {"state": "offline"},
                     zone="reg_hall", site=hub.site.id, flags=["retained"])
    hub.apply_messages([(edge_record_topic(hub.site.id, "queue_screen", "qs-reg-1", "status"), rec.to_json())])
    assert open_alarms(hub, "device_offline") == [] and hub.tickets.list() == []
    f.record("qs-reg-1", "status", {"state": "online"})  # the device is back: nothing was raised
    assert open_alarms(hub, "device_offline") == []
    clock.advance(120 + 91)  # a device that stays silent still raises, through the heartbeat rule
    hub.tick()
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["qs-reg-1"]


def test_offline_by_heartbeat_timeout_per_kind(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    clock.advance(120)  # past the start-up grace period
    f.record("qs-reg-1", "telemetry", queue_reading("REG-1", 3, 60))
    f.record("kiosk-01", "telemetry", kiosk_ok())
    clock.advance(91)
    hub.tick()
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["qs-reg-1"]  # 90 s for screens
    clock.advance(90)
    hub.tick()
    assert sorted(a["source"] for a in open_alarms(hub, "device_offline")) == ["kiosk-01", "qs-reg-1"]  # 180 s
    f.record("kiosk-01", "telemetry", kiosk_ok())
    assert [a["source"] for a in open_alarms(hub, "device_offline")] == ["qs-reg-1"]


def test_no_heartbeat_alarms_during_startup_grace(hub, clock: ManualClock) -> None:
    Feeder(hub).record("qs-reg-1", "telemetry", queue_reading("REG-1", 3, 60))
    clock.advance(59)
    hub.tick()
    assert open_alarms(hub) == []


def test_display_fault_and_recovery(hub) -> None:
    f = Feeder(hub)
    f.record("qs-im-1", "event", {"event": "display_fault", "code": "panel"})
    [a] = open_alarms(hub)
    assert a["type"] == "display_fault" and a["detail"]["code"] == "panel" and a["severity"] == "major"
    f.record("qs-im-1", "event", {"event": "display_recovered"})
    assert open_alarms(hub) == []


def charger_reading(bits: int = 1, slots: list[dict] | None = None) -> dict:
    return {"station": {"status_bits": bits, "mains_ok": bool(bits & 1), "over_temperature": bool(bits & 2),
                        "ground_fault": bool(bits & 4), "fan_fault": bool(bits & 8), "temperature_c": 31.0},
            "slots": slots or [{"slot": 0, "state": 2, "voltage_v": 24.1, "current_a": 3.2, "soc_pct": 90,
                                "battery_temp_c": 30.0, "fault": 0, "minutes_docked": 12}]}


def test_charger_station_faults_with_critical_severities(hub) -> None:
    f = Feeder(hub)
    f.record("charger-01", "telemetry", charger_reading(bits=1 | 2 | 4 | 8))
    got = {a["type"]: a["severity"] for a in open_alarms(hub)}
    assert got == {"charger_over_temperature": "critical", "charger_ground_fault": "critical",
                   "charger_fan_fault": "minor"}
    f.record("charger-01", "telemetry", charger_reading(bits=0))
    assert {a["type"] for a in open_alarms(hub)} == {"charger_mains_lost"}
    f.record("charger-01", "telemetry", charger_reading(bits=1))
    assert open_alarms(hub) == []


def test_charger_slot_fault_codes(hub) -> None:
    f = Feeder(hub)
    slots = [{"slot": 0, "state": 4, "fault": 3}, {"slot": 1, "state": 4, "fault": 1}, {"slot": 2, "state": 4, "fault": 4}]
    f.record("charger-02", "telemetry", charger_reading(slots=slots))
    got = {(a["source"], a["type"], a["severity"]) for a in open_alarms(hub) if a["type"] != "wheelchair_low_stock"}
    assert got == {("charger-02:slot0", "slot_ground_fault", "critical"),
                   ("charger-02:slot1", "slot_over_temperature", "critical"),
                   ("charger-02:slot2", "slot_battery_fault", "major")}
    assert views.device_json(hub, "charger-02")["state"] == "fault"
    assert {t["device_id"] for t in hub.tickets.list()} == {"charger-02"}
    f.record("charger-02", "telemetry",
             charger_reading(slots=[{"slot": i, "state": 1, "fault": 0, "soc_pct": 90} for i in range(3)]))
    assert open_alarms(hub) == []
    assert views.device_json(hub, "charger-02")["state"] == "online"


def test_zone_crowding_needs_duration_and_clears_with_hysteresis(hub, clock: ManualClock) -> None:
    f = Feeder(hub)  # lab: capacity 100, raise at 90 for 120 s, clear at 75
    f.occupancy("lab", 95)
    assert open_alarms(hub) == []
    clock.advance(60)
    f.occupancy("lab", 92)
    assert open_alarms(hub) == []
    clock.advance(61)
    hub.tick()
    [a] = open_alarms(hub, "zone_crowded")
    assert a["source"] == "lab" and views.zone_json(hub, "lab")["level"] == "crowded"
    f.occupancy("lab", 80)  # below raise, above clear: stays
    assert open_alarms(hub, "zone_crowded")
    f.occupancy("lab", 75)
    assert open_alarms(hub, "zone_crowded") == []
    assert views.zone_json(hub, "lab")["level"] == "busy"  # 75% >= busy 70%
    f.occupancy("lab", 10)
    assert views.zone_json(hub, "lab")["level"] == "normal"


def test_short_crowding_spike_raises_nothing(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    f.occupancy("lab", 99)
    clock.advance(60)
    f.occupancy("lab", 50)
    clock.advance(120)
    f.occupancy("lab", 95)
    hub.tick()
    assert open_alarms(hub) == []


def test_long_wait_by_average_or_count_with_per_queue_thresholds(hub) -> None:
    f = Feeder(hub)
    f.record("qs-im-1", "telemetry", queue_reading("IM-1", 10, 2800))  # default 2700 s
    [a] = open_alarms(hub, "long_wait")
    assert a["source"] == "IM-1" and a["zone"] == "im_clinic"
    f.record("qs-im-1", "telemetry", queue_reading("IM-1", 10, 2500))  # not below 80%: stays
    assert open_alarms(hub, "long_wait")
    f.record("qs-im-1", "telemetry", queue_reading("IM-1", 10, 2000))
    assert open_alarms(hub, "long_wait") == []
    er = next(d.id for d in hub.site.devices if d.queue == "ER-1")
    f.record(er, "telemetry", queue_reading("ER-1", 25, 100))  # ER-1: at most 20 waiting
    assert [a["source"] for a in open_alarms(hub, "long_wait")] == ["ER-1"]
    assert views.zone_json(hub, "emergency")["waiting"] == 25


def test_crowding_forecast_within_the_next_hour(hub, clock: ManualClock) -> None:
    import datetime as dt
    start = dt.datetime.fromtimestamp(clock.now(), hub.tz)
    def buckets(peak_in_min: int, value: float) -> list[dict]:
        return [{"start": (start + dt.timedelta(minutes=m)).isoformat(), "p10": 1.0,
                 "p50": value if m == peak_in_min else 5.0, "p90": value + 5} for m in range(0, 180, 15)]
    hub.apply_forecast({"lab": buckets(120, 99.0)})  # surge in 2 h: not yet
    assert open_alarms(hub) == []
    hub.apply_forecast({"lab": buckets(45, 95.0)})
    [a] = open_alarms(hub, "crowding_forecast")
    assert a["zone"] == "lab" and a["severity"] == "warning"
    hub.apply_forecast({"lab": buckets(45, 20.0)})
    assert open_alarms(hub) == []


def test_disabled_rule_raises_nothing(hub) -> None:
    settings = hub.rules.settings
    settings["rules"]["card_jam"]["enabled"] = False
    hub.set_rules(settings, "admin")
    Feeder(hub).record("kiosk-01", "event", {"event": "card_jam"})
    assert open_alarms(hub) == []


def test_bad_messages_are_counted_and_good_ones_around_them_kept(hub) -> None:
    from floorops.topics import EdgeRecord
    good = EdgeRecord("kiosk-01", "kiosk", "event", int(hub.clock.now() * 1000), 7, {"event": "card_jam"},
                      zone="reg_hall", site="demo")
    hub.apply_messages([
        ("floorops/demo/edge/kiosk/kiosk-01/event", b"{not json"),
        ("floorops/demo/edge/kiosk/kiosk-01/event", good.to_json()),
        ("floorops/demo/zone/nowhere/occupancy", b'{"occupancy": 3}'),
        ("floorops/demo/zone/lab/occupancy", b'{"occupancy": -3}'),
        ("floorops/other/edge/kiosk/kiosk-01/event", good.to_json()),
    ])
    assert [a["type"] for a in open_alarms(hub)] == ["card_jam"]
    m = hub.metrics
    assert (m["rejected_bad_record"], m["rejected_unknown_zone"], m["rejected_bad_occupancy"],
            m["rejected_bad_topic"]) == (1, 1, 1, 1)


def test_duplicate_records_are_applied_once(hub) -> None:
    f = Feeder(hub)
    rec = f.record("kiosk-01", "event", {"event": "card_jam"})
    for _ in range(3):
        hub.apply_messages([("floorops/demo/edge/kiosk/kiosk-01/event", rec.to_json())])
    [a] = open_alarms(hub)
    assert a["count"] == 1 and hub.metrics["duplicates"] == 3
