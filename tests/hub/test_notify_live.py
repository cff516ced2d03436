"""Paging with a real hub process, a real broker and real receivers: an unacknowledged critical alarm escalates
from the first named person to the second and reaches the SMTP server (aiosmtpd) and the WeCom robot
receiver; a silence keeps a kiosk's alarm from paging anyone or opening a ticket; a ``kill -9`` of the hub
between the alarm and its delivery still delivers, exactly once per idempotency key."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from centre.services import free_port
from floorops.config import REPO_ROOT, Config
from floorops.topics import EdgeRecord
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.notify_receivers import smtp_server, wecom_errors
from tests.hub.webhook_receiver import Receiver, Request

pytestmark = pytest.mark.integration

ROSTER = """
[[people]]
id = "p-mt"
name = "Ma Tao"
role = "maintenance"
email = "mt@hospital.example"
channels = ["smtp"]

[[people]]
id = "p-dm"
name = "Du Ming"
role = "floor_manager"
email = "dm@hospital.example"
phone = "13800000003"
channels = ["smtp", "wecom"]
"""


async def wecom_robot(receiver: Receiver, req: Request) -> web.StreamResponse:
    """Answers as WeCom does: errcode 0 for a well-formed message, 40008 otherwise."""
    try:
        body: Any = req.json
    except ValueError:
        body = None
    errors = wecom_errors(req.path, {"key": "live"}, body)
    return web.json_response({"errcode": 40008 if errors else 0, "errmsg": "; ".join(errors) or "ok"})


def setup(cfg: Config, tmp: Path, smtp_port: int, wecom_port: int) -> None:
    # The site's overrides plus one: card jams are critical here (the declared default is major).
    rules = (REPO_ROOT / "hub" / "rules.toml").read_text(encoding="utf-8")
    assert "[rules.card_jam]" not in rules
    rules += '\n[rules.card_jam]\nseverity = "critical"\n'
    (tmp / "rules.toml").write_text(rules, encoding="utf-8")
    (tmp / "roster.toml").write_text(ROSTER, encoding="utf-8")
    (tmp / "notify.toml").write_text(f"""
