"""Hub records out: buffered EdgeRecords published at QoS 1 in batches, deleted from the buffer on PUBACK.

Records are joined into one message per stream (``floorops.topics.encode_records``): one QoS 1 message
per record cost the agent about 40 us of CPU each, as much as everything else it does with a message.
Devices' events and status go on the ``priority`` stream, the rest on ``stream``, so the hub reads faults
ahead of readings.

The broker's PUBACK is the hub's acknowledgement: from there the broker holds the batch in the hub's
persistent session. A window bounds how many records are in flight; records whose PUBACK does not come
(the connection dropped and the session was lost) are published again, and the hub drops repeats by
(device, channel, seq).
"""

from __future__ import annotations

import logging
import threading
import time

from floorops.topics import encode_records, record_stream, records_topic

from edge.buffer import DurableBuffer, HubRow
from edge.inputs.mqtt import MqttLink
from edge.metrics import EdgeMetrics

log = logging.getLogger(__name__)

WINDOW = 5000  # records in flight at most
RECORDS_PER_MESSAGE = 500
BYTES_PER_MESSAGE = 256 * 1024
RESEND_AFTER_S = 30.0


def batch_rows(rows: list[HubRow]) -> list[tuple[str, list[HubRow]]]:
    """Rows into (stream, rows) messages, in order within each stream, bounded in count and bytes.

    Retained rows (none today) go alone under their own topic: a batch cannot be retained per record."""
    out: list[tuple[str, list[HubRow]]] = []
    open_: dict[str, tuple[list[HubRow], list[int]]] = {}
    for row in rows:
        if row.retain:
            out.append(("", [row]))
            continue
        stream = record_stream(row.topic)
        cur = open_.get(stream)
        if cur is None:
            cur = open_[stream] = ([], [0])
            out.append((stream, cur[0]))
        members, size = cur
        members.append(row)
        size[0] += len(row.topic) + len(row.payload) + 2
        if len(members) >= RECORDS_PER_MESSAGE or size[0] >= BYTES_PER_MESSAGE:
            del open_[stream]
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
        self.inflight: dict[int, tuple[list[int], float]] = {}  # mid -> (row ids, published at)
        self.inflight_records = 0
        self.cursor = 0
        self.site = link.site
        self.agent_id = link.cfg.edge.agent_id

    def puback(self, mid: int) -> None:
        """Called on the network thread."""
        with self._lock:
            self._acked.append(mid)
        self.wake.set()

    def _settle(self) -> None:
        with self._lock:
            mids, self._acked = self._acked, []
        ids: list[int] = []
        for m in mids:
            rows = self.inflight.pop(m, None)
            if rows is not None:
                ids.extend(rows[0])
        if ids:
            self.inflight_records -= len(ids)
            self.buffer.ack_hub(ids)
            self.metrics.records_published.inc(len(ids))

    def _resend_if_stuck(self) -> None:
        if not self.inflight:
            return
        oldest = min(t for _, t in self.inflight.values())
        if time.monotonic() - oldest > RESEND_AFTER_S:
            first = min(ids[0] for ids, _ in self.inflight.values())
            log.warning("hub records not acknowledged in time; publishing them again",
                        extra={"records": self.inflight_records})
            self.inflight.clear()
            self.inflight_records = 0
            self.cursor = first - 1

    def _publish(self, stream: str, rows: list[HubRow]) -> None:
        if stream:
            payload = encode_records([(r.topic, r.payload) for r in rows])
            mid = self.link.publish(records_topic(self.site, self.agent_id, stream), payload)
        else:
            mid = self.link.publish(rows[0].topic, rows[0].payload, rows[0].retain)
        self.inflight[mid] = ([r.id for r in rows], time.monotonic())
        self.inflight_records += len(rows)
        self.cursor = max(self.cursor, rows[-1].id)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.wake.clear()
            self._settle()
            self._resend_if_stuck()
            room = WINDOW - self.inflight_records
            if self.link.connected.is_set() and room > 0:
                rows = self.buffer.hub_rows(self.cursor, room)
                for stream, members in batch_rows(rows):
                    self._publish(stream, members)
                if rows:
                    continue
            self.wake.wait(0.2)
        self._settle()
