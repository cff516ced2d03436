"""Test isolation (issue #14 item 8): what one test leaves on the session's shared broker does not reach the
next test, which works on a site of its own (``live_cfg`` over the ``site_id`` fixture, tests/sites.py).

The test plays both: an earlier test's ``live_cfg`` leaves retained messages under its site (an edge agent's
"offline" status, from which a hub raises an agent_offline alarm, and a device's status), then the next
test's ``live_cfg`` and hub see none of it. The control, a hub and a subscriber on the earlier test's site
(as every test was on "demo" before), does see it: the leftovers are real and the assertions can fail."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from floorops.config import Config
from floorops.dynsec import DynsecClient, edge_client_id
from floorops.topics import agent_status_topic, device_topic, site_devices_filter, site_filter
from centre.services import InfluxServer, MosquittoServer
from hub.provisioning import ensure_user
from tests.hub.conftest import HubProcess, http, make_live_cfg, wait_for
from tests.sites import new_site_id

pytestmark = pytest.mark.integration


def edge_client(cfg: Config) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=edge_client_id(cfg.edge.agent_id))
    c.username_pw_set(cfg.edge.mqtt_username, cfg.edge.mqtt_password)
    return c


def leave_behind(cfg: Config) -> None:
    """What an earlier test leaves on the shared broker under its site: retained statuses, as an edge agent
    killed mid-test and a device do."""
    now_ms = int(time.time() * 1000)
    edge = edge_client(cfg)
    edge.connect(cfg.mqtt.host, cfg.mqtt.port)
    edge.loop_start()
    with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
        creds = ds.provision_device(cfg.site.id, "kiosk", "kiosk-left")
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-left")
    device.username_pw_set(creds.username, creds.password)
    device.connect(cfg.mqtt.host, cfg.mqtt.port)
    device.loop_start()
    try:
        edge.publish(agent_status_topic(cfg.site.id, "edge-left"),
                     json.dumps({"v": 1, "ts": now_ms, "state": "offline"}), qos=1, retain=True).wait_for_publish(5)
        device.publish(device_topic(cfg.site.id, "kiosk", "kiosk-left", "status"),
                       json.dumps({"v": 1, "ts": now_ms, "state": "online", "fw": "1.4.2"}), qos=1,
                       retain=True).wait_for_publish(5)
    finally:
        for c in (edge, device):
            c.loop_stop()
            c.disconnect()


def retained_for(cfg: Config) -> list[str]:
    """The retained topics a client of ``cfg``'s site gets when it subscribes to both topic roots (as the
    edge does): those delivered before a marker it publishes after its subscriptions are granted."""
    got: list[str] = []
    granted = threading.Event()
    marked = threading.Event()
    marker = agent_status_topic(cfg.site.id, f"marker-{new_site_id()}")

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        if m.topic == marker:
            marked.set()
        elif m.retain:
            got.append(m.topic)

    c = edge_client(cfg)
    c.on_message = on_message
    c.on_subscribe = lambda *_a: granted.set()
    c.connect(cfg.mqtt.host, cfg.mqtt.port)
    c.loop_start()
    try:
        c.subscribe([(site_devices_filter(cfg.site.id), 1), (site_filter(cfg.site.id), 1)])
        assert granted.wait(5), "subscription not granted"
        c.publish(marker, b"{}", qos=1)  # not retained; the broker sends it after the retained ones
        assert marked.wait(5), "marker not received"
    finally:
        c.loop_stop()
        c.disconnect()
    return sorted(got)


def hub_on(cfg: Config, tmp: Path) -> HubProcess:
    """A hub for ``cfg`` that raises agent_offline one second after an agent's offline status (not 30)."""
    rules = tmp / "rules.toml"
    rules.write_text("[rules.agent_offline]\ngrace_s = 1\n", encoding="utf-8")
    cfg.hub.rules_file = str(rules)
    ensure_user(cfg, "mon", "monitor", "monitor-pass-1")
    return HubProcess(cfg).start()


def login(p: HubProcess) -> str:
    status, body = http(p.url + "/api/login", "POST", {"username": "mon", "password": "monitor-pass-1"})
    assert status == 200, body
    return str(body["token"])


def test_what_one_tests_site_leaves_on_the_broker_does_not_reach_the_next_test(
        tmp_path: Path, broker: MosquittoServer, influx: InfluxServer, influx_db: str, site_id: str) -> None:
    dirs = {name: tmp_path / name for name in ("earlier", "next", "control")}
    for d in dirs.values():
        d.mkdir()
    # The earlier test: its live_cfg, and what it leaves behind.
    earlier = make_live_cfg(dirs["earlier"], broker, influx, influx_db, new_site_id())
    leave_behind(earlier)
    # The next test: its live_cfg (this test's own site_id), and the control on the earlier test's site.
    nxt = make_live_cfg(dirs["next"], broker, influx, influx_db, site_id)
    control = make_live_cfg(dirs["control"], broker, influx, influx_db, earlier.site.id)
    assert nxt.site.id != earlier.site.id

    left = [agent_status_topic(earlier.site.id, "edge-left"),
            device_topic(earlier.site.id, "kiosk", "kiosk-left", "status")]
    assert retained_for(control) == sorted(left)
    assert retained_for(nxt) == []

    hubs = [hub_on(nxt, dirs["next"])]
    try:
        hubs.append(hub_on(control, dirs["control"]))
        control_hub, next_hub = hubs[1], hubs[0]
        token = login(control_hub)
        [alarm] = wait_for(lambda: http(control_hub.url + "/api/alarms?state=active", token=token)[1], 15,
                           "the control hub's agent_offline alarm")
        assert (alarm["type"], alarm["source"]) == ("agent_offline", "agent:edge-left")
        # The next test's hub, up for longer than the control's, has no agent, no alarm: a whole, empty hub.
        token = login(next_hub)
        assert http(next_hub.url + "/api/agents", token=token) == (200, [])
        assert http(next_hub.url + "/api/alarms", token=token) == (200, [])
    finally:
        for h in hubs:
            h.stop()
