"""Edge record batches (floorops.topics.encode_records) through the hub's real MQTT sessions into the core:
each record applied as if it had come alone, a broken line counted and skipped, the good ones around it
kept."""

from __future__ import annotations

import asyncio
import time

import paho.mqtt.client as mqtt
import pytest

from floorops.config import Config
from floorops.dynsec import edge_client_id
from floorops.topics import EdgeRecord, edge_record_topic, encode_records, records_topic
from hub.clock import ManualClock
from hub.ingest import MqttIngest
from tests.hub.helpers import kiosk_ok, make_hub, open_alarms

pytestmark = pytest.mark.integration


def record(cfg: Config, clock: ManualClock, device_id: str, channel: str, seq: int, data: dict) -> tuple[str, bytes]:
    rec = EdgeRecord(device_id, "kiosk", channel, int(clock.now() * 1000), seq, data, zone="reg_hall", site=cfg.site.id)
    return edge_record_topic(cfg.site.id, "kiosk", device_id, channel), rec.to_json()


def test_a_batch_is_applied_record_by_record_and_a_broken_line_costs_only_itself(
        live_cfg: Config, clock: ManualClock) -> None:
    cfg = live_cfg
    hub = make_hub(cfg, clock)
    readings = [record(cfg, clock, "kiosk-01", "telemetry", s, kiosk_ok()) for s in range(1, 301)]
    jam = record(cfg, clock, "kiosk-02", "event", 1, {"event": "card_jam", "severity": "critical", "detail": "slot 1"})
    stream = encode_records(readings[:150]) + b"\nno tab on this line\n" + encode_records(readings[150:])
    applied_order: list[list[str]] = []
    relayed_by: set[str] = set()

    def apply(messages: list[tuple[str, bytes, str]], preempt) -> int:
        done = hub.apply_until(messages, preempt)
        applied_order.append([m[0] for m in messages[:done]])
        relayed_by.update(m[2] for m in messages[:done])  # the test's own site: no other test's topics
        return done

    async def scenario() -> None:
        ingest = MqttIngest(cfg, cfg.site.id, apply)  # this test's hub account: client ids of its own
        ingest.start()
        runner = asyncio.create_task(ingest.run())
        try:
            deadline = time.monotonic() + 10
            while not ingest.is_connected():
                assert time.monotonic() < deadline, "hub sessions did not connect"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # subscriptions in place
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=edge_client_id(cfg.edge.agent_id))
            pub.username_pw_set(cfg.edge.mqtt_username, cfg.edge.mqtt_password)
            pub.connect(cfg.mqtt.host, cfg.mqtt.port)
            pub.loop_start()
            try:
                infos = [pub.publish(records_topic(cfg.site.id, "edge-1", "stream"), stream, qos=1),
                         pub.publish(records_topic(cfg.site.id, "edge-1", "priority"), encode_records([jam]), qos=1)]
                for info in infos:
                    info.wait_for_publish(5)
            finally:
                pub.loop_stop()
                pub.disconnect()
            deadline = time.monotonic() + 10
            while hub.metrics["messages"] < 302:
                assert time.monotonic() < deadline, f"only {hub.metrics['messages']} records applied"
                await asyncio.sleep(0.05)
        finally:
            runner.cancel()
            ingest.stop()

    asyncio.run(scenario())
    # Every good record applied once, in the hub's own terms: 300 readings and the fault's alarm.
    assert hub.metrics["rejected_bad_topic"] == 1
    assert [a["device_id"] for a in open_alarms(hub, "card_jam")] == ["kiosk-02"]
    applied = [t for batch in applied_order for t in batch]
    assert applied.count(readings[0][0]) == 300
    # And nothing else (the site is the test's own): the broken line comes under its batch's topic, rejected.
    broken = records_topic(cfg.site.id, "edge-1", "stream")
    assert applied.count(broken) == 1 and set(applied) == {readings[0][0], jam[0], broken}
    assert relayed_by == {"edge-1"}  # the batch topic names the agent; the hub holds its devices' silence alarms
