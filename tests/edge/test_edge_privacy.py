"""No raw MAC anywhere after a run: InfluxDB (data files and every stored value), the edge's buffer,
dead letters and keys folder, its log, and everything the broker delivered on floorops/#."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import stat
import time
from pathlib import Path

import pytest

from edge_harness import socat_pair
from edge.processors.privacy import HASH_HEX_CHARS
from floorops import contract
from centre.services import wait_until
from test_edge_smoke import hub_listener

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def spellings(mac: str) -> list[bytes]:
    """Every way a MAC could be written down."""
    octets = mac.split(":")
    forms = []
    for sep in (":", "-", "", "."):
        for case in (str.lower, str.upper):
            forms.append(case(sep.join(octets)).encode())
    forms.append(".".join("".join(octets[i:i + 2]) for i in (0, 2, 4)).encode())
    return forms


def scan(paths: list[Path], macs: list[str]) -> list[str]:
    needles = [(m, s) for m in macs for s in spellings(m)]
    found = []
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            data = f.read_bytes()
            found += [f"{f}: {m}" for m, s in needles if s in data]
    return found


def test_no_raw_mac_is_written_anywhere(make_edge, make_influx, broker, dynsec, tmp_path: Path, site_id: str) -> None:
    rng = random.Random(11)
    macs = [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(200)]
    own_influx = make_influx()
    listener, delivered = hub_listener(broker, dynsec, "privacy", site_id)
    edge_end, our_end = tmp_path / "serial" / "probe-12", tmp_path / "serial" / "probe-12.sim"
    socat = socat_pair(edge_end, our_end)
    try:
        edge = make_edge(broker, own_influx, own_influx.database, occupancy_publish_s=1.0,
                         serial_probes=[{"path": str(edge_end), "baudrate": 115200}]).start()
        probe = edge.device("wifi_probe", "probe-05", dynsec)
        now = int(time.time() * 1000)
        own_influx.stop()  # so that sightings also sit in the durable buffer when the agent is killed
        for seq in range(1, 41):
            batch = [{"mac": m.upper() if seq % 2 else m.replace(":", "-"), "rssi": -60, "ts": now + seq}
                     for m in macs[(seq * 5) % 200:(seq * 5) % 200 + 5]]
            probe.publish(f"hospital/{edge.site}/wifi_probe/probe-05/telemetry",
                          json.dumps({"v": 1, "ts": now + seq, "seq": seq, "sightings": batch}), qos=1)
        # Broken messages carrying MACs: dead-lettered, redacted.
        probe.publish(f"hospital/{edge.site}/wifi_probe/probe-05/telemetry", json.dumps(
            {"v": 1, "ts": now, "seq": 99, "sightings": [{"mac": macs[0], "rssi": -60, "ts": now},
                                                         {"mac": macs[1], "rssi": 5, "ts": now}]}), qos=1)
        probe.publish(f"hospital/{edge.site}/wifi_probe/probe-05/telemetry", f"{{{macs[2]} {macs[3]}".encode(), qos=1)
        with open(our_end, "wb", buffering=0) as port:
            for i, m in enumerate(macs[:30]):
                port.write(contract.format_probe_line(["PRB", "probe-12", str(now + i), m, "-55", "11"]))
            port.write(b"noise " + macs[4].encode() + b"\r\n")
            port.write(contract.format_probe_line(["PRB", "probe-12", str(now), macs[5], "-55"]))  # bad field count
        wait_until(lambda: edge.metric("edge_buffered_points") >= 230, 30, "sightings in the buffer")
        wait_until(lambda: edge.metric("edge_rejected_total") >= 4, 30, "rejects")
        buffer = edge.cfg.path(edge.cfg.edge.buffer_path)
        edge.process.kill()  # leave the buffer full on disk
        assert scan([buffer.parent], macs) == []
        own_influx.start()
        edge.start()
        probe.publish(f"hospital/{edge.site}/wifi_probe/probe-05/telemetry", json.dumps(
            {"v": 1, "ts": now + 50, "seq": 50, "sightings": [{"mac": m, "rssi": -60, "ts": now + 50}
                                                            for m in macs[100:110]]}), qos=1)
        wait_until(lambda: edge.count("wifi_sighting") >= 240, 60, "sightings written after the restart")
        wait_until(lambda: any(t.endswith("/occupancy") for t, _ in delivered), 10, "an occupancy round")
        edge.process.stop()
        own_influx.stop()  # flush InfluxDB's WAL and caches to its files

        found = scan([Path(edge.cfg.var_dir), edge.dir / "edge.log", own_influx.data_dir], macs)
        assert found == [], found[:5]
        # Nor any phone's keyed hash: a hash stored with zone and time would be the phone's path (a track).
        keys = list(edge.cfg.path(edge.cfg.edge.mac_key_dir).glob("*.key"))
        hashes = [hmac.new(k.read_bytes(), m.encode(), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS].encode()
                  for k in keys for m in macs]
        key_dir = edge.cfg.path(edge.cfg.edge.mac_key_dir)
        stored = [f for root in (Path(edge.cfg.var_dir), own_influx.data_dir) for f in root.rglob("*")
                  if f.is_file() and key_dir not in f.parents] + [edge.dir / "edge.log"]
        assert hashes and not [f"{f}" for f in stored for h in hashes if h in f.read_bytes()]
        own_influx.start()
        everything = json.dumps([own_influx.query(f"SELECT * FROM {m}") for m in (
            "wifi_sighting", "zone_occupancy", "device_status")]).encode()
        assert b"rssi" in everything and b"mac_hash" not in everything and not any(s in everything for m in macs for s in spellings(m))
        published = b"\n".join(t.encode() + b" " + p for t, p in delivered)
        assert b"occupancy" in published and not any(s in published for m in macs for s in spellings(m))
        assert keys and all(stat.S_IMODE(os.stat(k).st_mode) == 0o600 for k in keys)
    finally:
        listener.loop_stop()
        listener.disconnect()
        socat.terminate()
        socat.wait(5)
