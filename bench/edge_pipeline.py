"""The edge pipeline alone, in-process: CPU per queue-screen message through ``Pipeline.process``.

Why: on the shared machine the end-to-end ingest benchmark (bench/ingest.py) swings with the neighbours by
more than a small change of the hot path costs; CPU time of the pipeline alone, best of several rounds,
shows such a change (docs/benchmarks.md, "Per-kind handlers at the edge").

    .venv/bin/python bench/edge_pipeline.py [--messages 20000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.kinds import edge_kind
from edge.metrics import EdgeMetrics
from edge.pipeline import MqttIn, Pipeline
from edge.processors.occupancy import OccupancyEstimator
from edge.processors.privacy import MacHasher
from floorops.config import load_config
from floorops.site import load_site
from floorops.topics import device_topic


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    site = load_site(load_config(env={}).site.file)
    now = int(time.time() * 1000)
    screens = [d for d in site.devices if edge_kind(d.kind).queue_readings][:8]
    items = []
    for i in range(args.messages):
        d = screens[i % len(screens)]
        p = {"v": 1, "ts": now + i, "seq": i // len(screens) + 1, "queue": d.queue or "Q", "waiting": 3,
             "serving": "A1", "counters_open": 2, "avg_wait_s": 100.0}
        items.append(MqttIn(device_topic(site.id, d.kind, d.id, "telemetry"), json.dumps(p).encode(), 0, 1))
    best = float("inf")
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as keys:
            pipeline = Pipeline(site, MacHasher(Path(keys), site.tz), EdgeMetrics(), clock_skew_bound_s=120,
                                occupancy_window_s=120, occupancy_rssi_min=-80, estimator=OccupancyEstimator(),
                                now_ms=lambda: now)
            t = time.process_time()
            for j in range(0, len(items), 1000):
                pipeline.process(items[j:j + 1000])
            best = min(best, time.process_time() - t)
    print(json.dumps({"messages": len(items), "rounds": args.rounds,
                      "cpu_us_per_message_best": round(1e6 * best / len(items), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
