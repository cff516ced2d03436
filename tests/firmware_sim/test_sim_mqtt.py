"""Networked devices against a real Mosquitto with dynamic-security accounts: each device publishes with
its own credentials, only valid contract messages, a retained status, and a Last Will on power loss.
The simulator runs as the real process (`python -m firmware_sim run`), faults come through `inject`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from floorops.kinds import BUILTIN
from floorops import topics
from floorops.config import Config, dump_toml
from floorops.dynsec import DynsecClient, edge_acls, new_password
from centre.services import MosquittoServer, free_port
from floorops.site import Site

pytestmark = [pytest.mark.integration]

DEVICES = ("qs-im-1", "kiosk-01", "probe-05")


class Reader:
    """Subscribes to hospital/demo/# as an edge-like service account and keeps what arrives."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.msgs: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username)
        self.client.username_pw_set(username, password)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe("hospital/demo/#", qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.msgs.append((msg.topic, msg.payload, msg.retain))

    def wait_for(self, predicate: Any, timeout_s: float = 20.0) -> tuple[str, bytes, bool]:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            with self.lock:
                new = self.msgs[seen:]
            for m in new:
                if predicate(*m):
                    return m
            seen += len(new)
            time.sleep(0.05)
        raise AssertionError("expected message did not arrive")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def sim_broker(make_broker: Callable[..., MosquittoServer]) -> Iterator[MosquittoServer]:
    """A broker of our own: the demo devices' accounts here do not collide with other tests' accounts."""
    server = make_broker()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sim_dynsec(sim_broker: MosquittoServer) -> Iterator[DynsecClient]:
    client = DynsecClient("127.0.0.1", sim_broker.port, sim_broker.admin_username, sim_broker.admin_password)
    yield client
    client.close()


@pytest.fixture(scope="module")
def device_creds(sim_dynsec: DynsecClient, demo_site: Site) -> dict[str, dict[str, str]]:
    """Every networked device of the demo site provisioned once (dynsec), as the launcher does."""
    creds = {}
    for d in demo_site.devices:
        if d.transport == "mqtt":
            c = sim_dynsec.provision_device(demo_site.id, d.kind, d.id)
            creds[d.id] = {"id": d.id, "mqtt_username": c.username, "mqtt_password": c.password,
                           "topic_prefix": topics.device_topic_prefix(demo_site.id, d.kind, d.id)}
    return creds


@pytest.fixture
def provisioned(tmp_path: Path, sim_broker: MosquittoServer, device_creds: dict[str, Any],
                tls_files: Any) -> Iterator[Config]:
    """A config for a tmp var_dir with the devices' credentials in the credentials file (mode 600); the
    devices connect over TLS (sim.mqtt_tls) trusting the test CA."""
    cfg = Config(var_dir=str(tmp_path))
    cfg.mqtt.port = sim_broker.port
    cfg.mqtt.tls_port = sim_broker.tls_port
    cfg.mqtt.cafile = str(tls_files.ca_crt)
    cfg.sim.control_port = free_port()
    cfg.sim.speed = 20.0
    cfg.sim.faults_per_device_day = 0.0
    cfg.sim.bad_input_per_device_hour = 0.0
    cfg.sim.repair_min = 0.0  # faults stay until cleared by hand: the test decides when
    cfg.sim.start = "2026-11-24T10:00"  # a busy Tuesday morning, whatever the time of the test run
    path = cfg.path(cfg.hub.credentials_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(device_creds))
    os.chmod(path, 0o600)
    yield cfg


@pytest.fixture
def reader(sim_broker: MosquittoServer, sim_dynsec: DynsecClient) -> Iterator[Reader]:
    pw = new_password()
    name = f"sim-reader-{uuid.uuid4().hex[:8]}"
    sim_dynsec.provision_service(name, pw, edge_acls("demo"))
    r = Reader(sim_broker.port, name, pw)
    yield r
    r.close()


def sim_cli(cfg_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "firmware_sim", *args, "--config", str(cfg_path)],
                          capture_output=True, text=True, timeout=60)


