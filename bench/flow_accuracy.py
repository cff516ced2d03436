"""Patient flow against the simulator's ground truth (docs/benchmarks.md, "Patient flow").

The site's Wi-Fi probes, simulated for a working day, go through the edge's own pipeline (validation,
hashing, the flow tracker with k = 5 and its carry); the flow intervals it would publish are compared with
the transitions and back-and-forths the simulated patients really made (centre/flow_accuracy.py):

- transitions: per hour and per *busy* zone pair (>= 30 true transitions in the hour), the relative error
  of the edge's (scaled) count; target 15 %;
- wandering: per imaging zone, the back-and-forth rate (detours / arrivals) over the day, against the
  truth; target 20 %. Run with clear signs, with ``signage_unclear`` on every imaging zone, without the
  flow calibration's corrections, and with no / many randomising phones (their tracks are not followed:
  what does that cost?).

The default day and seed are among the flow calibration's held-out ones (floorops/sites/demo.flows.json:
fitted on 2026-11-17/18, seeds 2-4). ``--pooled`` adds the held-out days and seeds of the calibration file,
each zone's rate pooled over them (a week's figure), with the correction on and off.

    .venv/bin/python bench/flow_accuracy.py [--day 2026-11-19] [--seed 5] [--hours 8 18] [--quick] [--pooled]

15-60 s per scenario on the 2-core machine (six scenarios; --quick: the first three). Prints Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from centre.flow_accuracy import Accuracy, accuracy, simulate
from centre.flow_calibration import heldout_errors, runs
from edge.flow_calibration import read as read_flow_calibration
from edge.processors.flows import FlowSettings
from floorops.config import load_config
from floorops.site import load_site

IMAGING = ("imaging_ct", "imaging_us", "imaging_xr")


def report(name: str, acc: Accuracy, tz: dt.tzinfo) -> list[str]:
    errs = [p.error for p in acc.pairs]
    oracle = [p.oracle_error for p in acc.pairs]
    out = [f"**{name}**: {len(errs)} busy pair-hours (>= 30 true transitions). Edge: within 15 %: "
           f"{acc.share_within(0.15):.0%}, median error {statistics.median(errs):.1%}, worst {max(errs):.1%}. "
           f"Oracle (the followable phones' own transitions, scaled by their true share): within 15 %: "
           f"{acc.share_within(0.15, oracle=True):.0%}, median {statistics.median(oracle):.1%}, worst {max(oracle):.1%}",
           "", "| hour | origin -> dest | truth | oracle | edge | error |", "|---|---|---|---|---|---|"]
    for p in sorted(acc.pairs, key=lambda p: -p.truth)[:6] + sorted(acc.pairs, key=lambda p: -p.error)[:6]:
        hour = dt.datetime.fromtimestamp(p.hour / 1000, tz).hour
        out.append(f"| {hour:02d}:00 | {p.origin} -> {p.dest} | {p.truth} | {p.oracle:.0f} | {p.measured} | "
                   f"{p.error:.1%} |")
    out += ["", "| zone | arrivals (truth) | rate, truth | rate, oracle | rate, edge | error |",
            "|---|---|---|---|---|---|"]
    for z, (truth, measured, n, orc) in sorted(acc.wandering.items()):
        err = f"{abs(measured - truth) / truth:.0%}" if truth else "-"
        out.append(f"| {z} | {n} | {truth:.1%} | {orc:.1%} | {measured:.1%} | {err} |")
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--day", default="2026-11-19")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--hours", type=int, nargs=2, default=(8, 18))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pooled", action="store_true")
    a = ap.parse_args()
    cfg = load_config(env={})
    site = load_site(cfg.site.file)
    day = dt.date.fromisoformat(a.day)
    calibration = Path(cfg.path(cfg.edge.occupancy_calibration))
    flow_cal = Path(cfg.path(cfg.edge.flow_calibration))
    corrected = {"flow_calibration": flow_cal}
    scenarios: list[tuple[str, dict[str, Any]]] = [
        ("clear signs, 30 % of phones randomise (the simulator's default)", corrected),
        ("signage_unclear on every imaging zone", {"unclear": IMAGING, **corrected}),
        ("signage_unclear, without the flow calibration (as the edge sees)", {"unclear": IMAGING}),
        ("signage_unclear, k = 1 (the method without the privacy rule)", {"unclear": IMAGING, **corrected,
                                                                          "settings": FlowSettings(k=1)}),
        ("no phone randomises", {"randomising_share": 0.0, **corrected}),
        ("60 % of phones randomise", {"randomising_share": 0.6, **corrected}),
    ]
    for name, kw in scenarios[:3] if a.quick else scenarios:
        t = time.perf_counter()
        run = simulate(site, day, a.seed, a.hours[0], a.hours[1], calibration=calibration, **kw)
        acc = accuracy(run, zones=IMAGING)
        print("\n".join(report(f"{name} ({time.perf_counter() - t:.0f} s)", acc, site.tz)), flush=True)
        for busy in (100, 150):
            b = accuracy(run, busy_min=busy)
            print(f"Pairs with >= {busy} an hour: {len(b.pairs)} pair-hours; edge within 15 %: "
                  f"{b.share_within(0.15):.0%}, worst {b.worst_pair():.1%}; oracle within 15 %: "
                  f"{b.share_within(0.15, oracle=True):.0%}\n", flush=True)

    if a.pooled:
        pooled(Path(cfg.site.file), calibration, flow_cal, FlowSettings.of(cfg.edge))


def pooled(site_file: Path, occupancy: Path, flow_cal: Path, flows: FlowSettings) -> None:
    """The calibration file's held-out days and seeds again, with and without its correction."""
    held = read_flow_calibration(flow_cal).heldout
    days, seeds = [dt.date.fromisoformat(d) for d in held["days"]], held["seeds"]
    hours = (int(held["hours"][0]), int(held["hours"][1]))
    for name, cal in (("with the flow calibration", flow_cal), ("without it", None)):
        t = time.perf_counter()
        h = heldout_errors(runs(site_file, days, seeds, hours, occupancy, flows, cal))
        print(f"**Held-out days {held['days']} x seeds {seeds}, signage_unclear, {name}** "
              f"({time.perf_counter() - t:.0f} s)\n\n| zone | error per day | within 20 % | pooled: truth | edge | error |"
              "\n|---|---|---|---|---|---|")
        for zone, z in h["wandering"].items():
            errs = [r["error"] for r in z["runs"] if r["error"] is not None]
            n = sum(r["arrivals"] for r in z["runs"])
            truth = sum(r["truth"] * r["arrivals"] for r in z["runs"]) / n
            edge = sum(r["edge"] * r["arrivals"] for r in z["runs"]) / n
            print(f"| {zone} | {', '.join(f'{e:.0%}' for e in errs)} | {sum(e <= 0.2 for e in errs)} of {len(errs)} "
                  f"| {truth:.1%} | {edge:.1%} | {z['pooled_error']:.0%} |")
        tr = h["transitions"]
        print(f"\nPair-hours with >= {tr['busy_min']} true transitions: {tr['pair_hours']}; within 15 %: "
              f"{tr['within_15']:.0%} (oracle {tr['oracle_within_15']:.0%}); worst {tr['worst']:.0%}\n", flush=True)


if __name__ == "__main__":
    main()
