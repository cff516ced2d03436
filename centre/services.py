"""Run the real Mosquitto and InfluxDB servers the way a hospital would configure them.

Used by ``make run`` (centre.launcher) and by the test fixtures (tests/conftest.py), so that the
configuration tested is the configuration shipped. Each server gets its own folder for config and
data; nothing is written outside it.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from floorops.dynsec import DEFAULT_ACL_ACCESS

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A server could not be configured or did not come up."""


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10_000  # below: ports that well-known services are configured on


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux's default when it cannot be read)."""
    try:
        lo, hi = (int(x) for x in path.read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


# Ports free_port has handed out in this process: a memo, so that several ports picked before any server
# binds them differ. It only ever grows, and nothing needs to reset it.
_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing uses right now, for a server started a moment later.

    Outside the kernel's ephemeral range: a port from that range (what binding port 0 gives) can be taken
    meanwhile by any process's outgoing connection, and the server then fails with "address already in
    use" (seen in CI). Chosen at random, never the same twice in this process."""
    lo, hi = ephemeral_range()
    ranges = [(a, b) for a, b in ((LOWEST_PORT, lo - 1), (hi + 1, 65535)) if a <= b] or [(LOWEST_PORT, 65535)]
    total = sum(b - a + 1 for a, b in ranges)
    rng = random.SystemRandom()
    for _ in range(500):
        n = rng.randrange(total)
        for a, b in ranges:
            if n <= b - a:
                port = a + n
                break
            n -= b - a + 1
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise ServiceError(f"no free TCP port on {host} outside the ephemeral range {lo}-{hi}")


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(interval_s)
    raise ServiceError(f"{what} did not become ready within {timeout_s:.0f} s")


def tcp_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass
class ManagedProcess:
    """A child process with its log file; ``stop()`` is SIGTERM, then SIGKILL after a grace period."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            list(self.argv), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, cwd=self.cwd, start_new_session=True,
        )
        logf.close()
        log.info("started", extra={"service": self.name, "pid": self.proc.pid})
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def stop(self, grace_s: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """``kill -9``: no chance to flush anything."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def require_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        raise ServiceError(f"{name} is not installed (make install-system installs it)")
    return path


# ---------------------------------------------------------------------------------------------
# Mosquitto


def dynsec_plugin_path() -> str:
    found = sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")) + sorted(
        glob.glob("/usr/lib/mosquitto_dynamic_security.so")
    )
    if not found:
        raise ServiceError("mosquitto_dynamic_security.so not found (Debian package mosquitto)")
    return found[0]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass
class MosquittoServer:
    """Mosquitto with per-client credentials and ACLs from the dynamic security plugin.

    What makes it lossless and private, each set on purpose:
    - ``allow_anonymous false``: every device and component has its own username and password;
    - dynamic security: default ACL denies publishing and subscribing, each client gets a role that
      allows only its own topics, and changes apply at run time (no restart when a device is added);
      the admin role is cut down to administering dynsec only, so it reads no device traffic;
    - ``max_queued_messages`` / ``max_queued_bytes``: a bounded queue per persistent session, sized so the
      edge's and the hub's sessions ride out the outages the reliability tests cover (the arithmetic is in
      docs/security.md "Broker"); Mosquitto's default of 1000 messages drops QoS 1 messages under load;
      an overflow is counted in ``$SYS/broker/publish/messages/dropped`` (every ``sys_interval``), which
      the hub turns into the ``broker_dropping`` alarm;
    - ``max_packet_size``: the device contract's largest payload (256 KiB) plus room for topic and
      headers; a bigger packet disconnects its sender and is never delivered;
    - ``persistence`` with a short ``autosave_interval``: queued messages of persistent sessions survive
      a broker restart (the default saves every 30 minutes);
    - TLS: the plain listener is bound to loopback only (passwords and payloads never cross the LAN in
      clear); devices and remote components use the TLS listener on ``tls_port`` (floorops/tls.py).
    """

    data_dir: Path
    port: int
    admin_username: str
    admin_password: str
    host: str = "127.0.0.1"
    max_queued_messages: int = 2_000_000
    max_queued_bytes: int = 268_435_456
    max_packet_size: int = 327_680
    max_inflight_messages: int = 1000
    autosave_interval_s: int = 10
    sys_interval_s: int = 10
    # For a broker in another container (docker-compose): its plugin path, user and data path there.
    plugin_path: str = ""
    run_as: str = ""
    data_dir_in_broker: str = ""
    # TLS listener (0: none), on ``tls_bind`` (empty: every address), with the server certificate and key
    # as paths the broker reads.
    tls_port: int = 0
    tls_bind: str = ""
    certfile: str = ""
    keyfile: str = ""
    process: ManagedProcess | None = None

    def _tls_lines(self) -> list[str]:
        """The TLS listener block; the plain listener must be loopback-only (checked here)."""
        if not _is_loopback(self.host):
            raise ServiceError(f"the plain MQTT listener must be bound to loopback, not {self.host}: "
                               "devices and other hosts use the TLS listener (mqtt.tls_port)")
        if not self.tls_port:
            return []
        if not (self.certfile and self.keyfile):
            raise ServiceError("a TLS listener needs certfile and keyfile (floorops.tls.ensure)")
        return [f"listener {self.tls_port} {self.tls_bind}".rstrip(), f"certfile {self.certfile}",
                f"keyfile {self.keyfile}", "tls_version tlsv1.2"]

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def dynsec_path(self) -> Path:
        return self.data_dir / "dynamic-security.json"

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        if not self.dynsec_path.exists():
            self._init_dynsec()
        user = self.run_as or pwd.getpwuid(os.geteuid()).pw_name
        where = self.data_dir_in_broker.rstrip("/") or str(self.data_dir)
        self.conf_path.write_text(
            "\n".join(
                [
                    "# Generated by FloorOps (centre/services.py); edits are overwritten.",
                    # Keep the identity of whoever started it: under make run and the tests that is the
                    # owner of var/ or of the temporary folder (Mosquitto would otherwise switch to
                    # the 'mosquitto' user, which cannot read them). Production: docker-compose.yml.
                    f"user {user}",
                    "per_listener_settings false",
                    "allow_anonymous false",
                    f"listener {self.port} {self.host}",
                    *self._tls_lines(),
                    f"plugin {self.plugin_path or dynsec_plugin_path()}",
                    f"plugin_opt_config_file {where}/dynamic-security.json",
                    "persistence true",
                    f"persistence_location {where}/",
                    f"autosave_interval {self.autosave_interval_s}",
                    f"max_queued_messages {self.max_queued_messages}",
                    f"max_queued_bytes {self.max_queued_bytes}",
                    f"max_packet_size {self.max_packet_size}",
                    f"max_inflight_messages {self.max_inflight_messages}",
                    f"sys_interval {self.sys_interval_s}",
                    "set_tcp_nodelay true",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "connection_messages true",
                    "",
                ]
            )
        )

    def _init_dynsec(self) -> None:
        ctrl = require_binary("mosquitto_ctrl")
        subprocess.run(
            [ctrl, "dynsec", "init", str(self.dynsec_path), self.admin_username, self.admin_password],
            check=True, capture_output=True,
        )
        data = json.loads(self.dynsec_path.read_text())
        data["defaultACLAccess"] = {a["acltype"]: a["allow"] for a in DEFAULT_ACL_ACCESS}  # receive denied too
        for role in data.get("roles", []):
            if role.get("rolename") == "admin":
                role["acls"] = [a for a in role["acls"] if a["topic"].startswith("$CONTROL/dynamic-security")]
        self.dynsec_path.write_text(json.dumps(data, indent=2))
        os.chmod(self.dynsec_path, 0o600)

    def start(self, timeout_s: float = 15.0) -> "MosquittoServer":
        self.write_config()
        self.process = ManagedProcess(
            "mosquitto", [require_binary("mosquitto"), "-c", str(self.conf_path)], self.data_dir / "mosquitto.log"
        ).start()
        try:
            wait_until(lambda: self.process is not None and self.process.running and tcp_open(self.host, self.port)
                       and (not self.tls_port or tcp_open(self.tls_bind or "127.0.0.1", self.tls_port)), timeout_s, "mosquitto")
        except ServiceError:
            raise ServiceError(f"mosquitto did not start:\n{self.process.log_tail()}") from None
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()


# ---------------------------------------------------------------------------------------------
# InfluxDB 1.x


@dataclass
class InfluxServer:
    """``influxd`` (1.x) serving the 1.x HTTP API on loopback, data in ``data_dir``."""

    data_dir: Path
    http_port: int
    rpc_port: int
    database: str = "floorops"
    host: str = "127.0.0.1"
    retention_check_interval: str = "30m"  # how often influxd deletes expired shards (tests set it short)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "influxdb.conf"

    def write_config(self) -> None:
        d = self.data_dir
        d.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(
            f"""# Generated by FloorOps (centre/services.py); edits are overwritten.
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d}/meta"

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  index-version = "tsi1"

[coordinator]
  query-timeout = "30s"

[http]
  enabled = true
  bind-address = "{self.host}:{self.http_port}"
  log-enabled = false
  max-body-size = 50000000

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  log-enabled = false

[retention]
  enabled = true
  check-interval = "{self.retention_check_interval}"
"""
        )

    def ping(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
            return r.status == 204

    def query(self, q: str, method: str = "GET") -> dict:
        params = urllib.parse.urlencode({"q": q, "db": self.database, "epoch": "ms"})
        req = urllib.request.Request(f"{self.url}/query?{params}", method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def start(self, timeout_s: float = 60.0) -> "InfluxServer":
        self.write_config()
        self.process = ManagedProcess(
            "influxd", [require_binary("influxd"), "-config", str(self.conf_path)], self.data_dir / "influxd.log"
        ).start()
        try:
            wait_until(lambda: self.process is not None and self.process.running and self.ping(), timeout_s, "influxd")
        except ServiceError:
            raise ServiceError(f"influxd did not start:\n{self.process.log_tail()}") from None
        self.query(f'CREATE DATABASE "{self.database}"', method="POST")
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop(grace_s=20)
