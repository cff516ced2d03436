"""Running ``python -m models train`` the way the hub's nightly job does, for the tests that need a model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from floorops.config import Config, dump_toml


def run_train(cfg: Config, folder: Path, max_rows: int, days: int | None = None,
              test_days: int | None = 0) -> subprocess.CompletedProcess[str]:
    """``python -m models train`` on ``cfg``'s InfluxDB (``days=None``: models.history_days; ``test_days=None``:
    models.test_days), its exit code, stdout and stderr as they are."""
    conf = folder / "floorops.toml"
    conf.write_text(dump_toml(cfg))
    env = dict(os.environ, FLOOROPS_MODELS__MAX_ROWS=str(max_rows))
    argv = [sys.executable, "-m", "models", "train", "--config", str(conf)]
    argv += [] if days is None else ["--days", str(days)]
    argv += [] if test_days is None else ["--test-days", str(test_days)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env)


def train(cfg: Config, folder: Path, days: int | None, max_rows: int,
          test_days: int | None = 0) -> tuple[dict[str, Any], str]:
    """Train from ``cfg``'s InfluxDB on the last ``days`` days (no backtest by default): the command's JSON
    report and its progress (stderr)."""
    out = run_train(cfg, folder, max_rows, days, test_days)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr
