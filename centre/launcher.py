"""``make run``: the whole control centre on one machine, against the simulated hospital.

Starts Mosquitto and InfluxDB with data under ``var/``, provisions broker accounts for the edge, the hub
and every device of the site, creates the demo users, then starts the hub, the simulator and the edge
agent as child processes, prints where the console is and the demo passwords, and on Ctrl-C or SIGTERM
stops every process it started. A second run reuses ``var/``: its data, secrets and credentials.

A child that crashes (the broker, influxd, the hub, the edge or the simulator) is started again with
backoff (centre.supervision) and the hub is told (a ``component.restarted`` event, a crash-loop alarm):
one crash never stops the whole centre. Bootstrap steps (load-history, train) are not restarted.

The same class runs the stack for end-to-end and browser tests (tests/conftest.py), in a temporary
folder on free ports.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_sim.control import SYSTEMS as SIM_SYSTEMS
from floorops.clock import anchored, clock_of
from floorops.config import ClockConfig, Config, ConfigError, SystemCheck, dump_toml, load_config
from floorops.dynsec import DynsecClient, service_accounts
from floorops.logs import setup_logging
from floorops.mqtt_client import endpoint
from centre.services import (
    InfluxServer, ManagedProcess, MosquittoServer, ServiceError, free_port, tcp_open, wait_until,
)
from floorops.site import Site, site_of
from centre.supervision import Backoff, Notices, RestartHistory, describe_exit
from floorops import tls
from floorops.varperms import secure_var, write_private

log = logging.getLogger("centre.launcher")

LONG_RUNNING = ("hub", "edge", "simulator")  # children the launcher restarts (besides the two servers)


def _port_or_free(host: str, port: int, what: str) -> int:
    if port and not tcp_open(host, port):
        return port
    chosen = free_port(host)
    if port:
        log.warning("port busy, using another", extra={"service": what, "wanted": port, "port": chosen})
    return chosen


def _serving(proc: ManagedProcess, host: str, port: int) -> bool:
    """The process runs and listens on its port: ready."""
    return proc.running and tcp_open(host, port)


@dataclass
class ControlCentre:
    """The whole stack: servers, accounts, hub, edge, simulator."""

    cfg: Config
    with_simulator: bool = True
    bootstrap_models: bool = True
    python: str = sys.executable
    broker: MosquittoServer | None = None
    influx: InfluxServer | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    runtime_config: Path | None = None
    notify_source: str = ""  # the configured notify file (hub.notify_file) the demo's channels are added to
    # Restarts per component since start (``wait_restarted``); the supervisor threads update it.
    history: dict[str, RestartHistory] = field(default_factory=dict)
    notices: Notices | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopping: bool = False
    _stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _watchers: list[threading.Thread] = field(default_factory=list, repr=False)

    @property
    def var(self) -> Path:
        return Path(self.cfg.var_dir)

    @property
    def hub_url(self) -> str:
        scheme = "https" if self.cfg.hub.tls_cert else "http"
        return f"{scheme}://{self.cfg.hub.http_host}:{self.cfg.hub.http_port}"

    def _hub_get(self, path: str) -> int:
        """Status of a GET to the hub (over HTTPS: its certificate checked against the CA)."""
        ctx = None
        if self.cfg.hub.tls_cert:
            import ssl

            ctx = ssl.create_default_context(cafile=str(tls.ca_file(self.cfg)))
        with urllib.request.urlopen(f"{self.hub_url}{path}", timeout=1, context=ctx) as r:
            return int(r.status)

    @property
    def site(self) -> Site:
        return site_of(self.cfg)

    # -- secrets -------------------------------------------------------------------------------

    def _secrets(self) -> dict[str, Any]:
        path = self.var / "secrets.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault("broker_admin", secrets.token_urlsafe(18))
        data.setdefault("edge", secrets.token_urlsafe(18))
        data.setdefault("hub", secrets.token_urlsafe(18))
        data.setdefault("supervisor", secrets.token_urlsafe(18))
        data.setdefault("webhook", "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())  # hub.webhook_secret
        data.setdefault("dingtalk", "SEC" + secrets.token_hex(32))  # the simulated DingTalk robot's signing secret
        data.setdefault("users", {})
        write_private(path, json.dumps(data, indent=2))
        return data

    # -- steps ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Choose ports, fill credentials and serial paths into a runtime config (mode 600)."""
        self.var.mkdir(parents=True, exist_ok=True)
        secure_var(self.var)  # umask 077 for every child, and older files made private
        cfg = self.cfg
        sec = self._secrets()
        cfg.broker.admin_password = sec["broker_admin"]
        cfg.edge.mqtt_password = sec["edge"]
        cfg.hub.mqtt_password = sec["hub"]
        cfg.supervisor.mqtt_password = sec["supervisor"]
        cfg.hub.webhook_secret = cfg.hub.webhook_secret or sec["webhook"]
        cfg.mqtt.port = _port_or_free(cfg.mqtt.host, cfg.mqtt.port, "mosquitto")
        if cfg.tls.enabled:  # first start: the private CA and server certificate (floorops/tls.py)
            tls.ensure(cfg)
            cfg.mqtt.tls_port = _port_or_free(cfg.mqtt.tls_bind or "127.0.0.1", cfg.mqtt.tls_port, "mosquitto-tls")
        influx_host = cfg.influx.url.split("//", 1)[-1].split(":")[0]
        influx_port = _port_or_free(influx_host, int(cfg.influx.url.rsplit(":", 1)[-1]), "influxd")
        cfg.influx.url = f"http://{influx_host}:{influx_port}"
        cfg.influx.rpc_port = _port_or_free("127.0.0.1", cfg.influx.rpc_port, "influxd-rpc")
        cfg.edge.metrics_port = _port_or_free(cfg.edge.metrics_host, cfg.edge.metrics_port, "edge-metrics")
        cfg.sim.control_port = _port_or_free("127.0.0.1", cfg.sim.control_port, "sim-control")
        if self.with_simulator:  # the hospital's mail server and robots: where the hub's pages arrive
            cfg.sim.smtp_port = _port_or_free("127.0.0.1", cfg.sim.smtp_port, "sim-smtp")
            cfg.sim.dingtalk_secret = cfg.sim.dingtalk_secret or sec["dingtalk"]
            self.notify_source = self.notify_source or cfg.hub.notify_file
            cfg.hub.notify_file = str(demo_notify_file(cfg, Path(self.notify_source), self.var / "notify.runtime.toml"))
        # Stopping make run stops the control centre, not the hospital: had the simulated devices said
        # "offline", the edge and hub sessions would keep it, and the next start would raise an offline
        # alarm and ticket for every device.
        cfg.sim.devices_off_on_stop = False
        # One clock for every child: a demo clock's anchor is fixed here, once, and written into the runtime
        # config, so the hub, the edge and the simulator (and a restarted child) read the same site time.
        cfg.clock = anchored(cfg.clock)
        if tcp_open(cfg.hub.http_host, cfg.hub.http_port):
            raise ServiceError(
                f"port {cfg.hub.http_port} is in use; set FLOOROPS_HUB__HTTP_PORT to another port"
            )
        site = self.site
        serial_dir = cfg.path(cfg.sim.serial_dir)
        buses: dict[str, list[int]] = {}
        for d in site.devices:
            if d.transport != "modbus":
                continue
            buses.setdefault(d.port, []).append(d.unit_id)
        cfg.edge.modbus = [
            {"path": str(serial_dir / port), "baudrate": 9600, "units": sorted(units)} for port, units in buses.items()
        ]
        cfg.edge.serial_probes = [
            {"path": str(serial_dir / d.port), "baudrate": 115200}
            for d in site.devices if d.transport == "serial"
        ]
        if self.with_simulator and not cfg.systems.checks:
            cfg.systems.checks = demo_system_checks(cfg.sim.control_port)
        self.runtime_config = self.var / "floorops.runtime.toml"
        write_private(self.runtime_config, dump_toml(cfg))

    def start_servers(self) -> None:
        cfg = self.cfg
        self.broker = MosquittoServer(
            data_dir=cfg.path(cfg.broker.data_dir), port=cfg.mqtt.port, host=cfg.mqtt.host,
            admin_username=cfg.broker.admin_username, admin_password=cfg.broker.admin_password,
            max_queued_messages=cfg.broker.max_queued_messages,
            max_inflight_messages=cfg.broker.max_inflight_messages,
            autosave_interval_s=cfg.broker.autosave_interval_s,
            **_broker_tls(cfg),
            max_queued_bytes=cfg.broker.max_queued_bytes, max_packet_size=cfg.broker.max_packet_size,
            sys_interval_s=cfg.broker.sys_interval_s,
        ).start()
        self.influx = InfluxServer(
            data_dir=cfg.path(cfg.influx.data_dir), http_port=int(cfg.influx.url.rsplit(":", 1)[-1]),
            rpc_port=cfg.influx.rpc_port, database=cfg.influx.database,
        ).start()

    def provision(self) -> None:
        """Service accounts, every device of the site (except those removed), demo users. Idempotent."""
        from hub import provisioning  # the hub owns devices and users

        cfg = self.cfg
        site = self.site
        cred_path = cfg.path(cfg.hub.credentials_file)
        creds: dict[str, Any] = json.loads(cred_path.read_text()) if cred_path.exists() else {}
        with DynsecClient.for_config(cfg) as ds:
            # provision() may run without prepare() (tests): the account's password comes from var/ then.
            cfg.supervisor.mqtt_password = cfg.supervisor.mqtt_password or self._secrets()["supervisor"]
            # Every service account with its client id; an older var/'s accounts upgraded (floorops.dynsec).
            ds.harden(service_accounts(cfg, site.id))
            removed = provisioning.removed_device_ids(cfg)  # taken out of service: not brought back
            for device in site.devices:
                if device.id in removed:
                    continue
                if device.id not in creds:
                    creds[device.id] = provisioning.add_device(
                        cfg, device.id, device.kind, device.zone, dynsec=ds, site=site
                    )
                    write_private(cred_path, json.dumps(creds, indent=2))
                else:  # an account from an earlier run: today's ACLs for it (floorops.dynsec)
                    ds.refresh_device_role(site.id, device.kind, device.id, site.kinds)
        write_private(cred_path, json.dumps(creds, indent=2))
        sec = self._secrets()
        for username, role in provisioning.demo_accounts(cfg):
            password = sec["users"].setdefault(username, secrets.token_urlsafe(9))
            provisioning.ensure_user(cfg, username, role, password)
        write_private(self.var / "secrets.json", json.dumps(sec, indent=2))
        self.passwords = dict(sec["users"])

    def _spawn(self, name: str, *args: str) -> ManagedProcess | None:
        """Start a child, unless the centre is stopping (a late bootstrap step must not outlive it)."""
        assert self.runtime_config is not None
        env = dict(os.environ, FLOOROPS_CONFIG=str(self.runtime_config), PYTHONUNBUFFERED="1")
        with self._lock:
            if self._stopping:
                return None
            p = ManagedProcess(name, [self.python, *args], self.var / "logs" / f"{name}.log", env=env).start()
            self.processes.append(p)
        return p

    def start_components(self) -> None:
        conf = str(self.runtime_config)
        hub = self._spawn("hub", "-m", "hub", "--config", conf)
        assert hub is not None
        try:
            wait_until(lambda: self._hub_get("/healthz") in (200, 503), 60, "hub")
        except ServiceError:
            raise ServiceError(f"the hub did not start:\n{hub.log_tail()}") from None
        sim = self._spawn("simulator", "-m", "firmware_sim", "run", "--config", conf) if self.with_simulator else None
        edge = self._spawn("edge", "-m", "edge", "--config", conf)
        # Ready means ready: the simulator takes faults on its control port, the edge serves its metrics.
        for proc, host, port in ((sim, "127.0.0.1", self.cfg.sim.control_port),
                                 (edge, self.cfg.edge.metrics_host, self.cfg.edge.metrics_port)):
            if proc is None:
                continue
            try:
                wait_until(functools.partial(_serving, proc, host, port), 90, proc.name)
            except ServiceError:
                raise ServiceError(f"{proc.name} did not start:\n{proc.log_tail()}") from None
        if self.bootstrap_models and not any(self.cfg.path(self.cfg.models.dir).glob("*.skops")):
            threading.Thread(target=self._bootstrap_models, name="bootstrap-models", daemon=True).start()

    def _bootstrap_models(self) -> None:
        """First run: load simulated history into InfluxDB, then train the first forecasting model."""
        conf = str(self.runtime_config)
        for name, args in (
            ("load-history", ["-m", "firmware_sim", "load-history", "--weeks", "8", "--config", conf]),
            ("train", ["-m", "models", "train", "--config", conf]),
        ):
            p = self._spawn(name, *args)
            if p is None or p.proc is None:
                return
            rc = p.proc.wait()
            if rc != 0:
                if self._stopping:
                    return
                # The step's log says why in one line (train: exit 4 is too little history, see its --help).
                log.error("model bootstrap step failed; the hub serves forecasts once a model is trained",
                          extra={"step": name, "exit_code": rc, "log": str(p.log_path)})
                return
        log.info("first forecasting model trained; the hub picks it up at its next forecast")

    def start(self) -> "ControlCentre":
        try:
            self.prepare()
            self.start_servers()
            self.provision()
            self.open_notices()
            self.start_components()
            self.supervise()
        except BaseException:
            self.stop()
            raise
        return self

    # -- supervision -----------------------------------------------------------------------------

    def open_notices(self) -> None:
        """The launcher's broker client for supervision notices. Before the hub starts, it deletes the
        retained notices of an earlier run (centre.supervision), which the hub would take for news."""
        cfg = self.cfg
        ep = endpoint(cfg)
        self.notices = Notices(ep.host, ep.port, cfg.supervisor.mqtt_username,
                               cfg.supervisor.mqtt_password, self.site.id, cafile=ep.cafile)
        self.notices.clear(["mosquitto", "influxd", *LONG_RUNNING])

    def supervise(self) -> None:
        """One watcher thread per long-running child: a crash is followed by a restart, with backoff."""
        children = [p.name for p in self.processes if p.name in LONG_RUNNING]
        for name in ["mosquitto", "influxd", *children]:
            self.history.setdefault(name, RestartHistory())
            t = threading.Thread(target=self._watch, args=(name,), name=f"supervise-{name}", daemon=True)
            self._watchers.append(t)
            t.start()

    def component(self, name: str) -> ManagedProcess | None:
        """The process of a component as it runs now (a restart replaces a server's process)."""
        if name == "mosquitto":
            return self.broker.process if self.broker else None
        if name == "influxd":
            return self.influx.process if self.influx else None
        return next((p for p in self.processes if p.name == name), None)

    def _restart(self, name: str) -> None:
        """Start a component again; never once the centre is stopping (a stop never races a restart)."""
        if name in ("mosquitto", "influxd"):
            server = self.broker if name == "mosquitto" else self.influx
            assert server is not None
            if self._stop_event.is_set():
                return
            try:
                server.start()  # same ports, same data: clients reconnect by themselves
            finally:
                if self._stop_event.is_set():  # stop() ran while it was starting: it may have missed it
                    server.stop()
            return
        with self._lock:
            p = self.component(name)
            if self._stopping or p is None:
                return
            p.start()

    def _watch(self, name: str) -> None:
        sup = self.cfg.supervisor
        backoff = Backoff(sup.restart_initial_s, sup.restart_max_s, sup.steady_s)
        history = self.history[name]
        started = time.monotonic()
        unsteady = False  # restarted, and not yet run steady_s since
        while not self._stop_event.wait(0.1):
            p = self.component(name)
            if p is None:
                return
            if p.running:
                if unsteady and time.monotonic() - started >= sup.steady_s:
                    unsteady = False
                    log.info("component running steadily again", extra={"component": name,
                                                                         "restarts": history.restarts})
                    self._notify(name, "steady", restarts=history.restarts, up_s=round(time.monotonic() - started, 1))
                continue
            if self._stop_event.is_set():
                return
            exit_ = describe_exit(p.proc.returncode if p.proc else None)
            _kill_leftovers(p)
            delay = backoff.after_exit(time.monotonic() - started)
            log.warning("component exited; restarting it", extra={
                "component": name, **exit_, "restarts": history.restarts, "next_delay_s": delay,
                "log": str(p.log_path)})
            if self._stop_event.wait(delay):
                return
            try:
                self._restart(name)
            except (ServiceError, OSError) as exc:
                log.error("component restart failed; trying again", extra={"component": name, "error": str(exc)})
            started = time.monotonic()
            p = self.component(name)
            if self._stop_event.is_set() or p is None or not p.running:
                continue
            history.record(int(time.time() * 1000))
            unsteady = True
            log.info("component restarted", extra={"component": name, "pid": p.proc.pid if p.proc else None,
                                                   "restarts": history.restarts})
            self._notify(name, "restarted", **exit_, restarts=history.restarts, next_delay_s=delay,
                         recent_ms=list(history.recent_ms))

    def _notify(self, name: str, event: str, **data: Any) -> None:
        if self.notices is not None:
            self.notices.send(name, event, **data)

    def ready(self, name: str) -> bool:
        """Does the component serve again: its port answers (the hub's /healthz, influxd's /ping)?"""
        cfg = self.cfg
        try:
            if name == "hub":
                return self._hub_get("/healthz") in (200, 503)
            if name == "influxd":
                return self.influx is not None and self.influx.ping()
        except urllib.error.HTTPError as exc:  # 503: up, its broker sessions still reconnecting
            return name == "hub" and exc.code == 503
        except OSError:
            return False
        port = {"mosquitto": (cfg.mqtt.host, cfg.mqtt.port), "edge": (cfg.edge.metrics_host, cfg.edge.metrics_port),
                "simulator": ("127.0.0.1", cfg.sim.control_port)}[name]
        return tcp_open(*port)

    def restarts(self, name: str) -> int:
        """How many times the launcher has restarted ``name`` since it started."""
        h = self.history.get(name)
        return h.restarts if h else 0

    def wait_restarted(self, name: str, count: int = 1, timeout_s: float = 10.0) -> ManagedProcess:
        """Wait until ``name`` has been restarted ``count`` times (in total) and runs; its process."""
        wait_until(lambda: self.restarts(name) >= count and bool((p := self.component(name)) and p.running),
                   timeout_s, f"restart {count} of {name}")
        p = self.component(name)
        assert p is not None
        return p

    def inject(self, device: str, fault: str) -> None:
        subprocess.run(
            [self.python, "-m", "firmware_sim", "inject", device, fault, "--config", str(self.runtime_config)],
            check=True, capture_output=True, timeout=30,
        )

    def check_alive(self) -> list[str]:
        """Names of long-running children not running right now (the supervisor restarts them)."""
        return [p.name for p in self.processes if p.name in LONG_RUNNING and not p.running]

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._stop_event.set()
            processes, self.processes = self.processes, []
        for p in reversed(processes):
            p.stop()
        # A watcher that is starting a server again finishes (and stops it) first: nothing outlives stop().
        for t in self._watchers:
            t.join(5)
        for server in (self.influx, self.broker):
            if server is not None:
                server.stop()
        if self.notices is not None:
            self.notices.close()


