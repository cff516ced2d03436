"""``python -m floorops config``: print the effective configuration (defaults, file, environment)."""

from __future__ import annotations

import argparse
import sys

from floorops.config import ConfigError, dump_toml, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floorops", description=__doc__)
    parser.add_argument("command", choices=["config"])
    parser.add_argument("--config", help="configuration file (default: floorops.toml or $FLOOROPS_CONFIG)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    text = dump_toml(cfg)
    # Never print secrets.
    lines = [ln if "password" not in ln.split("=")[0] or ln.endswith('""') else ln.split("=")[0] + '= "***"'
             for ln in text.splitlines()]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
