"""``load-history`` speed: the demo site's weeks (``make run`` loads 8) into a real influxd, zones and queue
screens, in-process; and its parts: simulation plus line building alone. Reference in the same run: writing the
very same lines, ready-made, into a fresh database with the same batches (what InfluxDB and the HTTP write
cost on their own).

    .venv/bin/python bench/sim_load_history.py [--weeks 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_sim.history import simulate_weeks
from firmware_sim.load import all_history_lines, batches, load_history
from floorops import influx
from floorops.config import Config, load_config
from centre.services import InfluxServer, free_port
from floorops.site import load_site


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    site = load_site(load_config(env={}).site.file)
    now = dt.datetime(2026, 11, 23, 10, 7, tzinfo=site.tz)
    total, build, ref = [], [], []
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = InfluxServer(data_dir=Path(tmp) / "influx", http_port=free_port(), rpc_port=free_port()).start()
        try:
            cfg = Config(var_dir=tmp)
            cfg.influx.url = server.url
            for r in range(args.repeat):
                cfg.influx.database = f"load_{r}"
                t = time.perf_counter()
                n = load_history(cfg, site, args.weeks, 1, now=now)
                total.append(time.perf_counter() - t)
                t = time.perf_counter()
                hist = simulate_weeks(site, args.weeks, 1, end=now.date(), queues=True)
                lines = list(all_history_lines(hist, site.id, now - dt.timedelta(minutes=15), 1))
                build.append(time.perf_counter() - t)
                db = f"ref_{r}"
                influx.query_sync(server.url, db, f'CREATE DATABASE "{db}"')
                t = time.perf_counter()
                for batch in batches(lines):
                    influx.write_sync(server.url, db, batch)
                ref.append(time.perf_counter() - t)
                del lines
        finally:
            server.stop()
    print(f"load-history --weeks {args.weeks}: {n} points; end to end median {statistics.median(total):.1f} s "
          f"(min {min(total):.1f}, {args.repeat} runs); simulation and lines alone median {statistics.median(build):.1f} s; "
          f"reference: the same lines written ready-made median {statistics.median(ref):.1f} s")


if __name__ == "__main__":
    main()
