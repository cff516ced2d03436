"""Cost of the edge's per-message counter update and of one /metrics scrape, on prometheus_client.

References in the same run: prometheus_client used directly (``.labels(...).inc()`` each time, and a
pre-bound child, the library's floor) and the hand-written counter it replaced (loaded from git history,
commit 68bcf84^, when git is there).

    .venv/bin/python bench/metrics_inc.py [--calls 200000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
import types
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prometheus_client import CollectorRegistry, Counter

from edge.metrics import EdgeMetrics
from floorops.kinds import kiosk

KIOSK = kiosk.KIND.name  # any kind: a label value

OLD_COMMIT = "68bcf84^"  # the last hand-written edge/metrics.py


def old_metrics() -> Any | None:
    """The hand-written EdgeMetrics, straight from git history (no copy kept in the tree)."""
    try:
        src = subprocess.run(["git", "show", f"{OLD_COMMIT}:edge/metrics.py"], cwd=REPO, capture_output=True,
                             text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    mod = types.ModuleType("edge_metrics_handwritten")
    exec(compile(src, "edge_metrics_handwritten", "exec"), mod.__dict__)  # noqa: S102 - our own old file
    return mod.EdgeMetrics()


def ns_per_call(fn: Callable[[], None], calls: int, repeat: int) -> float:
    runs = timeit.repeat(fn, number=calls, repeat=repeat)
    return statistics.median(runs) / calls * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--devices", type=int, default=200, help="label sets in the scraped exposition")
    args = ap.parse_args()

    m = EdgeMetrics()
    registry = CollectorRegistry()
    bare = Counter("bench_rejected", "reference", ["reason"], registry=registry)
    bound = bare.labels(reason="bad_json")
    old = old_metrics()

    results: dict[str, float] = {
        "edge_labelled_inc_ns": ns_per_call(lambda: m.rejected.inc(reason="bad_json"), args.calls, args.repeat),
        "edge_two_label_inc_ns": ns_per_call(lambda: m.messages_in.inc(kind=KIOSK, transport="mqtt"),
                                             args.calls, args.repeat),
        "edge_unlabelled_inc_ns": ns_per_call(lambda: m.points_written.inc(), args.calls, args.repeat),
        "reference_prometheus_client_labels_inc_ns": ns_per_call(lambda: bare.labels(reason="bad_json").inc(),
                                                                 args.calls, args.repeat),
        "reference_prometheus_client_bound_child_inc_ns": ns_per_call(lambda: bound.inc(), args.calls, args.repeat),
    }
    if old is not None:
        results["reference_handwritten_labelled_inc_ns"] = ns_per_call(
            lambda: old.rejected.inc(reason="bad_json"), args.calls, args.repeat)
        results["reference_handwritten_two_label_inc_ns"] = ns_per_call(
            lambda: old.messages_in.inc(kind=KIOSK, transport="mqtt"), args.calls, args.repeat)

    # One scrape with a realistic number of series: gaps per device, a few rejection reasons, six gauges.
    for i in range(args.devices):
        m.gaps.inc(device_id=f"dev-{i:04d}")
        if old is not None:
            old.gaps.inc(device_id=f"dev-{i:04d}")
    for target in [m] + ([old] if old is not None else []):
        for g in ("edge_buffered_points", "edge_buffered_records", "edge_intake_queue", "edge_mqtt_connected",
                  "edge_store_errors_total", "edge_influx_healthy"):
            target.gauge(g, "bench", lambda: 1)
    scrapes = max(20, args.calls // 2000)
    results["edge_render_us"] = ns_per_call(m.render, scrapes, args.repeat) / 1000
    results["edge_render_bytes"] = len(m.render())
    if old is not None:
        results["reference_handwritten_render_us"] = ns_per_call(old.render, scrapes, args.repeat) / 1000
        results["reference_handwritten_render_bytes"] = len(old.render())

    out = {
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{k: round(v, 1) for k, v in results.items()},
        "calls": args.calls, "repeat": args.repeat, "devices": args.devices,
        "loadavg": os.getloadavg(), "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
