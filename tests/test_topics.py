"""Record batches between edge and hub: what goes in comes out, record for record, and nothing else."""

from __future__ import annotations


from hypothesis import given
from hypothesis import strategies as st

from floorops.topics import (EdgeRecord, edge_record_topic, encode_records, expand, record_stream, records_topic,
                             zone_occupancy_topic)

ids = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
text = st.text(min_size=0, max_size=20)


@st.composite
def records(draw: st.DrawFn) -> tuple[str, bytes]:
    """Any record the edge makes: compact JSON, any text in its fields (tabs and newlines included)."""
    device, channel = draw(ids), draw(st.sampled_from(["telemetry", "event", "status"]))
    data = draw(st.dictionaries(text, st.one_of(text, st.integers(), st.floats(allow_nan=False)), max_size=4))
    rec = EdgeRecord(device, "kiosk", channel, draw(st.integers(0, 2**42)), draw(st.integers(0, 2**31)), data)
    return edge_record_topic("demo", "kiosk", device, channel), rec.to_json()


@given(st.lists(records(), min_size=1, max_size=30))
def test_a_batch_expands_into_exactly_its_records_in_order(batch: list[tuple[str, bytes]]) -> None:
    topic = records_topic("demo", "edge-1", "stream")
    assert expand(topic, encode_records(batch)) == batch


def test_a_single_record_topic_is_passed_through_unchanged() -> None:
    t = edge_record_topic("demo", "kiosk", "k1", "event")
    assert expand(t, b"{}") == [(t, b"{}")]


def test_a_broken_line_stays_under_the_batch_topic_and_its_neighbours_are_kept() -> None:
    topic = records_topic("demo", "edge-1", "stream")
    good = (edge_record_topic("demo", "kiosk", "k1", "telemetry"), b'{"a":1}')
    out = expand(topic, encode_records([good]) + b"\nno tab here\n\xff\xfe\t{}\n" + encode_records([good]))
    assert out == [good, (topic, b"no tab here"), (topic, b"\xff\xfe\t{}"), good]


def test_faults_and_status_go_on_the_priority_stream_readings_and_occupancy_on_the_other() -> None:
    assert record_stream(edge_record_topic("demo", "kiosk", "k1", "event")) == "priority"
    assert record_stream(edge_record_topic("demo", "charger", "c1", "status")) == "priority"
    assert record_stream(edge_record_topic("demo", "kiosk", "k1", "telemetry")) == "stream"
    assert record_stream(zone_occupancy_topic("demo", "lab")) == "stream"
    assert record_stream("floorops/demo/agent/edge/status") == "stream"
