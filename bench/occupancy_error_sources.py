"""Where the per-zone occupancy error comes from (docs/edge.md, "Where the error comes from").

Runs the simulator for a fit day and a held-out day exactly as ``python -m centre calibrate`` does, and
also reads, from inside the simulator, what no device can see: how many people in each zone carry a
phone and how many of those randomise their MAC. Then it scores a ladder of per-zone models on the
held-out day, each fitted on the fit day only, adding one real-world effect at a time:

1. the true number of phone carriers (an oracle): what is left is the coin flip of who carries a phone;
2. burnt-in phones as heard in the window + the true number of randomising phones: adds the probes'
   detection probability and the window's lag (people who just left);
3. phones as heard (burnt-in and randomised): adds the overcount of rotating randomised MACs;
4. + the recent half of the window (the phones-only model the agent uses when screens are silent);
5. the previous model (global formula x zone factor), for reference;
6. the queue screens alone (tickets waiting and at a counter);
7. phones + queue screens (the configured model).

    .venv/bin/python bench/occupancy_error_sources.py [--fit-day 2026-11-16] [--test-day 2026-11-17]

About 2 minutes on the 2-core machine. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floorops.config import load_config
from floorops.site import load_site

from edge import calibration
from edge.calibration import MINUTE_MS, ZoneMinute
from edge.kinds import edge_kind
from centre.calibration import simulate_day

Oracle = dict[int, dict[str, tuple[int, int]]]  # minute -> zone -> (phone carriers, randomising phones)


def simulate(site: Any, day: dt.date, seed: int, rssi_min: int, window_s: float) -> tuple[list[ZoneMinute], Oracle]:
    zones = sorted({d.zone for d in site.devices if edge_kind(d.kind).sightings_channel})
    oracle: Oracle = {}

    def look_inside(t_ms: int, sim: Any) -> None:
        tracker = sim.tracker
        here: dict[str, tuple[int, int]] = {}
        for z in zones:
            phones = randomising = 0
            for i in tracker._zone_nodes.get(z, []):
                for pid in list(tracker.waiting[i]) + tracker.present[i]:
                    p = tracker.patients[pid]
                    phones += p.mac is not None
                    randomising += p.mac is not None and p.randomises
            here[z] = (phones, randomising)
        oracle[t_ms + MINUTE_MS] = here  # the step at t holds for the minute that ends at t + 1 min

    day_data = simulate_day(site, day, seed, rssi_min, 7, 18, on_minute=look_inside)
    return calibration.counts(day_data, window_s), oracle


class Predictions:
    """Predictions computed outside an estimator, in the shape calibration.score takes."""

    def __init__(self, rows: list[ZoneMinute], values: Sequence[float]) -> None:
        self.by_row = {id(r.features): float(v) for r, v in zip(rows, values)}

    def predict_zone(self, zone: str, f: Any) -> float:
        return self.by_row[id(f)]


def per_zone_least_squares(fit_rows: list[ZoneMinute], fit_x: np.ndarray, test_rows: list[ZoneMinute],
                           test_x: np.ndarray) -> Predictions:
    """Non-negative per-zone least squares without intercept (no signal, no people)."""
    from scipy.optimize import nnls

    out = np.zeros(len(test_rows))
    for zone in sorted({r.zone for r in fit_rows}):
        fi = [i for i, r in enumerate(fit_rows) if r.zone == zone]
        ti = [i for i, r in enumerate(test_rows) if r.zone == zone]
        w, _ = nnls(fit_x[fi], np.array([fit_rows[i].truth for i in fi]))
        out[ti] = test_x[ti] @ w
    return Predictions(test_rows, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit-day", default="2026-11-16")
    ap.add_argument("--test-day", default="2026-11-17")
    ap.add_argument("--window-s", type=float)
    args = ap.parse_args()
    cfg = load_config(env={})
    site = load_site(cfg.site.file)
    window = args.window_s or cfg.edge.occupancy_window_s
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rssi_min = cfg.edge.occupancy_rssi_min
    fit_rows, fit_oracle = simulate(site, dt.date.fromisoformat(args.fit_day), 1, rssi_min, window)
    test_rows, test_oracle = simulate(site, dt.date.fromisoformat(args.test_day), 2, rssi_min, window)
    fit_rows = [r for r in fit_rows if r.t_ms in fit_oracle]
    test_rows = [r for r in test_rows if r.t_ms in test_oracle]
    est = calibration.fit(fit_rows)

    Columns = Callable[[ZoneMinute, tuple[int, int]], list[float]]

    def matrix(rows: list[ZoneMinute], oracle: Oracle, cols: Columns) -> np.ndarray:
        return np.array([cols(r, oracle[r.t_ms][r.zone]) for r in rows], float)

    ladder: list[tuple[str, Any]] = []
    for name, cols in (
        ("1. true phone carriers (oracle): who carries a phone", lambda r, o: [o[0]]),
        ("2. burnt-in phones heard + true randomising phones: + detection and window lag",
         lambda r, o: [r.features.universal, o[1]]),
        ("3. all phones as heard: + randomised-MAC overcount",
         lambda r, o: [r.features.universal, r.features.randomised]),
    ):
        ladder.append((name, per_zone_least_squares(fit_rows, matrix(fit_rows, fit_oracle, cols), test_rows,
                                                    matrix(test_rows, test_oracle, cols))))
    ladder.append(("4. + recent half window (phones-only model, `occupancy_zone_phone_weights`)",
                   calibration.phones_only(est)))
    ladder.append(("5. previous model: global formula x zone factor", calibration.global_only(est)))
    queue_cols = lambda r, o: [r.features.waiting, r.features.at_counter]  # noqa: E731 - a one-line column picker, like the ladder's others
    ladder.append(("6. queue screens alone (tickets waiting, tickets at a counter)",
                   per_zone_least_squares(fit_rows, matrix(fit_rows, fit_oracle, queue_cols), test_rows,
                                          matrix(test_rows, test_oracle, queue_cols))))
    ladder.append(("7. **phones + queue screens (configured model, `occupancy_zone_weights`)**", est))
    peak = calibration.peak_hours(test_rows, site.tz)
    scores = [(name, calibration.score(test_rows, model, site.tz, peak)) for name, model in ladder]
    elapsed = time.perf_counter() - t0

    print(f"# fit {args.fit_day} (seed 1), held-out {args.test_day} (seed 2), window {window:g} s, peak "
          f"{peak[0]}:00-{peak[1]}:00; {elapsed:.0f} s; load average before {load_before[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)\n")
    zones = sorted(scores[0][1].per_zone)
    print("| model | per zone, minute | per zone, 15 min | all zones together | " + " | ".join(zones) + " |")
    print("|---" * (4 + len(zones)) + "|")
    for name, s in scores:
        print(f"| {name} | {s.zone_minute} % | {s.zone_bucket} % | {s.site_minute} % | "
              + " | ".join(f"{s.per_zone[z][0]:g} / {s.per_zone[z][1]:g}" for z in zones) + " |")
    people = {z: float(np.mean([r.truth for r in test_rows if r.zone == z and peak[0] <= dt.datetime.fromtimestamp(
        r.t_ms / 1000, site.tz).hour < peak[1]])) for z in zones}
    print("\nMean people in the peak: " + ", ".join(f"{z} {v:.0f}" for z, v in people.items()))
    print("Binomial floor, relative s.d. of (phone carriers / 0.8) = sqrt(0.2 / (0.8 N)): "
          + ", ".join(f"{z} {100 * np.sqrt(0.2 / (0.8 * max(v, 1))):.0f} %" for z, v in people.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
