"""Who may do what to silences and alarms over HTTP (issue #15 item 7): for each role, 403 without the
permission (and nothing changes), 200/201 with it. An in-process hub on a ManualClock, alarms fed by hand."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from floorops.config import Config
from hub.auth import PERMISSIONS
from hub.clock import ManualClock
from tests.hub.conftest import http
from tests.hub.helpers import Feeder, open_alarms
from tests.hub.live import ROLE_OF, LiveHub

# One login per role (tests/hub/live.py creates them).
USER_OF = {role: next(u for u, r in ROLE_OF.items() if r == role) for role in sorted(set(ROLE_OF.values()))}


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
    assert set(USER_OF) == set(PERMISSIONS["read"])  # a new role must be added to these tests


@pytest.mark.parametrize("role", sorted(USER_OF))
def test_silences_create_and_lift_need_silences_write(live: LiveHub, clock: ManualClock, role: str) -> None:
    token = live.login(USER_OF[role])
    allowed = role in PERMISSIONS["silences.write"]
    body = {"device_ids": ["kiosk-02"], "expires_at": clock.now() + 3600, "reason": "printer swap"}
    status, made = http(live.url + "/api/silences", "POST", body, token=token)
    assert status == (201 if allowed else 403), made
    status, listed = http(live.url + "/api/silences", token=token)  # everyone may read them
    assert status == 200 and len(listed) == (1 if allowed else 0)
    # Lift a silence a monitor made.
    status, other = http(live.url + "/api/silences", "POST", {**body, "reason": "other"}, token=live.login("monitor"))
    assert status == 201
    status, lifted = http(live.url + f"/api/silences/{other['id']}", "DELETE", token=token)
    assert status == (200 if allowed else 403), lifted
    # Allowed: their own silence stands, the monitor's is lifted; refused: only the monitor's, still in force.
    in_force = live.call(lambda: live.ctx.hub.silences.silencing("kiosk-02", "reg_hall", "kiosk", "card_jam"))
    assert in_force == (made["id"] if allowed else other["id"])
    audit = {tuple(r) for r in live.call(lambda: live.ctx.hub.db.all("SELECT actor, action FROM audit"))}
    assert ((USER_OF[role], "silence.create") in audit) is allowed
    assert ((USER_OF[role], "silence.lift") in audit) is allowed


@pytest.mark.parametrize("role", sorted(USER_OF))
def test_alarm_comments_and_assign_need_alarms_ack(live: LiveHub, alarm: dict[str, Any], role: str) -> None:
    token = live.login(USER_OF[role])
    allowed = role in PERMISSIONS["alarms.ack"]
    url = live.url + f"/api/alarms/{alarm['id']}"
    status, comment = http(url + "/comments", "POST", {"comment": "reader replaced"}, token=token)
    assert status == (200 if allowed else 403), comment
    status, thread = http(url + "/comments", token=token)  # everyone may read the thread
    assert status == 200 and [c["body"] for c in thread] == (["reader replaced"] if allowed else [])
    status, assigned = http(url + "/assign", "POST", {"assignee": "p-liu"}, token=token)
    assert status == (200 if allowed else 403), assigned
    got = live.call(lambda: live.ctx.hub.alarms.json(alarm["id"]))
    assert got.get("assignee") == ("p-liu" if allowed else None)


@pytest.mark.parametrize("role", sorted(USER_OF))
def test_everyone_reads_an_alarms_escalation(live: LiveHub, alarm: dict[str, Any], role: str) -> None:
    status, body = http(live.url + f"/api/alarms/{alarm['id']}/escalation", token=live.login(USER_OF[role]))
    assert status == 200 and body["chain"] == "major-alarms" and body["state"] == "running"


def test_without_a_login_nothing_is_answered(live: LiveHub, alarm: dict[str, Any]) -> None:
    for method, path in [("GET", "/api/silences"), ("POST", "/api/silences"), ("DELETE", "/api/silences/1"),
                         ("GET", f"/api/alarms/{alarm['id']}/comments"),
                         ("POST", f"/api/alarms/{alarm['id']}/comments"),
                         ("POST", f"/api/alarms/{alarm['id']}/assign"),
                         ("GET", f"/api/alarms/{alarm['id']}/escalation")]:
        assert http(live.url + path, method, {} if method == "POST" else None)[0] == 401, path
