"""The edge agent: wires inputs, the ingest pipeline, the durable buffer and the outputs together.

Threads: paho's network thread (MQTT in/out), one per serial port and Modbus bus, the ingest thread (the
pipeline and the buffer commit), the hub publisher; the asyncio loop runs the InfluxDB writer, timers and
the metrics server. They meet at two places only: the bounded intake queue and the durable buffer.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path

from floorops import retention
from floorops.aio import wait_event
from floorops.config import Config
from floorops.clock import clock_of
from floorops.influx import InfluxClient
from floorops.site import Site, site_of

from edge.buffer import BufferFull, DurableBuffer, Dropped, is_disk_full
from edge.deadletters import DeadLetterStore
from edge.intake import Intake
from edge.inputs.modbus import ModbusBusPoller
from edge.inputs.mqtt import MqttLink
from edge.inputs.serial_probe import SerialProbeReader
from edge.metrics import EdgeMetrics, start_metrics_server
from edge.outputs.hub import HubPublisher, pack_records
from edge import calibration_store, flow_calibration
from edge.outputs.influx import InfluxWriter
from edge.pipeline import Batch, Item, Pipeline, Tick
from edge.processors.flows import FlowSettings
from edge.processors.privacy import MacHasher

log = logging.getLogger(__name__)

INTAKE_MAX_ITEMS = 20_000  # bounded: a full queue blocks the inputs (backpressure), it never grows
BATCH_MAX_ITEMS = 5_000
PROBE_CHECK_S = 5.0
FULL_RETRY_S = 0.5  # a full buffer is tried again this often: cheap, and the edge resumes soon after space returns


class EdgeAgent:
    def __init__(self, cfg: Config, site: Site | None = None) -> None:
        self.cfg = cfg
        e = cfg.edge
        self.site = site or site_of(cfg)
        self.clock = clock_of(cfg.clock, self.site.tz)  # the centre's clock (floorops/clock.py)
        self.metrics = EdgeMetrics()
        self.intake: Intake[Item] = Intake(INTAKE_MAX_ITEMS)
        self.buffer = DurableBuffer(cfg.path(e.buffer_path), e.buffer_max_rows, max_bytes=e.buffer_max_bytes)
        self.deadletters = DeadLetterStore(cfg.path(e.deadletter_path), e.deadletter_max_rows)
        self.hasher = MacHasher(cfg.path(e.mac_key_dir), self.site.tz)
        self.hasher.rotate_if_needed()
        self.calibration = self._load_calibration()
        self.flow_settings = FlowSettings.of(e)
        self.flow_calibration = self._load_flow_calibration()
        self.pipeline = Pipeline(
            self.site, self.hasher, self.metrics, clock_skew_bound_s=e.clock_skew_bound_s,
            occupancy_window_s=e.occupancy_window_s, occupancy_rssi_min=e.occupancy_rssi_min,
            estimator=self.calibration.estimator, now_ms=self.clock.now_ms,
            flows=self.flow_settings, flow_detection=self.flow_calibration.detection,
        )
        self.pipeline.restore(self.buffer.load_seq_state())
        self.stop_threads = threading.Event()
        self.link = MqttLink(cfg, self.site.kinds, self.intake.put_many, self._puback, on_connected=self._connected,
                             now_ms=self.clock.now_ms)
        self.publisher = HubPublisher(self.buffer, self.link, self.metrics, self.stop_threads)
        self.influx = InfluxClient(cfg.influx.url, cfg.influx.database, cfg.influx.username, cfg.influx.password,
                                   cfg.influx.timeout_s)
        self.writer = InfluxWriter(self.influx, self.buffer, self.deadletters, self.metrics,
                                   e.batch_max_points, e.batch_max_delay_s, retention.plan(cfg))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.threads: list[threading.Thread] = []
        self._ingest_done = threading.Event()
        self._ingest_thread: threading.Thread | None = None
        self.store_errors = 0
        self.buffer_full = False  # True while batches are refused (quota or disk full); nothing is acknowledged
        m = self.metrics
        self.buffer_full_total = m.counter_of("edge_buffer_full_events_total",
                                              "Times the buffer became full (quota or disk) and intake stopped",
                                              "reason")
        m.gauge("edge_buffer_bytes", "Bytes of points and records in the durable buffer (against buffer_max_bytes)",
                lambda: self.buffer.pending_bytes)
        m.gauge("edge_buffer_full", "1 while the buffer is full and device messages are left with the broker",
                lambda: int(self.buffer_full))
        m.gauge("edge_buffered_points", "Points in the durable buffer not yet acknowledged by InfluxDB",
                lambda: self.buffer.pending_points)
        m.gauge("edge_buffered_records", "Hub records in the durable buffer not yet acknowledged",
                lambda: self.buffer.pending_records)
        m.gauge("edge_intake_queue", "Items waiting for the ingest thread", lambda: self.intake.qsize())
        m.gauge("edge_mqtt_connected", "1 while connected to the broker", lambda: int(self.link.connected.is_set()))
        m.gauge("edge_store_errors_total", "Failed commits of a batch to the buffer (each retried)",
                lambda: self.store_errors)
        m.gauge("edge_influx_healthy", "1 while the last InfluxDB write succeeded", lambda: int(self.writer.healthy))

    # -- callbacks from other threads ----------------------------------------------------------------

    def _load_calibration(self) -> calibration_store.Loaded:
        """The occupancy calibration file, checked against the site and the window and RSSI bound it runs with.
        A file that does not fit never stops the edge: each problem is logged and counted, and the zones
        it concerns fall back to the global formula (edge/calibration_store.py)."""
        e = self.cfg.edge
        path = self.cfg.path(e.occupancy_calibration)
        loaded = calibration_store.load_for_site(path, self.site, e.occupancy_window_s, e.occupancy_rssi_min)
        problems = self.metrics.counter_of("edge_occupancy_calibration_problems_total",
                                           "Problems of the occupancy calibration file at start (each falls "
                                           "back to the global formula), by problem", "problem")
        for problem, message in loaded.problems:
            problems.inc(problem=problem)
            log.error("occupancy calibration: %s", message, extra={"problem": problem, "file": str(path)})
        if loaded.calibration is not None:
            cal = loaded.calibration
            log.info("occupancy calibration loaded", extra={
                "file": str(path), "site": cal.site, "fitted_at": cal.fitted_at, "zones": len(cal.zones),
                "heldout_mape_zone_minute": cal.heldout_mape.get("zone_minute")})
        return loaded

    def _load_flow_calibration(self) -> flow_calibration.LoadedFlows:
        """The share of wandering detours the edge sees, per zone; as the occupancy calibration, a file that
        does not fit never stops the edge: logged, counted, and wandering goes out as seen."""
        path = self.cfg.path(self.cfg.edge.flow_calibration)
        loaded = flow_calibration.load_for_site(path, self.site, self.flow_settings)
        problems = self.metrics.counter_of("edge_flow_calibration_problems_total",
                                           "Problems of the flow calibration file at start (the zones concerned "
                                           "publish wandering uncorrected), by problem", "problem")
        for problem, message in loaded.problems:
            problems.inc(problem=problem)
            log.error("flow calibration: %s", message, extra={"problem": problem, "file": str(path)})
        if loaded.calibration is not None:
            log.info("flow calibration loaded", extra={"file": str(path), "fitted_at": loaded.calibration.fitted_at,
                                                       "detection": loaded.detection})
        return loaded

    def _puback(self, mid: int) -> None:
        self.publisher.puback(mid)

    def _connected(self) -> None:
        self.publisher.wake.set()

    def _notify_writer(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.writer.notify)

    # -- ingest thread --------------------------------------------------------------------------------

    def _ingest(self) -> None:
        """Batch, process, commit durably, then acknowledge: the order that makes kill -9 safe."""
        while True:
            items = self.intake.get_batch(BATCH_MAX_ITEMS, timeout=0.1)
            if not items:
                if self.stop_threads.is_set():
                    break
                continue
            batch = self.pipeline.process(items)
            dropped = self._store(batch)
            if dropped is None:
                break
            if dropped.points or dropped.records:
                self.metrics.buffer_dropped.inc(dropped.points, what="points")
                self.metrics.buffer_dropped.inc(dropped.records, what="records")
            if batch.acks:
                self.link.ack(batch.acks)
            if batch.lines:
                self._notify_writer()
            if batch.records:
                self.publisher.wake.set()
        self._ingest_done.set()

    def _store(self, batch: Batch) -> Dropped | None:
        """Commit a batch durably, retrying until it works (a full buffer or disk, a locked file): until then
        nothing is acknowledged, so the broker keeps the messages and the inputs wait (backpressure).
        None: the agent is stopping while the buffer is full (the batch is not stored, not acknowledged)."""
        delay = 0.5
        messages = pack_records(batch.records, self.site.id, self.cfg.edge.agent_id)
        while True:
            try:
                if batch.deadletters:
                    self.deadletters.add(batch.deadletters)
                    batch.deadletters = []
                dropped = self.buffer.commit(batch.lines, messages, batch.seq_state)
                if self.buffer_full:
                    self._set_full(None)
                return dropped
            except BufferFull as exc:
                self._set_full(exc)
                if self.stop_threads.is_set():
                    return None  # stopping: the batch stays unacknowledged, the broker redelivers it
                time.sleep(FULL_RETRY_S)
            except Exception as exc:  # noqa: BLE001 - retried, never lost
                if is_disk_full(exc):  # the dead-letter store on a full disk
                    self._set_full(BufferFull("disk", str(exc)))
                    time.sleep(FULL_RETRY_S)
                    continue
                self.store_errors += 1
                log.error("cannot store a batch; retrying", extra={"error": f"{type(exc).__name__}: {exc}",
                                                                   "retry_s": delay})
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _set_full(self, exc: BufferFull | None) -> None:
        """Enter (``exc``) or leave (None) the full state: counted once per episode, logged, announced."""
        if (exc is not None) == self.buffer_full:
            return
        self.buffer_full = exc is not None
        if exc is not None:
            self.buffer_full_total.inc(reason=exc.reason)
            log.warning("edge buffer full: device messages stay with the broker until it drains",
                        extra={"reason": exc.reason, "error": str(exc), "buffered_bytes": self.buffer.pending_bytes,
                               "max_bytes": self.buffer.max_bytes})
        else:
            log.info("edge buffer has room again: taking device messages", extra={
                "buffered_bytes": self.buffer.pending_bytes, "buffered_points": self.buffer.pending_points})
        self.link.publish_status(buffer_full=self.buffer_full)

    # -- lifecycle ------------------------------------------------------------------------------------

    def _start_serial(self) -> None:
        e = self.cfg.edge
        for p in e.serial_probes:
            t = SerialProbeReader(str(p["path"]), int(p.get("baudrate", 115200)), self.intake.put, self.stop_threads)
            self.threads.append(t)
        for b in e.modbus:
            poller = ModbusBusPoller(str(b["path"]), int(b.get("baudrate", 9600)),
                                     [int(u) for u in b.get("units", [])], self.site,
                                     float(b.get("poll_s", e.modbus_poll_s)), self.intake.put, self.metrics,
                                     self.stop_threads, now_ms=self.clock.now_ms)
            self.threads.append(poller)

    async def _timers(self, stop: asyncio.Event) -> None:
        """Probe-silence checks every few seconds; occupancy every occupancy_publish_s."""
        every = self.cfg.edge.occupancy_publish_s
        next_occ = time.monotonic() + every
        next_check = time.monotonic() + PROBE_CHECK_S
        while not stop.is_set():
            delay = max(0.0, min(next_occ, next_check) - time.monotonic())
            await wait_event(stop, delay)
            if stop.is_set():
                break
            now = time.monotonic()
            publish = now >= next_occ
            if publish:
                next_occ = max(next_occ + every, now)
            if now >= next_check:
                next_check = now + PROBE_CHECK_S
            await asyncio.to_thread(self.intake.put, Tick(self.clock.now_ms(), publish))

    def healthy(self) -> bool:
        ingesting = self._ingest_thread is not None and self._ingest_thread.is_alive()
        return ingesting and self.link.connected.is_set() and self.writer.healthy and not self.buffer_full

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.loop.add_signal_handler(sig, self.stop_event.set)
            except (NotImplementedError, RuntimeError):
                pass
        runner = await start_metrics_server(self.metrics, self.cfg.edge.metrics_host, self.cfg.edge.metrics_port,
                                            self.healthy)
        self._ingest_thread = threading.Thread(target=self._ingest, name="ingest", daemon=True)
        self._ingest_thread.start()
        self.publisher.start()
        self._start_serial()
        for t in self.threads:
            t.start()
        self.link.start()
        log.info("edge agent running", extra={
            "agent_id": self.cfg.edge.agent_id, "site": self.site.id, "serial_probes": len(self.cfg.edge.serial_probes),
            "modbus_buses": len(self.cfg.edge.modbus), "buffered_points": self.buffer.pending_points,
            "buffered_records": self.buffer.pending_records, "metrics_port": self.cfg.edge.metrics_port})
        writer = asyncio.create_task(self.writer.run(self.stop_event))
        timers = asyncio.create_task(self._timers(self.stop_event))
        await self.stop_event.wait()
        log.info("edge agent stopping")
        # Inputs first, then let the ingest thread commit what it has, then a last flush attempt.
        self.link.pause_intake()
        self.stop_threads.set()
        for t in self.threads:
            t.join(timeout=3)
        await asyncio.to_thread(self._ingest_done.wait, 10)
        timers.cancel()
        await writer
        await self._final_flush()
        self.publisher.join(timeout=3)
        self.link.stop()
        await self.influx.close()
        await runner.cleanup()
        self.buffer.close()
        self.deadletters.close()
        log.info("edge agent stopped", extra={"buffered_points": self.buffer.pending_points,
                                              "buffered_records": self.buffer.pending_records})

    async def _final_flush(self, timeout_s: float = 5.0) -> None:
        """Best effort: whatever is not written stays in the buffer for the next start."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.writer.run(stop))
        deadline = time.monotonic() + timeout_s
        while self.buffer.pending_points and time.monotonic() < deadline and self.writer.healthy:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    def request_stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)


def run_agent(cfg: Config) -> None:
    Path(cfg.var_dir).mkdir(parents=True, exist_ok=True)
    asyncio.run(EdgeAgent(cfg).run())
