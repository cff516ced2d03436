"""The agent's own numbers in the Prometheus text format, served on ``/metrics`` (aiohttp).

Small on purpose (no client library): counters and gauges with labels, and a latency histogram.
Updates come from several threads; each is a dict update under the GIL plus a lock where a
read-modify-write must not interleave.
"""

from __future__ import annotations

import bisect
import threading
from typing import Callable

from aiohttp import web

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in pairs)
    return "{" + inner + "}"


class Counter:
    def __init__(self, name: str, help_: str) -> None:
        self.name, self.help = name, help_
        self.values: dict[tuple[tuple[str, str], ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self.values[key] = self.values.get(key, 0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0)

    def total(self) -> float:
        return sum(self.values.values())

    def render(self, kind: str = "counter") -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {kind}"]
        out += [f"{self.name}{_labels(k)} {v:g}" for k, v in sorted(self.values.items())]
        if not self.values:
            out.append(f"{self.name} 0")
        return out


class Gauge:
    """A value read when scraped (buffer sizes live in the buffer, not copied here)."""

    def __init__(self, name: str, help_: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help_, read

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {self.read():g}"]


class Histogram:
    def __init__(self, name: str, help_: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.buckets, value)
        with self._lock:
            self.counts[i] += 1
            self.sum += value
            self.count += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        acc = 0
        for b, c in zip(self.buckets, self.counts):
            acc += c
            out.append(f'{self.name}_bucket{{le="{b:g}"}} {acc}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        out += [f"{self.name}_sum {self.sum:g}", f"{self.name}_count {self.count}"]
        return out


class EdgeMetrics:
    """Every number the agent exposes; one instance per agent (no global registry)."""

    def __init__(self) -> None:
        self.messages_in = Counter("edge_messages_in_total", "Device messages received, by kind and transport")
        self.rejected = Counter("edge_rejected_total", "Device input rejected and dead-lettered, by reason")
        self.duplicates = Counter("edge_duplicates_total", "Messages dropped as repeats of a seen seq")
        self.gaps = Counter("edge_seq_gap_messages_total", "Messages missing according to seq gaps, by device")
        self.late = Counter("edge_seq_late_total", "Messages that arrived after a gap was counted")
        self.clock_corrected = Counter("edge_clock_corrected_total", "Messages whose device clock was corrected")
        self.points_written = Counter("edge_points_written_total", "Points acknowledged by InfluxDB")
        self.write_errors = Counter("edge_influx_write_errors_total", "Failed InfluxDB writes, by kind")
        self.records_published = Counter("edge_hub_records_acked_total", "Hub records acknowledged by the broker")
        self.buffer_dropped = Counter("edge_buffer_dropped_total", "Entries dropped because the buffer was full")
        self.occupancy_published = Counter("edge_occupancy_published_total", "Zone occupancy estimates published")
        self.modbus_polls = Counter("edge_modbus_polls_total", "Modbus polls, by result")
        self.write_latency = Histogram("edge_influx_write_seconds", "Duration of one InfluxDB write request")
        self.gauges: list[Gauge] = []

    def gauge(self, name: str, help_: str, read: Callable[[], float]) -> None:
        self.gauges.append(Gauge(name, help_, read))

    def render(self) -> str:
        lines: list[str] = []
        for c in (self.messages_in, self.rejected, self.duplicates, self.gaps, self.late, self.clock_corrected,
                  self.points_written, self.write_errors, self.records_published, self.buffer_dropped,
                  self.occupancy_published, self.modbus_polls):
            lines += c.render()
        lines += self.write_latency.render()
        for g in self.gauges:
            lines += g.render()
        return "\n".join(lines) + "\n"


async def start_metrics_server(metrics: EdgeMetrics, host: str, port: int,
                               healthy: Callable[[], bool]) -> web.AppRunner:
    async def handle_metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

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