def demo_system_checks(control_port: int) -> list[SystemCheck]:
    """The hub's checks of the simulated hospital's systems (firmware_sim/control.py, /systems/<name>): every
    10 s, so that ``python -m firmware_sim slow his 12`` shows as system_slow within seconds."""
    return [SystemCheck(name=name, kind="http", target=f"http://127.0.0.1:{control_port}/systems/{name}",
                        interval_s=10.0, timeout_s=20.0, keyword="ok") for name in SIM_SYSTEMS]


def demo_notify_file(cfg: Config, source: Path, out: Path) -> Path:
    """The notify file the hub reads under ``make run``: ``source`` (the chains, hub.notify_file) with channel
    sections pointing at the simulated hospital's mail server, WeCom and DingTalk robots and SMS gateway
    (firmware_sim/inbox.py), written to ``out``. A source that configures channels of its own is the site's
    choice: it is returned as it is. ConfigError when the result is not a valid notify file."""
    import tomllib

    from hub.notify.settings import parse_notify

    text = source.read_text(encoding="utf-8") if source.exists() else ""
    try:
        if tomllib.loads(text).get("channels"):
            return source
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    robots = f"http://127.0.0.1:{cfg.sim.control_port}"
    text = text.rstrip("\n") + f"""

# ---- Added by make run (centre/launcher.py): the simulated hospital's message services ----
# (python -m firmware_sim inbox shows what arrived; docs/notifications.md, "Trying it")
[channels.smtp]
host = "127.0.0.1"
port = {cfg.sim.smtp_port}
sender = "floorops@hospital.example"
tls = "none"

[channels.wecom]
url = "{robots}/cgi-bin/webhook/send?key=floorops-demo"
msgtype = "text"

[channels.dingtalk]
url = "{robots}/robot/send?access_token=floorops-demo"
secret = "{cfg.sim.dingtalk_secret}"
msgtype = "markdown"

[channels.sms]
url = "{robots}/sms"
body = '{{"to": "$phone", "text": "$text"}}'
"""
    parse_notify(tomllib.loads(text), None, str(out))  # what the hub would refuse, refused here
    write_private(out, text)
    return out


