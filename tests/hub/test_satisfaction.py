"""Satisfaction on known press sequences, on a ManualClock (any day, any hour): the daily 0-100 score per
zone (presses 100/75/50/25/0), the satisfaction_low rule's corrective-action ticket after 3 days below 80,
its follow-up on the next 3 days, and the floor managers' actions on it through the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from floorops.config import Config
from hub import views
from hub.clock import ManualClock
from hub.core import Hub
from tests.hub.helpers import Feeder, make_hub, open_alarms

REG = "sat-02"  # reg_hall: floor manager fm-zhang in the demo roster
LAB = "sat-04"  # lab: fm-wang


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock) -> Any:
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def _midnight(hub: Hub, days: int = 0) -> float:
    """The site-local midnight ``days`` after the clock's day."""
    day = dt.datetime.fromtimestamp(hub.clock.now(), hub.tz).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(), hub.tz).timestamp()


def _date(hub: Hub, days: int = 0) -> str:
    return (dt.datetime.fromtimestamp(hub.clock.now(), hub.tz).date() + dt.timedelta(days=days)).isoformat()


def _press(f: Feeder, device: str, *buttons: str) -> None:
    for b in buttons:
        f.record(device, "event", {"event": "press", "button": b})


def _day_of(hub: Hub, clock: ManualClock, f: Feeder, base: float, n: int, device: str, *buttons: str) -> None:
    """The presses at 12:00 of day ``n`` after ``base`` (a midnight)."""
    clock.set(base + n * 86400 + 12 * 3600)
    _press(f, device, *buttons)


LOW = ("neutral",) * 5  # 50
HIGH = ("very_satisfied", "very_satisfied", "very_satisfied", "satisfied", "very_satisfied")  # 95


