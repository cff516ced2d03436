"""The edge's PUBLISH fast path (``BufferedReadClient.on_publishes``) against paho's own decoding.

The same byte stream, cut at random places as a socket delivers it, goes through the client twice: once
with the fast path and once through paho alone (``on_message``). Both must yield the same messages in the
same order, whatever the cuts, with QoS 2 and other packets in between, and stop at the same place on a
malformed packet (where paho drops the connection).
"""

from __future__ import annotations

import socket
from dataclasses import astuple

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.inputs.mqtt import BufferedReadClient
from edge.pipeline import MqttIn

PINGRESP = b"\xd0\x00"


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, qos: int, retain: bool, mid: int) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (mid.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1 | int(retain)]) + remaining_length(len(body)) + body


def run(stream: bytes, cuts: list[int], fast: bool) -> tuple[list[tuple], bool]:
    """Feed ``stream`` through a client over a socket pair, cut at ``cuts``; (messages, still connected)."""
    got: list[tuple] = []
    c = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", clean_session=False,
                           protocol=mqtt.MQTTv311, manual_ack=True)
    c.on_message = lambda _c, _u, m: got.append((m._topic.decode("utf-8", "replace"), m.payload, m.mid, m.qos, bool(m.retain)))
    if fast:
        c.on_publishes = lambda items: got.extend(astuple(i) for i in items)
    a, b = socket.socketpair()
    a.setblocking(False)
    c._sock = a
    try:
        bounds = [0, *sorted(set(cuts)), len(stream)]
        for lo, hi in zip(bounds, bounds[1:]):
            if hi > lo:
                b.sendall(stream[lo:hi])
            if c.loop_read() != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or c._sock is None:
                return got, False
        return got, True
    finally:
        b.close()
        if c._sock is not None:
            c._sock.close()


topics = st.text(alphabet=st.sampled_from("abcxyz/-_0123456789éü診"), min_size=1, max_size=40)
payloads = st.one_of(st.binary(max_size=300), st.binary(min_size=16_000, max_size=17_000))
publishes = st.tuples(topics, payloads, st.integers(0, 1), st.booleans(), st.integers(1, 65535))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=st.lists(st.one_of(publishes, st.just("ping"), st.just("qos2")), min_size=1, max_size=40),
       data=st.data())
def test_fast_path_yields_what_paho_yields_however_the_stream_is_cut(packets: list, data: st.DataObject) -> None:
    stream, expected = b"", []
    for i, p in enumerate(packets):
        if p == "ping":
            stream += PINGRESP
        elif p == "qos2":  # paho keeps it until PUBREL: delivered by neither path here
            stream += publish_packet("q2/topic", b"held", 2, False, 7 + i)
        else:
            topic, payload, qos, retain, mid = p
            stream += publish_packet(topic, payload, qos, retain, mid if qos else 0)
            expected.append((topic, payload, mid if qos else 0, qos, retain))
    cuts = data.draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=12))
    fast, fast_ok = run(stream, cuts, fast=True)
    slow, slow_ok = run(stream, cuts, fast=False)
    assert fast == expected
    assert slow == expected
    assert fast_ok and slow_ok


def test_a_malformed_packet_stops_both_paths_at_the_same_message() -> None:
    good = [publish_packet(f"hospital/demo/kiosk/k{i}/telemetry", b'{"n":%d}' % i, 1, False, i + 1)
            for i in range(5)]
    # A topic length (0x7FFF) longer than the packet: paho refuses it and drops the connection.
    bad = bytes([0x32]) + remaining_length(6) + b"\x7f\xff" + b"abcd"
    after = publish_packet("hospital/demo/kiosk/k9/telemetry", b"{}", 1, False, 99)
    stream = b"".join(good[:3]) + bad + b"".join(good[3:]) + after
    fast, fast_ok = run(stream, [], fast=True)
    slow, slow_ok = run(stream, [], fast=False)
    assert [m[2] for m in fast] == [1, 2, 3]
    assert fast == slow
    assert not fast_ok and not slow_ok


