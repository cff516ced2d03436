"""``python -m hub devices remove`` with real processes: the empty retained registry message reaches the
running hub (device off the lists, its alarm closed, its history kept), the broker account and role are gone, and an
edge agent's Last Will raises ``agent_offline`` on the same hub."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest

from floorops.config import Config
from floorops.dynsec import DynsecClient, device_role, edge_client_id
from floorops.topics import EdgeRecord, agent_status_topic, registry_topic
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.test_thin_path import cli, edge_publisher, login, publish

pytestmark = pytest.mark.integration


def can_connect(cfg: Config, username: str, password: str) -> bool:
    """Whether the broker accepts these credentials (CONNACK success)."""
    result: list[bool] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username)  # a device's account: its id
    c.username_pw_set(username, password)
    c.on_connect = lambda cl, u, f, rc, p=None: result.append(not rc.is_failure)
    c.connect(cfg.mqtt.host, cfg.mqtt.port)
    c.loop_start()
    try:
        wait_for(lambda: result, 5, "CONNACK")
    finally:
        c.loop_stop()
        c.disconnect()
    return result[0]


def test_cli_remove_takes_the_device_out_of_hub_broker_and_registry(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    assert cli(hub_process, "users", "add", "root", "--role", "admin", stdin="admin-pass-1\n").returncode == 0
    hub_process.start()
    added = cli(hub_process, "devices", "add", "kiosk-r1", "--kind", "kiosk", "--zone", "lab")
    assert added.returncode == 0, added.stderr
    creds = json.loads(added.stdout)
    assert can_connect(cfg, creds["mqtt_username"], creds["mqtt_password"])
    # The launcher's record of provisioned devices (hub.credentials_file), as make run writes it.
    cred_path = cfg.path(cfg.hub.credentials_file)
    other = {"id": "kiosk-r2", "mqtt_username": "kiosk-r2", "mqtt_password": "secret-2", "topic_prefix": "t"}
    cred_path.write_text(json.dumps({"kiosk-r1": creds, "kiosk-r2": other}, indent=2))
    cred_path.chmod(0o600)
    # The device is connected while it is removed: the broker must drop it, not only refuse the next login.
    dropped: list[object] = []
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-r1")
    device.username_pw_set(creds["mqtt_username"], creds["mqtt_password"])
    connected: list[bool] = []
    device.on_connect = lambda c, u, f, rc, p=None: connected.append(not rc.is_failure)
    device.on_disconnect = lambda c, u, f, rc, p=None: dropped.append(rc)
    device.reconnect_delay_set(30, 30)  # no reconnect within the test
    device.connect(cfg.mqtt.host, cfg.mqtt.port)
    device.loop_start()
    wait_for(lambda: connected == [True], 5, "device connected")
    url, token = hub_process.url, login(hub_process.url, "root", "admin-pass-1")

    pub = edge_publisher(cfg)
    seen: list[bytes] = []
    pub.on_message = lambda c, u, m: seen.append(m.payload)
    pub.subscribe(registry_topic(cfg.site.id, "kiosk-r1"), qos=1)
    try:
        wait_for(lambda: seen, 5, "retained registry entry")
        publish(pub, cfg, EdgeRecord("kiosk-r1", "kiosk", "event", int(time.time() * 1000), 1, {"event": "card_jam"},
                                     zone="lab", site=cfg.site.id))
        # The whole hub's alarms: the test's site is its own (tests/hub/conftest.py, own_site).
        [alarm] = wait_for(lambda: http(url + "/api/alarms?state=active", token=token)[1], 10, "card jam alarm")
        assert alarm["device_id"] == "kiosk-r1" and alarm["type"] == "card_jam"

        out = cli(hub_process, "devices", "remove", "kiosk-r1")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["id"] == "kiosk-r1"
        assert json.loads(out.stdout)["credentials_file"] == "removed"
        assert json.loads(cred_path.read_text()) == {"kiosk-r2": other}  # the others' credentials kept
        assert cred_path.stat().st_mode & 0o777 == 0o600
        wait_for(lambda: seen[-1] == b"", 5, "empty registry message")
    finally:
        pub.loop_stop()
        pub.disconnect()

    try:
        wait_for(lambda: dropped, 10, "the connected device dropped by the broker")
        assert connected == [True]  # dropped, and not let back in
    finally:
        device.loop_stop()
        device.disconnect()
    assert not can_connect(cfg, creds["mqtt_username"], creds["mqtt_password"])
    with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
        assert device_role("kiosk-r1") not in ds.role_names()  # no role left behind
    wait_for(lambda: all(d["id"] != "kiosk-r1" for d in http(url + "/api/devices", token=token)[1]), 10,
             "device off the hub's list")
    status, alarms = http(url + "/api/alarms", token=token)
    closed = next(a for a in alarms if a["id"] == alarm["id"])
    assert closed["state"] == "cleared" and closed["cleared_by"] == "device_removed"
    status, timeline = http(url + "/api/devices/kiosk-r1/timeline", token=token)
    assert status == 200 and timeline["device"]["state"] == "removed"
    assert any(i["what"] == "alarm" for i in timeline["items"])
    listed = cli(hub_process, "devices", "list")
    assert listed.returncode == 0 and "kiosk-r1" not in listed.stdout
    status, audit = http(url + "/api/audit", token=token)
    assert ("cli", "device.remove", "device:kiosk-r1") in {(a["actor"], a["action"], a["target"]) for a in audit}

    # A new subscriber (an edge starting now) finds no registry entry for it.
    late: list[bytes] = []
    watcher = edge_publisher(cfg)
    watcher.on_message = lambda c, u, m: late.append(m.payload)
    watcher.subscribe(registry_topic(cfg.site.id, "kiosk-r1"), qos=1)
    time.sleep(1.0)
    watcher.loop_stop()
    watcher.disconnect()
    assert late == []

    missing = cli(hub_process, "devices", "remove", "no-such-device")
    assert missing.returncode == 1 and "no such device" in missing.stderr


def test_agent_last_will_raises_agent_offline_and_reconnect_clears(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    assert cli(hub_process, "users", "add", "root", "--role", "admin", stdin="admin-pass-1\n").returncode == 0
    hub_process.start()
    url, token = hub_process.url, login(hub_process.url, "root", "admin-pass-1")
    status, rules = http(url + "/api/rules", token=token)
    rules["rules"]["agent_offline"]["grace_s"] = 1  # edited like any rule (the default 30 s is for restarts)
    assert http(url + "/api/rules", "PUT", rules, token=token)[0] == 200
    topic = agent_status_topic(cfg.site.id, "edge-live")

    def agent() -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=edge_client_id(cfg.edge.agent_id))
        c.username_pw_set(cfg.edge.mqtt_username, cfg.edge.mqtt_password)
        c.will_set(topic, json.dumps({"v": 1, "ts": int(time.time() * 1000), "state": "offline"}), qos=1, retain=True)
        c.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=5)
        c.loop_start()
        c.publish(topic, json.dumps({"v": 1, "ts": int(time.time() * 1000), "state": "online"}), qos=1,
                  retain=True).wait_for_publish(5)
        return c

    def state() -> str | None:
        return next((a["state"] for a in http(url + "/api/agents", token=token)[1] if a["id"] == "edge-live"), None)

    def active() -> list[dict]:
        return http(url + "/api/alarms?state=active", token=token)[1]

    first = agent()
    wait_for(lambda: state() == "online", 10, "agent online")
    first.loop_stop()
    first.socket().close()  # the connection dies without a DISCONNECT: the broker publishes the Last Will
    wait_for(lambda: state() == "offline", 20, "agent offline from its Last Will")
    [alarm] = wait_for(active, 10, "agent_offline alarm")
    assert alarm["source"] == "agent:edge-live" and alarm["severity"] == "critical"
    second = agent()
    try:
        wait_for(lambda: active() == [], 10, "alarm cleared")
        assert state() == "online"
    finally:
        second.loop_stop()
        second.disconnect()


def test_api_delete_removes_like_the_cli_admin_only_and_audited(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    for name, role in (("root", "admin"), ("watcher", "monitor")):
        assert cli(hub_process, "users", "add", name, "--role", role, stdin="pass-word-1\n").returncode == 0
    hub_process.start()
    url = hub_process.url
    admin, monitor = login(url, "root", "pass-word-1"), login(url, "watcher", "pass-word-1")
    status, creds = http(url + "/api/devices", "POST", {"id": "kiosk-api", "kind": "kiosk", "zone": "lab"}, token=admin)
    assert status == 201, creds
    assert can_connect(cfg, creds["mqtt_username"], creds["mqtt_password"])
    pub = edge_publisher(cfg)
    try:
        publish(pub, cfg, EdgeRecord("kiosk-api", "kiosk", "event", int(time.time() * 1000), 1,
                                     {"event": "paper_out"}, zone="lab", site=cfg.site.id))
        [alarm] = wait_for(lambda: http(url + "/api/alarms?state=active", token=admin)[1], 10, "paper_out alarm")
        [ticket] = wait_for(lambda: http(url + "/api/tickets", token=admin)[1], 10, "its ticket")
        assert alarm["device_id"] == ticket["device_id"] == "kiosk-api" and alarm["type"] == "paper_out"
    finally:
        pub.loop_stop()
        pub.disconnect()

    status, body = http(url + "/api/devices/kiosk-api", "DELETE", token=monitor)
    assert status == 403 and set(body) == {"error"}
    # A corrupt credentials file (hub.credentials_file) is reported and left alone; the removal still happens.
    cred_path = cfg.path(cfg.hub.credentials_file)
    cred_path.write_text('{"kiosk-api": {"id": "kiosk-a')
    status, removed = http(url + "/api/devices/kiosk-api", "DELETE", token=admin)
    assert status == 200, removed
    assert removed["id"] == "kiosk-api" and removed["mqtt_username"] == creds["mqtt_username"]
    assert removed["credentials_file"] == "unreadable"
    assert cred_path.read_text() == '{"kiosk-api": {"id": "kiosk-a'
    # At once, without waiting for the registry message to come back through the broker:
    assert all(d["id"] != "kiosk-api" for d in http(url + "/api/devices", token=admin)[1])
    cleared = next(a for a in http(url + "/api/alarms", token=admin)[1] if a["id"] == alarm["id"])
    assert cleared["state"] == "cleared" and cleared["cleared_by"] == "device_removed"
    resolved = next(t for t in http(url + "/api/tickets", token=admin)[1] if t["id"] == ticket["id"])
    assert resolved["state"] == "resolved"
    assert not can_connect(cfg, creds["mqtt_username"], creds["mqtt_password"])
    with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
        assert device_role("kiosk-api") not in ds.role_names()
    audit = http(url + "/api/audit", token=admin)[1]
    assert ("root", "device.remove", "device:kiosk-api") in {(a["actor"], a["action"], a["target"]) for a in audit}
    assert http(url + "/api/devices/kiosk-api/timeline", token=admin)[1]["device"]["state"] == "removed"

    status, body = http(url + "/api/devices/kiosk-api", "DELETE", token=admin)
    assert status == 409 and "already removed" in body["error"]
    status, body = http(url + "/api/devices/no-such-device", "DELETE", token=admin)
    assert status == 404 and "no such device" in body["error"]
    # The registry's empty message, back through the broker, changes nothing more: still one removal.
    time.sleep(0.5)
    assert sum(1 for a in http(url + "/api/audit", token=admin)[1] if a["action"] == "device.remove") == 1
    assert all(d["id"] != "kiosk-api" for d in http(url + "/api/devices", token=admin)[1])
