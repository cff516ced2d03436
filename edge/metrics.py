"""The agent's own numbers for Prometheus, served on ``/metrics`` (aiohttp), backed by prometheus_client.

Each :class:`EdgeMetrics` owns its ``CollectorRegistry``: tests run many agents in one process, and the
library's global default registry would refuse a second metric of the same name. The rest of the edge keeps
its call style (``metrics.rejected.inc(reason="bad_json")``); prometheus_client does the storage, the
locking and the text format.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("edge.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

LabelKey = tuple[tuple[str, Any], ...]


class LabelledCounter:
    """A prometheus_client ``Counter`` with the edge's call style: ``inc(amount=1, **labels)``.

    The labelled child is cached per label tuple as the call site passes it, so the hot path (one ``inc``
    per device message) pays one dict lookup and the library's locked add, not its label validation.
    """

    __slots__ = ("name", "labelnames", "counter", "_children")

    def __init__(self, name: str, help_: str, labelnames: tuple[str, ...], registry: CollectorRegistry) -> None:
        self.name = name  # as exposed, with the ``_total`` that prometheus_client appends to the base name
        self.labelnames = labelnames
        self.counter = Counter(name.removesuffix("_total"), help_, labelnames, registry=registry)
        self._children: dict[LabelKey, Counter] = {} if labelnames else {(): self.counter}

    def inc(self, amount: float = 1, **labels: Any) -> None:
        key = tuple(labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._child(labels, key)
        child.inc(amount)

    def _child(self, labels: dict[str, Any], key: LabelKey) -> Counter:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} is counted by {list(self.labelnames) or 'no labels'}, "
                             f"not by {sorted(labels) or 'no labels'}")
        child = self.counter.labels(**labels)
        self._children[key] = child  # a race only stores the same child twice (labels() is locked)
        return child

    def _samples(self) -> list[tuple[dict[str, str], float]]:
        return [(s.labels, s.value) for family in self.counter.collect() for s in family.samples
                if s.name == self.name]

    def get(self, **labels: Any) -> float:
        """The count for exactly these labels (0 when never counted)."""
        want = {k: str(v) for k, v in labels.items()}
        return next((v for got, v in self._samples() if got == want), 0.0)

    def total(self) -> float:
        """The count summed over every label set."""
        return sum(v for _, v in self._samples())


class EdgeMetrics:
    """Every number the agent exposes; one instance per agent, with its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def counter(name: str, help_: str, *labelnames: str) -> LabelledCounter:
            return LabelledCounter(name, help_, labelnames, self.registry)

        self.messages_in = counter("edge_messages_in_total", "Device messages received, by kind and transport",
                                   "kind", "transport")
        self.rejected = counter("edge_rejected_total", "Device input rejected and dead-lettered, by reason", "reason")
        self.duplicates = counter("edge_duplicates_total", "Messages dropped as repeats of a seen seq", "kind")
        self.gaps = counter("edge_seq_gap_messages_total", "Messages missing according to seq gaps, by device",
                            "device_id")
        self.late = counter("edge_seq_late_total", "Messages that arrived after a gap was counted", "kind")
        self.clock_corrected = counter("edge_clock_corrected_total", "Messages whose device clock was corrected",
                                       "kind")
        self.points_written = counter("edge_points_written_total", "Points acknowledged by InfluxDB")
        self.write_errors = counter("edge_influx_write_errors_total", "Failed InfluxDB writes, by kind", "kind")
        self.records_published = counter("edge_hub_records_acked_total", "Hub records acknowledged by the broker")
        self.buffer_dropped = counter("edge_buffer_dropped_total", "Entries dropped because the buffer was full",
                                      "what")
        self.occupancy_published = counter("edge_occupancy_published_total", "Zone occupancy estimates published")
        self.flows_published = counter("edge_flows_published_total", "Patient-flow intervals published (aggregates)")
        self.modbus_polls = counter("edge_modbus_polls_total", "Modbus polls, by result", "result")
        self.write_latency = Histogram("edge_influx_write_seconds", "Duration of one InfluxDB write request",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)

    def counter_of(self, name: str, help_: str, *labelnames: str) -> LabelledCounter:
        """A counter owned by another part of the agent, in this registry."""
        return LabelledCounter(name, help_, labelnames, self.registry)

    def gauge(self, name: str, help_: str, read: Callable[[], float]) -> None:
        """A value read when scraped (buffer sizes live in the buffer, not copied here)."""
        def guarded() -> float:
            try:
                return float(read())
            except Exception:  # noqa: BLE001 - one broken reading must not hide every other number
                log.warning("metric not readable", extra={"metric": name}, exc_info=True)
                return math.nan

        Gauge(name, help_, registry=self.registry).set_function(guarded)

    def render(self) -> str:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry).decode("utf-8")


async def start_metrics_server(metrics: EdgeMetrics, host: str, port: int,
                               healthy: Callable[[], bool]) -> web.AppRunner:
    """``/metrics`` for Prometheus and ``/healthz`` (200/503) on the agent's own event loop."""
    async def handle_metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def handle_health(_: web.Request) -> web.Response:
        ok = healthy()
        return web.json_response({"ok": ok}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/healthz", handle_health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
