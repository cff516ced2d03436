"""The thin path with real processes: ``python -m hub`` against a real broker and influxd; devices and
users added through the CLI; a kiosk card jam EdgeRecord on the broker becomes an alarm on the WebSocket,
in /api/alarms, and a maintenance ticket in SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest
import websockets

from floorops.config import Config
from floorops.dynsec import edge_client_id
from floorops.influx import line, point_time_ns, write_sync
from floorops.topics import EdgeRecord, edge_record_topic
from tests.hub.conftest import HubProcess, http, wait_for

pytestmark = pytest.mark.integration


def cli(proc: HubProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("FLOOROPS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "hub", *args, "--config", str(proc.config_path)], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


def edge_publisher(cfg: Config) -> mqtt.Client:
    # The edge's account connects only with the edge's client id (floorops.dynsec).
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=edge_client_id(cfg.edge.agent_id))
    c.username_pw_set(cfg.edge.mqtt_username, cfg.edge.mqtt_password)
    c.connect(cfg.mqtt.host, cfg.mqtt.port)
    c.loop_start()
    return c


def publish(c: mqtt.Client, cfg: Config, rec: EdgeRecord) -> None:
    info = c.publish(edge_record_topic(cfg.site.id, rec.kind, rec.device_id, rec.channel), rec.to_json(), qos=1)
    info.wait_for_publish(5)


def login(url: str, username: str, password: str) -> str:
    status, body = http(url + "/api/login", "POST", {"username": username, "password": password})
    assert status == 200, body
    return body["token"]


def test_card_jam_becomes_alarm_on_websocket_and_ticket(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    out = cli(hub_process, "users", "add", "mon1", "--role", "monitor", stdin="monitor-pass-1\n")
    assert out.returncode == 0, out.stderr
    assert cli(hub_process, "users", "add", "maintenance", "--role", "maintenance", stdin="maint-pass-1\n").returncode == 0
    short = cli(hub_process, "users", "add", "x", "--role", "monitor", stdin="short\n")
    assert short.returncode == 1 and "8 to 256 characters" in short.stderr

    # Registry subscriber: the retained registry message must be on the broker.
    seen: list[bytes] = []
    watcher = edge_publisher(cfg)
    watcher.on_message = lambda c, u, m: seen.append(m.payload)
    watcher.subscribe(f"floorops/{cfg.site.id}/registry/kiosk-t1", qos=1)

    hub_process.start()
    added = cli(hub_process, "devices", "add", "kiosk-t1", "--kind", "kiosk", "--zone", "reg_hall")
    assert added.returncode == 0, added.stderr
    creds = json.loads(added.stdout)
    assert creds["id"] == "kiosk-t1" and creds["mqtt_username"] == "kiosk-t1" and len(creds["mqtt_password"]) >= 16
    assert creds["topic_prefix"] == f"hospital/{cfg.site.id}/kiosk/kiosk-t1/"
    wait_for(lambda: seen, 5, "registry message")
    assert json.loads(seen[-1]) == {"id": "kiosk-t1", "kind": "kiosk", "zone": "reg_hall"}
    bad = cli(hub_process, "devices", "add", "kiosk-t2", "--kind", "kiosk", "--zone", "nowhere")
    assert bad.returncode == 1 and "zone" in bad.stderr

    url = hub_process.url
    assert http(url + "/api/alarms")[0] == 401
    assert http(url + "/api/login", "POST", {"username": "mon1", "password": "wrong-password"})[0] == 401
    token = login(url, "mon1", "monitor-pass-1")
    status, health = http(url + "/healthz")
    assert status == 200 and health["components"] == {"db": "up", "mqtt": "up", "ingest": "up", "influx": "up"}

    # A reading in InfluxDB (as the edge writes it) is served by the history route.
    now_ms = int(time.time() * 1000)
    write_sync(cfg.influx.url, cfg.influx.database, [line(
        "kiosk", {"site": cfg.site.id, "zone": "reg_hall", "device_id": "kiosk-t1"},
        {"resp_ms": 640, "printer": "ok", "seq": 1}, point_time_ns(now_ms, 1))])

    async def scenario() -> dict:
        ws_url = url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            pub = edge_publisher(cfg)
            try:
                publish(pub, cfg, EdgeRecord("kiosk-t1", "kiosk", "event", now_ms, 2, {"event": "card_jam"},
                                             zone="reg_hall", site=cfg.site.id))
            finally:
                pub.loop_stop()
                pub.disconnect()
            deadline = time.monotonic() + 10
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                assert set(msg) == {"id", "type", "ts", "data"}
                if msg["type"] == "alarm.raised":
                    return msg

    msg = asyncio.run(scenario())
    alarm = msg["data"]
    assert alarm["type"] == "card_jam" and alarm["source"] == "kiosk-t1" and alarm["state"] == "active"
    assert alarm["severity"] == "major" and alarm["zone"] == "reg_hall"
    status, alarms = http(url + "/api/alarms?state=active", token=token)
    # The only alarm of the whole hub: the test's site is its own (tests/hub/conftest.py, own_site).
    assert status == 200 and [a["id"] for a in alarms] == [alarm["id"]]
    m_token = login(url, "maintenance", "maint-pass-1")
    status, tickets = http(url + "/api/tickets?state=open", token=m_token)
    assert status == 200 and len(tickets) == 1
    assert tickets[0]["device_id"] == "kiosk-t1" and tickets[0]["alarm_id"] == alarm["id"]
    # monitor may not resolve tickets; maintenance may not acknowledge alarms
    assert http(url + f"/api/tickets/{tickets[0]['id']}/accept", "POST", token=token)[0] == 403
    assert http(url + f"/api/alarms/{alarm['id']}/ack", "POST", token=m_token)[0] == 403
    status, devices = http(url + "/api/devices", token=token)
    kiosk = next(d for d in devices if d["id"] == "kiosk-t1")
    assert kiosk["state"] == "fault" and kiosk["zone"] == "reg_hall"
    status, zones = http(url + "/api/zones", token=token)
    assert status == 200 and {z["id"] for z in zones} >= {"reg_hall", "lab"}
    status, history = http(url + "/api/devices/kiosk-t1/history?since=1h", token=token)
    assert status == 200 and [r["resp_ms"] for r in history] == [640]
    # An admin registers a device through the API; the monitor may not. Both registrations are audited.
    assert cli(hub_process, "users", "add", "root", "--role", "admin", stdin="admin-pass-1\n").returncode == 0
    admin = login(url, "root", "admin-pass-1")
    assert http(url + "/api/devices", "POST", {"id": "qs-t9", "kind": "queue_screen", "zone": "lab"}, token=token)[0] == 403
    status, created = http(url + "/api/devices", "POST", {"id": "qs-t9", "kind": "queue_screen", "zone": "lab"}, token=admin)
    assert status == 201 and created["topic_prefix"] == f"hospital/{cfg.site.id}/queue_screen/qs-t9/" and created["mqtt_password"]
    status, bad = http(url + "/api/devices", "POST", {"id": "qs-t9", "kind": "toaster", "zone": "lab"}, token=admin)
    assert status == 400 and "kind" in bad["error"]
    status, audit = http(url + "/api/audit", token=admin)
    assert {("cli", "device.add", "device:kiosk-t1"), ("root", "device.add", "device:qs-t9")} <= {
        (a["actor"], a["action"], a["target"]) for a in audit}
    status, devices = http(url + "/api/devices", token=token)
    assert any(d["id"] == "qs-t9" and d["zone"] == "lab" for d in devices)
    # The ticket is in SQLite: it survives a restart of the hub.
    hub_process.stop()
    hub_process.start()
    status, tickets2 = http(url + "/api/tickets", token=m_token)
    assert status == 200 and [t["id"] for t in tickets2 if t["device_id"] == "kiosk-t1"] == [tickets[0]["id"]]
