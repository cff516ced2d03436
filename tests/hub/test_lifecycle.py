"""Alarm, ticket and dispatch lifecycles and the KPIs, on a ManualClock, from known sequences of events."""

from __future__ import annotations

import pytest

from floorops.config import Config
from hub import kpis
from hub.alarms import AlarmActionError
from hub.clock import ManualClock
from hub.dispatch import DispatchActionError, NotYours
from hub.tickets import TicketActionError
from tests.hub.helpers import Feeder, kiosk_ok, make_hub, open_alarms


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock):
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def act(hub, fn, *args):
    with hub.unit_of_work():
        return fn(*args)


# -- alarms ------------------------------------------------------------------------------------------

def test_one_alarm_per_source_and_type_counting_repeats(hub) -> None:
    f = Feeder(hub)
    for _ in range(3):
        f.record("kiosk-01", "event", {"event": "card_jam"})
    f.record("kiosk-02", "event", {"event": "card_jam"})
    f.record("kiosk-01", "event", {"event": "app_crash"})
    got = sorted((a["source"], a["type"], a["count"]) for a in open_alarms(hub))
    assert got == [("kiosk-01", "app_crashed", 1), ("kiosk-01", "card_jam", 3), ("kiosk-02", "card_jam", 1)]


def test_acknowledge_then_clears_by_itself(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "event", {"event": "card_jam"})
    [a] = open_alarms(hub)
    clock.advance(42)
    acked = act(hub, hub.alarms.acknowledge, a["id"], "mon")
    assert acked["state"] == "acknowledged" and acked["acked_by"] == "mon"
    f.record("kiosk-01", "event", {"event": "card_jam"})  # repeat while acknowledged: same alarm
    assert open_alarms(hub)[0]["count"] == 2 and open_alarms(hub)[0]["state"] == "acknowledged"
    f.record("kiosk-01", "telemetry", kiosk_ok())
    assert hub.alarms.json(a["id"])["state"] == "cleared"
    with pytest.raises(AlarmActionError):
        act(hub, hub.alarms.acknowledge, a["id"], "mon")
    actions = [h["action"] for h in hub.alarms.history(a["id"])]
    assert actions == ["raised", "paged", "acknowledged", "repeat", "cleared"]  # paged: its escalation chain


def test_clear_by_hand(hub) -> None:
    Feeder(hub).record("kiosk-01", "event", {"event": "app_hang"})
    [a] = open_alarms(hub)
    cleared = act(hub, hub.alarms.clear_by_hand, a["id"], "mon")
    assert cleared["state"] == "cleared" and cleared["cleared_by"] == "mon"
    with pytest.raises(AlarmActionError):
        act(hub, hub.alarms.clear_by_hand, a["id"], "mon")


def test_older_reading_does_not_clear_a_newer_fault(hub) -> None:
    from floorops.topics import EdgeRecord
    f = Feeder(hub)
    jam = f.record("kiosk-01", "event", {"event": "card_jam"})
    late = EdgeRecord("kiosk-01", "kiosk", "telemetry", jam.ts - 5000, 99, kiosk_ok(), zone="reg_hall", site="demo")
    hub.apply_messages([("floorops/demo/edge/kiosk/kiosk-01/telemetry", late.to_json())])
    assert open_alarms(hub, "card_jam")


