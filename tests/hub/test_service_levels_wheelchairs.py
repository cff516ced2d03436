"""Issue #16 items 1 and 2 on a ManualClock: queue service levels (within target, no-shows, abandonment),
long_wait limits by zone kind and time of day, and wheelchairs counted from the chargers' slots."""

from __future__ import annotations

import datetime as dt

import pytest

from floorops.config import Config
from hub import views, wheelchairs
from hub.clock import ManualClock
from hub.rules import RulesError, validate_rules
from hub.rules.waits import limits
from tests.hub.helpers import Feeder, make_hub, open_alarms, queue_reading


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def screen_of(hub, queue: str) -> str:
    return next(d.id for d in hub.site.devices if d.queue == queue)


def ticket(f: Feeder, screen: str, event: str, label: str, queue: str = "REG-1") -> None:
    f.record(screen, "event", {"event": event, "queue": queue, "ticket": label})


def reg1(hub) -> dict:
    return next(q for q in views.service_levels_json(hub)["queues"] if q["queue"] == "REG-1")


def test_service_level_no_shows_and_abandonment_from_ticket_events(hub, clock: ManualClock, offline_cfg) -> None:
    hub.set_rules({"rules": {"service_level_low": {"min_tickets": 4}}}, "test")
    f, screen = Feeder(hub), screen_of(hub, "REG-1")
    for n in range(1, 6):
        ticket(f, screen, "ticket_issued", f"A{n:03}")
    for n in (1, 2, 3):  # called 10, 20 and 30 minutes after issue (device time follows the clock)
        clock.advance(10 * 60)
        ticket(f, screen, "ticket_called", f"A{n:03}")
    assert open_alarms(hub, "service_level_low") == []  # 3 calls: fewer than min_tickets, not judged
    clock.advance(10 * 60)
    ticket(f, screen, "ticket_called", "A004")  # 40 min: late (registration target: 25 min)
    ticket(f, screen, "ticket_called", "A001")  # a recall: the first call counts
    ticket(f, screen, "ticket_served", "A001")
    ticket(f, screen, "ticket_no_show", "A002")
    ticket(f, screen, "ticket_served", "A003")
    q = reg1(hub)
    assert (q["issued"], q["called"], q["within_target"], q["served"], q["no_show"]) == (5, 4, 2, 2, 1)
    assert (q["service_level"], q["no_show_rate"], q["waiting"], q["abandoned"]) == (0.5, 0.25, 1, 0)
    assert q["target_wait_s"] == 1500 and q["avg_wait_s"] == 25 * 60
    [a] = open_alarms(hub, "service_level_low")
    assert (a["source"], a["zone"], a["detail"]["service_level"]) == ("REG-1", "reg_hall", 0.5)
    zone = next(z for z in views.service_levels_json(hub)["zones"] if z["zone"] == "reg_hall")
    assert zone["called"] >= 4 and zone["issued"] >= 5
    # A005 is never called: abandoned once abandon_after_s (4 h) has passed.
    clock.advance(4 * 3600)
    q = reg1(hub)
    assert (q["abandoned"], q["waiting"], q["abandonment_rate"]) == (1, 0, 0.2)
    # A call of a ticket the hub never saw issued is counted, not matched.
    ticket(f, screen, "ticket_called", "Z999")
    assert hub.metrics["tickets_unmatched"] == 1 and reg1(hub)["called"] == 4
    # The tickets are in SQLite: a restarted hub has the same numbers.
    hub.db.close()
    again = make_hub(offline_cfg, clock)
    try:
        assert next(q for q in views.service_levels_json(again)["queues"] if q["queue"] == "REG-1") == q
    finally:
        again.db.close()


def test_calls_after_midnight_are_judged_on_the_tickets_day(hub, clock: ManualClock) -> None:
    """An evening queue called across midnight: the tickets belong to the day they were issued, and so
    do their calls, so the late calls after midnight still raise the alarm for that day."""
    hub.set_rules({"rules": {"service_level_low": {"min_tickets": 4}}}, "test")
    f, screen = Feeder(hub), screen_of(hub, "REG-1")
    clock.advance(13 * 3600 + 30 * 60)  # 23:30 local
    evening = dt.datetime.fromtimestamp(clock.now(), hub.site.tz).date()
    for n in range(5):
        ticket(f, screen, "ticket_issued", f"N{n}")
    for n in range(4):  # called at 23:40, 23:50, 00:00 and 00:10: the last two late (target 25 min)
        clock.advance(10 * 60)
        ticket(f, screen, "ticket_called", f"N{n}")
    assert dt.datetime.fromtimestamp(clock.now(), hub.site.tz).date() == evening + dt.timedelta(days=1)
    q = next(q for q in views.service_levels_json(hub, evening)["queues"] if q["queue"] == "REG-1")
    assert (q["issued"], q["called"], q["within_target"], q["waiting"], q["abandoned"]) == (5, 4, 2, 0, 1)
    [a] = open_alarms(hub, "service_level_low")
    assert (a["source"], a["detail"]["called"], a["detail"]["service_level"]) == ("REG-1", 4, 0.5)