def test_a_topic_that_is_not_utf8_is_passed_on_replaced_not_fatal() -> None:
    topic = b"hospital/demo/kiosk/k\xff/telemetry"
    body = len(topic).to_bytes(2, "big") + topic + (5).to_bytes(2, "big") + b"{}"
    stream = b"\x32" + remaining_length(len(body)) + body + publish_packet("a/b", b"x", 1, False, 6)
    got, ok = run(stream, [], fast=True)
    assert ok
    assert got[0][0] == "hospital/demo/kiosk/k\ufffd/telemetry" and got[0][2] == 5
    assert got[1] == ("a/b", b"x", 6, 1, False)


def test_fast_path_messages_are_pipeline_items() -> None:
    got: list[MqttIn] = []
    c = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True)
    c.on_publishes = got.extend
    a, b = socket.socketpair()
    a.setblocking(False)
    c._sock = a
    # paho reads the first packet of a read itself (here a PINGRESP); the fast path takes the rest.
    b.sendall(PINGRESP + publish_packet("hospital/demo/queue_screen/qs-1/telemetry", b"{}", 1, True, 42))
    assert c.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    a.close()
    b.close()
    assert got == [MqttIn("hospital/demo/queue_screen/qs-1/telemetry", b"{}", 42, 1, True)]


def test_the_installed_paho_supports_the_fast_path() -> None:
    """If a paho upgrade changes its read state, the agent falls back (slowly): this says so loudly."""
    c = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True)
    assert c.supports_fast_path()


def paho_publish_packets(protocol: int, messages: list[tuple[str, bytes, int]]) -> bytes:
    """PUBLISH packets (QoS 1) as paho itself writes them for ``protocol``, with MQTT 5 properties."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sender", protocol=protocol)
    a, b = socket.socketpair()
    sender._sock = a
    try:
        for topic, payload, mid in messages:
            props = None
            if protocol == mqtt.MQTTv5:
                props = Properties(PacketTypes.PUBLISH)
                props.ContentType = "application/json"
                props.UserProperty = ("fw", "2.4.1")
            sender._send_publish(mid, topic.encode(), payload, qos=1, properties=props)
        b.setblocking(False)
        return b.recv(1 << 20)
    finally:
        a.close()
        b.close()


def receive_as_the_edge_does(stream: bytes, protocol: int) -> list[tuple[str, bytes, int]]:
    """What an edge client of ``protocol`` hands on from ``stream``: the fast path where the client says
    it supports it (as edge.inputs.mqtt.MqttLink wires it), paho's own decoding otherwise."""
    got: list[tuple[str, bytes, int]] = []
    c = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol, manual_ack=True)
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload, m.mid))
    if c.supports_fast_path():
        c.on_publishes = lambda items: got.extend((i.topic, i.payload, i.mid) for i in items)
    a, b = socket.socketpair()
    a.setblocking(False)
    c._sock = a
    try:
        b.sendall(stream)
        assert c.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        return got
    finally:
        a.close()
        b.close()


def test_an_mqtt5_edge_hands_on_the_payloads_paho_wrote_not_their_properties() -> None:
    """MQTT 5 puts properties between the packet id and the payload, which the 3.1.1 fast path does not
    know: an MQTT 5 client must take paho's decoding, or every payload starts with property bytes and the
    pipeline dead-letters it as bad JSON."""
    messages = [(f"hospital/demo/kiosk/k{i}/telemetry", b'{"v":1,"n":%d}' % i, i + 1) for i in range(6)]
    stream = PINGRESP + paho_publish_packets(mqtt.MQTTv5, messages)
    assert receive_as_the_edge_does(stream, mqtt.MQTTv5) == messages


def test_an_mqtt311_edge_still_takes_the_fast_path() -> None:
    messages = [(f"hospital/demo/kiosk/k{i}/telemetry", b'{"v":1,"n":%d}' % i, i + 1) for i in range(6)]
    stream = PINGRESP + paho_publish_packets(mqtt.MQTTv311, messages)
    assert receive_as_the_edge_does(stream, mqtt.MQTTv311) == messages
    v311 = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv311)
    v5 = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5)
    assert v311.supports_fast_path() and not v5.supports_fast_path()
