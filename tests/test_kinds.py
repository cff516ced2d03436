"""Device kinds have one home (floorops/kinds.py): every list of kinds is derived from it, so a new kind is
one declaration there (and its contract, measurements and rules), not an edit of seven lists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from floorops.config import load_config
from floorops.contract import ContractError, parse_topic
from floorops.kinds import DEVICE_KINDS, KINDS, MQTT_KINDS
from hub.clock import ManualClock
from hub.rules.config import rules_schema
from tests.hub.helpers import make_hub

REPO = Path(__file__).resolve().parents[1]


def test_the_console_gets_the_kinds_from_the_hub_in_their_declared_order(tmp_path: Path) -> None:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    hub = make_hub(cfg, ManualClock(1_800_000_000.0))
    assert [k["name"] for k in hub.site_json()["device_kinds"]] == list(DEVICE_KINDS)
    assert {k["name"]: k["transports"] for k in hub.site_json()["device_kinds"]}["wifi_probe"] == ["mqtt", "serial"]


def test_the_rules_and_the_device_contract_take_their_kinds_from_the_declaration() -> None:
    timeouts = rules_schema()["properties"]["rules"]["properties"]["device_offline"]["properties"]["timeout_s"]
    assert sorted(timeouts["properties"]) == sorted(DEVICE_KINDS)
    assert MQTT_KINDS == tuple(k.name for k in KINDS if "mqtt" in k.transports)
    for kind in DEVICE_KINDS:
        topic = f"hospital/demo/{kind}/x-1/telemetry"
        if kind in MQTT_KINDS:
            assert parse_topic(topic).kind == kind
        else:
            try:
                parse_topic(topic)
            except ContractError:
                continue
            raise AssertionError(f"{kind} has no MQTT transport, yet its topic parsed")


def test_no_other_source_file_writes_the_list_of_kinds_out() -> None:
    quoted = [re.compile(rf"""["']{k}["']""") for k in DEVICE_KINDS]
    files = subprocess.run(["git", "ls-files", "floorops", "hub", "edge", "console", "firmware_sim", "models",
                            "tools"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        if not name.endswith((".py", ".js")) or name == "floorops/kinds.py":
            continue
        for n, text in enumerate((REPO / name).read_text(encoding="utf-8").splitlines(), 1):
            if all(q.search(text) for q in quoted):
                offenders.append(f"{name}:{n}: {text.strip()}")
    assert offenders == [], "kinds listed outside floorops/kinds.py:\n" + "\n".join(offenders)
