"""Buffered points out to InfluxDB: batched, gzip line protocol, retried with backoff.

The writer reads chunks from the durable buffer in order and deletes them only after InfluxDB answered
204, so an outage (or a crash of the agent) just leaves them there to be written later; the points'
device timestamps make a second write of the same point overwrite it. A batch flushes when it reaches
``batch_max_points`` or when its oldest point has waited ``batch_max_delay_s``.

If InfluxDB refuses a batch as bad data (4xx), the batch is split in halves until the offending lines
are alone; those are dead-lettered and everything around them is written.
"""

from __future__ import annotations

import asyncio
import logging
import time

from floorops.influx import InfluxClient, InfluxWriteError

from edge.buffer import DurableBuffer, InfluxChunk
from edge.deadletters import DeadLetter, DeadLetterStore
from edge.metrics import EdgeMetrics

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 15.0


class InfluxWriter:
    def __init__(self, client: InfluxClient, buffer: DurableBuffer, deadletters: DeadLetterStore,
                 metrics: EdgeMetrics, batch_max_points: int, batch_max_delay_s: float) -> None:
        self.client = client
        self.buffer = buffer
        self.deadletters = deadletters
        self.metrics = metrics
        self.batch_max_points = batch_max_points
        self.batch_max_delay_s = batch_max_delay_s
        self.wake = asyncio.Event()
        self.healthy = True
        self.last_error = ""

    def notify(self) -> None:
        """Called on the event loop when new points were committed."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = BACKOFF_MIN_S
        waiting_since: float | None = None
        while not stop.is_set():
            pending = self.buffer.pending_points
            if pending == 0:
                waiting_since = None
                self.wake.clear()
                await _wait_any(self.wake, stop, 1.0)
                continue
            now = time.monotonic()
            if waiting_since is None:
                waiting_since = now
            if pending < self.batch_max_points and now - waiting_since < self.batch_max_delay_s:
                self.wake.clear()
                await _wait_any(self.wake, stop, self.batch_max_delay_s - (now - waiting_since))
                continue
            chunks = await asyncio.to_thread(self.buffer.influx_chunks, 0, self.batch_max_points)
            if not chunks:
                waiting_since = None
                await asyncio.sleep(0.05)
                continue
            try:
                await self._write(chunks)
            except InfluxWriteError as exc:
                self.healthy = False
                self.last_error = str(exc)
                self.metrics.write_errors.inc(kind="retryable")
                log.warning("InfluxDB write failed; retrying", extra={"error": str(exc), "backoff_s": backoff,
                                                                      "pending_points": pending})
                await _wait_any(asyncio.Event(), stop, backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_MIN_S
            self.healthy = True
            await asyncio.to_thread(self.buffer.ack_influx, chunks)
            waiting_since = time.monotonic() if self.buffer.pending_points else None

    async def _write(self, chunks: list[InfluxChunk]) -> None:
        body = b"\n".join(c.body for c in chunks) + b"\n"
        n = sum(c.n for c in chunks)
        started = time.perf_counter()
        try:
            await self.client.write(body)
        except InfluxWriteError as exc:
            if exc.status == 404:  # database missing (a fresh server): create it and try again later
                await self.client.create_database()
                raise
            if exc.retryable:
                raise
            await self._write_bisecting(body.split(b"\n"), str(exc))
            return
        self.metrics.write_latency.observe(time.perf_counter() - started)
        self.metrics.points_written.inc(n)

    async def _write_bisecting(self, lines: list[bytes], error: str) -> None:
        """Write what InfluxDB accepts, dead-letter the lines it refuses, one by one if need be."""
        lines = [ln for ln in lines if ln]
        if not lines:
            return
        try:
            await self.client.write(b"\n".join(lines) + b"\n")
            self.metrics.points_written.inc(len(lines))
            return
        except InfluxWriteError as exc:
            if exc.retryable:
                raise
            error = str(exc)
        if len(lines) == 1:
            self.metrics.write_errors.inc(kind="rejected")
            self.metrics.rejected.inc(reason="influx_rejected")
            await asyncio.to_thread(self.deadletters.add, [DeadLetter.make("influxdb", "influx_rejected", error,
                                                                           lines[0])])
            log.error("InfluxDB refused a point; dead-lettered", extra={"error": error[:300]})
            return
        half = len(lines) // 2
        await self._write_bisecting(lines[:half], error)
        await self._write_bisecting(lines[half:], error)


async def _wait_any(event: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
