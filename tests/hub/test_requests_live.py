"""Requests and dispatch against a real hub process (``python -m hub``, real Mosquitto and influxd): a
patient's QR request and a desk emergency offered, accepted, arrived and done over HTTP, the KPIs counting
them, the per-address limit holding, and the request surviving a hub restart. The hub runs on the system
clock: the night shift is set to the whole day, so what is asserted does not depend on the hour."""

from __future__ import annotations

import pytest

from floorops.config import Config
from tests.hub.conftest import HubProcess, http
from tests.hub.test_thin_path import cli, login

pytestmark = [pytest.mark.integration]


def test_requests_through_a_real_hub_process(hub_process: HubProcess, live_cfg: Config) -> None:
    for name, role, pw in (("root", "admin", "admin-pass-1"), ("desk", "service_desk", "desk-pass-1"),
                           ("fm-zhang", "floor_manager", "fm-pass-123")):
        assert cli(hub_process, "users", "add", name, "--role", role, stdin=pw + "\n").returncode == 0
    hub_process.start()
    url = hub_process.url
    root, desk, zhang = (login(url, n, p) for n, p in (("root", "admin-pass-1"), ("desk", "desk-pass-1"),
                                                       ("fm-zhang", "fm-pass-123")))
    status, _ = http(url + "/api/requests/settings", "PUT", {"night_shift": "00:00-24:00"}, token=root)
    assert status == 200
    status, page = http(url + "/r/reg_hall", headers={"Accept-Language": "en"})
    assert status == 200 and b'data-zone="reg_hall"' in page
    status, qr = http(url + "/api/public/requests", "POST", {"kind": "assist", "zone": "reg_hall"})
    assert status == 201
    status, offers = http(url + "/api/dispatches?state=offered", token=zhang)
    [offer] = offers  # Zhang covers reg_hall
    assert offer["service_request"] == qr["id"]
    status, desk_req = http(url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=desk)
    assert status == 201 and desk_req["state"] == "dispatched"
    status, everyone = http(url + "/api/dispatches?state=offered", token=root)
    [emergency] = [d for d in everyone if d["service_request"] == desk_req["id"]]
    assert emergency["assignee"] == "fm-wang" and emergency["priority"] == 100  # Zhang busy: the same floor next
    for verb in ("accept", "arrive", "complete"):
        status, body = http(url + f"/api/dispatches/{offer['id']}/{verb}", "POST", token=zhang)
        assert status == 200, body
    status, k = http(url + "/api/kpis", token=desk)
    assert k["dispatch_time_to_arrive_s"] is not None and k["dispatch_by_shift"]["night"]["time_to_arrive_s"] is not None
    assert k["requests_open"] == 1 and k["night_emergency_calls"] == 0  # the emergency is neither late nor reached

    hub_process.stop()  # the open emergency and its offer survive a restart
    hub_process.start()
    root = login(url, "root", "admin-pass-1")
    status, listed = http(url + "/api/requests", token=root)
    assert [(r["id"], r["state"]) for r in listed if r["state"] != "closed"] == [(desk_req["id"], "dispatched")]
    status, body = http(url + f"/api/dispatches/{emergency['id']}/accept", "POST", token=root)
    assert status == 200 and body["state"] == "accepted"
    # The patient endpoint refuses a flood from one address: 6 an hour (counted in memory, like failed logins:
    # the restart above started the count again).
    codes = [http(url + "/api/public/requests", "POST", {"kind": "assist", "zone": "lab"})[0] for _ in range(7)]
    assert codes == [201] * 6 + [429]