reminder_every_s = 0
link = "http://console.example/"
[[chains]]
name = "card-jams"
subject = "alarm"
severities = ["critical"]
types = ["card_jam"]
steps = [{{ to = ["person:p-mt"], timeout_s = 2 }}, {{ to = ["person:p-dm"], timeout_s = 0 }}]
[channels.smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "floorops@hospital.example"
tls = "none"
timeout_s = 3
[channels.wecom]
url = "http://127.0.0.1:{wecom_port}/cgi-bin/webhook/send?key=live"
msgtype = "markdown"
[outbox]
retries = 30
backoff_s = 0.2
backoff_max_s = 1.0
timeout_s = 3
""", encoding="utf-8")
    cfg.hub.rules_file = str(tmp / "rules.toml")
    cfg.hub.roster_file = str(tmp / "roster.toml")
    cfg.hub.notify_file = str(tmp / "notify.toml")


def card_jam(cfg: Config, device_id: str, seq: int) -> None:
    from tests.hub.test_thin_path import edge_publisher, publish
    pub = edge_publisher(cfg)
    try:
        publish(pub, cfg, EdgeRecord(device_id, "kiosk", "event", int(time.time() * 1000), seq,
                                     {"event": "card_jam"}, zone="reg_hall", site=cfg.site.id))
    finally:
        pub.loop_stop()
        pub.disconnect()


def alarm_of(url: str, token: str, device_id: str) -> dict[str, Any] | None:
    status, alarms = http(url + "/api/alarms", token=token)
    assert status == 200
    return next((a for a in alarms if a["device_id"] == device_id and a["type"] == "card_jam"), None)


def mails(box: Any, to: str, alarm_id: int) -> list[Any]:
    return [m for rcpt, m in box.messages if rcpt == [to] and f"alarm #{alarm_id}:" in m.get_payload()]


def test_unacknowledged_critical_alarm_escalates_to_the_second_person_then_stops(live_cfg: Config,
                                                                                tmp_path: Path) -> None:
    from hub import provisioning
    from tests.hub.test_thin_path import login
    controller, box = smtp_server()
    wecom = Receiver(wecom_robot).start()
    setup(live_cfg, tmp_path, controller.port, wecom.port)
    provisioning.ensure_user(live_cfg, "mon", "monitor", "monitor-pass-1")
    proc = HubProcess(live_cfg).start()
    try:
        token = login(proc.url, "mon", "monitor-pass-1")
        card_jam(live_cfg, "kiosk-03", 1)
        alarm = wait_for(lambda: alarm_of(proc.url, token, "kiosk-03"), 20, "the alarm")
        assert alarm["severity"] == "critical"
        # The hub's only alarm: its site is the test's own (docs/testing.md), nothing else pages anyone.
        assert [a["id"] for a in http(proc.url + "/api/alarms", token=token)[1]] == [alarm["id"]]
        wait_for(lambda: mails(box, "mt@hospital.example", alarm["id"]), 20, "the first person's e-mail")
        wait_for(lambda: mails(box, "dm@hospital.example", alarm["id"]), 20, "the second person's e-mail")
        [robot] = wecom.wait_for(lambda got: got, 20, "the WeCom robot message")
        assert robot.json["msgtype"] == "markdown" and f"alarm #{alarm['id']}" in robot.json["markdown"]["content"]
        assert wecom_errors(robot.path, {"key": "live"}, robot.json) == []
        status, acked = http(proc.url + f"/api/alarms/{alarm['id']}/ack", "POST", {"comment": "reader replaced"},
                             token=token)
        assert status == 200 and acked["state"] == "acknowledged"
        status, thread = http(proc.url + f"/api/alarms/{alarm['id']}/comments", token=token)
        assert status == 200 and [c["body"] for c in thread] == ["reader replaced"]
        status, esc = http(proc.url + f"/api/alarms/{alarm['id']}/escalation", token=token)
        assert esc["state"] == "stopped" and esc["step"] == 1
        status, metrics = http(proc.url + "/metrics")
        m = re.search(r'^floorops_hub_pages_total\{result="delivered"\} (\S+)$', metrics.decode(), re.M)
        assert m and float(m.group(1)) >= 3  # two e-mails and the robot
    finally:
        proc.stop()
        controller.stop()
        wecom.stop()


def test_a_silence_keeps_a_kiosk_alarm_from_paging_and_from_a_ticket(live_cfg: Config, tmp_path: Path) -> None:
    from hub import provisioning
    from tests.hub.test_thin_path import login
    controller, box = smtp_server()
    wecom = Receiver(wecom_robot).start()
    setup(live_cfg, tmp_path, controller.port, wecom.port)
    provisioning.ensure_user(live_cfg, "mon", "monitor", "monitor-pass-1")
    provisioning.ensure_user(live_cfg, "adm", "admin", "admin-pass-1")
    proc = HubProcess(live_cfg).start()
    try:
        token = login(proc.url, "mon", "monitor-pass-1")
        status, silence = http(proc.url + "/api/silences", "POST", {
            "device_ids": ["kiosk-04"], "ends_at": "-1h", "reason": "reader replaced"}, token=token)
        assert status == 400  # an end in the past is refused
        status, silence = http(proc.url + "/api/silences", "POST", {
            "device_ids": ["kiosk-04"], "expires_at": time.time() + 3600, "reason": "card reader being replaced"},
            token=token)
        assert status == 201 and silence["active"] and silence["author"] == "mon"
        status, devices = http(proc.url + "/api/devices", token=token)
        assert {d["id"]: d.get("maintenance") for d in devices}["kiosk-04"] is True
        card_jam(live_cfg, "kiosk-04", 1)
        alarm = wait_for(lambda: alarm_of(proc.url, token, "kiosk-04"), 20, "the silenced alarm")
        assert alarm["silenced"] is True  # recorded all the same
        card_jam(live_cfg, "kiosk-05", 1)  # an alarm outside the silence pages as usual
        other = wait_for(lambda: alarm_of(proc.url, token, "kiosk-05"), 20, "the other alarm")
        wait_for(lambda: mails(box, "dm@hospital.example", other["id"]), 20, "the other alarm's pages")
        assert mails(box, "mt@hospital.example", alarm["id"]) == []
        assert mails(box, "dm@hospital.example", alarm["id"]) == []
        status, tickets = http(proc.url + "/api/tickets", token=token)
        assert alarm["id"] not in {t["alarm_id"] for t in tickets}
        assert other["id"] in {t["alarm_id"] for t in tickets}
        status, audit = http(proc.url + "/api/audit", token=login(proc.url, "adm", "admin-pass-1"))
        assert status == 200
        assert any(e["action"] == "silence.create" and e["actor"] == "mon" for e in audit)
        status, lifted = http(proc.url + f"/api/silences/{silence['id']}", "DELETE", token=token)
        assert status == 200 and lifted["active"] is False
        status, devices = http(proc.url + "/api/devices", token=token)
        assert {d["id"]: d.get("maintenance") for d in devices}["kiosk-04"] is False
    finally:
        proc.stop()
        controller.stop()
        wecom.stop()


def test_kill_9_between_raise_and_delivery_still_delivers_once_per_key(live_cfg: Config, tmp_path: Path) -> None:
    from hub import provisioning
    from tests.hub.test_thin_path import login
    from aiosmtpd.controller import Controller
    from tests.hub.notify_receivers import MailBox
    smtp_port = free_port()  # the mail server is down while the alarm is raised: nothing can be delivered
    wecom = Receiver(wecom_robot).start()
    setup(live_cfg, tmp_path, smtp_port, wecom.port)
    provisioning.ensure_user(live_cfg, "mon", "monitor", "monitor-pass-1")
    proc = HubProcess(live_cfg).start()
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    try:
        token = login(proc.url, "mon", "monitor-pass-1")
        card_jam(live_cfg, "kiosk-03", 1)
        alarm = wait_for(lambda: alarm_of(proc.url, token, "kiosk-03"), 20, "the alarm")
        proc.kill()  # kill -9 after the commit that wrote the page, before any delivery could succeed
        controller.start()
        proc.start()
        wait_for(lambda: mails(box, "mt@hospital.example", alarm["id"]), 30, "the e-mail after the restart")
        wait_for(lambda: mails(box, "dm@hospital.example", alarm["id"]), 30, "the next step's e-mail")
        time.sleep(1.5)  # a second copy, if any, would come now
        keys = [m["X-FloorOps-Key"] for _, m in box.messages if f"alarm #{alarm['id']}:" in m.get_payload()]
        assert sorted(keys) == sorted(set(keys)) and len(keys) == 2  # one per (event, person, step)
        assert {k.split(":")[-2] for k in keys} == {"p-mt", "p-dm"}
    finally:
        proc.stop()
        controller.stop()
        wecom.stop()
