"""The edge's durable buffer: CPU per message of committing hub records and reading/deleting them again,
stored one row per record (as before 2026-11-23) or packed as the batch messages that carry them.

    .venv/bin/python bench/edge_buffer.py [--batches 10] [--batch 5000]

Both ways go through the same DurableBuffer (SQLite, WAL) in a temporary folder; each ingest batch also
commits its InfluxDB chunk, as the agent does. Reference in the same run: ``json.dumps`` of the same
records (the cost of encoding them at all).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.buffer import DurableBuffer, HubMessage
from edge.outputs.hub import pack_records
from floorops.kinds import queue_screen
from floorops.topics import edge_record_topic

SCREEN = queue_screen.KIND.name

RECORD = {"device_id": "qs-1", "kind": SCREEN, "channel": "telemetry", "ts": 1_700_000_000_000, "seq": 1,
          "data": {"queue": "REG-1", "waiting": 12, "serving": "A001", "counters_open": 3, "avg_wait_s": 840},
          "zone": "reg_hall", "site": "demo", "flags": [], "v": 1}
LINE = (f'{queue_screen.MEASUREMENT},device_id=qs-1,queue=REG-1,site=demo,zone=reg_hall avg_wait_s=840i,counters_open=3i,'
        'seq=1i,serving="A001",waiting=12i 1700000000000000001')


def run(mode: str, folder: Path, batches: int, size: int) -> dict[str, float]:
    records = [(edge_record_topic("demo", SCREEN, f"qs-{i % 8}", "telemetry"), json.dumps({**RECORD, "seq": i}).encode(),
                False) for i in range(size)]
    lines = [LINE] * size
    b = DurableBuffer(folder / f"{mode}.sqlite", 10**9)
    t0 = time.perf_counter()
    for _ in range(batches):
        if mode == "row per record":
            messages = [HubMessage(t, p, 1) for t, p, _ in records]
        else:
            messages = pack_records(records, "demo", "edge-1")
        b.commit(lines, messages, [])
    t1 = time.perf_counter()
    cursor = 0
    while True:
        got = b.hub_messages(cursor, 5000)
        if not got:
            break
        b.ack_hub([m.id for m in got])
        cursor = got[-1].id
    t2 = time.perf_counter()
    n = batches * size
    return {"commit_us_per_message": round(1e6 * (t1 - t0) / n, 1), "read_and_delete_us_per_message":
            round(1e6 * (t2 - t1) / n, 1), "total_us_per_message": round(1e6 * (t2 - t0) / n, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-buffer-") as tmp:
        out = {mode: run(mode, Path(tmp), args.batches, args.batch) for mode in ("row per record", "packed")}
    t = time.perf_counter()
    for i in range(args.batches * args.batch):
        json.dumps({**RECORD, "seq": i}, separators=(",", ":"))
    out["reference: json.dumps of each record, us"] = round(1e6 * (time.perf_counter() - t) / (args.batches * args.batch), 1)
    out["loadavg"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
