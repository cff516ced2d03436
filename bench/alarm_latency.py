"""Alarm latency: a device fault published on the broker (as the edge's EdgeRecord) -> ``alarm.raised`` at
a WebSocket client of a real ``python -m hub`` process. p50/p99 alone, under ~5,000 readings/s of other
traffic, and fanned out to 500 WebSocket clients. Reference in the same run: the broker's own
publish -> subscriber latency (paho -> paho, QoS 1), idle and while the load runs.

``--records single`` (the default) publishes every reading and fault as its own message, on its record
topic; ``--records edge`` publishes them as the edge agent does: the records of each ingest batch packed
by the edge's own code (``edge.outputs.hub.pack_records``: one message per stream, at most 500 records)
on the batch topics, a batch every ``--edge-flush-ms`` (the edge's ingest loop takes what arrived
meanwhile), the fault on the ``priority`` batch topic. The load runs in a process of its own, so that its
CPU is not charged to the WebSocket client's timestamps through this process's GIL.

    .venv/bin/python bench/alarm_latency.py [--events 200] [--rate 5000] [--clients 500] [--records edge] [--src DIR]

``--src`` runs the hub from another checkout (``git archive <commit> | tar -x -C DIR``), to compare
before and after a change in the same hour.

Starts its own Mosquitto and hub in a temporary folder; stops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing as mp
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floorops.config import dump_toml, load_config
from floorops.dynsec import DynsecClient, edge_acls, service_accounts
from centre.services import ManagedProcess, MosquittoServer, free_port, tcp_open, wait_until
from floorops.kinds import kiosk
from floorops.topics import ROOT, EdgeRecord, device_topic, device_topic_prefix, edge_record_topic

KIOSK = kiosk.KIND.name  # the kind the benchmark publishes as

from edge.outputs.hub import pack_records

AGENT = "edge-bench"  # the edge agent the batches say they come from


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(ms: list[float]) -> str:
    return f"p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms (n={len(ms)})"


BENCH_CLIENTS = ("ref-sub", "ref-pub", "load", "faults", "burst", "ref-burst-sub")  # one account each


def bench_username(name: str) -> str:
    """The broker account of one of the benchmark's own clients; its client id is the same (bound)."""
    return f"bench-{name}"


def client(cfg, name: str, user: str = "", password: str = "") -> mqtt.Client:
    """A client of ``name``'s bench account (password: the edge's), or of the account given."""
    user = user or bench_username(name)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, password or cfg.edge.mqtt_password)
    c.max_inflight_messages_set(1000)
    c.connect(cfg.mqtt.host, cfg.mqtt.port)
    c.loop_start()
    return c


def broker_reference(cfg, n: int) -> list[float]:
    """publish -> on_message of another client through the same broker, QoS 1."""
    sub = client(cfg, "ref-sub")
    got: dict[int, float] = {}
    done = threading.Event()
    sub.on_message = lambda c, u, m: (got.__setitem__(int(m.payload), time.perf_counter()),
                                      len(got) >= n and done.set())
    topic = f"{ROOT}/{cfg.site.id}/bench/ref"
    sub.subscribe(topic, qos=1)
    time.sleep(0.5)
    pub = client(cfg, "ref-pub")
    sent: dict[int, float] = {}
    for i in range(n):
        sent[i] = time.perf_counter()
        pub.publish(topic, str(i), qos=1)
        time.sleep(0.01)
    done.wait(10)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return [(got[i] - sent[i]) * 1000 for i in sent if i in got]


def load_main(cfg, rate: int, records: str, flush_s: float, stop, sent) -> None:
    """Other traffic, in its own process: kiosk telemetry of 200 devices at ``rate`` readings/s, QoS 1, one
    message per reading or packed as the edge packs them (``records``); ``sent`` counts readings."""
    c = client(cfg, "load")
    data = {"cpu_pct": 20.0, "mem_pct": 40.0, "paper_pct": 80, "card_reader": "ok", "printer": "ok", "app": "ok",
            "resp_ms": 600, "txn_ok": 3, "txn_fail": 0}
    site = cfg.site.id
    n = 0
    start = time.perf_counter()
    while not stop.is_set():
        due = int(rate * (time.perf_counter() - start)) - n  # readings owed by now
        if due <= 0:
            time.sleep(0.002)
            continue
        step = min(due, 50) if records == "single" else due
        batch = []
        for _ in range(step):
            dev = f"kiosk-load-{n % 200:03d}"
            rec = EdgeRecord(dev, KIOSK, "telemetry", int(time.time() * 1000), n, data, zone="reg_hall", site=site)
            batch.append((edge_record_topic(site, KIOSK, dev, "telemetry"), rec.to_json(), False))
            n += 1
        if records == "single":
            for topic, payload, _ in batch:
                c.publish(topic, payload, qos=1)
        else:
            for m in pack_records(batch, site, AGENT):
                c.publish(m.topic, m.payload, qos=1)
        sent.value = n
        if records == "edge":
            time.sleep(flush_s)
    c.loop_stop()
    c.disconnect()


