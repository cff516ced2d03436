"""The agent end to end against real mosquitto and influxd: every MQTT kind in, schema and hub records out."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from edge_harness import telemetry
from floorops.dynsec import hub_acls
from centre.services import wait_until
from floorops.topics import EdgeRecord, expand, site_filter

pytestmark = pytest.mark.integration


def hub_listener(broker, dynsec, name: str, site: str) -> tuple[mqtt.Client, list[tuple[str, bytes]]]:
    """Subscribes like the hub does, to see what the edge publishes on floorops/<site>/#, batches unpacked
    into their records as the hub unpacks them."""
    creds = dynsec.provision_service(f"floorops-hub-{name}", "pw-" + name, hub_acls(site))
    got: list[tuple[str, bytes]] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=creds.username)
    c.username_pw_set(creds.username, creds.password)
    ready = threading.Event()
    c.on_subscribe = lambda *a: ready.set()
    c.on_connect = lambda cl, *a: cl.subscribe(site_filter(site), qos=1)
    c.on_message = lambda cl, u, m: got.extend(expand(m.topic, m.payload))
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    assert ready.wait(10)
    return c, got


def test_every_mqtt_kind_reaches_influx_and_the_hub(make_edge, broker, dynsec, influx, influx_db, site_id) -> None:
    listener, got = hub_listener(broker, dynsec, "smoke", site_id)
    edge = make_edge(broker, influx, influx_db, occupancy_publish_s=1.0).start()
    now = int(time.time() * 1000)
    qs = edge.device("queue_screen", "qs-reg-1", dynsec)
    kiosk = edge.device("kiosk", "kiosk-reg-1", dynsec)
    probe = edge.device("wifi_probe", "probe-03", dynsec)
    qs.publish(f"hospital/{edge.site}/queue_screen/qs-reg-1/telemetry", telemetry(1, now), qos=1)
    qs.publish(f"hospital/{edge.site}/queue_screen/qs-reg-1/event", json.dumps(
        {"v": 1, "ts": now + 1, "seq": 2, "event": "ticket_issued", "queue": "REG-1", "ticket": "A002"}), qos=1)
    qs.publish(f"hospital/{edge.site}/queue_screen/qs-reg-1/status", json.dumps(
        {"v": 1, "ts": now, "state": "online", "fw": "1.4.2"}), qos=1, retain=True)
    kiosk.publish(f"hospital/{edge.site}/kiosk/kiosk-reg-1/telemetry", json.dumps(
        {"v": 1, "ts": now, "seq": 1, "cpu_pct": 31.5, "mem_pct": 62.0, "paper_pct": 40, "card_reader": "ok",
         "printer": "ok", "app": "ok", "resp_ms": 850, "txn_ok": 12, "txn_fail": 0}), qos=1)
    probe.publish(f"hospital/{edge.site}/wifi_probe/probe-03/telemetry", json.dumps(
        {"v": 1, "ts": now, "seq": 1, "sightings": [
            {"mac": "3c:22:fb:12:9a:01", "rssi": -61, "ts": now - 500},
            {"mac": "DA-A1-19-00-00-01", "rssi": -70, "ts": now - 400},
            {"mac": "3c:22:fb:12:9a:02", "rssi": -95, "ts": now - 300}]}), qos=1)
    qs.publish(f"hospital/{edge.site}/queue_screen/qs-reg-1/telemetry", b"{not json", qos=1)

    wait_until(lambda: edge.count("wifi_sighting") == 3 and edge.count("device_event") == 1, 20, "points")
    wait_until(lambda: edge.count("zone_occupancy", "WHERE zone='reg_hall'") >= 1, 20, "occupancy")
    rows = edge.query("SELECT * FROM queue_screen")[0]
    row = dict(zip(rows["columns"], rows["values"][0]))
    assert row["time"] == now and row["zone"] == "reg_hall" and row["queue"] == "REG-1" and row["waiting"] == 3
    assert edge.count("kiosk") == 1 and edge.count("device_status") == 1
    sightings = edge.query("SELECT * FROM wifi_sighting")[0]
    # No hash at rest: a phone's sightings cannot be linked into its path through the zones.
    assert "mac_hash" not in sightings["columns"]
    cols = sightings["columns"]
    values = [dict(zip(cols, v)) for v in sightings["values"]]
    assert sorted(v["rssi"] for v in values) == [-95, -70, -61]
    assert [v["rssi"] for v in values if v["randomized"]] == [-70]  # DA-.. is locally administered (randomised)
    occ = edge.query("SELECT last(devices) FROM zone_occupancy WHERE zone='reg_hall'")[0]["values"][0][1]
    assert occ == 2  # the -95 dBm phone is below the RSSI threshold

    wait_until(lambda: any(t.endswith("qs-reg-1/event") for t, _ in got), 10, "hub records")
    records = {t: EdgeRecord.from_json(p) for t, p in got if "/edge/" in t}
    ev = records[f"floorops/{edge.site}/edge/queue_screen/qs-reg-1/event"]
    assert ev.seq == 2 and ev.zone == "reg_hall" and ev.data["event"] == "ticket_issued"
    assert f"floorops/{edge.site}/edge/kiosk/kiosk-reg-1/telemetry" in records
    # Sightings stay on the edge: the hub hears that the probe is alive and how many it saw, nothing more.
    probe_rec = records[f"floorops/{edge.site}/edge/wifi_probe/probe-03/telemetry"]
    assert probe_rec.data == {"sightings": 3}
    assert any(t == f"floorops/{edge.site}/zone/reg_hall/occupancy" for t, _ in got)
    assert any(t == f"floorops/{edge.site}/agent/{edge.cfg.edge.agent_id}/status" for t, _ in got)

    wait_until(lambda: edge.metric("edge_rejected_total") == 1, 10, "rejection counted")
    assert edge.metric("edge_rejected_total", reason="bad_json") == 1
    out = subprocess.run(
        [sys.executable, "-m", "edge", "deadletters", "--config", str(edge.config_path), "--json"],
        capture_output=True, text=True, timeout=30, check=True)
    letters = [json.loads(x) for x in out.stdout.splitlines()]
    assert [d["reason"] for d in letters] == ["bad_json"] and letters[0]["payload"] == "{not json"
    listener.loop_stop()
    listener.disconnect()
