"""10,000 generated malformed payloads through the real agent: no crash, each one dead-lettered, no raw MAC kept."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floorops.kinds import BUILTIN
from floorops import contract
from floorops.topics import DeviceTopic
from centre.services import ServiceError, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = int(time.time() * 1000)
DEVICES = {"queue_screen": "qs-fuzz", "kiosk": "kiosk-fuzz", "wifi_probe": "probe-fuzz"}
VALID = {
    ("queue_screen", "telemetry"): {"v": 1, "ts": NOW, "seq": 1, "queue": "REG-1", "waiting": 3, "serving": "A1",
                                    "counters_open": 2, "avg_wait_s": 300.0},
    ("queue_screen", "event"): {"v": 1, "ts": NOW, "seq": 1, "event": "ticket_called", "queue": "REG-1",
                                "ticket": "A1", "counter": "3"},
    ("kiosk", "telemetry"): {"v": 1, "ts": NOW, "seq": 1, "cpu_pct": 31.5, "mem_pct": 62.0, "paper_pct": 40,
                             "card_reader": "ok", "printer": "ok", "app": "ok", "resp_ms": 850, "txn_ok": 12,
                             "txn_fail": 0},
    ("kiosk", "event"): {"v": 1, "ts": NOW, "seq": 1, "event": "fault_cleared", "fault": "card_jam"},
    ("wifi_probe", "telemetry"): {"v": 1, "ts": NOW, "seq": 1, "sightings": [
        {"mac": "3c:22:fb:12:9a:01", "rssi": -61, "ts": NOW}]},
    ("queue_screen", "status"): {"v": 1, "ts": NOW, "state": "online", "fw": "1.4.2"},
}

macs = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
junk = st.one_of(st.none(), st.booleans(), st.text(max_size=20), st.lists(st.integers(), max_size=3),
                 st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-2**40, max_value=2**40),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A valid payload with one field removed or replaced by junk, or a broken sighting."""
    kind, channel = draw(st.sampled_from(sorted(VALID)))
    body = json.loads(json.dumps(VALID[(kind, channel)]))
    if kind == "wifi_probe" and draw(st.booleans()):
        # Real MACs next to one broken sighting: the whole message is rejected and must not leak them.
        good = [{"mac": m, "rssi": -60, "ts": NOW} for m in draw(st.lists(macs, min_size=1, max_size=5))]
        broken = draw(st.fixed_dictionaries({"mac": st.one_of(macs.map(lambda m: m[:-3]), junk),
                                             "rssi": st.one_of(st.integers(-120, 0), junk), "ts": junk}))
        body["sightings"] = good + [broken]
    else:
        key = draw(st.sampled_from(sorted(body)))
        if draw(st.booleans()):
            del body[key]
        else:
            body[key] = draw(junk)
    return kind, channel, json.dumps(body, allow_nan=True).encode()


raw_bytes = st.tuples(st.sampled_from(sorted(DEVICES)), st.sampled_from(["telemetry", "event", "status"]),
                      st.binary(max_size=200))
bad_channel = st.tuples(st.sampled_from(sorted(DEVICES)),
                        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
                        st.just(json.dumps(VALID[("queue_screen", "telemetry")]).encode()))
malformed = st.one_of(mutated(), raw_bytes, bad_channel)


def is_invalid(kind: str, channel: str, payload: bytes) -> bool:
    try:
        BUILTIN.validate_message(f"hospital/demo/{kind}/{DEVICES[kind]}/{channel}", payload)
    except contract.ContractError:
        return True
    return False


def test_10000_malformed_payloads_each_dead_lettered_without_a_crash(make_edge, broker, dynsec, influx,
                                                                      influx_db) -> None:
    edge = make_edge(broker, influx, influx_db).start()
    clients = {k: edge.device(k, d, dynsec) for k, d in DEVICES.items()}
    sent: list[tuple[str, bytes]] = []
    infos = []

    @settings(max_examples=10_800, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(malformed)
    def publish(case: tuple[str, str, bytes]) -> None:
        kind, channel, payload = case
        if len(sent) >= 10_000 or not is_invalid(kind, channel, payload):
            return
        topic = f"hospital/{edge.site}/{kind}/{DEVICES[kind]}/{channel}"
        infos.append(clients[kind].publish(topic, payload, qos=1))
        sent.append((topic, payload))

    publish()
    assert len(sent) == 10_000, f"only {len(sent)} malformed payloads generated"
    for info in infos:
        info.wait_for_publish(timeout=60)
    # The edge subscribes to a probe's three channels only (raw MACs at QoS 0, no overlapping subscription:
    # edge.inputs.mqtt.device_subscriptions), so a probe's message on another channel never reaches it.
    def unseen_by_the_edge(topic: str) -> bool:
        t = DeviceTopic.levels(topic)
        return t is not None and t.kind == "wifi_probe" and t.channel not in contract.CHANNELS

    unseen = [t for t, _ in sent if unseen_by_the_edge(t)]
    sent = [(t, p) for t, p in sent if not unseen_by_the_edge(t)]
    assert 100 < len(unseen) < 3000
    try:
        wait_until(lambda: edge.metric("edge_rejected_total") >= len(sent), 120, "every payload rejected")
    except ServiceError:
        by_reason = {s.labels.get("reason"): s.value for s in edge.samples("edge_rejected_total")}
        by_topic: dict[str, int] = {}
        for topic, _ in sent:
            by_topic[topic] = by_topic.get(topic, 0) + 1
        raise AssertionError(f"rejected {by_reason} of {len(sent)} sent {by_topic}") from None
    time.sleep(0.5)
    assert edge.metric("edge_rejected_total") == len(sent)
    assert edge.process.running, "the agent crashed"

    # Still healthy: a good message after the storm is stored.
    clients["queue_screen"].publish(f"hospital/{edge.site}/queue_screen/qs-fuzz/telemetry",
                                    json.dumps(VALID[("queue_screen", "telemetry")]), qos=1)
    wait_until(lambda: edge.count("queue_screen", "WHERE device_id='qs-fuzz'") == 1, 20, "good message stored")

    out = subprocess.run([sys.executable, "-m", "edge", "deadletters", "--config", str(edge.config_path),
                          "--counts"], capture_output=True, text=True, timeout=60, check=True)
    counts = json.loads(out.stdout)
    assert sum(counts.values()) == len(sent)
    assert set(counts) <= {"bad_json", "missing_field", "wrong_type", "out_of_range", "bad_enum", "bad_version",
                           "bad_topic", "bad_mac", "too_large"}, counts
    # No raw MAC of any sighting, valid or broken, is in the dead-letter store.
    stored = edge.cfg.path(edge.cfg.edge.deadletter_path)
    data = b"".join(p.read_bytes() for p in stored.parent.glob(stored.name + "*"))
    leaked = {p for _, payload in sent for p in _macs_in(payload) if p.encode() in data}
    assert not leaked, f"raw MACs in the dead-letter store: {sorted(leaked)[:5]}"


def _macs_in(payload: bytes) -> set[str]:
    try:
        body = json.loads(payload)
    except ValueError:
        return set()
    if not isinstance(body, dict) or not isinstance(body.get("sightings"), list):
        return set()
    return {s["mac"] for s in body["sightings"] if isinstance(s, dict) and isinstance(s.get("mac"), str)
            and re.fullmatch(r"([0-9a-f]{2}:){4,5}[0-9a-f]{2}", s["mac"])}
