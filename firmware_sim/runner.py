"""The live simulator process: virtual clock, wires to the broker and the serial lines, control server.

The loop processes whatever the engine has due by the virtual clock, then sleeps until the next
action (at most half a second), so an idle hospital costs almost no CPU.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_sim.clock import SimClock, VirtualClock
from firmware_sim.devices.charger import ChargerSim
from firmware_sim.devices.serial_probe import SerialProbeSim
from firmware_sim.engine import SimOptions, Simulation
from firmware_sim.control import ControlServer
from firmware_sim.inbox import Inbox
from firmware_sim.links.modbus_bus import ModbusBus
from firmware_sim.links.mqtt_link import MqttLink, load_credentials
from firmware_sim.links.pty import LineWriter, PtyPair
from floorops.aio import wait_event
from floorops.config import Config
from floorops.mqtt_client import endpoint
from floorops.site import Site

log = logging.getLogger(__name__)


@dataclass
class LiveEmitter:
    """Routes device output to MQTT connections and serial lines."""

    mqtt_link: MqttLink | None = None
    lines: dict[str, LineWriter] = field(default_factory=dict)

    def mqtt(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> bool | None:
        if self.mqtt_link is not None:
            return self.mqtt_link.publish(device_id, topic, payload, retain, qos)
        return None

    def serial(self, device_id: str, data: bytes) -> None:
        w = self.lines.get(device_id)
        if w is not None:
            w.write(data)

    def power(self, device_id: str, on: bool, ts_ms: int) -> None:
        if self.mqtt_link is not None:
            self.mqtt_link.power(device_id, on, ts_ms)


def parse_start(text: str, site: Site) -> int:
    """``--start`` (ISO 8601, local to the site when it has no offset) to epoch ms; empty is now."""
    if not text:
        return int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=site.tz)
    return int(t.timestamp() * 1000)


class LiveSimulator:
    """Everything ``python -m firmware_sim run`` starts, and stops again."""

    def __init__(self, cfg: Config, site: Site, options: SimOptions, start_ms: int, with_mqtt: bool = True,
                 clock: SimClock | None = None) -> None:
        self.cfg = cfg
        self.site = site
        self.options = options
        # The centre's clock (make run), or the simulator's own from start_ms at options.speed (tests, benches).
        self.clock: SimClock = clock or VirtualClock(start_ms, options.speed)
        self.emitter = LiveEmitter()
        self.sim = Simulation(site, start_ms, self.emitter, options)
        self.with_mqtt = with_mqtt
        self.pairs: list[PtyPair] = []
        self.buses: list[ModbusBus] = []
        # The hospital's mail server (sim.smtp_port; 0: none) and robots, where the hub's pages arrive.
        self.inbox = Inbox(self.clock.now_ms, cfg.sim.dingtalk_secret)
        self.control = ControlServer(self.sim, self.clock.now_ms, "127.0.0.1", cfg.sim.control_port, self.inbox)
        self._stop = asyncio.Event()

    def _serial_paths(self, port: str) -> tuple[Path, Path]:
        base = self.cfg.path(self.cfg.sim.serial_dir)
        return base / port, base / ".sim" / port

    async def start(self) -> None:
        cfg = self.cfg
        self.sim.warm_up()  # before any port opens: nobody waits on a busy loop
        if self.with_mqtt:
            creds = load_credentials(cfg.path(cfg.hub.credentials_file))
            # Devices are on the hospital LAN: TLS to the broker's TLS listener, trusting the CA (sim.mqtt_tls).
            ep = endpoint(cfg, tls=cfg.tls.enabled and cfg.sim.mqtt_tls)
            link = MqttLink(self.site.id, creds, ep.host, ep.port, cfg.mqtt.keepalive_s, self.clock.now_ms,
                            cafile=ep.cafile)
            for dev in self.sim.devices.values():
                if dev.device.transport == "mqtt":
                    link.register(dev.id, dev.device.kind, dev.device.kind in self.site.kinds.commanded_names)
            self.emitter.mqtt_link = link
        buses: dict[str, list[ChargerSim]] = {}
        for dev in self.sim.devices.values():
            if isinstance(dev, SerialProbeSim):
                pair = PtyPair(*self._serial_paths(dev.device.port or dev.id)).start()
                self.pairs.append(pair)
                self.emitter.lines[dev.id] = LineWriter(pair)
            elif isinstance(dev, ChargerSim):
                buses.setdefault(dev.device.port or "rs485", []).append(dev)
        for port, chargers in sorted(buses.items()):
            pair = PtyPair(*self._serial_paths(port)).start()
            self.pairs.append(pair)
            bus = ModbusBus(str(pair.sim_path), chargers)
            await bus.start()
            self.buses.append(bus)
        await self.control.start()
        if cfg.sim.smtp_port:
            await self.inbox.start_smtp("127.0.0.1", cfg.sim.smtp_port)
        self.sim.start()
        log.info("simulator running", extra={"site": self.site.id, "speed": self.options.speed,
                                             "seed": self.options.seed, "devices": len(self.sim.devices)})

    async def run_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.sim.advance_to(self.clock.now_ms())
            link = self.emitter.mqtt_link
            while link is not None and link.inbox:  # commands the screens received (paho's threads)
                device_id, payload = link.inbox.popleft()
                self.sim.command(device_id, payload, self.clock.now_ms())
            delay = min(0.5, self.clock.wall_delay_s(self.sim.next_due_ms()))
            await wait_event(self._stop, max(delay, 0.005))

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        await self.control.stop()
        await self.inbox.stop_smtp()
        for bus in self.buses:
            await bus.stop()
        if self.emitter.mqtt_link is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.emitter.mqtt_link.close,
                                                             self.cfg.sim.devices_off_on_stop)
        for w in self.emitter.lines.values():
            w.close()
        for pair in self.pairs:
            pair.stop()
        log.info("simulator stopped", extra={"counts": self.sim.counts})


async def run_live(cfg: Config, site: Site, options: SimOptions, start_ms: int, clock: SimClock | None = None) -> None:
    live = LiveSimulator(cfg, site, options, start_ms, clock=clock)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, live.request_stop)
    try:
        await live.start()
        await live.run_until_stopped()
    finally:
        await live.stop()


def options_from(cfg: Config, **overrides: Any) -> SimOptions:
    s = cfg.sim
    opt = SimOptions(
        seed=int(s.seed), speed=float(s.speed), faults_per_device_day=float(s.faults_per_device_day),
        bad_input_per_device_hour=float(s.bad_input_per_device_hour), repair_min=float(s.repair_min),
        truth_csv=cfg.path(s.truth_file) if s.truth_file else None,
    )
    for k, v in overrides.items():
        if v is not None:
            setattr(opt, k, v)
    return opt
