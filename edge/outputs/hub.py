"""Hub records out: packed into batches before they are buffered, published at QoS 1, deleted on PUBACK.

Records are joined into one message per stream (``floorops.topics.encode_records``): one QoS 1 message
per record cost the agent about 40 us of CPU each, as much as everything else it does with a message, and
a buffer row per record another 13 us. Devices' events and status go on the ``priority`` stream, the rest on
``stream``, so the hub reads faults ahead of readings.

The broker's PUBACK is the hub's acknowledgement: from there the broker holds the batch in the hub's
persistent session. A window bounds how many records are in flight; messages whose PUBACK does not come
(the connection dropped and the session was lost) are published again, and the hub drops repeated
records by (device, channel, seq).
"""

from __future__ import annotations

import logging
import threading
import time

from floorops.topics import encode_records, record_stream, records_topic

from edge.buffer import DurableBuffer, HubMessage
from edge.inputs.mqtt import MqttLink
from edge.metrics import EdgeMetrics

log = logging.getLogger(__name__)

WINDOW = 5000  # records in flight at most
RECORDS_PER_MESSAGE = 500
BYTES_PER_MESSAGE = 256 * 1024
RESEND_AFTER_S = 30.0


def pack_records(records: list[tuple[str, bytes, bool]], site: str, agent_id: str) -> list[HubMessage]:
    """One ingest batch's records as messages: per stream, in order, bounded in count and bytes.

    A retained record (none today) goes alone under its own topic: a batch cannot be retained per record."""
    out: list[HubMessage] = []
    open_: dict[str, tuple[list[tuple[str, bytes]], list[int]]] = {}

    def close(stream: str) -> None:
        members, _ = open_.pop(stream)
        out.append(HubMessage(records_topic(site, agent_id, stream), encode_records(members), len(members)))

    for topic, payload, retain in records:
        if retain:
            out.append(HubMessage(topic, payload, 1, True))
            continue
        stream = record_stream(topic)
        cur = open_.get(stream)
        if cur is None:
            cur = open_[stream] = ([], [0])
        members, size = cur
        members.append((topic, payload))
        size[0] += len(topic) + len(payload) + 2
        if len(members) >= RECORDS_PER_MESSAGE or size[0] >= BYTES_PER_MESSAGE:
            close(stream)
    for stream in list(open_):
        close(stream)
    return out


class HubPublisher(threading.Thread):
    def __init__(self, buffer: DurableBuffer, link: MqttLink, metrics: EdgeMetrics, stop: threading.Event) -> None:
        super().__init__(name="hub-publisher", daemon=True)
        self.buffer = buffer
        self.link = link
        self.metrics = metrics
        self.stop_event = stop
        self.wake = threading.Event()
        self._acked: list[int] = []  # mids, appended by the network thread
        self._lock = threading.Lock()
        self.inflight: dict[int, tuple[int, int, float]] = {}  # mid -> (message id, records, published at)
        self.inflight_records = 0
        self.cursor = 0

    def puback(self, mid: int) -> None:
        """Called on the network thread."""
        with self._lock:
            self._acked.append(mid)
        self.wake.set()

    def _settle(self) -> None:
        with self._lock:
            mids, self._acked = self._acked, []
        ids: list[int] = []
        records = 0
        for m in mids:
            sent = self.inflight.pop(m, None)
            if sent is not None:
                ids.append(sent[0])
                records += sent[1]
        if ids:
            self.inflight_records -= records
            self.buffer.ack_hub(ids)
            self.metrics.records_published.inc(records)

    def _resend_if_stuck(self) -> None:
        if not self.inflight:
            return
        oldest = min(t for _, _, t in self.inflight.values())
        if time.monotonic() - oldest > RESEND_AFTER_S:
            first = min(i for i, _, _ in self.inflight.values())
            log.warning("hub records not acknowledged in time; publishing them again",
                        extra={"records": self.inflight_records})
            self.inflight.clear()
            self.inflight_records = 0
            self.cursor = first - 1

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.wake.clear()
            self._settle()
            self._resend_if_stuck()
            room = WINDOW - self.inflight_records
            if self.link.connected.is_set() and room > 0:
                messages = self.buffer.hub_messages(self.cursor, room)
                for m in messages:
                    mid = self.link.publish(m.topic, m.payload, m.retain)
                    self.inflight[mid] = (m.id, m.records, time.monotonic())
                    self.inflight_records += m.records
                    self.cursor = m.id
                if messages:
                    continue
            self.wake.wait(0.2)
        self._settle()
