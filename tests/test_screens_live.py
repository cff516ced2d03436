"""Directions down to the calling screens, for real (issue #16 item 5): real Mosquitto with FloorOps'
broker accounts, a real edge agent process, the hub (in this process, with its broker sessions and
background loops on the system clock) and the simulated screens, each on its own broker account.

A crowded ultrasound room makes its screen show a reroute to the free room, and the screen's
acknowledgement comes back through the edge; a room whose screen fails has its reroute shown on a sibling
room's screen; a screen that stops acknowledging raises
``screen_command_unacked`` exactly once. The zone's occupancy is handed to the hub directly, as the edge
would publish it (how occupancy is estimated is tested in tests/edge); everything on the downlink's path
is real."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from centre.services import InfluxServer, MosquittoServer, free_port
from firmware_sim.control import get_status, send_inject
from firmware_sim.engine import SimOptions
from firmware_sim.runner import LiveSimulator
from floorops.config import Config, dump_toml
from floorops.dynsec import DynsecClient
from floorops.site import load_site
from floorops.topics import zone_occupancy_topic
from tests.edge.edge_harness import EdgeHarness
from tests.hub.conftest import http, make_cfg, provision_services
from tests.hub.live import LiveHub
from tests.hub.test_screens import SITE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def site_toml(site_id: str) -> str:
    s = json.loads(json.dumps(SITE))
    s["site"]["id"] = site_id
    out = [f'[site]\nid = "{site_id}"\nname = "Downlink"\ntimezone = "Asia/Shanghai"\n']
    for table in ("zones", "queues", "devices"):
        for entry in s[table]:
            out.append(f"[[{table}]]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in entry.items()))
    return "\n".join(out)


class SimThread:
    """The live simulator (its MQTT devices, control server) on its own event loop thread."""

    def __init__(self, cfg: Config) -> None:
        site = load_site(cfg.site.file)
        self.live = LiveSimulator(cfg, site, SimOptions(seed=3, speed=1.0, faults_per_device_day=0,
                                                        bad_input_per_device_hour=0), int(time.time() * 1000))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        try:
            await self.live.start()
            await self.live.run_until_stopped()
        finally:
            await self.live.stop()

    def start(self) -> "SimThread":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.live.request_stop)
        self.thread.join(30)


def eventually(check: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(tmp_path: Path, broker: MosquittoServer, dynsec: DynsecClient, influx: InfluxServer,
          influx_db: str, site_id: str) -> Iterator[tuple[Config, LiveHub, SimThread]]:
    cfg = make_cfg(tmp_path, broker, influx, influx_db)
    suffix = tmp_path.name[-8:].replace("_", "")
    (tmp_path / "site.toml").write_text(site_toml(site_id), encoding="utf-8")
    cfg.site.id, cfg.site.file = site_id, str(tmp_path / "site.toml")
    cfg.tls.enabled = False
    cfg.edge.agent_id, cfg.edge.mqtt_username = f"edge-{suffix}", f"floorops-edge-{suffix}"
    cfg.hub.mqtt_username = f"floorops-hub-{suffix}"
    cfg.edge.metrics_port, cfg.sim.control_port = free_port(), free_port()
    cfg.edge.batch_max_delay_s = 0.2
    provision_services(cfg, cfg.edge.mqtt_username)
    creds = {}
    for d in SITE["devices"]:
        c = dynsec.provision_device(site_id, "queue_screen", d["id"])
        creds[d["id"]] = {"id": d["id"], "mqtt_username": c.username, "mqtt_password": c.password,
                          "topic_prefix": f"hospital/{site_id}/queue_screen/{d['id']}/"}
    cred_file = cfg.path(cfg.hub.credentials_file)
    cred_file.parent.mkdir(parents=True, exist_ok=True)
    cred_file.write_text(json.dumps(creds), encoding="utf-8")
    (tmp_path / "floorops.toml").write_text(dump_toml(cfg), encoding="utf-8")
    edge = EdgeHarness(cfg, broker, influx.url, influx_db, tmp_path).start()
    hub = LiveHub(cfg, connect_broker=True, background=True).start()
    hub.call(hub.ctx.hub.set_rules, {"rules": {"zone_crowded": {"min_duration_s": 0.0},
                                               "screen_command_unacked": {"ack_timeout_s": 5.0, "guide_every_s": 2.0}}},
             "test")
    sim = SimThread(cfg).start()
    try:
        yield cfg, hub, sim
    finally:
        sim.stop()
        hub.stop()
        edge.stop()
        for d in SITE["devices"]:
            dynsec.delete_client(d["id"])


def test_a_crowded_room_reroutes_its_screen_and_a_silent_screen_raises_one_alarm(stack) -> None:
    cfg, hub, sim = stack
    token = hub.login("monitor")
    port = cfg.sim.control_port

    def display(device_id: str) -> dict[str, Any]:
        return get_status(port)["devices"][device_id]["display"]

    def shown_by_hub(device_id: str) -> dict[str, Any]:
        _, screens = http(hub.url + "/api/screens", token=token)
        return next(s for s in screens if s["device_id"] == device_id)

    # Every screen comes online and gets its guide, acknowledged through the edge.
    eventually(lambda: all((shown_by_hub(f"qs-us-{i}")["guide"] or {}).get("state") == "acked" for i in (1, 2, 3)),
               60, "guides acknowledged")
    assert display("qs-us-1")["guide"]["type"] == "guide"

    # Room 1's zone at capacity: zone_crowded, and its screen sends patients on to a free room.
    payload = json.dumps({"v": 1, "ts": int(time.time() * 1000), "zone": "us_a", "occupancy": 12.0, "devices": 3,
                          "window_s": 300}).encode()
    hub.call(hub.ctx.hub.apply_messages, [(zone_occupancy_topic(cfg.site.id, "us_a"), payload)])
    guide = eventually(lambda: (g := display("qs-us-1")["guide"]) and g["type"] == "reroute" and g, 30,
                       "the screen to show a reroute")
    assert "请前往" in guide["text_zh"] and guide["room"] in ("2号B超室", "3号B超室")
    eventually(lambda: shown_by_hub("qs-us-1")["guide"]["state"] == "acked", 30, "the reroute acknowledged")

    # Room 3's screen fails: the screens its patients can still see (room 2's) tell them where to go,
    # and room 1's crowd goes to room 2 instead; repaired, room 2's screen guides to its own room again.
    send_inject(port, "qs-us-3", "display_fault")
    carried = eventually(lambda: (g := display("qs-us-2")["guide"]) and g["type"] == "reroute" and g, 30,
                         "room 2's screen to carry room 3's reroute")
    assert carried["text_zh"].startswith("3号B超室暂停叫号,请前往2号B超室"), carried
    eventually(lambda: display("qs-us-1")["guide"]["room"] == "2号B超室", 30, "room 1 rerouted to room 2")
    send_inject(port, "qs-us-3", "clear")
    eventually(lambda: display("qs-us-2")["guide"]["type"] == "guide", 30, "room 2's own guide again")

    # Screen 2 stops acknowledging: a notice is shown there, never acknowledged, and one alarm is raised.
    send_inject(port, "qs-us-2", "no_ack")
    status, out = http(hub.url + "/api/screens/notice", "POST",
                       {"devices": ["qs-us-2"], "text": "Daily update", "text_zh": "每日更新", "expires_s": 600}, token=token)
    assert status == 200, out
    eventually(lambda: (display("qs-us-2")["notice"] or {}).get("text_zh") == "每日更新", 30, "the notice shown")

    def unacked() -> list[dict[str, Any]]:
        _, alarms = http(hub.url + "/api/alarms?state=active", token=token)
        return [a for a in alarms if a["type"] == "screen_command_unacked"]

    eventually(unacked, 30, "screen_command_unacked")
    http(hub.url + "/api/screens/notice", "POST",
         {"devices": ["qs-us-2"], "text": "Second", "text_zh": "第二条", "expires_s": 600}, token=token)
    eventually(lambda: (display("qs-us-2")["notice"] or {}).get("text_zh") == "第二条", 30, "the second notice")
    time.sleep(7)  # past another ack timeout
    alarms = unacked()
    assert [(a["source"], a["count"]) for a in alarms] == [("qs-us-2", 1)]
    assert shown_by_hub("qs-us-1")["guide"]["state"] == "acked"  # the other screens are unaffected
