"""The chaos suite's stack: the same ControlCentre as ``make run`` (and tests/conftest.py control_centre), in
its own temp var dir on free ports, with the simulator fast enough for a few hundred messages a second.

The simulator starts at a fixed virtual time with random faults off: every fault in these tests is one the
suite injects, so it can count each alarm (and the run does not depend on the day or hour it runs).
The edge buffer lives on a small tmpfs of its own when the suite may mount one (root), for the disk-full
scenario; elsewhere that scenario is skipped and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Iterator

import pytest

from chaos_harness import Chaos, poll
from floorops.config import load_config
from centre.launcher import ControlCentre
from hub.rules.config import schema as rules_defaults
from centre.services import free_port

SPEED = float(os.environ.get("CHAOS_SPEED", "240"))
BUFFER_DISK_MB = 64


def _mount_tmpfs(path: Path, size_mb: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        return False
    return subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def chaos_rules(var: Path) -> Path:
    """The shipped rules, except that a card jam also sends someone (it is the suite's one injected fault),
    and nothing else does: the crowd's own dispatches (busy Tuesday morning) would take the people a jam's
    dispatch needs, and the suite could not tell "nobody free" from "lost"."""
    text = (Path(__file__).resolve().parents[2] / "hub" / "rules.toml").read_text()
    shipped = tomllib.loads(text).get("rules", {})
    assert "card_jam" not in shipped  # the shipped file holds overrides only: these tables are ours to add
    dispatching = [name for name, rule in rules_defaults()["rules"].items() if rule["dispatch"]]
    assert dispatching and not any("dispatch" in shipped.get(name, {}) for name in dispatching)
    text += "\n[rules.card_jam]\ndispatch = true\n" + "".join(
        f"[rules.{name}]\ndispatch = false\n" for name in dispatching)
    path = var / "chaos-rules.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    # CHAOS_VAR_DIR (not FLOOROPS_*: the children would read that as a setting) keeps the run's var dir (logs, databases) where it can be read after the run.
    keep = os.environ.get("CHAOS_VAR_DIR")
    var = Path(keep) if keep else Path(tmp_path_factory.mktemp("chaos-var"))
    var.mkdir(parents=True, exist_ok=True)
    buffer_disk = var / "edge-disk"
    small_disk = _mount_tmpfs(buffer_disk, BUFFER_DISK_MB)
    cfg = load_config(env={})
    cfg.var_dir = str(var)
    cfg.log_format = "json"
    cfg.mqtt.port = free_port()
    cfg.influx.url = f"http://127.0.0.1:{free_port()}"
    cfg.influx.rpc_port = free_port()
    cfg.hub.http_port = free_port()
    cfg.edge.metrics_port = free_port()
    cfg.sim.control_port = free_port()
    cfg.sim.speed = SPEED
    cfg.sim.start = "2026-11-24T08:00"  # a Tuesday morning: busy floors, whatever day the suite runs
    # The devices' clocks are the simulator's virtual time: days off the edge's clock and running SPEED times
    # faster. With the skew bound on, the edge moved every reading to its own "now" (rounded to the second),
    # so two readings of a device taken from a backlog in the same second overwrote each other in InfluxDB,
    # and an event could land after the readings that followed it: lost readings and doubled alarms, more or
    # less often depending on the day and hour the suite ran. 0 keeps the device's time, as for history runs.
    cfg.edge.clock_skew_bound_s = 0.0
    cfg.hub.rules_file = str(chaos_rules(var))
    cfg.sim.faults_per_device_day = 0.0
    cfg.sim.bad_input_per_device_hour = 0.0
    cfg.sim.repair_min = 0.0  # an injected fault stays until the suite clears it
    if small_disk:
        cfg.edge.buffer_path = str(buffer_disk / "buffer.sqlite")
    centre = ControlCentre(cfg, bootstrap_models=False)
    harness = Chaos(centre, var, small_disk=buffer_disk if small_disk else None)
    try:
        centre.start()
        assert poll(harness.all_ok, 90) is not None, "the control centre did not come up"
        yield harness
    finally:
        centre.stop()
        if small_disk:
            subprocess.run(["umount", "-l", str(buffer_disk)], capture_output=True)
        print(f"\nchaos measurements: {var / 'chaos.json'}", flush=True)
