"""``python -m edge``: run the edge agent, or list its dead letters.

    python -m edge --config FILE                 run the agent (also: python -m edge run --config FILE)
    python -m edge deadletters --config FILE     list rejected device input, newest first
    python -m edge privacy-scan --config FILE    look for per-phone data at rest (exit 1 if found)

(Occupancy calibration on the simulator: ``python -m centre calibrate``; the edge does not import it.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from floorops.config import ConfigError, load_config
from floorops.logs import setup_logging
from floorops.varperms import UMASK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m edge",
        description="FloorOps edge agent: reads devices (MQTT, Modbus RTU, serial probes), validates them "
                    "against the device contract, hashes MACs, estimates zone occupancy, writes InfluxDB and "
                    "forwards records to the hub, with a durable on-disk buffer.",
    )
    p.add_argument("--config", help="configuration file (default: floorops.toml or $FLOOROPS_CONFIG)")
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the agent (the default)")
    run.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    dl = sub.add_parser("deadletters", help="list rejected device input (payloads redacted), newest first")
    dl.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    dl.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    dl.add_argument("--reason", help="only this rejection reason (e.g. bad_json, bad_checksum)")
    dl.add_argument("--json", action="store_true", help="one JSON object a line")
    dl.add_argument("--counts", action="store_true", help="only the number of dead letters per reason")
    ps = sub.add_parser("privacy-scan", help="look for per-phone data at rest: InfluxDB, flow aggregates under k, "
                                             "the edge's files (docs/privacy.md); exit status 1 if any")
    ps.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(getattr(args, "sub_config", None) or args.config)
    except (ConfigError, OSError) as exc:
        print(f"edge: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "deadletters":
        from edge.deadletters import DeadLetterStore, dumps, format_table

        store = DeadLetterStore(cfg.path(cfg.edge.deadletter_path), cfg.edge.deadletter_max_rows)
        if args.counts:
            print(json.dumps(store.counts(), indent=2, sort_keys=True))
        else:
            letters = store.list(args.limit, args.reason)
            print(dumps(letters) if args.json else format_table(letters))
        store.close()
        return 0
    if args.command == "privacy-scan":
        from edge.privacy_scan import scan

        found = scan(cfg)
        for line in found:
            print(line)
        print(f"privacy scan: {len(found)} finding(s)" if found else "privacy scan: nothing per phone at rest")
        return 1 if found else 0
    os.umask(UMASK)  # buffer, dead letters, MAC keys: the owner's only (floorops/varperms.py)
    from floorops.retention import plan

    try:
        plan(cfg)  # a retention that would delete what the models need stops the agent here, clearly
    except ConfigError as exc:
        print(f"edge: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_level, cfg.log_format, component="edge")
    from edge.agent import run_agent

    run_agent(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
