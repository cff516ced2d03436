"""CPU of the live simulator (all 51 demo devices: 45 MQTT clients, 6 serial probes on socat lines, 6
Modbus stations on 2 buses) at ``--speed 1`` (make run) and ``--speed 60``, and the device messages per
second it publishes. Reference in the same run: the CPU of the Mosquitto broker carrying that traffic.

    .venv/bin/python bench/sim_live_cpu.py [--seconds 60]

Starts its own Mosquitto with dynamic security in a temporary folder; stops everything at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floorops import topics
from floorops.config import Config, dump_toml, load_config
from floorops.dynsec import DynsecClient, edge_acls
from centre.services import MosquittoServer, free_port
from floorops.site import load_site

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_s(pid: int) -> float:
    """The process and its children still running (socat lines)."""
    total = cpu_s(pid)
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in child.read_text().split():
            try:
                total += cpu_s(int(c))
            except FileNotFoundError:
                pass
    return total


def run(speed: float, seconds: float, cfg: Config, broker: MosquittoServer, reader_pw: str, tmp: Path) -> str:
    cfg.sim.speed = speed
    path = tmp / f"sim-{speed}.toml"
    path.write_text(dump_toml(cfg))
    count = [0]
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-reader")  # the account is bound to it
    sub.username_pw_set("bench-reader", reader_pw)
    sub.on_connect = lambda c, *a: c.subscribe("hospital/demo/#", qos=1)
    sub.on_message = lambda *a: count.__setitem__(0, count[0] + 1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "run", "--config", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)  # start-up: imports, warm-up of the flow, 45 connections
    assert broker.process is not None and broker.process.proc is not None
    bpid = broker.process.proc.pid
    c0, b0, m0, t0 = tree_cpu_s(proc.pid), cpu_s(bpid), count[0], time.monotonic()
    time.sleep(seconds)
    c1, b1, m1, t1 = tree_cpu_s(proc.pid), cpu_s(bpid), count[0], time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    sub.loop_stop()
    sub.disconnect()
    wall = t1 - t0
    return (f"speed {speed:g}: simulator {100 * (c1 - c0) / wall:.1f}% of one core, {(m1 - m0) / wall:.0f} device "
            f"messages/s; reference broker {100 * (b1 - b0) / wall:.1f}% of one core")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    site = load_site(load_config(env={}).site.file)
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        broker = MosquittoServer(data_dir=tmp / "mosquitto", port=free_port(), admin_username="floorops-admin",
                                 admin_password=secrets.token_urlsafe(16)).start()
        try:
            cfg = Config(var_dir=str(tmp))
            cfg.mqtt.port = broker.port
            cfg.sim.control_port = free_port()
            creds = {}
            with DynsecClient("127.0.0.1", broker.port, broker.admin_username, broker.admin_password) as ds:
                for d in site.devices:
                    if d.transport == "mqtt":
                        c = ds.provision_device(site.id, d.kind, d.id)
                        creds[d.id] = {"id": d.id, "mqtt_username": c.username, "mqtt_password": c.password,
                                       "topic_prefix": topics.device_topic_prefix(site.id, d.kind, d.id)}
                reader_pw = secrets.token_urlsafe(16)
                ds.provision_service("bench-reader", reader_pw, edge_acls(site.id))
            cred_path = cfg.path(cfg.hub.credentials_file)
            cred_path.write_text(json.dumps(creds))
            os.chmod(cred_path, 0o600)
            for speed in (1.0, 60.0):
                print(run(speed, args.seconds, cfg, broker, reader_pw, tmp), flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
