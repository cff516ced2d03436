"""Requests raised by people and measurable dispatch (issue #15 items 1, 2): every state change and role over
HTTP against an in-process hub with a ManualClock, the patient's QR endpoint, and the KPIs by shift."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterator

import pytest

from floorops.config import Config
from hub.clock import ManualClock
from tests.hub.conftest import http
from tests.hub.live import PASSWORDS, LiveHub

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


def token(live: LiveHub, username: str) -> str:
    status, body = http(live.url + "/api/login", "POST", {"username": username, "password": PASSWORDS[username]})
    assert status == 200, body
    return body["token"]


def at_local(clock: ManualClock, hour: int, minute: int = 0) -> None:
    """Set the hub's clock to that local time (Asia/Shanghai) of 2025-11-24, a Monday."""
    clock.set(dt.datetime(2025, 11, 24, hour, minute, tzinfo=SHANGHAI).timestamp())


def mine(live: LiveHub, tok: str) -> list[dict[str, Any]]:
    status, body = http(live.url + "/api/dispatches?state=offered", token=tok)
    assert status == 200
    return body


def act(live: LiveHub, dispatch_id: int, verb: str, tok: str) -> tuple[int, Any]:
    return http(live.url + f"/api/dispatches/{dispatch_id}/{verb}", "POST", token=tok)


def test_desk_emergency_offered_accepted_arrived_done_with_times(live: LiveHub, clock: ManualClock) -> None:
    desk, zhang, li, mon = (token(live, n) for n in ("desk", "fm-zhang", "fm-li", "monitor"))
    # A monitor may not raise; the desk may.
    assert http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=mon)[0] == 403
    status, req = http(live.url + "/api/requests", "POST",
                       {"kind": "emergency", "zone": "reg_hall", "detail": "patient fainted at window 3"}, token=desk)
    assert status == 201 and req["state"] == "dispatched" and req["priority"] == 100
    assert req["due_at"] is not None and not req["overdue"]
    [offer] = mine(live, zhang)  # Zhang covers reg_hall: closest
    assert offer["reason"] == "emergency" and offer["service_request"] == req["id"]
    assert mine(live, li) == []
    d = offer["id"]
    assert act(live, d, "arrive", zhang)[0] == 409  # not accepted yet
    assert act(live, d, "accept", li)[0] == 403  # someone else's
    assert act(live, d, "accept", desk)[0] == 403  # the desk does not answer dispatches
    clock.advance(40)
    status, body = act(live, d, "accept", zhang)
    assert status == 200 and body["state"] == "accepted"
    assert act(live, d, "arrive", li)[0] == 403
    clock.advance(80)
    status, body = act(live, d, "arrive", zhang)
    assert status == 200 and body["state"] == "arrived" and body["arrived_at"]
    assert act(live, d, "arrive", zhang)[0] == 409
    clock.advance(300)
    status, body = act(live, d, "complete", zhang)
    assert status == 200 and body["state"] == "completed"
    status, got = http(live.url + "/api/requests", token=mon)
    assert got[0]["id"] == req["id"] and got[0]["state"] == "closed" and got[0]["overdue"] is False
    status, k = http(live.url + "/api/kpis", token=mon)
    assert k["dispatch_time_to_arrive_s"] == 120.0
    assert k["dispatch_by_shift"]["day"] == {"time_to_accept_s": 40.0, "time_to_arrive_s": 120.0}
    assert k["dispatch_by_shift"]["night"] == {"time_to_accept_s": None, "time_to_arrive_s": None}
    status, audit = http(live.url + "/api/audit", token=token(live, "admin"))
    assert {"request.raise", "dispatch.arrive"} <= {a["action"] for a in audit}


def test_staff_chosen_by_availability_then_closeness_then_load(live: LiveHub, clock: ManualClock) -> None:
    desk = token(live, "desk")
    hub = live.ctx.hub
    http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    # Zhang (covers reg_hall) is busy now: the next goes to Wang (a zone on the same floor), not to Chen
    # (elastic) nor Li (floor 2).
    http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    offers = live.call(hub.dispatch.list, "offered")
    assert sorted(o["assignee"] for o in offers) == ["fm-chen", "fm-wang", "fm-zhang"]
    # Nobody free: the fourth waits, open and undispatched, until someone is free.
    status, fourth = http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    assert fourth["state"] == "open"
    status, tiles = http(live.url + "/api/requests/tiles", token=desk)
    assert tiles["assist"] == {"open": 4, "overdue": 0}


