"""The edge's MQTT connection: device traffic in (QoS 1, persistent session), FloorOps topics out.

- ``clean_session=False`` with a fixed client id: what devices publish while the agent is down is queued
  by the broker and delivered when it returns.
- ``manual_ack=True``: a device message is acknowledged (PUBACK) only after the batch holding it is
  committed to the durable buffer (``ack``), so a ``kill -9`` makes the broker redeliver it.
- Device messages only go onto the bounded intake queue, every message of one socket read at once
  (``BufferedReadClient.on_publishes``). When the queue is full the put blocks, which stops paho reading
  the socket: backpressure reaches the broker (whose per-client in-flight window then holds further
  messages) instead of memory growing without bound.
- The agent's status topic is retained, with a Last Will of ``offline``.
- paho reconnects by itself, with backoff (1 s doubling to 30 s).
"""

from __future__ import annotations

import json
import logging
import queue
import struct
import threading
import time

from typing import Any, Callable, Sequence

import paho.mqtt.client as mqtt

from floorops.config import Config
from floorops.contract import CHANNELS
from floorops.topics import device_filter, site_devices_filter
from floorops.kinds import KindRegistry
from floorops.mqtt_client import configure, endpoint
from floorops.dynsec import edge_client_id
from floorops.topics import agent_status_topic, registry_topic

from edge.pipeline import MqttIn

log = logging.getLogger(__name__)

_PUBACK = struct.Struct("!BBH")


class BufferedReadClient(mqtt.Client):
    """paho with its socket reads served from a 64 KiB buffer, and the PUBLISH packets in it taken at once.

    paho reads a packet with at least three ``recv()`` calls (command byte, length, body), and its loop
    calls ``select()`` before each packet. Each of those releases the GIL, and under load the network
    thread then waits for the ingest thread to give it back (up to the 5 ms switch interval): profiled
    during a 60,000-message drain, ``recv`` took 48 us per call, nearly all of it waiting for the GIL
    (docs/benchmarks.md). Here one ``recv()`` serves every packet in the buffer, and ``loop_read`` reads on
    while bytes are buffered (``select()`` cannot see them).

    With ``on_publishes`` set, the complete QoS 0 and 1 PUBLISH packets at the head of the buffer are
    decoded here, in one pass, and handed over as one list: paho's own path costs about 20 us of CPU a
    message (a packet dict, an ``MQTTMessage``, a debug-log call, a topic-filter walk for the callback),
    which alone capped the agent below 20,000 messages/s (docs/benchmarks.md). Anything else - another
    packet type, QoS 2 (paho keeps its state), a packet split across reads, or one this decoding finds
    malformed - is left to paho, which then reads on from exactly that byte. Acknowledging is the
    caller's (``manual_ack``), as for paho's path. Overrides paho 2.x's ``_sock_recv``, ``_sock_close`` and
    ``loop_read``; tests/edge/test_mqtt_fast_path.py checks it against paho's decoding on split and
    malformed streams, and tests/edge run the agent through it against a real broker."""

    _rbuf: bytes = b""
    _rpos: int = 0
    on_publishes: Callable[[list[MqttIn]], None] | None = None

    def _sock_recv(self, bufsize: int) -> bytes:
        data, pos = self._rbuf, self._rpos
        if pos >= len(data):
            data = super()._sock_recv(65536)
            if len(data) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return data  # also b"" (connection closed), which paho handles
            pos = 0
            self._rbuf = data
        self._rpos = pos + bufsize
        return data[pos:pos + bufsize]

    def supports_fast_path(self) -> bool:
        """Whether the fast path can decode this client's PUBLISH packets: MQTT 3.1/3.1.1 only (MQTT 5 puts
        properties, and topic aliases, between the packet id and the payload, so an MQTT 5 client takes
        paho's decoding), and a paho with the read state the fast path relies on (checked, not assumed: a
        paho release that changes it gets paho's own path and a warning instead of a broken network thread)."""
        if getattr(self, "_protocol", None) not in (mqtt.MQTTv31, mqtt.MQTTv311):
            return False
        packet = getattr(self, "_in_packet", None)
        return (isinstance(packet, dict) and "command" in packet and hasattr(self, "_msgtime_mutex")
                and hasattr(self, "_last_bytes_received") and callable(getattr(mqtt, "time_func", None)))

    def buffered(self) -> int:
        return len(self._rbuf) - self._rpos

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # bytes of a dead connection mean nothing to the next one
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
            if self.on_publishes is not None and self._in_packet["command"] == 0 and self._take_publishes():
                continue
            rc = super().loop_read(max_packets)
        return rc

    def _take_publishes(self) -> int:
        """Decode the complete QoS 0/1 PUBLISH packets at the head of the buffer; how many were taken."""
        data, pos, end = self._rbuf, self._rpos, len(self._rbuf)
        out: list[MqttIn] = []
        while pos < end:
            cmd = data[pos]
            if cmd & 0xF0 != 0x30 or cmd & 0x06 > 0x02:  # not a PUBLISH, or QoS 2 (or the invalid 3)
                break
            # Remaining length: 1-4 bytes, 7 bits each, low first.
            p, length, shift = pos + 1, 0, 0
            while p < end and shift < 28:
                b = data[p]
                p += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            else:
                break  # the length is not complete in the buffer (or longer than 4 bytes)
            stop = p + length
            if stop > end or length < 2:
                break
            topic_len = data[p] << 8 | data[p + 1]
            body = p + 2 + topic_len
            qos = cmd >> 1 & 3
            if qos:
                if body + 2 > stop:
                    break
                mid = data[body] << 8 | data[body + 1]
                payload_at = body + 2
            else:
                mid, payload_at = 0, body
            if topic_len == 0 or payload_at > stop:
                break
            # Mosquitto refuses topics that are not UTF-8; should one come, it is dead-lettered, not fatal.
            topic = data[p + 2:body].decode("utf-8", "replace")
            out.append(MqttIn(topic, data[payload_at:stop], mid, qos, bool(cmd & 1)))
            pos = stop
        if not out:
            return 0
        self._rpos = pos
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()  # what paho's keepalive reads
        assert self.on_publishes is not None
        self.on_publishes(out)
        return len(out)


