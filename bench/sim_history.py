"""Simulated history speed: ``python -m firmware_sim history --weeks 26`` for the demo site, end to end
(process start, simulation, CSV), and the simulation alone. Reference in the same run: writing the same
number of CSV rows with Python's csv module from ready-made tuples (pure I/O and formatting).

    .venv/bin/python bench/sim_history.py [--weeks 26] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_sim.history import simulate_weeks
from floorops.config import load_config
from floorops.site import load_site


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weeks", type=int, default=26)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    site = load_site(load_config(env={}).site.file)
    end = dt.date(2026, 11, 22)
    cli, sim_only, ref = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "h.csv"
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "firmware_sim", "history", "--weeks", str(args.weeks), "--seed", "1",
                            "--out", str(out), "--end", end.isoformat()], check=True, capture_output=True)
            cli.append(time.perf_counter() - t)
            t = time.perf_counter()
            hist = simulate_weeks(site, args.weeks, 1, end)
            sim_only.append(time.perf_counter() - t)
            rows = [("2026-01-01T00:00:00+08:00", "zone", 1, "1.00", 1)] * (hist.arrivals.size)
            t = time.perf_counter()
            with open(Path(tmp) / "ref.csv", "w", newline="") as f:
                csv.writer(f).writerows(rows)
            ref.append(time.perf_counter() - t)
        n = sum(1 for _ in out.open()) - 1
    print(f"history --weeks {args.weeks}: {n} rows; CLI end to end median {statistics.median(cli):.2f} s "
          f"(min {min(cli):.2f}); simulation alone median {statistics.median(sim_only):.2f} s; "
          f"reference csv.writer of {n} rows median {statistics.median(ref):.2f} s")


if __name__ == "__main__":
    main()
