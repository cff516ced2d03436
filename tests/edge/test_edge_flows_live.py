"""The real edge agent on real Mosquitto and InfluxDB: phones heard at the entrance, then in the
registration hall, become one flow interval for the hub and zone_flow points, with no phone's hash in
either (short intervals so the test does not wait five minutes)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from centre.services import wait_until
from edge.processors.privacy import HASH_HEX_CHARS
from test_edge_smoke import hub_listener

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_flow_interval_reaches_the_hub_and_influx_without_a_hash(make_edge, broker, dynsec, influx,
                                                                 influx_db, site_id) -> None:
    listener, got = hub_listener(broker, dynsec, "flows", site_id)
    edge = make_edge(broker, influx, influx_db, occupancy_publish_s=1.0, flows_interval_s=2.0,
                     flows_lateness_s=1.0).start()
    try:
        macs = [f"3c:22:fb:00:10:{i:02x}" for i in range(7)]
        entrance, hall = edge.device("wifi_probe", "probe-01", dynsec), edge.device("wifi_probe", "probe-03", dynsec)

        def hear(probe, name: str, seq: int) -> None:
            now = int(time.time() * 1000)
            probe.publish(f"hospital/{edge.site}/wifi_probe/{name}/telemetry", json.dumps(
                {"v": 1, "ts": now, "seq": seq, "sightings": [{"mac": m, "rssi": -60, "ts": now} for m in macs]}),
                qos=1)

        hear(entrance, "probe-01", 1)
        time.sleep(2.5)
        hear(hall, "probe-03", 1)
        time.sleep(2.5)
        hear(hall, "probe-03", 2)  # keeps the clock moving past the interval and its lateness

        def flows() -> list[dict]:
            return [json.loads(p) for t, p in got if t == f"floorops/{edge.site}/flows/interval"]

        wait_until(lambda: any(iv["flows"] for iv in flows()), 30, "a flow interval with the move")
        moved = [f for iv in flows() for f in iv["flows"]]
        assert [(f["origin"], f["dest"], f["tracked"]) for f in moved] == [("entrance", "reg_hall", 7)]
        assert moved[0]["count"] >= 7 and 2.0 <= moved[0]["median_transit_s"] <= 4.0
        wait_until(lambda: edge.count("zone_flow") >= 1, 30, "zone_flow written")
        keys = list(edge.cfg.path(edge.cfg.edge.mac_key_dir).glob("*.key"))
        hashes = [hmac.new(k.read_bytes(), m.encode(), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]
                  for k in keys for m in macs]
        published = b"\n".join(t.encode() + b" " + p for t, p in got).decode()
        stored = json.dumps([edge.query(f"SELECT * FROM {m}") for m in ("zone_flow", "zone_wandering",
                                                                          "wifi_sighting")])
        assert hashes and not [h for h in hashes if h in published or h in stored]
    finally:
        listener.loop_stop()
        listener.disconnect()
