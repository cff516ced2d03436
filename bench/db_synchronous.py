"""What ``synchronous=FULL`` costs the hub (hub/db.py): the hub's core applying edge records in batches of
the ingest's size (hub.ingest.BATCH_MAX, one SQLite transaction and commit each), with the database in
``synchronous=NORMAL`` and in ``FULL``, alternating in the same run, each round in a fresh database file on
the same disk (``--dir``, default a temporary folder under var/: the disk the hub's database lives on).

    .venv/bin/python bench/db_synchronous.py [--messages 20000] [--rounds 3] [--dir var/bench]

Printed per mode: records/s, and the commit time of one batch (p50, p99): what a fault waits for at most
behind a batch of readings, and what it costs itself (its own batch is committed before alarm.raised goes
out). Reference in the same run: the same work in NORMAL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alarm_latency_ingest import payloads

from floorops.config import load_config
from floorops.site import load_site
from hub.clock import ManualClock
from hub.core import Hub
from hub.db import Database
from hub.ingest import BATCH_MAX
from hub.roster import load_roster


def run(mode: str, msgs: list[tuple[str, bytes]], base: Path) -> tuple[float, list[float]]:
    """(records/s, seconds per batch) of one round in a fresh database."""
    cfg = load_config(env={})
    cfg.var_dir = tempfile.mkdtemp(prefix=f"sync-{mode}-", dir=base)
    db = Database(cfg.path(cfg.hub.db_path), synchronous=mode)
    hub = Hub(cfg, load_site(cfg.site.file), db, ManualClock(1_763_949_600.0), load_roster(cfg.hub.roster_file))
    per_batch = []
    t0 = time.perf_counter()
    for i in range(0, len(msgs), BATCH_MAX):
        t = time.perf_counter()
        hub.apply_messages(msgs[i:i + BATCH_MAX])
        per_batch.append(time.perf_counter() - t)
    rate = len(msgs) / (time.perf_counter() - t0)
    db.close()
    return rate, per_batch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=str(Path(__file__).resolve().parent.parent / "var" / "bench"))
    args = ap.parse_args()
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    msgs = payloads(args.messages)
    results: dict[str, tuple[list[float], list[float]]] = {"NORMAL": ([], []), "FULL": ([], [])}
    for _ in range(args.rounds):
        for mode in ("NORMAL", "FULL"):
            rate, batches = run(mode, msgs, base)
            results[mode][0].append(rate)
            results[mode][1].extend(batches)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.messages:,} records, "
          f"batches of {BATCH_MAX}, {args.rounds} rounds each, database under {base}")
    for mode, (rates, batches) in results.items():
        q = statistics.quantiles(batches, n=100)
        print(f"{mode:6s}: {statistics.median(rates):,.0f} records/s (median of rounds: "
              f"{', '.join(f'{r:,.0f}' for r in rates)}); one batch (apply + commit) p50 {q[49] * 1000:.1f} ms, "
              f"p99 {q[98] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
