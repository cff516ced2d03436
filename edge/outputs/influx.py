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

from floorops import retention
from floorops.influx import InfluxClient, InfluxWriteError

from edge.buffer import DurableBuffer, InfluxChunk
from edge.deadletters import DeadLetter, DeadLetterStore
from edge.metrics import EdgeMetrics

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 15.0


class InfluxWriter:
    def __init__(self, client: InfluxClient, buffer: DurableBuffer, deadletters: DeadLetterStore,
                 metrics: EdgeMetrics, batch_max_points: int, batch_max_delay_s: float,
                 policies: retention.RetentionPlan | None = None) -> None:
        self.client = client
        self.policies = policies
        self._policies_applied = policies is None
        self._sighting_prefix = retention.SIGHTING_MEASUREMENT.encode() + b","
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
        if not self._policies_applied:
            assert self.policies is not None
            try:  # before the first point: a point written into the wrong policy would be kept too long
                await retention.apply(self.client, self.policies)
            except InfluxWriteError as exc:
                log.error("InfluxDB retention policies not applied; points wait in the buffer",
                          extra={"error": str(exc)[:300]})
                raise InfluxWriteError(f"retention policies not applied: {exc}") from None
            self._policies_applied = True
        body = b"\n".join(c.body for c in chunks) + b"\n"
        rp = self.policies.sighting_rp if self.policies else None
        if rp is None:
            await self._write_lines(body, None, sum(c.n for c in chunks))
            return
        lines = [ln for ln in body.split(b"\n") if ln]
        sightings = [ln for ln in lines if ln.startswith(self._sighting_prefix)]
        others = [ln for ln in lines if not ln.startswith(self._sighting_prefix)]
        for group, group_rp in ((others, None), (sightings, rp)):
            if group:
                await self._write_lines(b"\n".join(group) + b"\n", group_rp, len(group))

    async def _write_lines(self, body: bytes, rp: str | None, n: int) -> None:
        started = time.perf_counter()
        try:
            await self.client.write(body, rp=rp)
        except InfluxWriteError as exc:
            if exc.status == 404:  # database missing (a fresh server): create it and try again later
                await self.client.create_database()
                self._policies_applied = self.policies is None
                raise
            if exc.retryable:
                raise
            await self._write_bisecting(body.split(b"\n"), str(exc), rp)
            return
        self.metrics.write_latency.observe(time.perf_counter() - started)
        self.metrics.points_written.inc(n)

    async def _write_bisecting(self, lines: list[bytes], error: str, rp: str | None = None) -> None:
        """Write what InfluxDB accepts, dead-letter the lines it refuses, one by one if need be."""
        lines = [ln for ln in lines if ln]
        if not lines:
            return
        try:
            await self.client.write(b"\n".join(lines) + b"\n", rp=rp)
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
        await self._write_bisecting(lines[:half], error, rp)
        await self._write_bisecting(lines[half:], error, rp)


async def _wait_any(event: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
