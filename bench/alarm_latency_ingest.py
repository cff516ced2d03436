"""How many edge records a second the hub's core applies (rules, alarms, state, dedup, SQLite commit),
in-process, without the broker: the ceiling behind bench/alarm_latency.py. Reference in the same run:
decoding the same payloads with json.loads alone.

    .venv/bin/python bench/alarm_latency_ingest.py [--messages 40000] [--batch 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floorops import kinds
from floorops.config import load_config
from floorops.site import load_site
from floorops.topics import EdgeRecord, edge_record_topic
from hub.clock import ManualClock
from hub.core import Hub
from hub.db import Database
from hub.roster import load_roster


def payloads(n: int) -> list[tuple[str, bytes]]:
    """Kiosk, queue screen and charger readings of 200 devices, with a fault event every 1000."""
    kiosk = {"cpu_pct": 20.0, "mem_pct": 40.0, "paper_pct": 80, "card_reader": "ok", "printer": "ok", "app": "ok",
             "resp_ms": 600, "txn_ok": 3, "txn_fail": 0}
    screen = {"queue": "IM-1", "waiting": 12, "serving": "A001", "counters_open": 2, "avg_wait_s": 600.0}
    charger = {"station": {"status_bits": 1, "mains_ok": True, "over_temperature": False, "ground_fault": False,
                           "fan_fault": False, "temperature_c": 30.0},
               "slots": [{"slot": i, "state": 2, "voltage_v": 24.0, "current_a": 3.0, "soc_pct": 50,
                          "battery_temp_c": 30.0, "fault": 0, "minutes_docked": 10} for i in range(4)]}
    out = []
    t0 = 1_763_949_600_000
    for i in range(n):
        kind, data, channel = [(kinds.kiosk.KIND.name, kiosk, "telemetry"),
                               (kinds.queue_screen.KIND.name, screen, "telemetry"),
                               (kinds.charger.KIND.name, charger, "telemetry")][i % 3]
        if i % 1000 == 999:
            kind, data, channel = kinds.kiosk.KIND.name, {"event": "card_jam"}, "event"
        dev = f"{kind}-b{i % 200:03d}"
        rec = EdgeRecord(dev, kind, channel, t0 + i, i, data, zone="reg_hall", site="demo")
        out.append((edge_record_topic("demo", kind, dev, channel), rec.to_json()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    cfg = load_config(env={})
    cfg.var_dir = tempfile.mkdtemp(prefix="floorops-ingest-")
    msgs = payloads(args.messages)
    import json
    t = time.perf_counter()
    for _, p in msgs:
        json.loads(p)
    ref = len(msgs) / (time.perf_counter() - t)
    hub = Hub(cfg, load_site(cfg.site.file), Database(cfg.path(cfg.hub.db_path)), ManualClock(1_763_949_600.0),
              load_roster(cfg.hub.roster_file))
    t = time.perf_counter()
    for i in range(0, len(msgs), args.batch):
        hub.apply_messages(msgs[i:i + args.batch])
    rate = len(msgs) / (time.perf_counter() - t)
    alarms = len(hub.alarms.list(limit=100_000))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"reference, json.loads of the same payloads: {ref:,.0f} msg/s")
    print(f"hub core, {len(msgs):,} records in batches of {args.batch} (one SQLite transaction each): "
          f"{rate:,.0f} msg/s ({alarms} alarms raised)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