def inbox_line(centre: ControlCentre) -> str:
    """What ``make run`` prints about where the hub's pages go."""
    if centre.with_simulator and centre.cfg.hub.notify_file == str(centre.var / "notify.runtime.toml"):
        return (f"the simulated hospital's mail server 127.0.0.1:{centre.cfg.sim.smtp_port} and robots: "
                ".venv/bin/python -m firmware_sim inbox")
    return f"the channels of {centre.cfg.hub.notify_file}"


def clock_setting(base: ClockConfig, start: str | None, speed: float | None, date: str | None) -> ClockConfig:
    """``[clock]`` with the command line's ``--start/--speed/--date`` on top (make run DEMO_START=...);
    an empty ``--start ""`` leaves the configured one. Checked: ConfigError names what is wrong."""
    out = ClockConfig(start=start or base.start, speed=base.speed if speed is None else speed,
                      date=date or base.date, anchor=base.anchor)
    out.validate()
    return out


def clock_line(centre: ControlCentre) -> str:
    """What ``make run`` prints about the clock."""
    clock = clock_of(centre.cfg.clock, centre.site.tz)
    if not clock.demo:
        return "real time"
    d = clock.describe()
    return f"DEMO: the site's day started at {d['start']}, running x{clock.speed:g} (now {d['now'][:16]})"