def test_daily_score_is_the_mean_of_the_presses_per_zone_and_local_day(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    base = _midnight(hub)
    clock.set(base + 9 * 3600)
    _press(f, REG, "very_satisfied", "very_satisfied", "neutral", "very_dissatisfied")  # (100+100+50+0)/4
    _press(f, LAB, "satisfied", "dissatisfied")  # (75+25)/2
    f.record(REG, "event", {"event": "press", "button": "very_satisfied"}, seq=1)  # redelivered: not counted
    clock.set(base + 86400 - 1)  # 23:59:59: still today
    _press(f, LAB, "very_satisfied")
    clock.set(base + 86400 + 1)  # 00:00:01: tomorrow
    _press(f, LAB, "very_dissatisfied")
    today = views.satisfaction_json(hub, dt.date.fromisoformat(_date(hub, -1)))
    zones = {z["zone"]: z for z in today["zones"]}
    assert today["date"] == _date(hub, -1) and today["target"] == 80.0
    assert (zones["reg_hall"]["score"], zones["reg_hall"]["ratings"]) == (62.5, 4)
    assert zones["reg_hall"]["counts"] == {"very_satisfied": 2, "satisfied": 0, "neutral": 1, "dissatisfied": 0,
                                           "very_dissatisfied": 1}
    assert (zones["lab"]["score"], zones["lab"]["ratings"]) == (round(200 / 3, 1), 3)
    assert (zones["pharmacy"]["score"], zones["pharmacy"]["ratings"]) == (None, 0)
    assert (today["site"]["score"], today["site"]["ratings"]) == (round(450 / 7, 1), 7)
    # A range: each day, and the range's own score per zone.
    both = views.satisfaction_json(hub, dt.date.fromisoformat(_date(hub, -1)), dt.date.fromisoformat(_date(hub)))
    assert [d["date"] for d in both["days"]] == [_date(hub, -1), _date(hub)] and "date" not in both
    lab = [next(z for z in d["zones"] if z["zone"] == "lab") for d in both["days"]]
    assert [(z["score"], z["ratings"]) for z in lab] == [(round(200 / 3, 1), 3), (0.0, 1)]
    assert next(z for z in both["zones"] if z["zone"] == "lab")["score"] == 50.0  # (75+25+100+0)/4
    with pytest.raises(ValueError, match="at most"):
        views.satisfaction_json(hub, dt.date(2025, 1, 1), dt.date(2025, 12, 31))


def test_a_press_with_an_unknown_button_is_counted_not_scored(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    _press(f, REG, "delighted")
    assert hub.metrics["presses_unknown_button"] == 1
    reg = next(z for z in views.satisfaction_json(hub)["zones"] if z["zone"] == "reg_hall")
    assert reg["ratings"] == 0


def _low_days(hub: Hub, clock: ManualClock, f: Feeder, base: float, days: range, device: str = REG,
              buttons: tuple[str, ...] = LOW) -> None:
    for n in days:
        _day_of(hub, clock, f, base, n, device, *buttons)


def test_three_days_below_80_open_one_corrective_ticket_for_the_zone_floor_manager(hub: Hub,
                                                                                   clock: ManualClock) -> None:
    f = Feeder(hub)
    base = _midnight(hub)
    _low_days(hub, clock, f, base, range(0, 3))
    _day_of(hub, clock, f, base, 0, LAB, *LOW)  # the lab: one low day only
    _day_of(hub, clock, f, base, 2, LAB, *LOW)
    clock.set(base + 2 * 86400 + 23 * 3600)  # day 3 is not over: two complete days only
    hub.check_satisfaction()
    assert hub.satisfaction.actions() == []
    clock.set(base + 3 * 86400 + 300)  # 00:05 of day 4
    hub.check_satisfaction()
    hub.check_satisfaction()  # again: nothing new
    [a] = hub.satisfaction.actions()
    assert (a["zone"], a["owner"], a["state"]) == ("reg_hall", "fm-zhang", "open")
    assert [d["date"] for d in a["streak"]] == [_date(hub, -3), _date(hub, -2), _date(hub, -1)]
    assert {d["score"] for d in a["streak"]} == {50.0}
    assert dt.datetime.fromisoformat(a["due_at"]).timestamp() == clock.now() + 7 * 86400
    assert (a["followup_from"], a["followup_to"]) == (_date(hub), _date(hub, 2)) and a["verdict"] is None
    [alarm] = open_alarms(hub, "satisfaction_low")
    assert (alarm["zone"], alarm["source"], alarm["device_id"]) == ("reg_hall", "satisfaction:reg_hall", "")
    assert a["alarm_id"] == alarm["id"]
    assert hub.tickets.list() == []  # not a maintenance ticket
    # Still low on day 4: no second ticket while this one is open.
    _low_days(hub, clock, f, base, range(3, 4))
    clock.set(base + 4 * 86400 + 300)
    hub.check_satisfaction()
    assert len(hub.satisfaction.actions()) == 1


def test_a_day_with_too_few_presses_or_at_80_breaks_the_streak(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    base = _midnight(hub)
    _low_days(hub, clock, f, base, range(0, 3))
    _day_of(hub, clock, f, base, 1, LAB, "neutral", "neutral")  # lab day 1: 2 presses, under min_ratings 5
    _low_days(hub, clock, f, base, (0, 2), device=LAB)
    _low_days(hub, clock, f, base, (0, 2), device="sat-03")  # pharmacy: low on days 0 and 2, exactly 80 on day 1
    _day_of(hub, clock, f, base, 1, "sat-03", "very_satisfied", "very_satisfied", "very_satisfied", "neutral", "neutral")
    clock.set(base + 3 * 86400 + 300)
    days = {z.zone: z for z in hub.satisfaction.zone_days()}
    assert days["pharmacy"].scores[_date(hub, -2)] == 80.0 and _date(hub, -2) not in days["lab"].scores
    hub.check_satisfaction()
    assert [a["zone"] for a in hub.satisfaction.actions()] == ["reg_hall"]


def _opened(hub: Hub, clock: ManualClock, f: Feeder, base: float) -> dict[str, Any]:
    _low_days(hub, clock, f, base, range(0, 3))
    clock.set(base + 3 * 86400 + 300)
    hub.check_satisfaction()
    [a] = hub.satisfaction.actions()
    return a


def test_followup_improved_closes_the_ticket_and_clears_the_alarm(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    base = _midnight(hub)
    a = _opened(hub, clock, f, base)
    _low_days(hub, clock, f, base, range(3, 6), buttons=HIGH)
    clock.set(base + 5 * 86400 + 23 * 3600)  # the last follow-up day is not over
    hub.check_satisfaction()
    assert hub.satisfaction.json(a["id"])["verdict"] is None
    clock.set(base + 6 * 86400 + 60)
    hub.check_satisfaction()
    hub.check_satisfaction()
    done = hub.satisfaction.json(a["id"])
    assert (done["state"], done["verdict"], done["closed_by"]) == ("closed", "improved", "floorops")
    assert [d["score"] for d in done["followup"]] == [95.0, 95.0, 95.0]
    assert "Follow-up: improved" in done["notes"][-1]["body"] and len(done["notes"]) == 2
    assert open_alarms(hub, "satisfaction_low") == []


def test_followup_not_improved_is_recorded_and_the_ticket_stays_with_its_owner(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    base = _midnight(hub)
    a = _opened(hub, clock, f, base)
    _low_days(hub, clock, f, base, (3, 5), buttons=HIGH)
    _low_days(hub, clock, f, base, (4,))  # one follow-up day still below 80
    clock.set(base + 6 * 86400 + 60)
    hub.check_satisfaction()
    out = hub.satisfaction.json(a["id"])
    assert (out["state"], out["verdict"]) == ("open", "not_improved")
    assert [d["score"] for d in out["followup"]] == [95.0, 50.0, 95.0]
    assert "Follow-up: not improved" in out["notes"][-1]["body"]
    assert len(open_alarms(hub, "satisfaction_low")) == 1
    # Closed by hand, with its days used up: no new ticket from the same days.
    with hub.unit_of_work():
        hub.satisfaction.close(a["id"], "fm-zhang", "new signage at the exit")
    assert open_alarms(hub, "satisfaction_low") == []
    hub.check_satisfaction()
    assert len(hub.satisfaction.actions()) == 1
    # Three new low days after it: a new ticket.
    _low_days(hub, clock, f, base, range(6, 9))
    clock.set(base + 9 * 86400 + 60)
    hub.check_satisfaction()
    assert [x["state"] for x in hub.satisfaction.actions()] == ["open", "closed"]


def test_followup_without_ratings_says_so(hub: Hub, clock: ManualClock) -> None:
    f = Feeder(hub)
    base = _midnight(hub)
    a = _opened(hub, clock, f, base)
    clock.set(base + 6 * 86400 + 60)
    hub.check_satisfaction()
    out = hub.satisfaction.json(a["id"])
    assert (out["state"], out["verdict"]) == ("open", "no_data")
    assert [d["score"] for d in out["followup"]] == [None, None, None]


def test_settings_come_from_the_rules(hub: Hub, clock: ManualClock) -> None:
    hub.set_rules({"rules": {"satisfaction_low": {"threshold": 40, "days": 2, "due_days": 1}}}, "test")
    f = Feeder(hub)
    base = _midnight(hub)
    _low_days(hub, clock, f, base, range(0, 2))  # 50: not below 40
    _low_days(hub, clock, f, base, range(0, 2), device=LAB, buttons=("dissatisfied",) * 5)  # 25
    clock.set(base + 2 * 86400 + 60)
    hub.check_satisfaction()
    [a] = hub.satisfaction.actions()
    assert (a["zone"], a["owner"], len(a["streak"])) == ("lab", "fm-wang", 2)
    assert dt.datetime.fromisoformat(a["due_at"]).timestamp() == clock.now() + 86400
    hub.set_rules({"rules": {"satisfaction_low": {"enabled": False}}}, "test")
    _low_days(hub, clock, f, base, range(2, 5))
    clock.set(base + 5 * 86400 + 60)
    hub.check_satisfaction()
    assert len(hub.satisfaction.actions()) == 1


def test_floor_managers_act_on_the_ticket_through_the_api(offline_cfg: Config, clock: ManualClock) -> None:
    from tests.hub.conftest import http
    from tests.hub.live import LiveHub

    live = LiveHub(offline_cfg, clock).start()
    try:
        hub = live.ctx.hub
        base = live.call(_midnight, hub)
        live.call(lambda: _opened(hub, clock, Feeder(hub), base))
        fm, maint, monitor = live.login("fm-zhang"), live.login("maintenance"), live.login("monitor")
        status, body = http(live.url + "/api/satisfaction/actions?state=open", token=monitor)
        assert status == 200 and [a["zone"] for a in body] == ["reg_hall"]
        i = body[0]["id"]
        url = live.url + f"/api/satisfaction/actions/{i}"
        assert http(url + "/acknowledge", "POST", {}, token=maint)[0] == 403
        assert http(url + "/acknowledge", "POST", {}, token=monitor)[0] == 403
        status, a = http(url + "/acknowledge", "POST", {"note": "talking to the registration team"}, token=fm)
        assert status == 200 and (a["state"], a["acknowledged_by"]) == ("acknowledged", "fm-zhang")
        assert http(url + "/acknowledge", "POST", {}, token=fm)[0] == 409
        assert http(url + "/comment", "POST", {"note": ""}, token=fm)[0] == 400
        status, a = http(url + "/comment", "POST", {"note": "two more counters 8-10h"}, token=fm)
        assert status == 200 and a["notes"][-1] == {**a["notes"][-1], "author": "fm-zhang",
                                                     "body": "two more counters 8-10h"}
        status, a = http(url + "/close", "POST", {"note": "done"}, token=fm)
        assert status == 200 and (a["state"], a["closed_by"]) == ("closed", "fm-zhang")
        assert http(url + "/close", "POST", {}, token=fm)[0] == 409
        assert http(live.url + "/api/satisfaction/actions/999/close", "POST", {}, token=fm)[0] == 404
        # The scores route: a day, a range, a zone; bad queries refused.
        status, day = http(live.url + f"/api/satisfaction?date={_date(hub, -1)}", token=monitor)
        assert status == 200 and next(z for z in day["zones"] if z["zone"] == "reg_hall")["score"] == 50.0
        status, rng = http(live.url + f"/api/satisfaction?from={_date(hub, -3)}&to={_date(hub, -1)}&zone=reg_hall",
                           token=monitor)
        assert status == 200 and [z["zone"] for z in rng["zones"]] == ["reg_hall"] and len(rng["days"]) == 3
        for q in ("date=yesterday", f"date={_date(hub)}&from={_date(hub)}", "from=2025-01-01&to=2025-12-31"):
            assert http(live.url + f"/api/satisfaction?{q}", token=monitor)[0] == 400, q
        assert http(live.url + "/api/satisfaction?zone=nowhere", token=monitor)[0] == 400
        assert http(live.url + "/api/satisfaction/actions?zone=nowhere", token=monitor)[0] == 400
        # An empty zone is no zone of the site either (the OpenAPI enum; found by tests/hub/test_openapi_fuzz.py).
        assert http(live.url + "/api/satisfaction/actions?zone=", token=monitor)[0] == 400
        assert http(live.url + "/api/satisfaction?zone=", token=monitor)[0] == 400
    finally:
        live.stop()
