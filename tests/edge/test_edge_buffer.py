"""The durable buffer and the hub messages it holds: order, bounds, restarts, and buffers from before batching."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.buffer import DurableBuffer, HubMessage
from edge.outputs.hub import RECORDS_PER_MESSAGE, pack_records
from floorops.topics import edge_record_topic, expand, records_topic, zone_occupancy_topic


def msg(topic: str, n: int = 1) -> HubMessage:
    return HubMessage(topic, b"x", n)


def test_buffer_replays_in_order_and_drops_oldest_past_its_bound_counting_them(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.sqlite", max_rows=10)
    b.commit([f"m v={i}i {i}" for i in range(4)], [msg("t/1")], [("d", "1:1")])
    b.commit([f"m v={i}i {i}" for i in range(4, 8)], [msg("t/2")])
    assert (b.pending_points, b.pending_records) == (8, 2)
    dropped = b.commit([f"m v={i}i {i}" for i in range(8, 11)], [])
    assert dropped.points == 4 and b.dropped.points == 4  # the oldest chunk went
    chunks = b.influx_chunks(0, 100)
    assert b"".join(c.body for c in chunks).split(b"\n")[0] == b"m v=4i 4"
    again = DurableBuffer(tmp_path / "b.sqlite", max_rows=10)  # reopened (a restart) sees the same
    assert (again.pending_points, again.pending_records) == (7, 2)
    assert [m.topic for m in again.hub_messages(0, 10)] == ["t/1", "t/2"]
    assert again.load_seq_state() == [("d", "1:1")]
    again.ack_influx(again.influx_chunks(0, 100))
    again.ack_hub([m.id for m in again.hub_messages(0, 10)])
    assert (again.pending_points, again.pending_records) == (0, 0)


def test_bound_counts_records_not_messages_and_drops_whole_oldest_batches(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.sqlite", max_rows=10)
    b.commit([], [msg("t/1", 6)])
    dropped = b.commit([], [msg("t/2", 5)])
    assert dropped.records == 6 and b.pending_records == 5
    assert [m.topic for m in b.hub_messages(0, 100)] == ["t/2"]


def test_reading_hub_messages_stops_near_the_window_but_never_returns_nothing(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.sqlite", max_rows=10_000)
    b.commit([], [msg("a", 300), msg("b", 300), msg("c", 300)])
    assert [m.topic for m in b.hub_messages(0, 650)] == ["a", "b"]
    assert [m.topic for m in b.hub_messages(0, 10)] == ["a"]  # one, even if bigger than the room


def test_a_buffer_from_before_batching_keeps_its_records_in_order(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE hub_records (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
                                  retain INTEGER NOT NULL DEFAULT 0);
    """)
    db.executemany("INSERT INTO hub_records (topic, payload) VALUES (?, ?)",
                   [("floorops/demo/edge/kiosk/k1/event", b'{"seq":1}'),
                    ("floorops/demo/edge/kiosk/k1/telemetry", b'{"seq":2}')])
    db.commit()
    db.close()
    b = DurableBuffer(path, max_rows=100)
    assert b.pending_records == 2
    assert [(m.topic, m.payload, m.records) for m in b.hub_messages(0, 100)] == [
        ("floorops/demo/edge/kiosk/k1/event", b'{"seq":1}', 1), ("floorops/demo/edge/kiosk/k1/telemetry", b'{"seq":2}', 1)]
    assert DurableBuffer(path, max_rows=100).pending_records == 2  # reopening does not migrate twice


def test_records_are_packed_per_stream_in_order_bounded_and_expand_back() -> None:
    reading = edge_record_topic("demo", "kiosk", "k1", "telemetry")
    records = [(reading, b'{"seq":%d}' % i, False) for i in range(1200)]
    records.insert(10, (edge_record_topic("demo", "kiosk", "k2", "event"), b'{"e":1}', False))
    records.append((zone_occupancy_topic("demo", "lab"), b"{}", False))
    records.append(("floorops/demo/registry/x", b"{}", True))
    out = pack_records(records, "demo", "edge-1")
    priority = [m for m in out if m.topic == records_topic("demo", "edge-1", "priority")]
    stream = [m for m in out if m.topic == records_topic("demo", "edge-1", "stream")]
    assert [expand(m.topic, m.payload) for m in priority] == [[records[10][:2]]]
    unpacked = [r for m in stream for r in expand(m.topic, m.payload)]
    assert unpacked == [r[:2] for r in records if r[0] in (reading, zone_occupancy_topic("demo", "lab"))]
    assert [m.records for m in stream] == [RECORDS_PER_MESSAGE, RECORDS_PER_MESSAGE, 201]
    assert HubMessage("floorops/demo/registry/x", b"{}", 1, True) in out  # retained: alone, under its own topic
    assert len(out) == len(priority) + len(stream) + 1


def test_pending_counts_stay_true_while_an_output_acknowledges_as_fast_as_it_can(tmp_path: Path) -> None:
    """The gauges the operators watch (edge_buffered_*) must reach 0 when the buffer is empty, however the
    ingest thread's commits and the publisher's acknowledgements interleave."""
    import threading

    b = DurableBuffer(tmp_path / "b.sqlite", max_rows=1_000_000)
    done = threading.Event()

    def publisher() -> None:
        cursor = 0
        while not done.is_set() or b.hub_messages(cursor, 1000):
            got = b.hub_messages(cursor, 1000)
            if got:
                b.ack_hub([m.id for m in got])
                cursor = got[-1].id
                chunks = b.influx_chunks(0, 1000)
                b.ack_influx(chunks)

    t = threading.Thread(target=publisher)
    t.start()
    for i in range(2000):
        b.commit([f"m v={i}i {i}"], [msg(f"t/{i}", 3)])
    done.set()
    t.join(30)
    b.ack_influx(b.influx_chunks(0, 10_000))
    assert b.hub_messages(0, 10) == [] and b.influx_chunks(0, 10) == []
    assert (b.pending_points, b.pending_records) == (0, 0)
