"""Who may do what to silences and alarms over HTTP (issue #15 item 7): for each role, 403 without the
permission (and nothing changes), 200/201 with it. The roles are written out here, not read from hub.auth, so
that a change of the permission table or of a route's permission shows. One in-process hub per test (on a
ManualClock, alarms fed by hand), every role in turn."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from floorops.config import Config
from hub.auth import ROLES
from hub.clock import ManualClock
from tests.hub.conftest import http
from tests.hub.helpers import Feeder, open_alarms
from tests.hub.live import ROLE_OF, LiveHub

# One login per role (tests/hub/live.py creates them).
USER_OF = {role: next(u for u, r in ROLE_OF.items() if r == role) for role in sorted(set(ROLE_OF.values()))}
MAY_SILENCE = {"admin", "monitor"}  # silences.write
MAY_DISCUSS = {"admin", "monitor", "floor_manager", "maintenance"}  # alarms.ack: those an escalation pages


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


@pytest.fixture
def alarm(live: LiveHub) -> dict[str, Any]:
    hub = live.ctx.hub
    live.call(lambda: Feeder(hub).record("kiosk-01", "event", {"event": "card_jam"}))
    [a] = live.call(lambda: open_alarms(hub, "card_jam"))
    return a


def test_every_role_has_a_login_here() -> None:
    assert set(USER_OF) == set(ROLES)  # a new role must be added to these tests


def test_silences_create_and_lift_need_silences_write(live: LiveHub, clock: ManualClock) -> None:
    monitor = live.login("monitor")
    for role, user in USER_OF.items():
        token = live.login(user)
        allowed = role in MAY_SILENCE
        body = {"device_ids": [f"kiosk-{role}"], "expires_at": clock.now() + 3600, "reason": "printer swap"}
        status, made = http(live.url + "/api/silences", "POST", body, token=token)
        assert status == (201 if allowed else 403), (role, made)
        status, listed = http(live.url + "/api/silences", token=token)  # everyone may read them
        assert status == 200 and any(s["device_ids"] == [f"kiosk-{role}"] for s in listed) is allowed, role
        # Lift a silence a monitor made.
        status, other = http(live.url + "/api/silences", "POST", {**body, "device_ids": ["kiosk-02"]}, token=monitor)
        assert status == 201
        status, lifted = http(live.url + f"/api/silences/{other['id']}", "DELETE", token=token)
        assert status == (200 if allowed else 403), (role, lifted)
        in_force = live.call(lambda: live.ctx.hub.silences.silencing("kiosk-02", "reg_hall", "kiosk", "card_jam"))
        assert (in_force is None) is allowed, role
        if not allowed:  # the monitor lifts their own, for the next role's turn
            assert http(live.url + f"/api/silences/{other['id']}", "DELETE", token=monitor)[0] == 200
        audit = {tuple(r) for r in live.call(lambda: live.ctx.hub.db.all("SELECT actor, action FROM audit"))}
        assert ((user, "silence.create") in audit) is allowed and ((user, "silence.lift") in audit) is allowed, role


def test_alarm_comments_and_assign_need_alarms_ack(live: LiveHub, alarm: dict[str, Any]) -> None:
    url = live.url + f"/api/alarms/{alarm['id']}"
    said: list[str] = []
    for role, user in USER_OF.items():
        token = live.login(user)
        allowed = role in MAY_DISCUSS
        status, comment = http(url + "/comments", "POST", {"comment": f"seen by {user}"}, token=token)
        assert status == (200 if allowed else 403), (role, comment)
        said += [f"seen by {user}"] if allowed else []
        status, thread = http(url + "/comments", token=token)  # everyone may read the thread
        assert status == 200 and [c["body"] for c in thread] == said, role
        assert http(url + "/assign", "POST", {"assignee": None}, token=live.login("admin"))[0] == 200
        status, assigned = http(url + "/assign", "POST", {"assignee": "p-liu"}, token=token)
        assert status == (200 if allowed else 403), (role, assigned)
        got = live.call(lambda: live.ctx.hub.alarms.json(alarm["id"]))
        assert got.get("assignee") == ("p-liu" if allowed else None), role


def test_everyone_reads_an_alarms_escalation(live: LiveHub, alarm: dict[str, Any]) -> None:
    for user in USER_OF.values():
        status, body = http(live.url + f"/api/alarms/{alarm['id']}/escalation", token=live.login(user))
        assert status == 200 and body["chain"] == "major-alarms" and body["state"] == "running", user


def test_without_a_login_nothing_is_answered(live: LiveHub, alarm: dict[str, Any]) -> None:
    for method, path in [("GET", "/api/silences"), ("POST", "/api/silences"), ("DELETE", "/api/silences/1"),
                         ("GET", f"/api/alarms/{alarm['id']}/comments"),
                         ("POST", f"/api/alarms/{alarm['id']}/comments"),
                         ("POST", f"/api/alarms/{alarm['id']}/assign"),
                         ("GET", f"/api/alarms/{alarm['id']}/escalation")]:
        assert http(live.url + path, method, {} if method == "POST" else None)[0] == 401, path
