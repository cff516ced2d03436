"""The admin API's device registration (POST /api/devices) against the real broker, in-process hub.

Why: the API registers the device in the hub's own unit of work (its connection, its clock, one commit
with the live state), not through a second SQLite connection of its own as the CLI does.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from floorops.config import Config
from hub.clock import ManualClock, iso
from tests.hub.conftest import http
from tests.hub.live import LiveHub

pytestmark = pytest.mark.integration


@pytest.fixture
def live(live_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(live_cfg, clock).start()
    yield h
    h.stop()


def test_device_add_commits_in_the_hubs_unit_of_work_on_its_clock(live: LiveHub, clock: ManualClock) -> None:
    admin = live.login("admin")
    clock.advance(3600)  # the hub's time, an hour after the accounts were made (not the wall clock)
    status, creds = http(live.url + "/api/devices", "POST", {"id": "kiosk-adm1", "kind": "kiosk", "zone": "lab"},
                         token=admin)
    assert status == 201, creds
    assert creds["topic_prefix"] == f"hospital/{live.cfg.site.id}/kiosk/kiosk-adm1/" and creds["mqtt_password"]
    hub = live.ctx.hub
    [entry] = [a for a in http(live.url + "/api/audit", token=admin)[1] if a["action"] == "device.add"]
    assert (entry["actor"], entry["target"]) == ("admin", "device:kiosk-adm1")
    assert entry["at"] == iso(clock.now(), hub.tz)  # audited at the hub's time, like every other entry
    row = live.call(lambda: dict(hub.db.one("SELECT kind, zone, mqtt_username, created_at FROM devices WHERE id=?",
                                            ("kiosk-adm1",))))
    assert row == {"kind": "kiosk", "zone": "lab", "mqtt_username": "kiosk-adm1", "created_at": clock.now()}
    assert any(d["id"] == "kiosk-adm1" and d["zone"] == "lab" for d in http(live.url + "/api/devices", token=admin)[1])


def test_device_add_refuses_a_bad_kind_and_writes_nothing(live: LiveHub) -> None:
    admin = live.login("admin")
    status, body = http(live.url + "/api/devices", "POST", {"id": "kiosk-adm2", "kind": "toaster", "zone": "lab"},
                        token=admin)
    assert status == 400 and "kind" in body["error"]
    hub = live.ctx.hub
    assert live.call(lambda: hub.db.one("SELECT id FROM devices WHERE id=?", ("kiosk-adm2",))) is None
    assert not [a for a in http(live.url + "/api/audit", token=admin)[1] if a["target"] == "device:kiosk-adm2"]


def test_device_remove_commits_in_the_hubs_unit_of_work_on_its_clock(live: LiveHub, clock: ManualClock) -> None:
    """DELETE /api/devices/{id}: the row's removal, its audit entry and the live state commit in the hub's own
    unit of work, at the hub's time (not a second connection's wall clock)."""
    admin = live.login("admin")
    assert http(live.url + "/api/devices", "POST", {"id": "kiosk-adm3", "kind": "kiosk", "zone": "lab"},
                token=admin)[0] == 201
    clock.advance(7200)
    status, removed = http(live.url + "/api/devices/kiosk-adm3", "DELETE", token=admin)
    assert status == 200, removed
    assert removed["id"] == "kiosk-adm3" and removed["removed_at"] == clock.now()
    hub = live.ctx.hub
    [entry] = [a for a in http(live.url + "/api/audit", token=admin)[1] if a["action"] == "device.remove"]
    assert (entry["actor"], entry["target"], entry["at"]) == ("admin", "device:kiosk-adm3", iso(clock.now(), hub.tz))
    row = live.call(lambda: dict(hub.db.one("SELECT removed_at FROM devices WHERE id=?", ("kiosk-adm3",))))
    assert row == {"removed_at": clock.now()}
    assert all(d["id"] != "kiosk-adm3" for d in http(live.url + "/api/devices", token=admin)[1])
    assert http(live.url + "/api/devices/kiosk-adm3", "DELETE", token=admin)[0] == 409