def fault_message(cfg, rec: EdgeRecord, records: str) -> tuple[str, bytes]:
    """The fault as the edge would publish it: alone on its record topic, or in a priority batch."""
    topic = edge_record_topic(cfg.site.id, rec.kind, rec.device_id, rec.channel)
    if records == "single":
        return topic, rec.to_json()
    (m,) = pack_records([(topic, rec.to_json(), False)], cfg.site.id, AGENT)
    return m.topic, m.payload


async def measure(cfg, ws_url: str, token: str, events: int, clients: int, tag: str,
                  records: str = "single") -> tuple[list[float], list[float]]:
    """Publish ``events`` card jams of fresh devices; per event, latency to each client and to the last one."""
    pub = client(cfg, "faults")
    socks = []
    for _ in range(clients):
        socks.append(await websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"},
                                                max_queue=None, open_timeout=60))
    arrivals: dict[str, list[float]] = {}

    async def reader(ws) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "alarm.raised":
                arrivals.setdefault(msg["data"]["source"], []).append(time.perf_counter())

    tasks = [asyncio.create_task(reader(ws)) for ws in socks]
    sent: dict[str, float] = {}
    per_client, per_event = [], []
    lost: list[str] = []
    loop = asyncio.get_running_loop()
    for i in range(events):
        dev = f"kiosk-{tag}-{i:04d}"
        rec = EdgeRecord(dev, KIOSK, "event", int(time.time() * 1000), 1, {"event": "card_jam"}, zone="reg_hall",
                         site=cfg.site.id)
        topic, payload = fault_message(cfg, rec, records)
        sent[dev] = time.perf_counter()
        await loop.run_in_executor(None, functools.partial(pub.publish, topic, payload, 1))
        deadline = time.perf_counter() + 10
        while len(arrivals.get(dev, [])) < clients and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        got = arrivals.get(dev, [])
        if not got:
            lost.append(dev)
            if len(lost) >= 5:
                print(f"  {tag}: 5 alarms did not arrive within 10 s; stopping this phase", flush=True)
                break
        per_client += [(t - sent[dev]) * 1000 for t in got]
        if len(got) == clients:
            per_event.append((max(got) - sent[dev]) * 1000)
        await asyncio.sleep(0.02)
    for t in tasks:
        t.cancel()
    for ws in socks:
        await ws.close()
    pub.loop_stop()
    pub.disconnect()
    return per_client, per_event


def hub_messages(url: str, token: str) -> int:
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    for row in urllib.request.urlopen(req, timeout=10).read().decode().splitlines():
        if row.startswith("floorops_hub_messages_total "):
            return int(float(row.split()[1]))
    return 0


def ingest_capacity(cfg, url: str, token: str, n: int) -> float:
    """Messages/s the hub applies when the broker hands it a backlog as fast as it can."""
    c = client(cfg, "burst")
    data = {"cpu_pct": 20.0, "mem_pct": 40.0, "paper_pct": 80, "card_reader": "ok", "printer": "ok", "app": "ok",
            "resp_ms": 600, "txn_ok": 3, "txn_fail": 0}
    before = hub_messages(url, token)
    t0 = time.perf_counter()
    for i in range(n):
        dev = f"kiosk-burst-{i % 200:03d}"
        rec = EdgeRecord(dev, KIOSK, "telemetry", int(time.time() * 1000), 10_000_000 + i, data, zone="reg_hall",
                         site=cfg.site.id)
        c.publish(edge_record_topic(cfg.site.id, KIOSK, dev, "telemetry"), rec.to_json(), qos=1)
    deadline = time.perf_counter() + 120
    while hub_messages(url, token) - before < n and time.perf_counter() < deadline:
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    return (hub_messages(url, token) - before) / elapsed


