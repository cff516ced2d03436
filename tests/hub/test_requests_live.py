"""Requests and dispatch against a real hub process (``python -m hub``, real Mosquitto and influxd): a
patient's QR request and a desk emergency offered, accepted, arrived and done over HTTP, the KPIs counting
them, the per-address limit holding, and the request surviving a hub restart. The hub runs on the system
clock: the night shift is set to the whole day, so what is asserted does not depend on the hour. And a
request's pages and a complaint's closure notice through real local receivers (WeCom format, HTTP SMS)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from centre.services import free_port
from floorops.config import Config
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.notify_receivers import wecom_errors
from tests.hub.test_notify_live import wecom_robot
from tests.hub.test_thin_path import cli, login
from tests.hub.webhook_receiver import Receiver

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


def test_request_pages_and_closure_notice_through_a_real_hub_process(live_cfg: Config, tmp_path: Path) -> None:
    """A desk emergency pages the named first person, then the second, on a real WeCom-format receiver until
    Zhang accepts it; a complaint's closure notice waits while the SMS gateway is down, survives a restart of
    the hub, and reaches the gateway once when it is up, after which the number is gone."""
    wecom = Receiver(wecom_robot).start()
    sms_port = free_port()
    (tmp_path / "notify.toml").write_text(f"""
reminder_every_s = 0
default_channels = ["wecom"]
[[chains]]
name = "emergencies"
subject = "request"
types = ["emergency"]
steps = [{{ to = ["person:p-zhang"], timeout_s = 2 }}, {{ to = ["person:p-li"], timeout_s = 0 }}]
[channels.wecom]
url = "{wecom.url('/cgi-bin/webhook/send?key=live')}"
msgtype = "text"
[channels.sms]
url = "http://127.0.0.1:{sms_port}/sms"
body = '{{"to": "$phone", "text": "$text"}}'
[outbox]
retries = 60
backoff_s = 0.2
backoff_max_s = 1.0
timeout_s = 3
""", encoding="utf-8")
    live_cfg.hub.notify_file = str(tmp_path / "notify.toml")
    proc = HubProcess(live_cfg)
    for name, role, pw in (("root", "admin", "admin-pass-1"), ("desk", "service_desk", "desk-pass-1"),
                           ("fm-zhang", "floor_manager", "fm-pass-123")):
        assert cli(proc, "users", "add", name, "--role", role, stdin=pw + "\n").returncode == 0
    proc.start()
    gateway = None
    try:
        url = proc.url
        desk, zhang = login(url, "desk", "desk-pass-1"), login(url, "fm-zhang", "fm-pass-123")
        status, req = http(url + "/api/requests", "POST", {"kind": "emergency", "zone": "reg_hall"}, token=desk)
        assert status == 201

        def pages() -> list[str]:
            return [r.json["text"]["content"] for r in wecom.got()
                    if f"request #{req['id']}: emergency" in r.json["text"]["content"]]
        wait_for(lambda: len(pages()) >= 2, 20, "the pages to Zhang, then to Li")
        assert all(wecom_errors(r.path, {"key": "live"}, r.json) == [] for r in wecom.got())
        assert ["to Zhang Wei" in p for p in pages()] == [True, False] and "to Li Na" in pages()[1]
        [offer] = http(url + "/api/dispatches?state=offered", token=zhang)[1]
        assert http(url + f"/api/dispatches/{offer['id']}/accept", "POST", token=zhang)[0] == 200
        root = login(url, "root", "admin-pass-1")

        status, complaint = http(url + "/api/public/requests", "POST",
                                 {"kind": "complaint", "zone": "lab", "topic": "attitude", "phone": "13900139000"})
        assert status == 201
        assert http(url + f"/api/requests/{complaint['id']}/close", "POST", {"resolution": "apologised"},
                    token=desk)[0] == 200

        def notice() -> dict[str, Any]:
            _, notices = http(url + "/api/requests/notices", token=root)
            return next(n for n in notices if n["request_id"] == complaint["id"])
        assert notice()["state"] == "pending"  # the gateway is down
        proc.stop()  # the pending notice is in the database: a restart does not lose it
        proc.start()
        root = login(url, "root", "admin-pass-1")
        gateway = Receiver(port=sms_port).start()
        [sms] = gateway.wait_for(lambda got: got, 30, "the closure SMS")
        assert sms.json["to"] == "13900139000" and f"#{complaint['id']}" in sms.json["text"]
        wait_for(lambda: notice()["state"] == "sent", 20, "the notice marked sent")
        time.sleep(1.5)
        assert len(gateway.got()) == 1
        status, metrics = http(url + "/metrics")
        assert 'floorops_hub_closure_notices{state="sent"} 1.0' in metrics.decode()
    finally:
        proc.stop()
        wecom.stop()
        if gateway is not None:
            gateway.stop()
