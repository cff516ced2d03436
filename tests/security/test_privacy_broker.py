"""No raw MAC in the broker's persistence file while the edge is offline (issue #12 item 7c), against real
mosquitto, influxd and edge agent: the edge subscribes to Wi-Fi probe telemetry at QoS 0 (and to nothing
overlapping it at QoS 1), so the broker queues no probe message for its offline session even when a probe
publishes at QoS 1; a queue screen's QoS 1 reading is queued and reaches InfluxDB once the edge is back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import pytest

from centre.services import InfluxServer, MosquittoServer, wait_until
from floorops.dynsec import DynsecClient
from tests.edge.edge_harness import EdgeHarness, make_config, provision_edge, telemetry

pytestmark = pytest.mark.integration

MACS = ["3c:22:fb:9a:41:7e", "a4:5e:60:c2:19:0b"]


def test_probe_sightings_are_not_queued_for_an_offline_edge(tmp_path: Path,
                                                            make_broker: Callable[..., MosquittoServer],
                                                            influx: InfluxServer, influx_db: str) -> None:
    broker = make_broker()
    cfg = make_config(tmp_path, broker, influx.url, influx_db)
    provision_edge(cfg, broker)
    edge = EdgeHarness(cfg, broker, influx.url, influx_db, tmp_path).start()  # its persistent session exists
    with DynsecClient("127.0.0.1", broker.port, broker.admin_username, broker.admin_password) as ds:
        probe = edge.device("wifi_probe", "probe-05", ds)
        screen = edge.device("queue_screen", "qs-reg-01", ds)
        edge.process.stop()  # type: ignore[union-attr]  # - started above; the edge is offline; its session stays
        now = int(time.time() * 1000)
        for qos in (0, 1):  # a probe at QoS 1 must not get its MACs queued either
            body = {"v": 1, "ts": now, "seq": 10 + qos, "sightings": [{"mac": MACS[qos], "rssi": -60, "ts": now}]}
            probe.publish(f"hospital/{cfg.site.id}/wifi_probe/probe-05/telemetry", json.dumps(body), qos=qos) \
                .wait_for_publish(5)
        screen.publish(f"hospital/{cfg.site.id}/queue_screen/qs-reg-01/telemetry", telemetry(1, now, queue="REG-7"),
                       qos=1).wait_for_publish(5)
        for c in edge.clients:
            c.loop_stop()
            c.disconnect()
        edge.clients.clear()
    broker.stop()  # mosquitto writes its persistence file (mosquitto.db) when it stops
    store = b"".join(p.read_bytes() for p in broker.data_dir.glob("*.db"))
    assert store, "no persistence file written"
    assert b"REG-7" in store  # the queue screen's reading is kept for the edge
    leaked = [m for m in MACS for form in (m, m.upper(), m.replace(":", "")) if form.encode() in store]
    assert leaked == [], "raw MACs in the broker's persistence file"

    broker.start()
    edge.start()  # the same session: the queued reading is delivered, nothing lost
    try:
        wait_until(lambda: edge.count("queue_screen", "WHERE \"queue\" = 'REG-7'") == 1, 30,
                   "the queue screen's reading in InfluxDB")
        assert edge.count("wifi_sighting") == 0
    finally:
        edge.stop()
