"""The chaos suite's recovery times as the Markdown table of docs/benchmarks.md.

    CHAOS_REPORT=/tmp/chaos.json python -m pytest tests/chaos -q -s
    python bench/chaos_report.py /tmp/chaos.json

The JSON is what tests/chaos/chaos_harness.py writes after each fault (also ``chaos.json`` in the suite's
tmp var dir): the machine, the simulator's speed and the edge's intake rate, then one entry per fault.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _s(v: Any) -> str:
    return "—" if v is None else f"{v:.1f} s"


def table(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    head = (f"Measured {m['date']} on {m['cpus']} cores (load average {m['loadavg'][0]} at the end), "
            f"Python {m['python']}, simulator at speed {doc['speed']:g} "
            f"({doc.get('messages_per_s') or '?'} device messages/s into the edge).\n\n")
    rows = ["| fault | back after | by supervisor | hub shows the alarm | InfluxDB complete "
            "| alarms / tickets / dispatches | lost / duplicated | notes |",
            "|---|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        rows.append(f"| {r['fault']} | {_s(r['back_s'])} | {'yes' if r['by_supervisor'] else 'no'} "
                    f"| {_s(r['hub_caught_up_s'])} | {_s(r['influx_caught_up_s'])} | {r['alarms']} / {r['tickets']} / {r.get('dispatches', '—')} "
                    f"| {r['lost']} / {r['duplicated']} | {'; '.join(r['notes'])} |")
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="the chaos suite's measurements (chaos.json)")
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.json.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.json}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