def test_service_level_alarm_clears_with_hysteresis(hub, clock: ManualClock) -> None:
    hub.set_rules({"rules": {"service_level_low": {"min_tickets": 4}}}, "test")
    f, screen = Feeder(hub), screen_of(hub, "REG-1")
    for n in range(4):  # 4 late calls: 0% within target
        ticket(f, screen, "ticket_issued", f"L{n}")
    clock.advance(3600)
    for n in range(4):
        ticket(f, screen, "ticket_called", f"L{n}")
    assert len(open_alarms(hub, "service_level_low")) == 1
    for n in range(22):  # prompt calls: 22/26 = 0.846 < 0.85 keeps it; 23/27 = 0.852 clears it
        ticket(f, screen, "ticket_issued", f"P{n}")
        clock.advance(60)
        ticket(f, screen, "ticket_called", f"P{n}")
    assert len(open_alarms(hub, "service_level_low")) == 1
    ticket(f, screen, "ticket_issued", "P22")
    ticket(f, screen, "ticket_called", "P22")
    assert open_alarms(hub, "service_level_low") == []
    assert [a["count"] for a in hub.alarms.list() if a["type"] == "service_level_low"] == [1]


def test_long_wait_follows_the_hospital_at_registration_and_limits_by_time_of_day(hub, clock: ManualClock) -> None:
    f, screen = Feeder(hub), screen_of(hub, "REG-1")
    f.record(screen, "telemetry", queue_reading("REG-1", 31, 600))  # over 30 people at registration
    [a] = open_alarms(hub, "long_wait")
    assert a["detail"]["max_waiting"] == 30
    f.record(screen, "telemetry", queue_reading("REG-1", 10, 1501))  # over 25 minutes
    assert open_alarms(hub, "long_wait")
    f.record(screen, "telemetry", queue_reading("REG-1", 10, 600))
    assert open_alarms(hub, "long_wait") == []
    local = dt.datetime.fromtimestamp(clock.now(), hub.tz)
    hour = f"{local.hour:02}:00"
    later = f"{local.hour + 1:02}:00"
    hub.set_rules({"rules": {"long_wait": {"periods": [
        {"from": hour, "to": later, "zone_kinds": ["registration"], "max_waiting": 50}]}}}, "test")
    f.record(screen, "telemetry", queue_reading("REG-1", 40, 600))  # this hour: up to 50
    assert open_alarms(hub, "long_wait") == []
    clock.advance(3600)
    f.record(screen, "telemetry", queue_reading("REG-1", 40, 600))  # the next hour: 30 again
    assert open_alarms(hub, "long_wait")[0]["detail"]["max_waiting"] == 30


def test_long_wait_limits_precedence_and_periods_past_midnight() -> None:
    rule = validate_rules({"rules": {"long_wait": {"queues": {"REG-2": {"max_waiting": 40}}, "periods": [
        {"from": "22:00", "to": "06:00", "queues": ["REG-2"], "max_waiting": 5},
        {"from": "08:00", "to": "10:00", "max_avg_wait_s": 900}]}}})["rules"]["long_wait"]
    assert limits(rule, "REG-1", "registration", 7 * 60) == (1500, 30)
    assert limits(rule, "REG-2", "registration", 7 * 60) == (1500, 40)
    assert limits(rule, "REG-2", "registration", 23 * 60) == (1500, 5)
    assert limits(rule, "REG-2", "registration", 5 * 60 + 59) == (1500, 5)
    assert limits(rule, "IM-1", "clinic", 9 * 60) == (900, 60)
    assert limits(rule, "IM-1", "clinic", 10 * 60) == (2700, 60)
    for bad in ({"from": "25:00", "to": "26:00"}, {"from": "08:00"}, {"from": "08:00", "to": "09:00", "x": 1},
                {"from": "08:00", "to": "09:00", "zone_kinds": ["garage"]}):
        with pytest.raises(RulesError):
            validate_rules({"rules": {"long_wait": {"periods": [bad]}}})
    with pytest.raises(RulesError):
        validate_rules({"rules": {"service_level_low": {"target_share": 0.9, "clear_share": 0.8}}})


def slots(*socs: float | None) -> dict:
    """A charger reading: a slot per value, empty where None."""
    return {"station": {"status_bits": 1, "mains_ok": True, "over_temperature": False, "ground_fault": False,
                        "fan_fault": False, "temperature_c": 30.0},
            "slots": [{"slot": i, "state": "empty" if s is None else "charging", "soc_pct": s or 0, "fault": 0,
                       "minutes_docked": 0 if s is None else 30} for i, s in enumerate(socs)]}


