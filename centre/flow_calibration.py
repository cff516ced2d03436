"""Flow calibration against the simulator's ground truth (``python -m centre calibrate-flows``).

The edge sees a back-and-forth (A -> B -> A) only if it hears the phone in A before the detour; a lost
patient who looks around A for a minute or two is often not heard there, and the edge under-counts
wandering. This fits, per zone where the simulator has lost patients (the imaging zones), the share of
detours the edge sees: the edge's rate (as seen, among followed phones) over the true rate, pooled over
the fit days. Days with the signs unclear give the detours to fit on (with clear signs a zone's few
detours stay under k for the day). Then the error is measured on held-out seeds and days with the
correction on (and, for the record, the busy pair-hours' transitions). The result is a flow calibration
file (edge/flow_calibration.py) the edge loads at start. In a hospital the same share comes from a few
hours of staff counting the patients they see turn back.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from centre.flow_accuracy import accuracy, imaging_zones, simulate
from edge.flow_calibration import FlowCalibration, settings_of
from edge.processors.flows import FlowSettings
from floorops.site import load_site

BUSY_MIN = 100  # an hour's true transitions for a pair-hour to be scored (the "busy pairs")


@dataclass
class RunResult:
    """One simulated day: per imaging zone (true rate, edge rate, arrivals, oracle rate); the busy
    pair-hours' transitions (truth, edge, oracle)."""

    wandering: dict[str, tuple[float, float, int, float]]
    busy: list[tuple[int, int, float]]


def runs(site_file: Path, days: list[dt.date], seeds: list[int], hours: tuple[int, int], occupancy: Path | None,
          flows: FlowSettings, flow_calibration: Path | None = None) -> list[RunResult]:
    """One simulated day per (day, seed), each in a process of its own (a day takes 0.5-2.5 min on one core)."""
    jobs = [(site_file, day, seed, hours, occupancy, flows, flow_calibration) for day in days for seed in seeds]
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        return list(pool.map(_one_run, *zip(*jobs)))


def _one_run(site_file: Path, day: dt.date, seed: int, hours: tuple[int, int], occupancy: Path | None,
             flows: FlowSettings, flow_calibration: Path | None) -> RunResult:
    site = load_site(site_file)  # in the worker: a Site is not picklable
    zones = imaging_zones(site)
    run = simulate(site, day, seed, hours[0], hours[1], unclear=zones, settings=flows, calibration=occupancy,
                   flow_calibration=flow_calibration)
    acc = accuracy(run, busy_min=BUSY_MIN, zones=zones)
    return RunResult(acc.wandering, [(p.truth, p.measured, p.oracle) for p in acc.pairs])


def fit_detection(runs: list[RunResult]) -> dict[str, float]:
    """Per zone: the seen rate over the true rate, each pooled over the runs by arrivals (at most 1)."""
    shares = {}
    for zone in sorted({z for r in runs for z in r.wandering}):
        rows = [r.wandering[zone] for r in runs if zone in r.wandering]
        true = sum(t * n for t, _, n, _ in rows)
        seen = sum(m * n for _, m, n, _ in rows)
        if true > 0 and seen > 0:
            shares[zone] = round(min(1.0, seen / true), 3)
    return shares


def heldout_errors(runs: list[RunResult]) -> dict[str, Any]:
    """Wandering per zone and run (true, corrected, oracle rate, error) and each zone's pooled error; the
    busy pair-hours' share within 15 % (edge and oracle) and the worst."""
    per_zone: dict[str, Any] = {}
    for zone in sorted({z for r in runs for z in r.wandering}):
        rows = [r.wandering[zone] for r in runs if zone in r.wandering]
        arrivals = max(1, sum(n for *_, n, _ in rows))
        pooled_true = sum(t * n for t, _, n, _ in rows) / arrivals
        pooled_edge = sum(m * n for _, m, n, _ in rows) / arrivals
        per_zone[zone] = {
            "runs": [{"truth": round(t, 4), "edge": round(m, 4), "oracle": round(o, 4), "arrivals": n,
                      "error": round(abs(m - t) / t, 3) if t else None} for t, m, n, o in rows],
            "pooled_error": round(abs(pooled_edge - pooled_true) / pooled_true, 3) if pooled_true else None}
    busy = [b for r in runs for b in r.busy]
    errors = [abs(m - t) / t for t, m, _ in busy]
    return {"wandering": per_zone, "transitions": {
        "busy_min": BUSY_MIN, "pair_hours": len(busy),
        "within_15": round(sum(e <= 0.15 for e in errors) / len(errors), 3) if errors else None,
        "oracle_within_15": round(sum(abs(o - t) / t <= 0.15 for t, _, o in busy) / len(busy), 3) if busy else None,
        "worst": round(max(errors), 3) if errors else None}}


def calibrate(site_file: Path, fit_days: list[dt.date], fit_seeds: list[int], test_days: list[dt.date],
              test_seeds: list[int], hours: tuple[int, int], occupancy: Path | None, flows: FlowSettings,
              scratch: Path) -> FlowCalibration:
    """Fit on ``fit_days`` x ``fit_seeds``, then score with the correction on ``test_days`` x ``test_seeds``
    (written to ``scratch`` first, so the held-out runs go through the edge as it will run)."""
    from edge.flow_calibration import save
    site = load_site(site_file)
    fitted = runs(site_file, fit_days, fit_seeds, hours, occupancy, flows)
    cal = FlowCalibration(site.id, settings_of(flows), fit_detection(fitted),
                          fit={"source": "firmware_sim", "scenario": "signage_unclear on every imaging zone",
                               "days": [d.isoformat() for d in fit_days], "seeds": fit_seeds, "hours": list(hours)})
    save(cal, scratch)
    cal.heldout = {"days": [d.isoformat() for d in test_days], "seeds": test_seeds, "hours": list(hours),
                   **heldout_errors(runs(site_file, test_days, test_seeds, hours, occupancy, flows, scratch))}
    cal.fitted_at = ""
    return cal


def summary(cal: FlowCalibration) -> str:
    lines = [f"Flow calibration for site {cal.site} (fit: {cal.fit.get('days')} x seeds {cal.fit.get('seeds')}; "
             f"held out: {cal.heldout.get('days')} x seeds {cal.heldout.get('seeds')})", "",
             "| zone | detours seen | held-out wandering error per day (corrected) | pooled |", "|---|---|---|---|"]
    for zone, share in sorted(cal.detection.items()):
        h = cal.heldout.get("wandering", {}).get(zone, {})
        errs = ", ".join(f"{r['error']:.0%}" for r in h.get("runs", []) if r.get("error") is not None)
        pooled = h.get("pooled_error")
        lines.append(f"| {zone} | {share:.0%} | {errs} | {'-' if pooled is None else f'{pooled:.0%}'} |")
    t = cal.heldout.get("transitions", {})
    if t.get("pair_hours"):
        lines += ["", f"Held out, pair-hours with >= {t['busy_min']} true transitions: {t['pair_hours']}; within 15 %: "
                      f"{t['within_15']:.0%} (oracle {t['oracle_within_15']:.0%}), worst {t['worst']:.0%}"]
    return "\n".join(lines)
