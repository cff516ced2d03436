"""Record batches between edge and hub: what goes in comes out, record for record, and nothing else."""

from __future__ import annotations


import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floorops.contract import ContractError
from floorops.topics import (DeviceTopic, EdgeRecord, device_publish_pattern, device_topic, edge_record_topic,
                             encode_records, expand, parse_device_topic, record_stream, records_topic, topic_kind,
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


def test_every_internal_topic_the_hub_reads_reaches_exactly_one_of_its_two_sessions() -> None:
    from paho.mqtt.client import topic_matches_sub

    from floorops.kinds import BUILTIN
    from floorops.topics import (InternalTopic, agent_status_topic, registry_topic, site_filter,
                                 supervisor_topic)
    from hub.ingest import stream_filters

    sessions = stream_filters("demo")
    topics = {edge_record_topic("demo", k, "d-1", c): "priority" if c != "telemetry" else "stream"
              for k in BUILTIN.names for c in ("telemetry", "event", "status")}
    topics |= {zone_occupancy_topic("demo", "lab"): "stream", registry_topic("demo", "d-1"): "stream",
               agent_status_topic("demo", "edge-1"): "stream", records_topic("demo", "edge-1", "stream"): "stream",
               records_topic("demo", "edge-1", "priority"): "priority",
               supervisor_topic("demo", "hub", "restarted"): "priority"}
    for topic, session in topics.items():
        matched = [name for name, filters in sessions.items() if any(topic_matches_sub(f, topic) for f in filters)]
        assert matched == [session], topic
        assert topic_matches_sub(site_filter("demo"), topic)
        parsed = InternalTopic.parse(topic)
        if parsed is not None and parsed.section == "edge":  # the edge packs a record into that session's batch
            assert record_stream(topic) == session, topic
    assert not any(topic_matches_sub(f, edge_record_topic("other", "kiosk", "d-1", "event"))
                   for filters in sessions.values() for f in filters)


def test_internal_topics_are_split_once_into_site_section_and_the_rest() -> None:
    from floorops.topics import InternalTopic, parse_supervisor_topic, relaying_agent

    t = InternalTopic.parse(edge_record_topic("demo", "kiosk", "k1", "event"))
    assert t == InternalTopic("demo", "edge", ("kiosk", "k1", "event"))
    assert InternalTopic.parse("hospital/demo/kiosk/k1/event") is None
    assert InternalTopic.parse("floorops/demo") is None
    assert relaying_agent(records_topic("demo", "edge-1", "stream")) == "edge-1"
    assert relaying_agent(edge_record_topic("demo", "kiosk", "k1", "event")) == ""
    assert parse_supervisor_topic("floorops/demo/supervisor/hub/restarted/extra") is None


# -- one home for topics: nobody else takes a topic apart ------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", "var", "deploy", ".git", "build", "floorops.egg-info"}
SPLIT_AT_SLASH = re.compile(r"""\b(r?split|r?partition)\(\s*["']/["']""")


def slash_splits(text: str) -> list[int]:
    """Lines that take something apart at "/", unless they say why it is not a topic (``# not a topic: ...``)."""
    return [n for n, line in enumerate(text.splitlines(), 1)
            if SPLIT_AT_SLASH.search(line) and "# not a topic:" not in line]


def test_no_module_but_floorops_topics_splits_a_topic_at_its_slashes() -> None:
    """Topics are parsed in floorops/topics.py only (issue #14, item 2): tests use its helpers too."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if SKIP_DIRS & set(rel.parts) or rel.as_posix() == "floorops/topics.py" or path == Path(__file__).resolve():
            continue
        found += [f"{rel.as_posix()}:{n}" for n in slash_splits(path.read_text(encoding="utf-8"))]
    assert not found, "split a topic with floorops.topics instead:\n" + "\n".join(found)


def test_the_split_check_sees_every_spelling() -> None:
    assert slash_splits('a = t.split("/")\nb = t.rsplit(\'/\', 1)\nc = t.partition("/")\n') == [1, 2, 3]
    assert not slash_splits('a = t.split(",")\nb = path.parts\n')


def test_device_topics_are_built_and_parsed_in_one_place() -> None:
    topic = device_topic("demo", "kiosk", "kiosk-01", "event")
    assert topic == "hospital/demo/kiosk/kiosk-01/event"
    assert parse_device_topic(topic, ["kiosk"]) == DeviceTopic("demo", "kiosk", "kiosk-01", "event")
    assert str(DeviceTopic.levels(topic)) == topic and topic_kind(topic) == "kiosk"
    assert device_publish_pattern("demo", "kiosk", "kiosk-01") == "hospital/demo/kiosk/kiosk-01/#"
    assert topic.startswith(DeviceTopic("demo", "kiosk", "kiosk-01", "event").prefix)
    for bad in ("hospital/demo/kiosk/kiosk-01", "floorops/demo/kiosk/kiosk-01/event", "hospital/demo/toaster/t/event",
                "hospital/demo/kiosk/bad id/event", "hospital/demo/kiosk/kiosk-01/debug"):
        with pytest.raises(ContractError) as exc:
            parse_device_topic(bad, ["kiosk"])
        assert exc.value.reason == "bad_topic"