def _status_payload(state: str, ts_ms: int | None = None, **extra: object) -> bytes:
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    return json.dumps({"v": 1, "ts": ts, "state": state, **extra},
                      separators=(",", ":")).encode()


def device_subscriptions(site: str, kinds: KindRegistry) -> list[tuple[str, int]]:
    """The devices' topics, none overlapping another: the telemetry of a kind that declares
    ``telemetry_qos=0`` (a Wi-Fi probe's raw MACs) at QoS 0, everything else at QoS 1. The broker delivers at the lower of the publish and subscription QoS and, with
    ``queue_qos0_messages false`` (its default), queues no QoS 0 message for an offline session: while the
    edge is away, raw MACs never sit in the broker's memory or persistence file, whatever QoS a probe used
    (docs/device-contract.md, docs/privacy.md). Queue screens' and kiosks' readings are kept for the edge."""
    subs = []
    for kind in kinds:
        if "mqtt" not in kind.transports:
            continue
        if kind.telemetry_qos == 1:
            subs.append((device_filter(site, kind.name), 1))
        else:
            subs += [(device_filter(site, kind.name, c), kind.telemetry_qos if c == "telemetry" else 1)
                     for c in CHANNELS]
    return subs


class MqttLink:
    def __init__(self, cfg: Config, kinds: KindRegistry, put_many: Callable[[Sequence[MqttIn], float | None], None],
                 on_puback: Callable[[int], None], on_connected: Callable[[], None] | None = None,
                 now_ms: Callable[[], int] | None = None) -> None:
        self.cfg = cfg
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))  # the centre's clock (floorops/clock.py)
        self.site = cfg.site.id
        self.put_many = put_many
        self.on_puback = on_puback
        self.on_connected = on_connected
        self.connected = threading.Event()
        self.status_topic = agent_status_topic(self.site, cfg.edge.agent_id)
        self.subscriptions = device_subscriptions(self.site, kinds) + [(registry_topic(self.site, "+"), 1)]
        c = BufferedReadClient(mqtt.CallbackAPIVersion.VERSION2, client_id=edge_client_id(cfg.edge.agent_id),
                               clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        self.endpoint = endpoint(cfg)  # plain loopback, or TLS when mqtt.tls (floorops.mqtt_client)
        configure(c, self.endpoint, cfg.edge.mqtt_username, cfg.edge.mqtt_password)
        c.will_set(self.status_topic, _status_payload("offline", self.now_ms()), qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        # No paho in-flight limit (0): the hub publisher bounds what is in flight itself. With a limit, paho
        # scans every outgoing message on each PUBACK (measured: the largest cost under load).
        c.max_inflight_messages_set(0)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        if c.supports_fast_path():
            c.on_publishes = self._on_publishes
        else:
            log.warning("the PUBLISH fast path does not fit this client (MQTT 5, or a paho-mqtt whose read state "
                        "it does not know); using paho's own decoding",
                        extra={"paho": getattr(mqtt, "__version__", "?"), "protocol": c._protocol})
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        self.client = c
        self.connects = 0
        self.closing = False
        self.status_extra: dict[str, object] = {}  # more of the agent's state in its online status

    def publish_status(self, **extra: object) -> None:
        """Announce the agent's state again (retained), e.g. ``buffer_full=True``; kept for reconnects."""
        self.status_extra.update(extra)
        if self.connected.is_set():
            self.client.publish(self.status_topic, _status_payload("online", self.now_ms(), **self.status_extra),
                                qos=1, retain=True)

    def start(self) -> None:
        self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=self.cfg.mqtt.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        if self.connected.is_set():
            info = self.client.publish(self.status_topic, _status_payload("offline", self.now_ms()), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (network thread: keep them short) --------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if rc.is_failure:
            log.error("broker refused the connection", extra={"reason": str(rc)})
            return
        self.connects += 1
        # A session from before the QoS rule may still hold the old catch-all QoS 1 subscription, which
        # would keep queueing probe sightings (raw MACs) for this session: drop it first.
        client.unsubscribe(site_devices_filter(self.site))
        client.subscribe(self.subscriptions)
        log.info("connected to the broker", extra={"session_present": bool(getattr(flags, "session_present", 0)),
                                                   "connects": self.connects})

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any = None) -> None:
        """Ready only once the broker confirmed the subscriptions (before that, messages would be missed)."""
        if any(getattr(rc, "is_failure", False) for rc in rcs):
            log.error("broker refused a subscription", extra={"codes": [str(rc) for rc in rcs]})
            return
        client.publish(self.status_topic, _status_payload("online", self.now_ms(), **self.status_extra), qos=1,
                       retain=True)
        self.connected.set()
        if self.on_connected:
            self.on_connected()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker; paho reconnects", extra={"reason": str(rc)})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """The messages paho decoded itself (a packet split across reads, QoS 2)."""
        topic = msg._topic.decode("utf-8", "replace")  # .topic raises on bad UTF-8; the pipeline dead-letters it
        self._on_publishes([MqttIn(topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))])

    def _on_publishes(self, items: list[MqttIn]) -> None:
        while not self.closing:
            try:
                self.put_many(items, 0.5)
                return
            except queue.Full:
                continue
        # Closing: leave them unacknowledged; the broker redelivers them to the next session.

    def pause_intake(self) -> None:
        """Stop taking messages (before shutdown); what is not taken stays with the broker."""
        self.closing = True

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any = None, props: Any = None) -> None:
        self.on_puback(mid)

    # -- used by other threads -----------------------------------------------------------------------

    def ack(self, acks: list[tuple[int, int]]) -> None:
        """PUBACK a committed batch, in the order the messages came (MQTT requires it).

        paho sends each acknowledgement as its own packet (a queue entry, a wake-up of its loop and a
        send() each); for a batch of QoS 1 messages the 4-byte PUBACKs are joined into one write instead,
        through paho's own packet queue. Falls back to ``ack()`` if paho's internals change."""
        queue_packet = getattr(self.client, "_packet_queue", None)
        if queue_packet is None or any(qos != 1 for _, qos in acks):
            for mid, qos in acks:
                self.client.ack(mid, qos)
            return
        packet = b"".join(_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid, _ in acks)
        queue_packet(mqtt.PUBACK, packet, 0, 1)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return info.mid