def test_waiting_jobs_served_by_priority_then_age(live: LiveHub, clock: ManualClock) -> None:
    desk, zhang = token(live, "desk"), token(live, "fm-zhang")
    hub = live.ctx.hub
    for zone in ("reg_hall", "lab", "pharmacy", "im_clinic"):  # Zhang, Wang, Chen, Li offered a job ...
        http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": zone}, token=desk)
    for offer in live.call(hub.dispatch.list, "offered"):  # ... and took it: nothing left to pre-empt
        assert live.call(hub.dispatch.accept, offer["id"], offer["assignee"], "floor_manager")["state"] == "accepted"
    clock.advance(1)
    _, older = http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    clock.advance(1)
    _, emergency = http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=desk)
    assert older["state"] == emergency["state"] == "open"
    status, listed = http(live.url + "/api/requests?state=open", token=desk)
    assert [r["id"] for r in listed] == [emergency["id"], older["id"]]  # most urgent first
    [first] = [d for d in live.call(hub.dispatch.list, "accepted") if d["assignee"] == "fm-zhang"]
    act(live, first["id"], "complete", zhang)
    live.call(hub.tick)
    [offer] = mine(live, zhang)
    assert offer["service_request"] == emergency["id"]  # the newer emergency before the older assist


def test_emergency_preempts_an_unanswered_assist_offer_and_is_accepted(live: LiveHub, clock: ManualClock) -> None:
    desk, zhang, admin = token(live, "desk"), token(live, "fm-zhang"), token(live, "admin")
    hub = live.ctx.hub
    _, assist = http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    [held] = mine(live, zhang)  # Zhang is offered an assist and has not answered yet
    assert held["service_request"] == assist["id"]
    for zone in ("lab", "lab", "im_clinic"):  # Wang, Chen (elastic), Li take theirs
        http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": zone}, token=desk)
        [offer] = [d for d in live.call(hub.dispatch.list, "offered") if d["assignee"] != "fm-zhang"]
        live.call(hub.dispatch.accept, offer["id"], offer["assignee"], "floor_manager")
    clock.advance(30)
    status, emergency = http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "entrance"},
                             token=desk)
    assert status == 201 and emergency["state"] == "dispatched"
    [offer] = mine(live, zhang)
    assert offer["service_request"] == emergency["id"] and offer["priority"] == 100
    status, gone = http(live.url + "/api/dispatches?state=withdrawn", token=zhang)
    assert status == 200 and [d["id"] for d in gone] == [held["id"]]
    assert act(live, held["id"], "accept", zhang)[0] == 409  # a withdrawn offer cannot be taken any more
    _, waiting = http(live.url + "/api/requests?state=open", token=desk)
    assert [r["id"] for r in waiting] == [assist["id"]]
    clock.advance(20)
    status, body = act(live, offer["id"], "accept", zhang)
    assert status == 200 and body["state"] == "accepted"
    clock.advance(60)
    assert act(live, offer["id"], "arrive", zhang)[1]["state"] == "arrived"
    _, audit = http(live.url + "/api/audit", token=admin)
    assert any(a["action"] == "dispatch.withdraw" and a["target"] == str(held["id"]) for a in audit)
    _, k = http(live.url + "/api/kpis", token=desk)
    assert k["dispatch_by_shift"]["day"]["time_to_arrive_s"] == 80.0  # raise to arrival of the emergency


def test_declined_or_unanswered_offer_goes_to_the_next_person(live: LiveHub, clock: ManualClock) -> None:
    desk, zhang = token(live, "desk"), token(live, "fm-zhang")
    hub = live.ctx.hub
    _, req = http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    [offer] = mine(live, zhang)
    assert act(live, offer["id"], "decline", zhang)[1]["state"] == "declined"
    [nxt] = [o for o in live.call(hub.dispatch.list, "offered")]
    assert nxt["assignee"] == "fm-wang" and nxt["service_request"] == req["id"]
    clock.advance(hub.rules.dispatch["offer_timeout_s"] + 1)
    live.call(hub.tick)
    [third] = live.call(hub.dispatch.list, "offered")
    assert third["assignee"] == "fm-chen"
    status, got = http(live.url + "/api/requests", token=desk)
    assert got[0]["state"] == "dispatched"


def test_work_order_goes_to_the_liaison_and_is_answered_by_accepting(live: LiveHub, clock: ManualClock) -> None:
    liaison, desk, zhang = token(live, "liaison-lab"), token(live, "desk"), token(live, "fm-zhang")
    status, req = http(live.url + "/api/requests", "POST",
                       {"kind": "work_order", "zone": "lab", "detail": "specimen fridge check"}, token=desk)
    assert status == 201
    assert mine(live, zhang) == []
    [offer] = mine(live, liaison)
    clock.advance(31 * 60)  # past the 30-minute answer target
    assert live.call(live.ctx.hub.dispatch.list, "expired") == []  # (tick not run: still offered)
    status, _ = act(live, offer["id"], "accept", liaison)
    assert status == 200
    _, got = http(live.url + "/api/requests", token=desk)
    assert got[0]["answered_at"] and got[0]["overdue"] is True and got[0]["state"] == "dispatched"
    # A liaison may raise work orders too, but not close a complaint.
    assert http(live.url + "/api/requests", "POST", {"kind": "work_order", "zone": "lab"}, token=liaison)[0] == 201
    _, c = http(live.url + "/api/requests", "POST", {"kind": "complaint", "zone": "lab", "topic": "attitude"}, token=desk)
    assert http(live.url + f"/api/requests/{c['id']}/close", "POST", {"resolution": "x"}, token=liaison)[0] == 403


def test_repair_request_is_a_manual_ticket_closed_with_it(live: LiveHub, clock: ManualClock) -> None:
    desk, maint = token(live, "desk"), token(live, "maintenance")
    _, req = http(live.url + "/api/requests", "POST", {"kind": "repair", "zone": "pharmacy", "detail": "door jams"},
                  token=desk)
    assert req["ticket_id"] and req["state"] == "dispatched"
    _, tickets = http(live.url + "/api/tickets?state=open", token=maint)
    [t] = [t for t in tickets if t["id"] == req["ticket_id"]]
    assert t["fault"] == "door jams" and t["zone"] == "pharmacy" and t["assignee"]
    assert http(live.url + f"/api/tickets/{t['id']}/resolve", "POST", {"code": "repaired"}, token=maint)[0] == 200
    live.call(live.ctx.hub.tick)
    _, got = http(live.url + "/api/requests", token=desk)
    assert got[0]["state"] == "closed" and got[0]["closed_by"] == "maintenance"


def test_complaint_targets_close_notice_and_repeat_escalation(live: LiveHub, clock: ManualClock,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    desk, mon, admin = token(live, "desk"), token(live, "monitor"), token(live, "admin")
    public = {"kind": "complaint", "zone": "pharmacy", "topic": "wait_time", "detail": "waited 2 h",
              "phone": "138 0013 8000"}
    with caplog.at_level(logging.INFO):
        status, body = http(live.url + "/api/public/requests", "POST", public)
    assert status == 201 and body["notify"] is True
    assert "13800138000" not in caplog.text  # the number is never logged
    status, unanswered = http(live.url + "/api/public/requests", "POST", {**public, "phone": "13700137000"})
    assert status == 201  # (left open: its number is deleted after phone_keep_days, below)
    _, got = http(live.url + "/api/requests", token=mon)
    first = next(r for r in got if r["id"] == body["id"])
    assert first["has_phone"] and "phone" not in first and first["source"] == "qr"
    raised = dt.datetime.fromisoformat(first["raised_at"])
    assert dt.datetime.fromisoformat(first["due_at"]) - raised == dt.timedelta(hours=24)
    _, cx = http(live.url + "/api/requests", "POST", {"kind": "complaint", "zone": "lab", "topic": "billing",
                                                       "complex": True}, token=desk)
    assert dt.datetime.fromisoformat(cx["due_at"]) - dt.datetime.fromisoformat(cx["raised_at"]) == dt.timedelta(hours=48)
    assert http(live.url + f"/api/requests/{first['id']}/close", "POST", {"resolution": ""}, token=desk)[0] == 400
    assert http(live.url + f"/api/requests/{first['id']}/close", "POST", {"resolution": "x"}, token=mon)[0] == 403
    status, closed = http(live.url + f"/api/requests/{first['id']}/close", "POST",
                          {"resolution": "extra pharmacist at peak hours"}, token=desk)
    assert status == 200 and closed["state"] == "closed" and closed["has_phone"] is False
    assert http(live.url + f"/api/requests/{first['id']}/close", "POST", {"resolution": "x"}, token=desk)[0] == 409
    _, notices = http(live.url + "/api/requests/notices", token=admin)
    assert notices[0]["kind"] == "closure" and notices[0]["recipient"] == "*********00"
    # Sent through the SMS channel when the notify file has one (tests/hub/test_requests_escalation.py);
    # without one nothing could ever send it.
    sms = "sms" in live.ctx.hub.notify_settings.channels
    assert notices[0]["state"] == ("pending" if sms else "no_channel")
    row = live.call(live.ctx.hub.db.one, "SELECT phone FROM requests WHERE id=?", (first["id"],))
    assert row["phone"] is None  # moved to the outbox at closure
    assert http(live.url + "/api/requests/settings", "PUT", {"escalate_to": "p-zhang"}, token=admin)[0] == 200
    # 29 days later, the same topic in the same zone: escalated to the named manager.
    clock.advance(29 * 86400)
    desk, admin = token(live, "desk"), token(live, "admin")  # (the sessions expired meanwhile)
    _, again = http(live.url + "/api/requests", "POST", {"kind": "complaint", "zone": "pharmacy", "topic": "wait_time"},
                    token=desk)
    assert again["repeat_of"] == unanswered["id"] and again["escalated_to"] == "p-zhang"
    _, notices = http(live.url + "/api/requests/notices", token=admin)
    assert notices[0]["kind"] == "escalation" and notices[0]["request_id"] == again["id"]
    # 31 days after that, no longer a repeat; and the open complaint's phone is deleted by housekeeping.
    clock.advance(31 * 86400)
    desk = token(live, "desk")
    _, later = http(live.url + "/api/requests", "POST", {"kind": "complaint", "zone": "pharmacy", "topic": "wait_time"},
                    token=desk)
    assert later["repeat_of"] is None and later["escalated_to"] == ""  # 31 days: outside the 30-day window
    assert live.call(live.ctx.hub.db.one, "SELECT phone FROM requests WHERE id=?", (unanswered["id"],))["phone"]
    live.call(live.ctx.hub.housekeeping)
    row = live.call(live.ctx.hub.db.one, "SELECT phone FROM requests WHERE id=?", (unanswered["id"],))
    assert row["phone"] is None  # the open complaint's number deleted after 30 days


def test_public_request_validation_origin_and_rate_limit(live: LiveHub, clock: ManualClock) -> None:
    url = live.url + "/api/public/requests"
    ok_body = {"kind": "assist", "zone": "reg_hall", "detail": "wheelchair please"}
    assert http(url, "POST", {"kind": "work_order", "zone": "lab"})[0] == 400  # not a public kind
    assert http(url, "POST", {"kind": "assist", "zone": "nowhere"})[0] == 400
    assert http(url, "POST", {**ok_body, "phone": "call me"})[0] == 400
    assert http(url, "POST", {**ok_body, "phone": "13800138000"})[0] == 400  # a phone only for complaints
    assert http(url, "POST", {**ok_body, "name": "Wang"})[0] == 400  # nothing personal beyond the phone
    assert http(url, "POST", {**ok_body, "detail": "x" * 501})[0] == 400
    assert http(url, "POST", ok_body, headers={"Origin": "https://evil.example"})[0] == 403
    import urllib.error
    import urllib.request
    form = urllib.request.Request(url, data=b"kind=assist&zone=reg_hall", method="POST",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(form)
    assert exc.value.code == 415
    assert http(url, "POST", ok_body)[0] == 429  # the invalid attempts counted too: 6 an hour
    clock.advance(3601)
    limit = live.ctx.hub.requests.settings["public_per_address_per_hour"]
    for _ in range(limit):
        assert http(url, "POST", ok_body, headers={"Origin": live.url})[0] == 201
    status, body = http(url, "POST", ok_body)
    assert status == 429 and "error" in body
    clock.advance(3601)
    assert http(url, "POST", ok_body)[0] == 201
    assert live.ctx.hub.metrics["public_request_throttled"] == 2


def test_public_page_is_served_in_the_browsers_language(live: LiveHub) -> None:
    status, page = http(live.url + "/r/pharmacy", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert status == 200 and b'lang="en"' in page and b'data-zone="pharmacy"' in page
    status, page = http(live.url + "/r/pharmacy", headers={"Accept-Language": "zh-CN"})
    assert b'lang="zh"' in page and "药房".encode() in page
    assert http(live.url + "/r/nowhere")[0] == 404
    status, links = http(live.url + "/api/requests/qr", token=token(live, "admin"))
    assert {"zone": "pharmacy", "url": live.url + "/r/pharmacy"}.items() <= next(
        x for x in links if x["zone"] == "pharmacy").items()


def test_settings_edit_targets_and_refuse_nonsense(live: LiveHub, clock: ManualClock) -> None:
    admin, desk = token(live, "admin"), token(live, "desk")
    url = live.url + "/api/requests/settings"
    assert http(url, "PUT", {"kinds": {"emergency": {"target_min": 5}}}, token=desk)[0] == 403
    for bad in ({"kinds": {"emergency": {"target_min": "soon"}}}, {"kinds": {"party": {}}}, {"night_shift": "late"},
                {"nope": 1}, {"kinds": {"assist": {"roles": ["wizard"]}}}):
        status, body = http(url, "PUT", bad, token=admin)
        assert status == 400 and "error" in body, bad
    status, s = http(url, "PUT", {"kinds": {"emergency": {"target_min": 5}}, "night_shift": "22:00-06:00"}, token=admin)
    assert status == 200 and s["kinds"]["emergency"]["target_min"] == 5 and s["kinds"]["assist"]["target_min"] == 15
    _, req = http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "lab"}, token=desk)
    assert dt.datetime.fromisoformat(req["due_at"]) - dt.datetime.fromisoformat(req["raised_at"]) == dt.timedelta(minutes=5)


def test_night_emergency_timeout_rate_and_shift_split(live: LiveHub, clock: ManualClock) -> None:
    def emergency(arrive_after_s: float) -> None:
        desk, zhang = token(live, "desk"), token(live, "fm-zhang")  # (the clock jumps over session lifetimes)
        http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=desk)
        [offer] = mine(live, zhang)
        act(live, offer["id"], "accept", zhang)
        clock.advance(arrive_after_s)
        act(live, offer["id"], "arrive", zhang)
        act(live, offer["id"], "complete", zhang)

    at_local(clock, 3)  # the small hours of Monday belong to Sunday's night shift, not to Monday's
    emergency(900)
    at_local(clock, 21)  # night
    emergency(100)
    at_local(clock, 22)
    emergency(400)  # later than 3 minutes
    at_local(clock, 23)
    emergency(170)
    at_local(clock, 10)  # day: late, but not a night call
    emergency(500)
    at_local(clock, 23, 30)
    desk, mon = token(live, "desk"), token(live, "monitor")
    _, k = http(live.url + "/api/kpis", token=mon)
    assert k["night_emergency_calls"] == 3 and k["night_emergency_timeout_rate"] == round(1 / 3, 4)
    assert k["dispatch_by_shift"]["night"]["time_to_arrive_s"] == round((100 + 400 + 170) / 3, 1)
    assert k["dispatch_by_shift"]["day"]["time_to_arrive_s"] == 500.0
    # A pending night emergency past its target counts as timed out before anyone arrives.
    http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "lab"}, token=desk)
    clock.advance(181)
    _, k = http(live.url + "/api/kpis", token=mon)
    assert k["night_emergency_calls"] == 4 and k["night_emergency_timeout_rate"] == 0.5
    # Monday's night shift goes on past midnight: a call at 02:00 on Tuesday is Monday's, answered in time.
    clock.set(dt.datetime(2025, 11, 25, 2, 0, tzinfo=SHANGHAI).timestamp())
    emergency(120)
    _, k = http(live.url + "/api/kpis?date=2025-11-24", token=mon)
    assert k["night_emergency_calls"] == 5 and k["night_emergency_timeout_rate"] == 0.4
    _, k = http(live.url + "/api/kpis", token=mon)  # Tuesday: its own night has not begun
    assert k["night_emergency_calls"] == 0 and k["dispatch_by_shift"]["night"]["time_to_arrive_s"] is None
