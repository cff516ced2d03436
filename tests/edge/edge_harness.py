"""Helpers for the edge tests: an agent subprocess against real servers, device publishers, queries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from floorops.config import Config, dump_toml, load_config
from floorops.dynsec import DynsecClient, edge_acls, edge_client_id
from floorops.influx import query_sync
from centre.services import ManagedProcess, MosquittoServer, free_port, wait_until
from tests.sites import own_site


@dataclass
class EdgeHarness:
    """One edge agent (``python -m edge --config FILE``) wired to a broker and an InfluxDB database, on a site
    of its own (``make_config``): other tests' retained device statuses on the shared broker do not reach it."""

    cfg: Config
    broker: MosquittoServer
    influx_url: str
    database: str
    dir: Path
    process: ManagedProcess | None = None
    clients: list[mqtt.Client] = field(default_factory=list)
    credentials: dict[str, Any] = field(default_factory=dict)

    @property
    def site(self) -> str:
        """The edge's site id: its devices publish under ``hospital/<site>/``, it under ``floorops/<site>/``."""
        return self.cfg.site.id

    @property
    def config_path(self) -> Path:
        return self.dir / "edge.toml"

    def write_config(self) -> None:
        self.config_path.write_text(dump_toml(self.cfg))

    def start(self) -> "EdgeHarness":
        self.write_config()
        self.process = ManagedProcess(
            "edge", [sys.executable, "-m", "edge", "--config", str(self.config_path)], self.dir / "edge.log",
            cwd=Path(__file__).resolve().parents[2],
        ).start()
        wait_until(lambda: self.metric("edge_mqtt_connected") == 1, 30, "edge agent")
        return self

    def metrics_text(self) -> str | None:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.cfg.edge.metrics_port}/metrics", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    def samples(self, name: str) -> list[Sample]:
        """The running agent's samples of one metric (every label set), as Prometheus parses them."""
        text = self.metrics_text() or ""
        return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric over the label sets that carry ``labels`` (all of them when none is given)."""
        return sum(s.value for s in self.samples(name) if labels.items() <= s.labels.items())

    def query(self, q: str) -> list[dict[str, Any]]:
        return query_sync(self.influx_url, self.database, q)

    def count(self, measurement: str, where: str = "") -> int:
        series = self.query(f'SELECT count(*) FROM "{measurement}" {where}')
        if not series:
            return 0
        cols = series[0]["columns"]
        return max(int(v or 0) for c, v in zip(cols, series[0]["values"][0]) if c.startswith("count_"))

    def log_text(self) -> str:
        return (self.dir / "edge.log").read_text(errors="replace") if (self.dir / "edge.log").exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace_s=20)
        for c in self.clients:
            c.loop_stop()
            c.disconnect()
        self.clients.clear()

    def device(self, kind: str, device_id: str, dynsec: DynsecClient, protocol: int = mqtt.MQTTv311) -> mqtt.Client:
        """A connected publisher with the device's own broker account."""
        creds = self.credentials.get(device_id) or dynsec.provision_device(self.site, kind, device_id)
        self.credentials[device_id] = creds
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id, protocol=protocol)
        c.username_pw_set(creds.username, creds.password)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        connected = threading.Event()
        c.on_connect = lambda *a: connected.set()
        c.reconnect_delay_set(0.2, 2)
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        assert connected.wait(10), "device could not connect"
        self.clients.append(c)
        return c


def provision_edge(cfg: Config, broker: MosquittoServer) -> None:
    with DynsecClient("127.0.0.1", broker.port, broker.admin_username, broker.admin_password) as ds:
        ds.provision_service(cfg.edge.mqtt_username, cfg.edge.mqtt_password, edge_acls(cfg.site.id),
                             client_id=edge_client_id(cfg.edge.agent_id))


def make_config(tmp: Path, broker: MosquittoServer, influx_url: str, database: str, site: str | None = None,
                **edge: Any) -> Config:
    """An edge's configuration on site ``site`` (a fresh one when None; tests/sites.py), in ``tmp``."""
    cfg = load_config(env={})
    cfg.var_dir = str(tmp / "var")
    own_site(cfg, tmp, site)
    cfg.mqtt.port = broker.port
    cfg.influx.url = influx_url
    cfg.influx.database = database
    cfg.edge.mqtt_username = f"floorops-edge-{tmp.name[-12:]}"
    cfg.edge.mqtt_password = "pw-" + tmp.name[-12:]
    cfg.edge.agent_id = f"edge-{tmp.name[-12:]}"
    cfg.edge.metrics_port = free_port()
    cfg.edge.batch_max_delay_s = 0.2
    for k, v in edge.items():
        setattr(cfg.edge, k, v)
    return cfg


def telemetry(seq: int, ts: int | None = None, waiting: int = 3, queue: str = "REG-1") -> bytes:
    return json.dumps({"v": 1, "ts": ts or int(time.time() * 1000), "seq": seq, "queue": queue, "waiting": waiting,
                       "serving": "A001", "counters_open": 2, "avg_wait_s": 300.0}).encode()


def socat_pair(edge_end: Path, other_end: Path) -> "subprocess.Popen[bytes]":
    """Two pseudo-terminals joined back to back (what a USB-serial or RS-485 adapter looks like)."""
    import shutil
    import subprocess

    edge_end.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([shutil.which("socat") or "socat", f"pty,raw,echo=0,link={edge_end}",
                             f"pty,raw,echo=0,link={other_end}"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: edge_end.exists() and other_end.exists(), 10, "socat pty pair")
    return proc