def publisher_reference(cfg, n: int) -> tuple[float, float]:
    """The same Python publisher and broker with no hub in the path: a device account publishes ``n``
    QoS 1 messages on its own topic; (publisher rate until every PUBACK is back, rate at which a bare
    paho subscriber with manual acknowledgement, as the hub uses it, receives and acknowledges them)."""
    with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
        creds = ds.provision_device(cfg.site.id, KIOSK, "kiosk-ref")
    got = [0]
    done = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=bench_username("ref-burst-sub"),
                      protocol=mqtt.MQTTv5, manual_ack=True)
    sub.username_pw_set(bench_username("ref-burst-sub"), cfg.edge.mqtt_password)

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        c.ack(m.mid, m.qos)
        got[0] += 1
        if got[0] >= n:
            done.set()

    sub.on_message = on_message
    sub.connect(cfg.mqtt.host, cfg.mqtt.port)
    sub.loop_start()
    sub.subscribe(device_topic_prefix(cfg.site.id, KIOSK, "kiosk-ref") + "#", qos=1)
    time.sleep(0.5)
    c = client(cfg, "ref-burst", creds.username, creds.password)
    t0 = time.perf_counter()
    infos = [c.publish(device_topic(cfg.site.id, KIOSK, "kiosk-ref", "telemetry"), b"x" * 250, qos=1) for _ in range(n)]
    for info in infos:
        info.wait_for_publish(60)
    pub_rate = n / (time.perf_counter() - t0)
    done.wait(120)
    sub_rate = got[0] / (time.perf_counter() - t0)
    for x in (c, sub):
        x.loop_stop()
        x.disconnect()
    return pub_rate, sub_rate


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))  # run the finally: stop the hub and broker
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--records", choices=("single", "edge"), default="single",
                    help="readings and faults one message each, or packed in batches as the edge agent sends them")
    ap.add_argument("--edge-flush-ms", type=float, default=50.0, help="with --records edge: time between batches")
    ap.add_argument("--src", default=str(Path(__file__).resolve().parent.parent), help="checkout the hub runs from")
    ap.add_argument("--phases", default="capacity,alone,loaded,fanout",
                    help="comma-separated subset of capacity,alone,loaded,fanout")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="floorops-bench-"))
    broker = MosquittoServer(data_dir=tmp / "mosquitto", port=free_port(), admin_username="floorops-admin",
                             admin_password=secrets.token_urlsafe(12)).start()
    hub = None
    try:
        cfg = load_config(env={})
        cfg.var_dir = str(tmp)
        cfg.mqtt.port = broker.port
        cfg.broker.admin_password = broker.admin_password
        cfg.hub.http_port = free_port()
        cfg.hub.mqtt_password = secrets.token_urlsafe(12)
        cfg.edge.mqtt_password = secrets.token_urlsafe(12)
        cfg.influx.url = f"http://127.0.0.1:{free_port()}"  # not needed for alarms
        cfg.log_level = "WARNING"
        # The hub of --src reads that checkout's own site, roster and rules (an older hub may not read today's).
        repo, src = str(Path(__file__).resolve().parent.parent), str(Path(args.src).resolve())
        cfg.site.file, cfg.hub.roster_file, cfg.hub.rules_file = (
            x.replace(repo, src, 1) for x in (cfg.site.file, cfg.hub.roster_file, cfg.hub.rules_file))
        with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
            ds.harden(service_accounts(cfg, cfg.site.id, supervisor=False))  # the hub's, as make run has them
            for name in BENCH_CLIENTS:  # the edge's rights (device topics in, floorops/ out)
                ds.provision_service(bench_username(name), cfg.edge.mqtt_password, edge_acls(cfg.site.id))
        from hub import provisioning
        provisioning.ensure_user(cfg, "bench", "monitor", "bench-password")
        conf = tmp / "floorops.toml"
        conf.write_text(dump_toml(cfg))
        env = {k: v for k, v in os.environ.items() if k != "FLOOROPS_CONFIG"}
        hub = ManagedProcess("hub", [sys.executable, "-m", "hub", "--config", str(conf)], tmp / "hub.log", env=env,
                             cwd=Path(args.src)).start()
        url = f"http://127.0.0.1:{cfg.hub.http_port}"
        wait_until(lambda: urllib.request.urlopen(url + "/healthz", timeout=1).status == 200, 30, "hub")
        req = urllib.request.Request(url + "/api/login", data=json.dumps({"username": "bench", "password": "bench-password"}).encode(),
                                     headers={"Content-Type": "application/json"})
        token = json.loads(urllib.request.urlopen(req).read())["token"]
        ws_url = url.replace("http://", "ws://") + "/ws"

        phases = set(args.phases.split(","))
        print(f"hub from {args.src}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        if "capacity" in phases:
            pub_rate, sub_rate = publisher_reference(cfg, 30_000)
            print(f"reference, 30,000 QoS 1 messages from the same publisher: published {pub_rate:.0f} msg/s; a bare "
                  f"paho subscriber with manual ack (no hub) received {sub_rate:.0f} msg/s", flush=True)
            capacity = ingest_capacity(cfg, url, token, 30_000)
            print(f"hub ingest capacity (30,000 kiosk readings published at once): {capacity:.0f} msg/s", flush=True)
            time.sleep(2)
        ref = broker_reference(cfg, args.events)
        print(f"reference, broker publish -> subscriber (QoS 1): {summary(ref)}", flush=True)
        if "alone" in phases:
            alone, _ = asyncio.run(measure(cfg, ws_url, token, args.events, 1, "alone", args.records))
            print(f"fault -> alarm.raised, 1 client, no other traffic: {summary(alone)}", flush=True)
        if "loaded" in phases:
            loaded_phase(cfg, url, ws_url, token, args)
        if "fanout" in phases:
            drained(url, token)
            fan_client, fan_last = asyncio.run(measure(cfg, ws_url, token, max(20, args.events // 4), args.clients,
                                                       "fan"))
            print(f"fault -> alarm.raised at each of {args.clients} clients: {summary(fan_client)}")
            if fan_last:
                print(f"fault -> alarm.raised at the last of {args.clients} clients: {summary(fan_last)}")
            ref_client, ref_last = asyncio.run(reference_fanout(args.clients, max(20, args.events // 4)))
            print(f"reference, bare aiohttp broadcast (HTTP POST -> {args.clients} clients), each client: "
                  f"{summary(ref_client)}")
            if ref_last:
                print(f"reference, bare aiohttp broadcast, the last of {args.clients} clients: {summary(ref_last)}")
        return 0
    finally:
        if hub is not None:
            hub.stop()
        broker.stop()


async def reference_fanout(clients: int, events: int) -> tuple[list[float], list[float]]:
    """The same clients on a bare aiohttp broadcast server (bench/ws_fanout_reference.py)."""
    port = free_port()
    ref = ManagedProcess("ws-reference", [sys.executable, str(Path(__file__).with_name("ws_fanout_reference.py")),
                                          str(port)], Path(tempfile.mkdtemp()) / "ref.log").start()
    try:
        wait_until(lambda: tcp_open("127.0.0.1", port), 20, "reference server")
        socks = [await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_queue=None, open_timeout=60)
                 for _ in range(clients)]
        arrivals: dict[str, list[float]] = {}

        async def reader(ws) -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "alarm.raised":
                    arrivals.setdefault(msg["data"]["source"], []).append(time.perf_counter())

        tasks = [asyncio.create_task(reader(ws)) for ws in socks]
        await asyncio.sleep(0.5)
        loop = asyncio.get_running_loop()
        per_client, per_event = [], []
        for i in range(events):
            src = f"ref-{i}"
            body = json.dumps({"id": i, "type": "alarm.raised", "ts": "", "data": {"source": src, "type": "card_jam",
                                                                                 "severity": "major"}}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/emit", data=body, method="POST")
            t0 = time.perf_counter()
            await loop.run_in_executor(None, lambda r=req: urllib.request.urlopen(r, timeout=30).read())
            deadline = time.perf_counter() + 10
            while len(arrivals.get(src, [])) < clients and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            got = arrivals.get(src, [])
            per_client += [(t - t0) * 1000 for t in got]
            if len(got) == clients:
                per_event.append((max(got) - t0) * 1000)
            await asyncio.sleep(0.02)
        for t in tasks:
            t.cancel()
        for ws in socks:
            await ws.close()
        return per_client, per_event
    finally:
        ref.stop()


def drained(url: str, token: str, timeout_s: float = 180) -> None:
    """Wait until the hub has worked through any backlog (its message counter stops moving)."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        now = hub_messages(url, token)
        if now == last:
            return
        last = now
        time.sleep(2)


def loaded_phase(cfg, url: str, ws_url: str, token: str, args: argparse.Namespace) -> None:
    """Faults while another process offers ``args.rate`` kiosk readings a second; then the broker reference
    under the same load."""
    stop, sent = mp.Event(), mp.Value("q", 0)
    load = mp.Process(target=load_main, args=(cfg, args.rate, args.records, args.edge_flush_ms / 1000, stop, sent),
                      daemon=True)
    load.start()
    time.sleep(3)
    t0, h0, s0 = time.perf_counter(), hub_messages(url, token), sent.value
    loaded, _ = asyncio.run(measure(cfg, ws_url, token, args.events, 1, "loaded", args.records))
    elapsed = time.perf_counter() - t0
    rate = (hub_messages(url, token) - h0) / elapsed  # what the hub applied
    offered = (sent.value - s0) / elapsed
    ref = broker_reference(cfg, args.events)
    stop.set()
    load.join(10)
    how = "one message each" if args.records == "single" else f"edge batches every {args.edge_flush_ms:g} ms"
    print(f"fault -> alarm.raised, 1 client, while the hub applied {rate:.0f} readings/s ({how}; offered "
          f"{offered:.0f}/s, load average {os.getloadavg()[0]:.1f}): {summary(loaded)}", flush=True)
    print(f"reference, broker publish -> subscriber (QoS 1) under the same load: {summary(ref)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
