"""How much history a first model needs: accuracy of models trained on the last N days only.

Run:  .venv/bin/python bench/forecast_short_history.py [--weeks 10] [--seed 1] [--days 3,5,7,10,14,28,56]

The simulator's history (``python -m firmware_sim history``, 14 zones, 15-minute buckets) is cut at a local
midnight seven days before its end. For each N, the production forecaster (models.training.default_forecaster)
is fitted on the N days before the cut only, then forecasts a day (96 buckets) from each of the seven test
midnights, reading nothing before the N days (as a site with N days of InfluxDB data would) and nothing after
the origin. Every N is scored on the same points as the reference measured in the same run: seasonal naive
(same slot a week earlier, from the full history, which a site with N < 7 days would not even have).
Prints one JSON document; docs/benchmarks.md records it (the minimum in models.training.MIN_HISTORY_DAYS).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from floorops.config import load_config
from floorops.site import load_site
from models.backtest import mae, midnight_origins, seasonal_naive
from models.data import read_csv
from models.features import steps_per_day
from models.training import default_forecaster

TEST_DAYS = 7
HORIZON = 96


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", default="3,5,7,10,14,28,56")
    ap.add_argument("--targets", default="arrivals,occupancy")
    args = ap.parse_args()
    site = load_site(load_config(env={}).site.file)
    holidays = tuple(h.isoformat() for h in site.holidays)
    out: dict = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "weeks": args.weeks,
                 "seed": args.seed, "test_days": TEST_DAYS, "horizon": HORIZON, "targets": {}}
    with tempfile.TemporaryDirectory(prefix="short-history-") as tmp:
        csv_path = Path(tmp) / "history.csv"
        subprocess.run([sys.executable, "-m", "firmware_sim", "history", "--weeks", str(args.weeks), "--seed",
                        str(args.seed), "--out", str(csv_path)], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        for target in args.targets.split(","):
            whole = read_csv(csv_path, "ts", {target: target}, key_col="zone", timezone=site.timezone)
            day = steps_per_day(whole.freq_min)
            origins = midnight_origins(whole, TEST_DAYS, holidays)
            cut = origins[0] + 1  # first test bucket
            y = whole.values[target]
            actual = np.stack([y[:, o + 1: o + 1 + HORIZON] for o in origins])
            naive = np.stack([seasonal_naive(y, o, HORIZON, 7 * day) for o in origins])
            ok = ~np.isnan(actual) & ~np.isnan(naive)
            rows = {"seasonal_naive_mae": round(mae(actual[ok], naive[ok]), 3), "by_days": {}}
            for n_days in (int(d) for d in args.days.split(",")):
                table = whole.slice(whole.n_steps, start=cut - n_days * day)  # what a site with N days holds
                model = default_forecaster(target, holidays)
                t = time.perf_counter()
                model.fit(table.slice(n_days * day))
                fit_s = time.perf_counter() - t
                fc = np.stack([model.predict(table, o - (cut - n_days * day), HORIZON).quantile(0.5)
                               for o in origins])
                m = mae(actual[ok], fc[ok])
                rows["by_days"][n_days] = {"mae": round(m, 3),
                                           "vs_seasonal_naive": round(m / rows["seasonal_naive_mae"], 3),
                                           "fit_s": round(fit_s, 1), "unused_features": list(model.unused_features())}
                print(f"{target} {n_days:3d} days: MAE {m:.3f} (seasonal naive {rows['seasonal_naive_mae']:.3f})",
                      file=sys.stderr, flush=True)
            out["targets"][target] = rows
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
