"""A fault goes ahead of readings already being applied (issue #13 item 9): with a backlog of edge batches
of readings in the hub's stream session and one batch in the middle of its transaction, a card jam that
arrives on the priority session is committed and broadcast before the rest of that batch, and nothing is
lost, repeated or reordered on the way.

The MQTT side is faked at the one place it meets the hub (the sessions' ``on_message`` and ``ack``) so the
fault can arrive at a chosen record of the batch; the hub, its rules and its SQLite database are real.
tests/hub/test_record_batches.py covers the same path through a real broker."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import paho.mqtt.client as mqtt

from floorops.config import Config
from centre.services import free_port
from floorops.topics import EdgeRecord, edge_record_topic, encode_records, records_topic
from hub.clock import ManualClock
from hub.ingest import MqttIngest
from tests.hub.helpers import kiosk_ok, make_hub

DEVICES = [f"kiosk-r{i:02d}" for i in range(10)]
FIRST_BATCH = 400  # records in the batch the fault interrupts
BACKLOG = (100, 100, 100)  # the batches queued behind it
FAULT_AT = 50  # the fault arrives while this reading of the first batch is applied


def message(mid: int, topic: str, payload: bytes) -> mqtt.MQTTMessage:
    m = mqtt.MQTTMessage(mid, topic.encode())
    m.payload = payload
    m.qos = 1
    return m


def readings(cfg: Config, clock: ManualClock, start: int, n: int) -> list[tuple[str, bytes]]:
    """``n`` kiosk readings round-robin over DEVICES; reading k has seq k (increasing for every device)."""
    out = []
    for k in range(start, start + n):
        dev = DEVICES[k % len(DEVICES)]
        rec = EdgeRecord(dev, "kiosk", "telemetry", int(clock.now() * 1000) + k, k, kiosk_ok(), zone="reg_hall",
                         site=cfg.site.id)
        out.append((edge_record_topic(cfg.site.id, "kiosk", dev, "telemetry"), rec.to_json()))
    return out


def test_a_fault_is_committed_and_broadcast_before_the_readings_batch_in_flight(
        offline_cfg: Config, clock: ManualClock) -> None:
    cfg = offline_cfg
    cfg.mqtt.port = free_port()  # no broker: messages are handed to the sessions directly
    hub = make_hub(cfg, clock)
    sizes = (FIRST_BATCH, *BACKLOG)
    batches, start = [], 0
    for n in sizes:
        batches.append(readings(cfg, clock, start, n))
        start += n
    total = start
    jam = EdgeRecord("kiosk-02", "kiosk", "event", int(clock.now() * 1000), 1, {"event": "card_jam"},
                     zone="reg_hall", site=cfg.site.id)
    fault = message(900, records_topic(cfg.site.id, "edge-1", "priority"),
                    encode_records([(edge_record_topic(cfg.site.id, "kiosk", "kiosk-02", "event"), jam.to_json())]))

    applied: list[tuple[str, int]] = []  # (device, seq) of each reading, in the order the hub applied them
    acked: dict[int, list[int]] = {}  # mid -> readings applied when it was acknowledged
    broadcast: list[dict[str, Any]] = []
    ingest = MqttIngest(cfg, cfg.site.id, hub.apply_until)
    priority, stream = ingest.sessions
    assert (priority.name, stream.name) == ("priority", "stream")
    for s in ingest.sessions:
        s.client.ack = lambda mid, qos: acked.setdefault(mid, []).append(len(applied))  # type: ignore[method-assign]  # - a test double records the calls

    real_apply_message = hub.apply_message

    def apply_message(topic: str, payload: bytes, agent_id: str = "") -> bool:
        if topic.endswith("/telemetry"):
            rec = EdgeRecord.from_json(payload)
            applied.append((rec.device_id, rec.seq))
            if len(applied) == FAULT_AT:  # the fault reaches the hub while the first batch is being applied
                priority.client.on_message(priority.client, None, fault)
        return real_apply_message(topic, payload, agent_id)

    hub.apply_message = apply_message  # type: ignore[method-assign]  # - a test double records the calls
    reader = sqlite3.connect(cfg.path(cfg.hub.db_path))

    def on_event(event: Any) -> None:
        if event.type == "alarm.raised":
            stored = reader.execute("SELECT COUNT(*) FROM alarms WHERE type='card_jam' AND device_id='kiosk-02'")
            broadcast.append({"device": event.data["device_id"], "readings_applied": len(applied),
                              "stored": stored.fetchone()[0]})

    hub.bus.sinks.append(on_event)

    async def scenario() -> None:
        ingest.start()
        runner = asyncio.create_task(ingest.run())
        try:
            for mid, batch in enumerate(batches, start=1):  # the backlog, all queued before the hub looks
                stream.client.on_message(stream.client, None,
                                         message(mid, records_topic(cfg.site.id, "edge-1", "stream"),
                                                 encode_records(batch)))
            for _ in range(2000):
                if len(applied) >= total and 900 in acked and len(acked) == len(sizes) + 1:
                    break
                await asyncio.sleep(0.01)
        finally:
            runner.cancel()
            ingest.stop()

    asyncio.run(scenario())
    reader.close()

    # The alarm went out while the batch it interrupted was still unfinished, and only once it was stored.
    assert [b["device"] for b in broadcast] == ["kiosk-02"]
    assert broadcast[0]["readings_applied"] < FIRST_BATCH, broadcast
    assert broadcast[0]["stored"] == 1
    assert ingest.preemptions >= 1
    # The fault was acknowledged before the interrupted batch; each batch once, after all its readings.
    assert acked[900] == [broadcast[0]["readings_applied"]]
    ends = [sum(sizes[:i + 1]) for i in range(len(sizes))]
    for mid, end in enumerate(ends, start=1):
        assert len(acked[mid]) == 1 and acked[mid][0] >= end, (mid, acked[mid], end)
    # Every reading applied exactly once, and each device's in the order it was sent.
    assert len(applied) == total and len(set(applied)) == total
    for dev in DEVICES:
        seqs = [seq for d, seq in applied if d == dev]
        assert seqs == sorted(seqs), dev
    assert hub.metrics["messages"] == total + 1
    assert hub.db.one("SELECT COUNT(*) FROM devices WHERE id LIKE 'kiosk-r%'")[0] == len(DEVICES)