def _broker_tls(cfg: Config) -> dict[str, Any]:
    """The broker's TLS listener settings (none when ``tls.enabled`` is false)."""
    if not cfg.tls.enabled:
        return {}
    files = tls.tls_files(cfg)
    return {"tls_port": cfg.mqtt.tls_port, "tls_bind": cfg.mqtt.tls_bind, "certfile": str(files.server_crt),
            "keyfile": str(files.server_key)}


def _kill_leftovers(p: ManagedProcess) -> None:
    """What a crashed child left running in its session (the simulator's socat lines): killed, so that
    its replacement starts clean and nothing outlives the centre. ``ManagedProcess`` starts each child
    in its own session, whose process group id is the child's pid."""
    if p.proc is None:
        return
    try:
        os.killpg(p.proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m centre.launcher",
        description="Run the whole FloorOps control centre against the simulated hospital (make run).",
    )
    parser.add_argument("--config", help="configuration file (default: floorops.toml)")
    parser.add_argument("--no-simulator", action="store_true", help="real devices only")
    parser.add_argument("--start", metavar="HH:MM",
                        help="a demo clock: the site's day starts at this local time (clock.start; default: real time)")
    parser.add_argument("--speed", type=float, metavar="X",
                        help="the demo clock runs X times real time (clock.speed; default 1)")
    parser.add_argument("--date", metavar="YYYY-MM-DD",
                        help="the site's date the demo clock starts on (clock.date; default: the site's today)")
    args = parser.parse_args(argv)
    os.umask(0o077)  # everything the centre writes under var/ is its owner's only (docs/security.md)
    try:
        cfg = load_config(args.config)
        cfg.clock = clock_setting(cfg.clock, args.start, args.speed, args.date)
    except ConfigError as exc:
        print(f"FloorOps could not start: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_level, "text", "launcher")
    centre = ControlCentre(cfg, with_simulator=not args.no_simulator)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        centre.start()
    except (ServiceError, OSError, subprocess.CalledProcessError) as exc:
        print(f"\nFloorOps could not start: {exc}", file=sys.stderr)
        return 1
    users = "\n".join(f"    {u:<14} {pw}" for u, pw in sorted(centre.passwords.items()))
    print(
        f"""
FloorOps is running against the simulated hospital.

  Console:   {centre.hub_url}/
  API:       {centre.hub_url}/api/openapi.json
  MQTT:      {cfg.mqtt.host}:{cfg.mqtt.port} (loopback, plain)  (device credentials: {cfg.path(cfg.hub.credentials_file)})
  MQTT TLS:  port {cfg.mqtt.tls_port if cfg.tls.enabled else "off"}  (CA: {tls.ca_file(cfg)})
  InfluxDB:  {cfg.influx.url}  database {cfg.influx.database}
  Logs:      {centre.var / 'logs'}/
  Pages:     {inbox_line(centre)}
  Clock:     {clock_line(centre)}

  Demo users (also in {centre.var / 'secrets.json'}, mode 600):
{users}

Ctrl-C stops everything.""",
        flush=True,
    )
    try:
        while not stopping.wait(1):
            pass  # a crashed child is restarted meanwhile, by the centre's supervisor threads
    finally:
        print("stopping FloorOps ...", file=sys.stderr, flush=True)
        centre.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
