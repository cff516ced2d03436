"""Running ``python -m models train`` the way the hub's nightly job does, for the tests that need a model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from floorops.config import Config, dump_toml


def train(cfg: Config, folder: Path, days: int, max_rows: int) -> tuple[dict[str, Any], str]:
    """Train from ``cfg``'s InfluxDB on the last ``days`` days (no backtest): the command's JSON report and
    its progress (stderr)."""
    conf = folder / "floorops.toml"
    conf.write_text(dump_toml(cfg))
    env = dict(os.environ, FLOOROPS_MODELS__MAX_ROWS=str(max_rows))
    out = subprocess.run([sys.executable, "-m", "models", "train", "--config", str(conf), "--days", str(days),
                          "--test-days", "0"], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr
