"""The dispatcher's one queue (hub.dispatch, issue #15 item 2): scripted scenarios on an in-process hub with a
ManualClock and the demo roster (Zhang: reg_hall/entrance/pharmacy; Wang: lab and imaging, the same floor;
Chen: the elastic pool; Li: the clinics on floor 2; all on shift all day).

Each rule here failed on the dispatcher before it: an emergency never reached Li on another floor, nothing
was pre-empted, an expired offer took the person just freed before more urgent waiting work, a device job
with nobody free was dropped, and an emergency offer waited the whole 3-minute target (180 s)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterator

import pytest

from floorops.config import Config
from hub.clock import ManualClock
from hub import kpis
from hub.core import Hub
from hub.requests import RequestError
from hub.rules.base import Signal
from tests.hub.helpers import make_hub


@pytest.fixture
def hub(offline_cfg: Config, clock: ManualClock) -> Iterator[Hub]:
    h = make_hub(offline_cfg, clock)
    yield h
    h.db.close()


def raise_(hub: Hub, kind: str, zone: str) -> dict[str, Any]:
    with hub.unit_of_work():
        return hub.requests.raise_request(kind, zone, "console", "desk")


def answer(hub: Hub, dispatch_id: int, verb: str, username: str) -> dict[str, Any]:
    with hub.unit_of_work():
        out: dict[str, Any] = getattr(hub.dispatch, verb)(dispatch_id, username, "floor_manager")
        return out


def offer_of(hub: Hub, username: str) -> dict[str, Any]:
    [offer] = hub.dispatch.list("offered", username)
    return offer


def take(hub: Hub, kind: str, zone: str, username: str) -> dict[str, Any]:
    """Raise a request and have ``username`` (who must be offered it) accept it: they are busy."""
    req = raise_(hub, kind, zone)
    offer = offer_of(hub, username)
    assert offer["service_request"] == req["id"]
    return answer(hub, offer["id"], "accept", username)


def crowded(hub: Hub, zone: str, active: bool = True) -> None:
    """A device rule that dispatches (zone_crowded) raised or cleared in ``zone``."""
    with hub.unit_of_work():
        hub.alarms.apply(Signal("zone_crowded", zone, active, zone=zone))


def request_state(hub: Hub, request_id: int) -> str:
    return str(hub.requests.json(request_id)["state"])


def test_an_emergency_reaches_anyone_on_shift_other_kinds_stay_on_their_floor(hub: Hub) -> None:
    take(hub, "assist", "reg_hall", "fm-zhang")
    take(hub, "assist", "lab", "fm-wang")
    take(hub, "assist", "pharmacy", "fm-chen")  # Zhang and Wang busy: the elastic pool
    # Li (floor 2) is free. A floor-1 assist is not hers: a routine job does not pull her off her floor.
    assist = raise_(hub, "assist", "reg_hall")
    assert assist["state"] == "open" and hub.dispatch.list("offered", "fm-li") == []
    # An emergency is: anyone on shift and free, however far.
    emergency = raise_(hub, "emergency", "reg_hall")
    assert emergency["state"] == "dispatched"
    assert offer_of(hub, "fm-li")["service_request"] == emergency["id"]
    assert request_state(hub, assist["id"]) == "open"


def test_the_closest_free_person_still_gets_the_emergency_first(hub: Hub) -> None:
    take(hub, "assist", "reg_hall", "fm-zhang")
    emergency = raise_(hub, "emergency", "reg_hall")
    assert offer_of(hub, "fm-wang")["service_request"] == emergency["id"]  # same floor before Chen and Li


def test_an_emergency_withdraws_the_lowest_priority_unanswered_offer_never_an_accepted_job(hub: Hub) -> None:
    accepted = take(hub, "assist", "reg_hall", "fm-zhang")
    assist = raise_(hub, "assist", "lab")  # offered to Wang, unanswered (priority 60)
    crowded(hub, "pharmacy")  # a device job (priority 40), offered to Chen: Zhang and Wang are busy
    device = offer_of(hub, "fm-chen")
    assert device["reason"] == "zone_crowded" and device["priority"] == 40
    clinic = raise_(hub, "assist", "im_clinic")  # offered to Li
    wang_offer = offer_of(hub, "fm-wang")
    assert offer_of(hub, "fm-li")["service_request"] == clinic["id"]

    emergency = raise_(hub, "emergency", "reg_hall")
    # Nobody free. Zhang's accepted job is never taken back; Wang is the best placed of those holding only
    # unanswered lower-priority offers (the same floor, before Chen and Li): his assist is withdrawn.
    assert emergency["state"] == "dispatched"
    new = offer_of(hub, "fm-wang")
    assert new["service_request"] == emergency["id"] and new["priority"] == 100
    assert hub.dispatch.get(wang_offer["id"])["state"] == "withdrawn"
    assert hub.dispatch.get(accepted["id"])["state"] == "accepted"
    assert offer_of(hub, "fm-chen")["id"] == device["id"] and offer_of(hub, "fm-li")["service_request"] == clinic["id"]
    # The withdrawn job waits again (assists do not pre-empt), with an event to Wang and an audit line.
    assert request_state(hub, assist["id"]) == "open"
    withdrawn = [json.loads(r["data"]) for r in hub.db.all(
        "SELECT data FROM events WHERE type='dispatch.updated' AND audience='fm-wang'")]
    assert any(d["id"] == wang_offer["id"] and d["state"] == "withdrawn" for d in withdrawn)
    [line] = hub.db.all("SELECT * FROM audit WHERE action='dispatch.withdraw'")
    assert line["target"] == str(wang_offer["id"])
    assert json.loads(line["detail"])["for_request"] == emergency["id"]
    # Once someone is free, the withdrawn assist is offered again (Zhang, done, is the closest to the lab).
    answer(hub, accepted["id"], "complete", "fm-zhang")
    hub.tick()
    again = offer_of(hub, "fm-zhang")
    assert again["service_request"] == assist["id"] and request_state(hub, assist["id"]) == "dispatched"


def test_a_withdrawn_offer_counts_neither_as_answered_nor_as_expired(hub: Hub, clock: ManualClock) -> None:
    raise_(hub, "assist", "reg_hall")  # Zhang holds it, unanswered
    for zone, who in (("lab", "fm-wang"), ("lab", "fm-chen"), ("im_clinic", "fm-li")):
        raise_(hub, "assist", zone)
        answer(hub, offer_of(hub, who)["id"], "accept", who)
    raise_(hub, "emergency", "entrance")  # withdraws Zhang's assist
    clock.advance(46)
    hub.tick()  # Zhang let the emergency expire; nobody else is free, so he is asked again
    states = sorted(r["state"] for r in hub.db.all("SELECT state FROM dispatches"))
    assert states == ["accepted"] * 3 + ["expired", "offered", "withdrawn"]
    assert kpis.compute(hub)["dispatch_expired_share"] == 0.25  # 1 expired of 4 answered or expired


def test_an_emergency_does_not_withdraw_another_emergency(hub: Hub) -> None:
    for zone, who in (("reg_hall", "fm-zhang"), ("lab", "fm-wang"), ("pharmacy", "fm-chen"), ("im_clinic", "fm-li")):
        raise_(hub, "emergency", zone)
        assert offer_of(hub, who)["reason"] == "emergency"
    fifth = raise_(hub, "emergency", "reg_hall")
    assert fifth["state"] == "open"
    assert hub.db.one("SELECT COUNT(*) AS n FROM dispatches WHERE state='withdrawn'")["n"] == 0


def test_an_expired_offer_does_not_take_the_person_just_freed_from_more_urgent_work(hub: Hub,
                                                                                    clock: ManualClock) -> None:
    zhang = take(hub, "assist", "reg_hall", "fm-zhang")
    take(hub, "assist", "lab", "fm-wang")
    take(hub, "assist", "im_clinic", "fm-li")
    crowded(hub, "entrance")  # a device job to Chen, who will not answer
    assert offer_of(hub, "fm-chen")["reason"] == "zone_crowded"
    waiting = raise_(hub, "assist", "reg_hall")
    assert waiting["state"] == "open"
    answer(hub, zhang["id"], "complete", "fm-zhang")  # Zhang is free; before the next tick, Chen's offer expires
    clock.advance(hub.rules.dispatch["offer_timeout_s"] + 1)
    hub.tick()
    # The waiting assist (60) goes first, to Zhang; the expired device job (40) does not take him.
    assert offer_of(hub, "fm-zhang")["service_request"] == waiting["id"]


def test_a_device_job_with_nobody_free_waits_and_is_offered_when_someone_is(hub: Hub) -> None:
    zhang = take(hub, "assist", "reg_hall", "fm-zhang")
    take(hub, "assist", "lab", "fm-wang")
    take(hub, "assist", "pharmacy", "fm-chen")
    crowded(hub, "entrance")
    crowded(hub, "lab")
    assert hub.dispatch.list("offered") == []
    assert [(j.zone, j.reason, j.priority) for j in hub.dispatch.waiting()] == [
        ("entrance", "zone_crowded", 40), ("lab", "zone_crowded", 40)]
    crowded(hub, "lab", active=False)  # the lab's crowd went: nobody is sent there any more
    answer(hub, zhang["id"], "complete", "fm-zhang")
    hub.tick()
    offer = offer_of(hub, "fm-zhang")
    assert (offer["zone"], offer["reason"]) == ("entrance", "zone_crowded")
    assert hub.dispatch.waiting() == []
    hub.tick()  # an open job is not offered twice
    assert len(hub.dispatch.list("offered")) == 1


def test_waiting_work_is_served_emergency_first_then_oldest(hub: Hub, clock: ManualClock) -> None:
    jobs = [take(hub, "assist", z, who) for z, who in
            (("reg_hall", "fm-zhang"), ("lab", "fm-wang"), ("pharmacy", "fm-chen"), ("im_clinic", "fm-li"))]
    crowded(hub, "reg_hall")  # device job, oldest
    clock.advance(1)
    older = raise_(hub, "assist", "reg_hall")
    clock.advance(1)
    emergency = raise_(hub, "emergency", "reg_hall")  # nobody free, nothing unanswered to withdraw
    assert emergency["state"] == "open"
    assert [(j.reason, j.service_request) for j in hub.dispatch.waiting()] == [
        ("emergency", emergency["id"]), ("assist", older["id"]), ("zone_crowded", None)]
    for job, who in zip(jobs[:3], ("fm-zhang", "fm-wang", "fm-chen")):
        answer(hub, job["id"], "complete", who)
    hub.tick()
    assert offer_of(hub, "fm-zhang")["service_request"] == emergency["id"]
    assert offer_of(hub, "fm-wang")["service_request"] == older["id"]
    assert offer_of(hub, "fm-chen")["reason"] == "zone_crowded"


def test_an_emergency_offer_times_out_sooner_and_the_setting_is_editable(hub: Hub, clock: ManualClock) -> None:
    assert hub.requests.settings["kinds"]["emergency"]["offer_timeout_s"] == 45
    raise_(hub, "assist", "lab")
    assist = offer_of(hub, "fm-wang")
    raise_(hub, "emergency", "reg_hall")
    first = offer_of(hub, "fm-zhang")
    assert _seconds(first["expires_at"]) - _seconds(first["created_at"]) == 45
    assert _seconds(assist["expires_at"]) - _seconds(assist["created_at"]) == 180
    clock.advance(46)
    hub.tick()
    assert hub.dispatch.get(first["id"])["state"] == "expired"
    nxt = offer_of(hub, "fm-chen")  # Wang holds an assist offer; Chen (elastic) before Li
    assert nxt["reason"] == "emergency" and nxt["attempt"] == 2
    assert hub.dispatch.get(assist["id"])["state"] == "offered"  # not the emergency's to take: Chen was free
    with hub.unit_of_work():
        hub.requests.set_settings({"kinds": {"emergency": {"offer_timeout_s": 30}}})
    raise_(hub, "emergency", "im_clinic")
    li = offer_of(hub, "fm-li")
    assert _seconds(li["expires_at"]) - _seconds(li["created_at"]) == 30
    for bad in ({"kinds": {"assist": {"offer_timeout_s": 30}}}, {"kinds": {"emergency": {"offer_timeout_s": 0}}},
                {"kinds": {"emergency": {"offer_timeout_s": "soon"}}}):
        with pytest.raises(RequestError):
            hub.requests.set_settings(bad)


def _seconds(iso_text: str) -> float:
    return dt.datetime.fromisoformat(iso_text).timestamp()
