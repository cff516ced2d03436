"""Hub records out: buffered EdgeRecords published at QoS 1, deleted from the buffer on PUBACK.

The broker's PUBACK is the hub's acknowledgement: from there the broker holds the record in the hub's
persistent session. A window bounds what is in flight; records whose PUBACK does not come (the
connection dropped and the session was lost) are published again, and the hub drops repeats by
(device, channel, seq).
"""

from __future__ import annotations

import logging
import threading
import time

from edge.buffer import DurableBuffer
from edge.inputs.mqtt import MqttLink
from edge.metrics import EdgeMetrics

log = logging.getLogger(__name__)

WINDOW = 2000  # records in flight at most
RESEND_AFTER_S = 30.0


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
        self.inflight: dict[int, tuple[int, float]] = {}  # mid -> (row id, published at)
        self.cursor = 0

    def puback(self, mid: int) -> None:
        """Called on the network thread."""
        with self._lock:
            self._acked.append(mid)
        self.wake.set()

    def _settle(self) -> None:
        with self._lock:
            mids, self._acked = self._acked, []
        ids = [self.inflight.pop(m)[0] for m in mids if m in self.inflight]
        if ids:
            self.buffer.ack_hub(ids)
            self.metrics.records_published.inc(len(ids))

    def _resend_if_stuck(self) -> None:
        if not self.inflight:
            return
        oldest = min(t for _, t in self.inflight.values())
        if time.monotonic() - oldest > RESEND_AFTER_S:
            first = min(row for row, _ in self.inflight.values())
            log.warning("hub records not acknowledged in time; publishing them again",
                        extra={"records": len(self.inflight)})
            self.inflight.clear()
            self.cursor = first - 1

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.wake.clear()
            self._settle()
            self._resend_if_stuck()
            room = WINDOW - len(self.inflight)
            if self.link.connected.is_set() and room > 0:
                rows = self.buffer.hub_rows(self.cursor, room)
                for row in rows:
                    mid = self.link.publish(row.topic, row.payload, row.retain)
                    self.inflight[mid] = (row.id, time.monotonic())
                    self.cursor = row.id
                if rows:
                    continue
            self.wake.wait(0.2)
        self._settle()
