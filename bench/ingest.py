"""Edge ingest throughput: device messages per second from MQTT into InfluxDB for one agent process.

    .venv/bin/python bench/ingest.py [--messages 200000] [--devices 8] [--latency-rate 50] [--mode live|drain]

Starts its own Mosquitto and influxd (the project's configuration, centre.services) in a temporary
folder, one edge agent (``python -m edge``), and C publishers (``mosquitto_pub -l -q 1``, one per device,
each with its own broker account) streaming queue-screen telemetry as fast as the broker takes it.

- rate: messages / (last point stored in InfluxDB - first message published), the agent's sustained rate;
- reference, same run: ``mosquitto_sub -q 1`` subscribed to the same stream (``-C N``): the broker's own
  delivery rate to one QoS 1 subscriber, from its first message to its Nth;
- latency publish -> stored: a separate device publishes ``--latency-rate`` messages/s carrying their send
  time during the load; a poller asks InfluxDB for that device's newest seq every 20 ms (points are stored
  in order, so a seq is stored when the newest stored seq reaches it). Resolution: the poll period plus
  the query time.
``--mode drain`` measures the agent's own capacity, without publishers competing for the two cores: the
messages are queued by the broker in the agent's persistent session while it is stopped, then the agent is
started and drains them into InfluxDB. References, each draining the same queue in its own session, alone,
in the same run: ``mosquitto_sub -q 1`` (C) and a bare paho subscriber that does nothing with a message
(the most any Python process built on paho can receive here).

Results: printed, and as JSON in bench/results/ingest-<UTC stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from floorops.config import dump_toml, load_config
from floorops.dynsec import DynsecClient, edge_acls, service_accounts
from floorops.influx import query_sync
from floorops.kinds import queue_screen
from floorops.topics import device_filter, device_topic
from centre.services import InfluxServer, ManagedProcess, MosquittoServer, free_port, wait_until

SITE = "demo"
SCREEN = queue_screen.KIND.name  # the kind the benchmark publishes as


def payload_lines(n: int, base_ts: int) -> bytes:
    return b"".join(
        b'{"v":1,"ts":%d,"seq":%d,"queue":"REG-1","waiting":%d,"serving":"A%03d","counters_open":3,"avg_wait_s":840}\n'
        % (base_ts + i, i + 1, i % 97, i % 1000) for i in range(n))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for f in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(f.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def count_points(url: str, db: str) -> int:
    s = query_sync(url, db, f"SELECT count(seq) FROM {queue_screen.MEASUREMENT} WHERE device_id =~ /^bench-qs-/")
    return int(s[0]["values"][0][1]) if s else 0


def paho_drain(port: int, username: str, password: str, client_id: str, n: int) -> tuple[float, float]:
    """A bare paho subscriber (auto PUBACK, nothing done with a message) draining its queued session:
    (messages/s from connect to the nth message, CPU us per message of this thread's process)."""
    got = [0]
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.username_pw_set(username, password)

    def on_message(cl: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        got[0] += 1
        if got[0] >= n:
            done.set()

    c.on_message = on_message
    cpu0, t0 = time.process_time(), time.time()
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(600)
    dt, cpu = time.time() - t0, time.process_time() - cpu0
    c.loop_stop()
    c.disconnect()
    return got[0] / dt, 1e6 * cpu / max(1, got[0])


def drain(args: argparse.Namespace, tmp: Path, broker: MosquittoServer, influx: InfluxServer, creds: dict,
          ref_pw: str, edge: ManagedProcess, metric, per: int, total: int) -> int:
    """Queue ``total`` messages in three persistent sessions (agent, mosquitto_sub, paho), then drain each alone."""
    port = broker.port
    topic = device_filter(SITE, SCREEN, "telemetry")
    sub = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", "bench-reference", "-P", ref_pw, "-q", "1",
           "-c", "-i", "bench-reference", "-t", topic]
    subprocess.run(sub + ["-E"], check=True, stdout=subprocess.DEVNULL)  # the session exists, then it exits
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-paho", clean_session=False)
    c.username_pw_set("bench-paho", ref_pw)
    c.connect("127.0.0.1", port)
    c.subscribe(topic, 1)
    c.loop(1)
    c.loop(1)
    c.disconnect()
    edge.stop()  # clean stop: its session stays on the broker and queues what comes
    base = int(time.time() * 1000) - 3_600_000
    t = time.time()
    pubs = []
    for dev, cr in creds.items():
        f = tmp / f"{dev}.jsonl"
        f.write_bytes(payload_lines(per, base))
        pubs.append(subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", cr.username, "-P",
                                      cr.password, "-i", dev, "-q", "1", "-l", "-t",
                                      device_topic(SITE, SCREEN, dev, "telemetry")], stdin=open(f, "rb"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in pubs:
        p.wait(600)
    publish_s = time.time() - t
    load_before = os.getloadavg()
    # Reference 1: mosquitto_sub (C) drains its session.
    t = time.time()
    out = subprocess.run(sub + ["-C", str(total)], capture_output=True, timeout=600)
    ref_c = out.stdout.count(b"\n") / (time.time() - t)
    # Reference 2: bare paho.
    ref_paho, ref_paho_cpu = paho_drain(port, "bench-paho", ref_pw, "bench-paho", total)
    # The agent.
    edge.start()
    pid = edge.proc.pid
    wait_until(lambda: metric("edge_mqtt_connected") == 1, 60, "edge agent")
    spy = None
    if args.profile:  # py-spy (not a project dependency): where the agent's CPU goes while it drains
        spy = subprocess.Popen([args.profile, "record", "--pid", str(pid), "--rate", "250", "--threads", "--nonblocking",
                                "--format", "raw", "-o", str(REPO / "bench" / "results" / "ingest-drain-profile.txt")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0, cpu0 = time.time(), cpu_s(pid)
    watched = {"mosquitto": broker.process.proc.pid, "influxd": influx.process.proc.pid}
    cpu_before = {k: cpu_s(v) for k, v in watched.items()}
    stored = 0
    while time.time() < t0 + 600:
        stored = count_points(influx.url, "floorops")
        if stored >= total:
            break
        time.sleep(0.05)
    dt = time.time() - t0
    edge_cpu = cpu_s(pid) - cpu0
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    result = {
        "mode": "drain", "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)), "messages": total,
        "devices": args.devices, "stored": stored, "queued_by_publishers_per_s": round(total / publish_s),
        "agent_rate": round(total / dt), "agent_s": round(dt, 2),
        "reference_mosquitto_sub_rate": round(ref_c), "reference_paho_rate": round(ref_paho),
        "reference_paho_cpu_us_per_message": round(ref_paho_cpu, 1),
        "ratio_to_mosquitto_sub": round(total / dt / ref_c, 2), "ratio_to_paho": round(total / dt / ref_paho, 2),
        "edge_cpu_us_per_message": round(1e6 * edge_cpu / total, 1),
        "cpu_s_during_agent_drain": {"edge": round(edge_cpu, 1),
                                     **{k: round(cpu_s(v) - cpu_before[k], 1) for k, v in watched.items()}},
        "duplicates": metric("edge_duplicates_total"), "hub_records_published": metric("edge_hub_records_acked_total"),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"ingest-drain-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t0))}.json").write_text(
        json.dumps(result, indent=2))
    return 0 if stored >= total else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--latency-rate", type=float, default=50.0)
    ap.add_argument("--light-s", type=float, default=10.0,
                    help="seconds of latency probing after the load (latency at light load)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--mode", choices=["live", "drain"], default="live")
    ap.add_argument("--profile", metavar="PY_SPY",
                    help="drain mode: path of a py-spy binary; samples the agent while it drains "
                         "(bench/results/ingest-drain-profile.txt, collapsed stacks)")
    args = ap.parse_args()
    per = args.messages // args.devices
    total = per * args.devices
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    broker = MosquittoServer(tmp / "mosquitto", free_port(), "floorops-admin", secrets.token_urlsafe(12)).start()
    influx = InfluxServer(tmp / "influxdb", free_port(), free_port()).start()
    procs: list[subprocess.Popen[bytes]] = []
    edge = None
    try:
        cfg = load_config(env={})
        cfg.var_dir = str(tmp / "var")
        cfg.mqtt.port = broker.port
        cfg.influx.url = influx.url
        cfg.edge.mqtt_password = secrets.token_urlsafe(12)
        cfg.edge.metrics_port = free_port()
        ref_pw = secrets.token_urlsafe(12)
        with DynsecClient("127.0.0.1", broker.port, broker.admin_username, broker.admin_password) as ds:
            ds.harden(service_accounts(cfg, SITE, supervisor=False))  # the edge's account, bound to its id
            for name in ("bench-reference", "bench-paho"):  # a reference subscriber each (bound client ids)
                ds.provision_service(name, ref_pw, edge_acls(SITE))
            creds = {f"bench-qs-{i}": ds.provision_device(SITE, SCREEN, f"bench-qs-{i}")
                     for i in range(args.devices)}
            lat = ds.provision_device(SITE, SCREEN, "bench-lat")
        conf = tmp / "edge.toml"
        conf.write_text(dump_toml(cfg))
        argv = [sys.executable, "-m", "edge", "--config", str(conf)]
        if os.environ.get("BENCH_EDGE_ARGV"):  # e.g. a profiling wrapper: "python /tmp/prof.py"
            argv = os.environ["BENCH_EDGE_ARGV"].split() + [str(conf)]
        edge = ManagedProcess("edge", argv, tmp / "edge.log",
                              cwd=REPO).start()

        def metric(name: str) -> float:
            """A sample of the agent's /metrics, summed over its labels (0 before its first count)."""
            import urllib.request

            from prometheus_client.parser import text_string_to_metric_families
            with urllib.request.urlopen(f"http://127.0.0.1:{cfg.edge.metrics_port}/metrics", timeout=2) as r:
                text = r.read().decode()
            return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)

        wait_until(lambda: metric("edge_mqtt_connected") == 1, 30, "edge agent")
        if args.mode == "drain":
            return drain(args, tmp, broker, influx, creds, ref_pw, edge, metric, per, total)
        ref_out = tmp / "reference.txt"
        ref = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "bench-reference",
                                "-P", ref_pw, "-q", "1", "-c", "-i", "bench-reference", "-t",
                                device_filter(SITE, SCREEN, "telemetry"), "-C", str(total), "-F", "%U"],
                               stdout=open(ref_out, "wb"), stderr=subprocess.DEVNULL)
        procs.append(ref)
        time.sleep(1.0)  # the reference subscription is in place

        base = int(time.time() * 1000) - 3_600_000
        files = []
        for dev in creds:
            f = tmp / f"{dev}.jsonl"
            f.write_bytes(payload_lines(per, base))
            files.append(f)

        # Latency probe: its own device at a low rate during the load.
        lat_sent: dict[int, float] = {}
        lat_stored: dict[int, float] = {}
        stop = threading.Event()
        lc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-lat")
        lc.username_pw_set(lat.username, lat.password)
        lc.connect("127.0.0.1", broker.port)
        lc.loop_start()

        def latency_publisher() -> None:
            seq = 0
            while not stop.is_set():
                seq += 1
                now = time.time()
                lat_sent[seq] = now
                lc.publish(device_topic(SITE, SCREEN, "bench-lat", "telemetry"), json.dumps(
                    {"v": 1, "ts": int(now * 1000), "seq": seq, "queue": "REG-1", "waiting": 1, "serving": "",
                     "counters_open": 1, "avg_wait_s": 1}), qos=1)
                time.sleep(1 / args.latency_rate)

        def latency_poller() -> None:
            last = 0
            while not stop.is_set() or last < len(lat_sent):
                try:
                    s = query_sync(influx.url, "floorops", f"SELECT last(seq) FROM {queue_screen.MEASUREMENT} WHERE device_id='bench-lat'")
                except Exception:  # noqa: BLE001 - a failed poll counts as nothing written yet
                    s = []
                now = time.time()
                newest = int(s[0]["values"][0][1]) if s else 0
                for q in range(last + 1, newest + 1):
                    lat_stored.setdefault(q, now)
                last = max(last, newest)
                if stop.is_set() and time.time() - stop_time[0] > 30:
                    break
                time.sleep(0.02)

        stop_time = [0.0]
        threads = [threading.Thread(target=latency_publisher, daemon=True),
                   threading.Thread(target=latency_poller, daemon=True)]
        for t in threads:
            t.start()
        watched = {"edge": edge.proc.pid, "mosquitto": broker.process.proc.pid, "influxd": influx.process.proc.pid,
                   }
        cpu_before = {k: cpu_s(pid) for k, pid in watched.items()}
        wait_before = runqueue_wait_s(edge.proc.pid)
        load_before = os.getloadavg()
        t0 = time.time()
        pubs = [subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", c.username,
                                  "-P", c.password, "-i", dev, "-q", "1", "-l", "-t",
                                  device_topic(SITE, SCREEN, dev, "telemetry")], stdin=open(f, "rb"),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for (dev, c), f in zip(creds.items(), files)]
        procs += pubs
        for p in pubs:
            p.wait(600)
        t_published = time.time()
        _, status, ref_usage = os.wait4(ref.pid, 0)
        ref.returncode = os.waitstatus_to_exitcode(status)
        stamps = ref_out.read_text().split()
        ref_rate = (len(stamps) - 1) / (float(stamps[-1]) - float(stamps[0])) if len(stamps) > 1 else 0.0
        deadline = time.time() + 600
        stored = 0
        while time.time() < deadline:
            stored = count_points(influx.url, "floorops")
            if stored >= total:
                break
            time.sleep(0.05)
        t_stored = time.time()
        time.sleep(args.light_s)
        cpu_used = {k: round(cpu_s(pid) - cpu_before[k], 1) for k, pid in watched.items()}
        edge_runqueue_wait = round(runqueue_wait_s(edge.proc.pid) - wait_before, 1)
        stop.set()
        stop_time[0] = time.time()
        for t in threads:
            t.join(40)
        lc.loop_stop()
        load_after = os.getloadavg()
        def pct(sel: list[float], q: float) -> float | None:
            return round(1000 * sel[min(len(sel) - 1, int(q * len(sel)))], 1) if sel else None

        lats = sorted(lat_stored[s] - lat_sent[s] for s in lat_stored if s in lat_sent and lat_sent[s] < t_published)
        light = sorted(lat_stored[s] - lat_sent[s] for s in lat_stored
                       if s in lat_sent and lat_sent[s] > t_stored + 1)
        result = {
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
            "messages": total, "devices": args.devices, "stored": stored,
            "publish_s": round(t_published - t0, 2), "publish_rate": round(total / (t_published - t0)),
            "agent_s": round(t_stored - t0, 2), "agent_rate": round(total / (t_stored - t0)),
            "reference_rate": round(ref_rate), "reference_messages": len(stamps),
            "ratio_to_reference": round(total / (t_stored - t0) / ref_rate, 2) if ref_rate else None,
            "latency_under_load_samples": len(lats),
            "latency_under_load_p50_ms": pct(lats, 0.5), "latency_under_load_p99_ms": pct(lats, 0.99),
            "latency_light_samples": len(light),
            "latency_light_p50_ms": pct(light, 0.5), "latency_light_p99_ms": pct(light, 0.99),
            "duplicates": metric("edge_duplicates_total"), "rejected": metric("edge_rejected_total"),
            "cpu_s_during_run": cpu_used, "wall_s": round(t_stored - t0, 1),
            "edge_cpu_us_per_message": round(1e6 * cpu_used["edge"] / total, 1),
            "edge_runqueue_wait_s": edge_runqueue_wait,
            "reference_cpu_s": round(ref_usage.ru_utime + ref_usage.ru_stime, 1),
            "loadavg_before": load_before, "loadavg_after": load_after,
            "cpus": os.cpu_count(), "python": platform.python_version(),
        }
        print(json.dumps(result, indent=2))
        out = REPO / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"ingest-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(t0))}.json").write_text(json.dumps(result, indent=2))
        return 0 if stored >= total else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        if edge is not None:
            edge.stop()
        influx.stop()
        broker.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    sys.exit(main())
