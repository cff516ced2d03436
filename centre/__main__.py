"""``python -m centre``: commands that run several components together.

    python -m centre calibrate [--out FILE]     fit the edge's occupancy weights on the simulator, report the
                                                error, write the calibration file the edge loads
    python -m centre calibrate-flows [--out FILE]
                                                fit the share of wandering detours the edge sees, per
                                                imaging zone, on the simulator's lost patients
    python -m centre.launcher                   the whole control centre (``make run``)
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from floorops.config import Config, ConfigError, load_config
from floorops.site import SiteError, load_site


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m centre", description="FloorOps commands over several components "
                                "(the control centre itself: python -m centre.launcher).")
    sub = p.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="fit the edge's occupancy weights on the simulator's patient flow, "
                                           "report the error on a held-out day (about two minutes)")
    cal.add_argument("--config", help="configuration file (default: floorops.toml or $FLOOROPS_CONFIG)")
    cal.add_argument("--out", help="write the calibration file here (JSON; the edge's edge.occupancy_calibration)")
    cal.add_argument("--fit-day", default="2026-11-16", help="simulated weekday to fit on (seed 1)")
    cal.add_argument("--test-day", default="2026-11-17", help="simulated weekday to score on (seed 2)")
    cal.add_argument("--hours", default="7-18", help="local hours simulated, e.g. 7-18")
    flows = sub.add_parser("calibrate-flows", help="fit the share of back-and-forth detours the edge sees, per "
                                                   "imaging zone, on the simulator's lost patients; report the "
                                                   "error on held-out seeds (about 2.5 minutes per day and seed)")
    flows.add_argument("--config", help="configuration file (default: floorops.toml or $FLOOROPS_CONFIG)")
    flows.add_argument("--out", help="write the flow calibration here (JSON; the edge's edge.flow_calibration)")
    flows.add_argument("--fit-days", nargs="+", default=["2026-11-17", "2026-11-18"], help="simulated weekdays")
    flows.add_argument("--fit-seeds", nargs="+", type=int, default=[2, 3, 4])
    flows.add_argument("--test-days", nargs="+", default=["2026-11-19", "2026-11-20"], help="held-out weekdays")
    flows.add_argument("--test-seeds", nargs="+", type=int, default=[5, 6, 7])
    flows.add_argument("--hours", default="8-18", help="local hours simulated, e.g. 8-18")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        site = load_site(cfg.site.file)
    except (ConfigError, SiteError, OSError) as exc:
        print(f"centre: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "calibrate-flows":
        return _calibrate_flows(args, cfg)
    try:
        h0, h1 = (int(x) for x in args.hours.split("-"))
        fit_day, test_day = dt.date.fromisoformat(args.fit_day), dt.date.fromisoformat(args.test_day)
    except ValueError as exc:
        print(f"centre: bad --hours, --fit-day or --test-day: {exc}", file=sys.stderr)
        return 2
    from centre import calibration  # the simulator and the edge's pipeline: only this command needs them
    from edge import calibration_store

    # Fitted with the window and RSSI bound the edge runs with: the file records both, and the edge refuses a
    # file fitted with others.
    window, rssi_min = cfg.edge.occupancy_window_s, cfg.edge.occupancy_rssi_min
    cal = calibration.calibrate(site, window, rssi_min, fit_day, test_day, h0, h1)
    print(calibration.summary(cal, fit_day, test_day))
    if args.out:
        out = calibration_store.save(
            calibration.calibration_file(cal, site, window, rssi_min, fit_day, test_day, h0, h1), args.out)
        print(f"calibration file written: {out} (site {site.id}, window {window:g} s, RSSI >= {rssi_min})")
    return 0


def _calibrate_flows(args: argparse.Namespace, cfg: Config) -> int:
    try:
        h0, h1 = (int(x) for x in args.hours.split("-"))
        fit_days = [dt.date.fromisoformat(d) for d in args.fit_days]
        test_days = [dt.date.fromisoformat(d) for d in args.test_days]
    except ValueError as exc:
        print(f"centre: bad --hours, --fit-days or --test-days: {exc}", file=sys.stderr)
        return 2
    from centre import flow_calibration  # the simulator and the edge's pipeline: only this command needs them
    from edge import flow_calibration as flow_calibration_store
    from edge.processors.flows import FlowSettings

    # Fitted with the settings the edge runs with: the file records them, and the edge refuses other ones.
    e = cfg.edge
    flows = FlowSettings.of(e)
    with tempfile.TemporaryDirectory() as tmp:
        cal = flow_calibration.calibrate(Path(cfg.site.file), fit_days, args.fit_seeds, test_days, args.test_seeds, (h0, h1),
                                         Path(cfg.path(e.occupancy_calibration)), flows, Path(tmp) / "flows.json")
    print(flow_calibration.summary(cal))
    if args.out:
        out = flow_calibration_store.save(cal, args.out)
        print(f"flow calibration written: {out} (site {cal.site}, {cal.settings})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
