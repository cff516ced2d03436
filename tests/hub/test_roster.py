"""A roster people edit (issue #15 item 6): people over /api/people, tomorrow's roster proposed from the
staffing plan, edited and published, every state change and role over HTTP against an in-process hub on a
ManualClock; and the dispatcher offering work by the published roster, not the draft.

The forecast is the one part given: a models service whose arrivals are fixed, with the real Erlang C
staffing (models.staffing.plan_day) on top of them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import numpy as np
import pytest

from floorops.config import Config, load_config
from floorops.site import load_site
from hub.clock import ManualClock
from hub.roster import Person, Roster, RosterStore, propose, shifts_of
from models.staffing import StaffingPolicy, handling_minutes, plan_day
from tests.hub.conftest import http
from tests.hub.helpers import make_hub
from tests.hub.live import LiveHub

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TOMORROW = "2025-11-25"  # the clock fixture is 2025-11-24 10:00 Asia/Shanghai
HOURS = list(range(8, 18))


class FixedArrivals:
    """The models service with a fixed arrivals forecast: 90 an hour at registration, 12 in internal medicine,
    08:00-18:00; the staffing is the real Erlang C."""

    def __init__(self, cfg: Config) -> None:
        self.site = load_site(cfg.site.file)

    def load(self) -> bool:
        return True

    def staffing(self, day: dt.date, on_roster: dict[tuple[str, int], int] | None = None) -> list[dict[str, Any]]:
        p50 = {"reg_hall": np.full(len(HOURS), 90.0), "im_clinic": np.full(len(HOURS), 12.0)}
        return plan_day(p50, {z: v * 1.3 for z, v in p50.items()}, handling_minutes(self.site), StaffingPolicy(),
                        on_roster, hours=HOURS)


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    with h.ctx.forecaster._lock:  # not while the hub's warm-up is loading the real service
        h.ctx.forecaster._service, h.ctx.forecaster._loaded = FixedArrivals(offline_cfg), False
    yield h
    h.stop()


def roster_of(live: LiveHub, tok: str, day: str = TOMORROW) -> dict[str, Any]:
    status, body = http(live.url + f"/api/roster?date={day}", token=tok)
    assert status == 200, body
    return body


def cells(day: dict[str, Any], key: str, person: str) -> dict[int, str]:
    return {c["hour"]: c["zone"] for c in day[key] if c["person"] == person}


def test_people_are_seeded_from_the_file_and_edited_by_admins(live: LiveHub) -> None:
    admin, fm, mon = live.login("admin"), live.login("fm-zhang"), live.login("monitor")
    status, people = http(live.url + "/api/people", token=admin)
    assert status == 200
    zhang = next(p for p in people if p["id"] == "p-zhang")
    assert zhang["name_zh"] == "张伟" and zhang["zones"] == ["reg_hall", "entrance", "pharmacy"]
    assert {p["id"] for p in people} >= {"p-zhang", "p-li", "p-liu", "p-zhou"}
    # Contact points are personal: admins only.
    assert http(live.url + "/api/people", token=fm)[0] == 403
    assert http(live.url + "/api/people", token=mon)[0] == 403
    new = {"id": "p-ma", "name": "Ma Li", "name_zh": "马丽", "role": "staff", "zones": ["reg_hall"],
           "shift": "07:00-19:00", "email": "ma@example.org", "elastic": True}
    assert http(live.url + "/api/people", "POST", new, token=fm)[0] == 403
    status, body = http(live.url + "/api/people", "POST", new, token=admin)
    assert status == 201 and body["email"] == "ma@example.org" and body["on_duty"] is True
    assert http(live.url + "/api/people", "POST", new, token=admin)[0] == 409  # the id exists
    for bad, message in [({**new, "id": "p-x", "role": "surgeon"}, "role"),
                         ({**new, "id": "p-x", "zones": ["moon"]}, "no such zone: moon"),
                         ({**new, "id": "p-x", "zones": "reg_hall"}, "zones must be a list"),
                         ({**new, "id": "p-x", "on_duty": "yes"}, "on_duty must be true or false"),
                         ({**new, "id": "p-x", "shift": "9-5"}, "shift"),
                         ({**new, "id": "p-x", "pager": 1}, "unknown keys pager"),
                         ({"id": "p-x", "role": "staff"}, "name is required"),
                         ({**new, "id": "p-x", "username": "fm-zhang"}, "already another person's")]:
        status, body = http(live.url + "/api/people", "POST", bad, token=admin)
        assert status == 400 and message in body["error"], (bad, body)
    status, body = http(live.url + "/api/people/p-ma", "PATCH", {"on_duty": False, "phone": "+86 10 1234"},
                        token=admin)
    assert status == 200 and body["on_duty"] is False and body["phone"] == "+86 10 1234" and body["name"] == "Ma Li"
    assert http(live.url + "/api/people/p-ma", "PATCH", {"id": "p-other"}, token=admin)[0] == 400
    assert http(live.url + "/api/people/p-nobody", "PATCH", {"on_duty": False}, token=admin)[0] == 404
    assert http(live.url + "/api/people/p-ma", "PATCH", {"on_duty": True}, token=fm)[0] == 403
    # The roster everyone reads has the new person; the hub's own roster too (dispatch reads it).
    assert "p-ma" in {p["id"] for p in roster_of(live, mon)["people"]}
    assert http(live.url + "/api/people/p-ma", "DELETE", token=fm)[0] == 403
    assert http(live.url + "/api/people/p-ma", "DELETE", token=admin) == (200, {"deleted": "p-ma"})
    assert http(live.url + "/api/people/p-ma", "DELETE", token=admin)[0] == 404
    assert "p-ma" not in {p.id for p in live.ctx.hub.roster.people}
    status, audit = http(live.url + "/api/audit", token=admin)
    assert {"person.add", "person.update", "person.delete"} <= {a["action"] for a in audit}


def test_people_show_the_notification_values_in_force(live: LiveHub) -> None:
    """A person's own choices (/api/me/notify) override the roster's: /api/people shows both, and which pages."""
    admin, zhang = live.login("admin"), live.login("fm-zhang")
    status, body = http(live.url + "/api/people/p-zhang", "PATCH",
                        {"events": ["severity:major"], "quiet_hours": "22:00-07:00"}, token=admin)
    assert status == 200 and body["notify"] == {"channels": ["wecom", "sms"], "events": ["severity:major"],
                                                "quiet_hours": "22:00-07:00", "source": "roster"}
    status, mine = http(live.url + "/api/me/notify", "PUT", {"events": ["severity:critical"], "quiet_hours": ""},
                        token=zhang)
    assert status == 200 and mine["events"] == ["severity:critical"]
    status, people = http(live.url + "/api/people", token=admin)
    p = next(p for p in people if p["id"] == "p-zhang")
    assert (p["events"], p["quiet_hours"]) == (["severity:major"], "22:00-07:00")  # what the admin set
    assert p["notify"] == {"channels": ["wecom", "sms"], "events": ["severity:critical"], "quiet_hours": "",
                           "source": "own"}
    # The same values the escalation pages by.
    person = live.ctx.hub.roster_store.get("p-zhang")
    assert live.ctx.hub.escalation.effective(person).events == ("severity:critical",)
    # An admin's later edit of the roster values does not hide that the person's own still win.
    status, body = http(live.url + "/api/people/p-zhang", "PATCH", {"events": []}, token=admin)
    assert status == 200 and body["events"] == [] and body["notify"]["events"] == ["severity:critical"]
    other = next(p for p in people if p["id"] == "p-li")
    assert other["notify"]["source"] == "roster"


def test_propose_edit_publish_every_state_and_role(live: LiveHub, clock: ManualClock) -> None:
    fm, mon, desk, admin = (live.login(n) for n in ("fm-zhang", "monitor", "desk", "admin"))
    url = live.url + f"/api/roster/proposal?date={TOMORROW}"
    assert roster_of(live, mon)["status"] == "none"
    # Nothing to edit or publish before a proposal.
    assert http(url, "PATCH", {"cells": [{"person": "p-li", "hour": 9, "zone": "reg_hall"}]}, token=fm)[0] == 409
    assert http(live.url + f"/api/roster/publish?date={TOMORROW}", "POST", token=fm)[0] == 409
    # Who may plan: floor managers and admins.
    assert http(url, "POST", token=mon)[0] == 403
    assert http(url, "POST", token=desk)[0] == 403
    for bad_url, message in [(live.url + "/api/roster/proposal", "date is required"),
                             (live.url + "/api/roster/proposal?date=25-11-2025", "YYYY-MM-DD"),
                             (live.url + "/api/roster/proposal?date=2025-11-23", "in the past"),
                             (live.url + "/api/roster/proposal?date=2026-11-25", "days ahead")]:
        status, body = http(bad_url, "POST", token=fm)
        assert status == 400 and message in body["error"], body
    status, day = http(url, "POST", token=fm)
    assert status == 201 and day["status"] == "proposed" and day["proposed_by"] == "fm-zhang", day
    # Registration needs more than its people at 90 arrivals an hour: Zhang (its floor manager) and the elastic
    # pool (Chen) are proposed there through opening hours, the rest is reported unfilled. Zhao is on leave.
    assert cells(day, "proposed", "p-zhang") == {h: "reg_hall" for h in HOURS}
    assert cells(day, "proposed", "p-chen") == {h: "reg_hall" for h in HOURS}
    assert cells(day, "proposed", "p-zhao") == {}
    assert {u["hour"] for u in day["unfilled"] if u["zone"] == "reg_hall"} == set(HOURS)
    assert cells(day, "proposed", "p-li") == {h: "im_clinic" for h in HOURS}  # its floor manager
    assert cells(day, "proposed", "p-liu") == {h: "" for h in range(24)}  # maintenance: the standing shift
    assert cells(day, "proposed", "p-sun") == {h: "" for h in range(8, 20)}
    assert day["published"] == [] and roster_of(live, mon)["status"] == "proposed"
    # The floor manager moves Li to registration at 09:00 and takes Chen off at 09:00.
    edit = {"cells": [{"person": "p-li", "hour": 9, "zone": "reg_hall"}, {"person": "p-chen", "hour": 9, "zone": None}]}
    assert http(url, "PATCH", edit, token=mon)[0] == 403
    for bad, message in [({"cells": []}, "cells must be a list"),
                         ({"cells": [{"person": "p-li", "hour": 24, "zone": "reg_hall"}]}, "hour must be an integer"),
                         ({"cells": [{"person": "p-li", "hour": True, "zone": "reg_hall"}]}, "hour must be an integer"),
                         ({"cells": [{"person": "p-who", "hour": 9, "zone": "reg_hall"}]}, "no such person"),
                         ({"cells": [{"person": "p-li", "hour": 9, "zone": "moon"}]}, "zone must be a zone"),
                         ({"cells": [{"person": "p-li", "hour": 9, "room": 3}]}, "must be an object")]:
        status, body = http(url, "PATCH", bad, token=fm)
        assert status == 400 and message in body["error"], (bad, body)
    status, day = http(url, "PATCH", edit, token=fm)
    assert status == 200 and day["status"] == "proposed" and day["edited_by"] == "fm-zhang"
    assert cells(day, "proposed", "p-li")[9] == "reg_hall" and 9 not in cells(day, "proposed", "p-chen")
    # Publish: the plan is what was proposed and edited; shifts are its runs.
    assert http(live.url + f"/api/roster/publish?date={TOMORROW}", "POST", token=mon)[0] == 403
    status, day = http(live.url + f"/api/roster/publish?date={TOMORROW}", "POST", token=fm)
    assert status == 200 and day["status"] == "published" and day["published_by"] == "fm-zhang"
    assert day["published"] == day["proposed"]
    assert {"person": "p-li", "zone": "reg_hall", "start": "09:00", "end": "10:00"} in day["shifts"]
    assert {"person": "p-li", "zone": "im_clinic", "start": "10:00", "end": "18:00"} in day["shifts"]
    # A later edit is a draft again until it is published.
    status, day = http(url, "PATCH", {"cells": [{"person": "p-zhang", "hour": 7, "zone": "reg_hall"}]}, token=admin)
    assert status == 200 and day["status"] == "changed" and 7 not in cells(day, "published", "p-zhang")
    # A new proposal replaces the draft, not the published plan.
    status, day = http(url, "POST", token=fm)
    assert status == 201 and 7 not in cells(day, "proposed", "p-zhang") and cells(day, "published", "p-li")[9] == "reg_hall"
    status, audit = http(live.url + "/api/audit", token=admin)
    assert [a["action"] for a in audit if a["action"].startswith("roster.")][:5] == [
        "roster.propose", "roster.edit", "roster.publish", "roster.edit", "roster.propose"]  # newest first


def test_no_forecast_no_proposal(offline_cfg: Config, clock: ManualClock) -> None:
    live = LiveHub(offline_cfg, clock).start()  # no model trained
    try:
        status, body = http(live.url + f"/api/roster/proposal?date={TOMORROW}", "POST", token=live.login("fm-zhang"))
        assert status == 503 and "no staffing plan" in body["error"]
    finally:
        live.stop()


def test_dispatcher_offers_work_by_the_published_roster_not_the_draft(live: LiveHub, clock: ManualClock) -> None:
    fm = live.login("fm-zhang")
    url = live.url + f"/api/roster/proposal?date={TOMORROW}"
    assert http(url, "POST", token=fm)[0] == 201
    # At 09:00 tomorrow: Li at registration; Zhang and Chen off.
    off = {"cells": [{"person": "p-li", "hour": 9, "zone": "reg_hall"}, {"person": "p-zhang", "hour": 9, "zone": None},
                     {"person": "p-chen", "hour": 9, "zone": None}]}
    assert http(url, "PATCH", off, token=fm)[0] == 200
    hub = live.ctx.hub
    nine = dt.datetime(2025, 11, 25, 9, 10, tzinfo=SHANGHAI)
    clock.set(nine.timestamp())
    # Not published yet: the standing shifts say who works (Zhang covers registration).
    assert live.call(lambda: [p.id for p in hub.dispatch.candidates("reg_hall", set())])[0] == "p-zhang"
    clock.set(dt.datetime(2025, 11, 24, 10, 0, tzinfo=SHANGHAI).timestamp())
    assert http(live.url + f"/api/roster/publish?date={TOMORROW}", "POST", token=fm)[0] == 200
    # Back in the draft, unpublished: Zhang at registration at 09:00 again.
    assert http(url, "PATCH", {"cells": [{"person": "p-zhang", "hour": 9, "zone": "reg_hall"}]}, token=fm)[0] == 200
    clock.set(nine.timestamp())
    candidates = live.call(lambda: [p.id for p in hub.dispatch.candidates("reg_hall", set())])
    assert candidates[0] == "p-li" and "p-zhang" not in candidates and "p-chen" not in candidates
    fm, desk = live.login("fm-zhang"), live.login("desk")  # sessions of tomorrow morning
    status, req = http(live.url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=desk)
    assert status == 201 and req["state"] == "dispatched"
    status, offers = http(live.url + "/api/dispatches?state=offered", token=live.login("fm-li"))
    assert [(o["person_id"], o["zone"]) for o in offers] == [("p-li", "reg_hall")]
    assert http(live.url + "/api/dispatches?state=offered", token=fm)[1] == []
    # Everyone reads who works now: Li at registration, Zhang not.
    people = {p["id"]: p for p in roster_of(live, desk)["people"]}
    assert people["p-li"]["on_duty"] and people["p-li"]["zones_now"] == ["reg_hall"]
    assert not people["p-zhang"]["on_duty"]


def test_seeded_once_and_kept_across_restarts(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    with hub.unit_of_work():
        hub.roster_store.delete("p-zhao", hub.today())
        hub.roster_store.put(Person("p-new", "New", "staff", zones=("lab",)), clock.now())
    hub.db.close()
    again = make_hub(offline_cfg, clock)  # the roster file still has p-zhao: the database wins
    ids = [p.id for p in again.roster.people]
    assert "p-zhao" not in ids and ids[-1] == "p-new" and ids[0] == "p-zhang"


def test_propose_places_by_zone_then_pool_and_keeps_people_in_place() -> None:
    tz = load_site(load_config(env={}).site.file).tz
    day = dt.date(2025, 11, 25)
    people = [Person("a", "A", "staff", zones=("z1",), shift="08:00-12:00"),
              Person("b", "B", "staff", zones=("z2",), shift="08:00-12:00"),
              Person("pool", "P", "staff", elastic=True, shift="08:00-12:00"),
              Person("m", "M", "maintenance", shift="22:00-07:00"),
              Person("away", "W", "staff", zones=("z1",), on_duty=False)]
    need = [{"zone": "z1", "hour": 8, "required": 2}, {"zone": "z1", "hour": 9, "required": 1},
            {"zone": "z2", "hour": 9, "required": 1}, {"zone": "z1", "hour": 10, "required": 3}]
    got, unfilled = propose(people, need, day, tz)
    placed = {(pid, hour): zone for pid, hour, zone in got}
    assert placed[("a", 8)] == "z1" and placed[("pool", 8)] == "z1"  # the zone's own, then the pool
    assert placed[("a", 9)] == "z1" and placed[("b", 9)] == "z2" and ("pool", 9) not in placed
    assert ("away", 8) not in placed and unfilled == [{"zone": "z1", "hour": 10, "short": 1}]
    assert {h for (pid, h) in placed if pid == "m"} == set(range(0, 7)) | {22, 23}  # standing, both ends
    assert {"person": "a", "zone": "z1", "start": "08:00", "end": "11:00"} in shifts_of(got)
    # A published day follows its plan; the day after, the standing shifts again.
    roster = Roster(tuple(people), {(day, pid, h): z for pid, h, z in got}, frozenset({day}))
    at = dt.datetime.combine(day, dt.time(9, 30), tz)
    assert {p.id: p.zones for p in roster.at(at)} == {"a": ("z1",), "b": ("z2",)}
    assert {p.id for p in roster.at(at + dt.timedelta(days=1))} == {"a", "b", "pool"}


def test_store_loads_only_published_days(offline_cfg: Config, clock: ManualClock) -> None:
    hub = make_hub(offline_cfg, clock)
    store: RosterStore = hub.roster_store
    day = dt.date(2025, 11, 25)
    with hub.unit_of_work():
        store.save_proposal(day, [("p-li", 9, "reg_hall")], [], "t", clock.now())
    assert store.load(day).planned == frozenset()
    with hub.unit_of_work():
        store.publish(day, "t", clock.now())
    assert store.load(day).hours == {(day, "p-li", 9): "reg_hall"}


def test_a_new_login_is_linked_to_its_person_in_the_database(offline_cfg: Config, clock: ManualClock) -> None:
    from hub import provisioning
    from hub.auth import UserStore
    hub = make_hub(offline_cfg, clock)
    with hub.unit_of_work():  # added after the seed, so only the database knows them
        hub.roster_store.put(Person("p-ma", "Ma Li", "staff", zones=("reg_hall",), username="staff-ma"), clock.now())
    provisioning.ensure_user(offline_cfg, "staff-ma", "floor_manager", "a-long-password")
    user = UserStore(hub.db).get("staff-ma")
    assert user is not None and user.person == "p-ma"