def test_flapping_is_suppressed_then_clears_after_hold(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    raised_events = []
    hub.bus.sinks.append(lambda e: raised_events.append(e.type))
    for _ in range(2):
        f.record("kiosk-01", "telemetry", kiosk_ok(app="hung"))
        clock.advance(30)
        f.record("kiosk-01", "telemetry", kiosk_ok())
        clock.advance(30)
    assert raised_events.count("alarm.raised") == 2
    f.record("kiosk-01", "telemetry", kiosk_ok(app="hung"))  # third raise in 10 minutes: flapping
    assert raised_events.count("alarm.raised") == 2
    alarms = [a for a in hub.alarms.list() if a["type"] == "app_hung"]
    assert len(alarms) == 2 and alarms[0]["flapping"] and alarms[0]["state"] == "active"
    clock.advance(30)
    f.record("kiosk-01", "telemetry", kiosk_ok())
    assert open_alarms(hub, "app_hung")  # held while flapping
    clock.advance(200)
    hub.tick()
    assert open_alarms(hub, "app_hung")
    clock.advance(101)
    hub.tick()
    assert open_alarms(hub, "app_hung") == []
    assert hub.alarms.json(alarms[0]["id"])["cleared_by"] == "auto"


def test_flapping_condition_returning_during_hold_keeps_alarm(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    for _ in range(3):
        f.record("kiosk-01", "telemetry", kiosk_ok(app="hung"))
        clock.advance(10)
        f.record("kiosk-01", "telemetry", kiosk_ok())
        clock.advance(10)
    f.record("kiosk-01", "telemetry", kiosk_ok(app="hung"))
    clock.advance(400)
    hub.tick()
    assert open_alarms(hub, "app_hung")


def test_unacknowledged_alarm_escalates_once(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    f.record("charger-01", "telemetry", {"station": {"status_bits": 1 | 4}, "slots": []})  # ground fault: critical
    f.record("kiosk-01", "event", {"event": "card_jam"})  # major
    clock.advance(299)
    hub.tick()
    assert not any(a["escalated"] for a in open_alarms(hub))
    clock.advance(1)
    hub.tick()
    assert {a["type"] for a in open_alarms(hub) if a["escalated"]} == {"charger_ground_fault"}
    act(hub, hub.alarms.acknowledge, [a for a in open_alarms(hub) if a["type"] == "card_jam"][0]["id"], "mon")
    clock.advance(900)
    hub.tick()
    escalated = {a["type"] for a in open_alarms(hub) if a["escalated"] and a["type"] != "device_offline"}
    assert escalated == {"charger_ground_fault"}  # the acknowledged card jam does not escalate
    history = hub.alarms.history(open_alarms(hub, "charger_ground_fault")[0]["id"])
    assert [h["action"] for h in history].count("escalated") == 1


# -- tickets ------------------------------------------------------------------------------------------

def test_ticket_per_fault_episode_assigned_with_due_times(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "event", {"event": "card_jam"})
    f.record("kiosk-01", "event", {"event": "card_jam"})  # same episode
    [t] = hub.tickets.list()
    assert t["state"] == "open" and t["fault"] == "card_jam" and t["severity"] == "major"
    assert t["assignee"] in {"maintenance", "mt-sun"}
    opened = clock.now()
    row = hub.tickets.get(t["id"])
    assert row["respond_due_at"] == opened + 30 * 60 and row["due_at"] == opened + 240 * 60
    f.record("charger-01", "telemetry", {"station": {"status_bits": 1 | 2}, "slots": []})
    t2 = [x for x in hub.tickets.list() if x["device_id"] == "charger-01"][0]
    assert hub.tickets.get(t2["id"])["due_at"] == clock.now() + 120 * 60  # critical: 2 h
    assert t2["assignee"] != t["assignee"]  # the other maintenance person has fewer tickets


def test_accept_and_resolve_with_code_clears_the_alarm(hub, clock: ManualClock) -> None:
    Feeder(hub).record("kiosk-01", "event", {"event": "printer_jam"})
    [t] = hub.tickets.list()
    clock.advance(60)
    accepted = act(hub, hub.tickets.accept, t["id"], "maintenance")
    assert accepted["state"] == "accepted" and accepted["assignee"] == "maintenance"
    with pytest.raises(TicketActionError):
        act(hub, hub.tickets.accept, t["id"], "maintenance")
    with pytest.raises(ValueError):
        act(hub, hub.tickets.resolve, t["id"], "maintenance", "magic")
    clock.advance(600)
    resolved = act(hub, hub.tickets.resolve, t["id"], "maintenance", "cleared_jam")
    assert resolved["state"] == "resolved" and resolved["resolution"] == "cleared_jam"
    assert not resolved["sla_breached"]
    assert open_alarms(hub) == []


def test_ticket_resolves_by_itself_when_device_reports_fault_cleared(hub) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "event", {"event": "paper_out"})
    f.record("kiosk-01", "event", {"event": "fault_cleared", "fault": "paper_out"})
    [t] = hub.tickets.list()
    assert t["state"] == "resolved" and t["resolution"] == "auto_cleared" and t["resolved_by"] == "device"


def test_ticket_reopens_when_fault_recurs_within_window(hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    f.record("kiosk-01", "event", {"event": "card_jam"})
    [t] = hub.tickets.list()
    act(hub, hub.tickets.resolve, t["id"], "maintenance", "repaired")
    clock.advance(3600)
    f.record("kiosk-01", "event", {"event": "card_jam"})
    [t2] = hub.tickets.list()
    assert t2["id"] == t["id"] and t2["state"] == "open" and t2["reopened"] == 1
    act(hub, hub.tickets.resolve, t["id"], "maintenance", "replaced_part")
    clock.advance(86401)
    f.record("kiosk-01", "event", {"event": "card_jam"})
    assert len(hub.tickets.list()) == 2  # outside the window: a new ticket


def test_sla_breach_when_not_accepted_within_30_minutes(hub, clock: ManualClock) -> None:
    Feeder(hub).record("kiosk-01", "event", {"event": "card_jam"})
    clock.advance(29 * 60)
    assert not hub.tickets.list()[0]["sla_breached"]
    clock.advance(2 * 60)
    assert hub.tickets.list()[0]["sla_breached"]


# -- dispatch -----------------------------------------------------------------------------------------

def crowd(hub, clock: ManualClock, zone: str = "reg_hall") -> None:
    f = Feeder(hub)
    f.occupancy(zone, hub.site.zone(zone).capacity)
    clock.advance(121)
    hub.tick()


def test_crowded_zone_offers_dispatch_to_zone_manager_first(hub, clock: ManualClock) -> None:
    crowd(hub, clock)
    [d] = hub.dispatch.list()
    assert (d["zone"], d["reason"], d["state"], d["assignee"]) == ("reg_hall", "zone_crowded", "offered", "fm-zhang")
    with pytest.raises(NotYours):
        act(hub, hub.dispatch.accept, d["id"], "fm-li", "floor_manager")
    clock.advance(45)
    accepted = act(hub, hub.dispatch.accept, d["id"], "fm-zhang", "floor_manager")
    assert accepted["state"] == "accepted"
    with pytest.raises(DispatchActionError):
        act(hub, hub.dispatch.decline, d["id"], "fm-zhang", "floor_manager")
    clock.advance(600)
    done = act(hub, hub.dispatch.complete, d["id"], "fm-zhang", "floor_manager")
    assert done["state"] == "completed"


def test_declined_offer_goes_to_same_floor_then_elastic_pool(hub, clock: ManualClock) -> None:
    crowd(hub, clock)
    [d] = hub.dispatch.list()
    act(hub, hub.dispatch.decline, d["id"], "fm-zhang", "floor_manager")
    offers = hub.dispatch.list()
    # Wang covers zones on reg_hall's floor: closer than the elastic pool (Chen); Li (floor 2) not at all.
    assert [(o["assignee"], o["state"]) for o in offers] == [("fm-wang", "offered"), ("fm-zhang", "declined")]
    assert offers[0]["request_id"] == d["id"] and offers[0]["attempt"] == 2
    act(hub, hub.dispatch.decline, offers[0]["id"], "fm-wang", "floor_manager")
    assert hub.dispatch.list()[0]["assignee"] == "fm-chen"


def test_offer_not_answered_in_time_expires_and_moves_on(hub, clock: ManualClock) -> None:
    crowd(hub, clock, "lab")
    [d] = hub.dispatch.list()
    assert d["assignee"] == "fm-wang"
    clock.advance(179)
    hub.tick()
    assert hub.dispatch.list()[0]["state"] == "offered"
    clock.advance(1)
    hub.tick()
    offers = hub.dispatch.list()
    # Zhang covers zones on the lab's floor: before the elastic pool (Chen).
    assert [(o["assignee"], o["state"]) for o in offers] == [("fm-zhang", "offered"), ("fm-wang", "expired")]
    clock.advance(180)
    hub.tick()
    assert [(o["assignee"], o["state"]) for o in hub.dispatch.list()][:2] == [("fm-chen", "offered"),
                                                                            ("fm-zhang", "expired")]
    clock.advance(180)
    hub.tick()
    # Nobody else on shift may go (Li works floor 2), and the zone is still crowded: the job is not dropped,
    # a new chain of offers starts from the best placed.
    offers = hub.dispatch.list()
    assert [o["state"] for o in offers[1:]] == ["expired"] * 3
    assert (offers[0]["assignee"], offers[0]["state"], offers[0]["attempt"]) == ("fm-wang", "offered", 1)
    assert offers[0]["request_id"] != offers[1]["request_id"]


def test_long_wait_offers_dispatch_once_per_open_request(hub) -> None:
    from tests.hub.helpers import queue_reading
    f = Feeder(hub)
    f.record("qs-im-1", "telemetry", queue_reading("IM-1", 90, 100))
    f.record("qs-im-2", "telemetry", queue_reading("IM-2", 90, 100))
    offers = hub.dispatch.list()
    assert [(o["zone"], o["reason"], o["assignee"]) for o in offers] == [("im_clinic", "long_wait", "fm-li")]


# -- KPIs -------------------------------------------------------------------------------------------

def test_kpis_from_a_known_sequence(hub, clock: ManualClock) -> None:
    settings = hub.rules.settings
    settings["rules"]["device_offline"]["enabled"] = False  # hours pass here with the devices silent
    hub.set_rules(settings, "admin")
    f = Feeder(hub)
    f.record("kiosk-01", "event", {"event": "card_jam"})       # alarm 1, ticket 1
    f.record("charger-01", "telemetry", {"station": {"status_bits": 1 | 2}, "slots": []})  # alarm 2, ticket 2
    a1, a2 = sorted(open_alarms(hub), key=lambda a: a["id"])
    clock.advance(120)
    act(hub, hub.alarms.acknowledge, a1["id"], "mon")          # acked after 120 s
    clock.advance(240)
    act(hub, hub.alarms.acknowledge, a2["id"], "mon")          # acked after 360 s
    t1, t2 = sorted(hub.tickets.list(), key=lambda t: t["id"])
    act(hub, hub.tickets.accept, t1["id"], "maintenance")      # accepted at 360 s: in time
    clock.advance(1440)
    act(hub, hub.tickets.resolve, t1["id"], "maintenance", "repaired")  # resolved 1800 s after opening
    clock.advance(3 * 3600)                                    # ticket 2 (critical, 2 h) now overdue
    crowd(hub, clock)
    [d] = hub.dispatch.list()
    clock.advance(30)
    act(hub, hub.dispatch.accept, d["id"], "fm-zhang", "floor_manager")
    clock.advance(60)
    act(hub, hub.dispatch.arrive, d["id"], "fm-zhang", "floor_manager")
    # On the spot and not done yet: the job was accepted 30 s after its offer all the same.
    assert kpis.compute(hub)["dispatch_time_to_accept_s"] == 30.0
    clock.advance(240)
    act(hub, hub.dispatch.complete, d["id"], "fm-zhang", "floor_manager")
    k = kpis.compute(hub)
    assert k["mtta_s"] == 240.0                                # (120 + 360) / 2
    assert k["mttr_s"] == 1800.0
    assert k["open_tickets"] == 1 and k["sla_breaches"] == 1
    assert k["fault_rate_by_kind"]["kiosk"] == round(1 / 15, 4)
    assert k["fault_rate_by_kind"]["charger"] == round(1 / 6, 4)
    assert k["fault_rate"] == round(2 / len(hub.site.devices), 4)  # of the demo site's 63 devices
    assert k["devices_faulted"] == 1                           # the charger; the kiosk was repaired
    assert k["dispatch_time_to_accept_s"] == 30.0 and k["dispatch_time_to_complete_s"] == 330.0
    assert k["dispatch_expired_share"] == 0.0 and k["open_dispatches"] == 0