def test_devices_publish_valid_messages_with_status_and_last_will(provisioned: Config, reader: Reader,
                                                                   tmp_path: Path) -> None:
    cfg_path = tmp_path / "floorops.toml"
    cfg_path.write_text(dump_toml(provisioned))
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "run", "--config", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        reader.wait_for(lambda t, p, r: t == "hospital/demo/kiosk/kiosk-01/status" and b'"online"' in p)
        reader.wait_for(lambda t, p, r: t.startswith("hospital/demo/queue_screen/qs-im-1/event"))
        reader.wait_for(lambda t, p, r: t.startswith("hospital/demo/wifi_probe/probe-05/telemetry"))
        # A fault through the CLI, into the running process.
        out = sim_cli(cfg_path, "inject", "kiosk-01", "card_jam")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["active"] == ["card_jam"]
        reader.wait_for(lambda t, p, r: t.endswith("kiosk-01/event") and json.loads(p)["event"] == "card_jam")
        reader.wait_for(lambda t, p, r: t.endswith("kiosk-01/telemetry") and json.loads(p)["card_reader"] == "jammed")
        # Power loss: the broker publishes the device's Last Will (retained offline).
        assert sim_cli(cfg_path, "inject", "probe-05", "power_loss").returncode == 0
        reader.wait_for(lambda t, p, r: t == "hospital/demo/wifi_probe/probe-05/status" and b'"offline"' in p)
        assert sim_cli(cfg_path, "inject", "probe-05", "clear").returncode == 0
        reader.wait_for(lambda t, p, r: t == "hospital/demo/wifi_probe/probe-05/status" and b'"online"' in p)
        # Refusals are clear and do not hurt the simulator.
        bad = sim_cli(cfg_path, "inject", "kiosk-01", "ground_fault")
        assert bad.returncode == 1 and "does not apply" in bad.stderr
        missing = sim_cli(cfg_path, "inject", "no-such-device", "clear")
        assert missing.returncode == 1 and "no simulated device" in missing.stderr
        status = json.loads(sim_cli(cfg_path, "status").stdout)
        assert status["devices"]["kiosk-01"]["faults"] == ["card_jam"] and proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    # Every device message that reached the broker meets the contract; all 51 networked devices spoke.
    with reader.lock:
        msgs = list(reader.msgs)
    speakers = set()
    for topic, payload, _ in msgs:
        t, _ = BUILTIN.validate_message(topic, payload)
        speakers.add(t.device_id)
    assert len(speakers) == 51
    # Shutdown is orderly: the last status of each device is offline.
    last_status = {}
    for topic, payload, _ in msgs:
        if topic.endswith("/status"):
            last_status[topic] = json.loads(payload)["state"]
    assert set(last_status.values()) == {"offline"} and len(last_status) == 51
    assert not list((tmp_path / "sim" / "serial").glob("probe-*"))  # serial lines removed at exit
    assert (tmp_path / "sim" / "ground_truth.csv").exists()


def test_device_with_wrong_password_is_refused_and_others_carry_on(provisioned: Config, reader: Reader,
                                                                    tmp_path: Path) -> None:
    path = provisioned.path(provisioned.hub.credentials_file)
    creds = json.loads(path.read_text())
    creds["kiosk-02"]["mqtt_password"] = "wrong"
    del creds["kiosk-03"]
    creds["kiosk-06"] = {"id": "kiosk-06", "mqtt_username": 42}
    path.write_text(json.dumps(creds))
    cfg_path = tmp_path / "floorops.toml"
    cfg_path.write_text(dump_toml(provisioned))
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "run", "--config", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        reader.wait_for(lambda t, p, r: t.endswith("kiosk-04/telemetry"))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e.get("device") == "kiosk-03" and "no credentials" in e["msg"] for e in logs)
    assert any(e.get("device") == "kiosk-02" and "refused" in e["msg"] for e in logs)
    assert any(e.get("device") == "kiosk-06" and "unusable credentials" in e["msg"] for e in logs)
    with reader.lock:
        silent = ("/kiosk-02/", "/kiosk-03/", "/kiosk-06/")
        # Nothing from them in this run (retained statuses of earlier runs aside).
        assert not any(d in t for t, _, retained in reader.msgs if not retained for d in silent)


def test_devices_come_back_after_a_broker_restart(provisioned: Config, reader: Reader, sim_broker: MosquittoServer,
                                                  tmp_path: Path) -> None:
    """Real devices reconnect on their own and announce themselves again (online status)."""
    cfg_path = tmp_path / "floorops.toml"
    cfg_path.write_text(dump_toml(provisioned))
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "run", "--config", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, last, _ = reader.wait_for(lambda t, p, r: t.endswith("kiosk-05/telemetry"))
        # Device timestamps are the simulator's virtual time (sim.start, sim.speed), not the machine's: the
        # boundary is the device's own last reading before the restart, whatever day the test runs.
        before_restart_ms = json.loads(last)["ts"]
        sim_broker.restart()
        with reader.lock:
            reader.msgs.clear()
        # A fresh announcement, told apart by its time: if the device is back before the reader has
        # subscribed again, the reader gets it as the retained copy.
        reader.wait_for(lambda t, p, r: t == "hospital/demo/kiosk/kiosk-05/status" and b'"online"' in p
                        and json.loads(p)["ts"] > before_restart_ms, timeout_s=40)
        reader.wait_for(lambda t, p, r: t.endswith("kiosk-05/telemetry"), timeout_s=40)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