def test_wheelchairs_counted_from_slots_with_low_stock_and_demand(hub, clock: ManualClock, offline_cfg) -> None:
    f = Feeder(hub)  # charger-02: 6 slots, reg_hall
    f.record("charger-02", "telemetry", slots(90, 95, 100, 85, 70, None))
    st = next(s for s in views.wheelchairs_json(hub)["stations"] if s["id"] == "charger-02")
    assert (st["slots"], st["docked"], st["charged"], st["low_stock"]) == (6, 5, 4, False)
    assert open_alarms(hub, "wheelchair_low_stock") == []
    f.record("charger-02", "telemetry", slots(None, None, None, 85, 70, None))  # three taken: 1 charged
    f.record("charger-02", "telemetry", slots(None, None, None, None, 70, None))  # one more: 0 charged
    f.record("charger-02", "telemetry", slots(None, None, None, None, 70, None))  # same reading
    [a] = open_alarms(hub, "wheelchair_low_stock")  # raised once, not repeated by each low reading
    assert (a["source"], a["zone"], a["count"], a["detail"]["charged"]) == ("charger-02", "reg_hall", 1, 1)
    assert views.device_json(hub, "charger-02")["state"] == "online"  # stock, not a device fault
    f.record("charger-02", "telemetry", slots(90, 90, None, None, 70, None))  # 2 charged: not yet clear
    assert open_alarms(hub, "wheelchair_low_stock")
    f.record("charger-02", "telemetry", slots(90, 90, 90, None, 70, None))  # 3: cleared
    assert open_alarms(hub, "wheelchair_low_stock") == []
    hour = dt.datetime.fromtimestamp(clock.now(), hub.tz).hour
    data = views.wheelchairs_json(hub)
    assert (data["hours"][hour]["demand"], data["hours"][hour]["returned"], data["hours"][hour]["supply"]) == (4, 3, 0)
    assert data["site"]["demand_today"] == 4
    # each station's own hours: charger-02's are the site's (the only station that moved), the others' empty
    by_station = {s["id"]: s["hours"] for s in data["stations"]}
    assert by_station["charger-02"][hour] == data["hours"][hour]
    assert sum(h["demand"] for h in by_station["charger-01"]) == 0 and len(by_station["charger-01"]) == 24
    # After a restart the stored reading is the previous one: a chair taken is still seen.
    hub.db.close()
    again = make_hub(offline_cfg, clock)
    try:
        Feeder(again).record("charger-02", "telemetry", slots(None, 90, 90, None, 70, None))
        assert views.wheelchairs_json(again)["hours"][hour]["demand"] == 5
    finally:
        again.db.close()


def test_wheelchair_demand_forecast_from_the_same_weekday(hub, clock: ManualClock) -> None:
    now = clock.now()
    with hub.unit_of_work():
        wheelchairs.record(hub.db, hub.tz, "charger-01", "entrance", now - 7 * 86400, 3, 0, 2)
        wheelchairs.record(hub.db, hub.tz, "charger-01", "entrance", now - 14 * 86400, 1, 0, 2)
        wheelchairs.record(hub.db, hub.tz, "charger-01", "entrance", now - 86400, 9, 0, 2)  # another weekday
    hour = dt.datetime.fromtimestamp(now, hub.tz).hour
    data = views.wheelchairs_json(hub)
    assert data["hours"][hour]["forecast"] == 2.0
    assert data["hours"][(hour + 1) % 24]["forecast"] == 0.0
    assert data["site"]["forecast_today"] == 2.0
    # per station: charger-01's history; charger-02 took no chair in the weeks the site recorded
    by_station = {s["id"]: s["hours"] for s in data["stations"]}
    assert by_station["charger-01"][hour]["forecast"] == 2.0
    assert by_station["charger-02"][hour]["forecast"] == 0.0


def test_nearest_station_with_stock(hub) -> None:
    def st(id_: str, zone: str, charged: int, online: bool = True) -> dict:
        return {"id": id_, "zone": zone, "charged": charged, "online": online}
    floor_of = {z.id: z.floor for z in hub.site.zones}
    floor1 = [z for z in floor_of if floor_of[z] == 1 and z != "reg_hall"]
    floor2 = [z for z in floor_of if floor_of[z] == 2]
    stations = [st("far2", floor2[0], 5), st("near1", floor1[0], 3), st("here", "reg_hall", 1)]
    assert wheelchairs.nearest_station(hub.site, stations, "reg_hall") == "here"
    assert wheelchairs.nearest_station(hub.site, stations, "reg_hall", need=2) == "near1"
    stations[1]["online"] = False
    assert wheelchairs.nearest_station(hub.site, stations, "reg_hall", need=2) == "far2"
    assert wheelchairs.nearest_station(hub.site, stations, "reg_hall", need=9) is None


def test_removing_a_station_closes_its_low_stock_alarm(hub) -> None:
    Feeder(hub).record("charger-02", "telemetry", slots(None, None, None, None, None, None))
    assert open_alarms(hub, "wheelchair_low_stock")
    with hub.unit_of_work():
        hub.remove_device("charger-02")
    assert open_alarms(hub, "wheelchair_low_stock") == []
    assert all(s["id"] != "charger-02" for s in views.wheelchairs_json(hub)["stations"])
