"""``python -m edge privacy-scan`` (edge/privacy_scan.py) on a real influxd: clean data passes; a phone's
hash at rest, a flow aggregate under k and a hash waiting in the edge's buffer are each found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.privacy_scan import scan
from floorops.config import load_config
from floorops.influx import line, write_sync
from floorops.kinds.wifi_probe import lines as sighting_lines
from floorops.measurements import flow_lines
from floorops.messages import DeviceMessage, Sighting

pytestmark = pytest.mark.integration
T = 1_780_000_000_000


def config(tmp_path: Path, influx, db: str):
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path / "var")
    cfg.influx.url, cfg.influx.database = influx.url, db
    (tmp_path / "var" / "edge" / "keys").mkdir(parents=True)
    (tmp_path / "var" / "edge" / "keys" / "2026-12-06.key").write_bytes(b"mac_hash=" + b"k" * 23)  # not scanned
    return cfg


def interval(tracked: int, bnf: int) -> dict:
    return {"start": T, "k": 5, "other": 0,
            "flows": [{"origin": "lab", "dest": "imaging_ct", "count": tracked * 2, "tracked": tracked,
                       "median_transit_s": 90.0}],
            "wandering": [{"zone": "imaging_ct", "visitors": 20, "back_and_forth": bnf, "rate": bnf / 20,
                           "extra_walk_s": 200.0, "via": {"imaging_us": bnf - 1, "other": 1} if bnf else {}}]}


def test_what_the_edge_writes_passes(tmp_path: Path, influx, influx_db) -> None:
    cfg = config(tmp_path, influx, influx_db)
    msg = DeviceMessage("wifi_probe", "probe-12", "telemetry", T, 4, {}, sightings=[
        Sighting("0123456789abcdef0123456789abcdef", -60, T, False)])
    write_sync(influx.url, influx_db, sighting_lines(msg, {"site": "demo", "zone": "imaging_ct",
                                                          "device_id": "probe-12"}, T * 10**6)
               + flow_lines("demo", interval(5, 0)) + flow_lines("demo", interval(9, 6)))
    assert scan(cfg) == []
    out = subprocess.run([sys.executable, "-m", "edge", "privacy-scan"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "FLOOROPS_VAR_DIR": cfg.var_dir,
                              "FLOOROPS_INFLUX__URL": influx.url, "FLOOROPS_INFLUX__DATABASE": influx_db})
    assert out.returncode == 0 and "nothing per phone at rest" in out.stdout, out.stdout + out.stderr


def test_hashes_at_rest_and_counts_under_k_are_found(tmp_path: Path, influx, influx_db) -> None:
    cfg = config(tmp_path, influx, influx_db)
    tags = {"site": "demo", "zone": "imaging_ct", "device_id": "probe-12"}
    write_sync(influx.url, influx_db, [
        line("wifi_sighting", tags, {"mac_hash": "0123456789abcdef0123456789abcdef", "rssi": -60}, T * 10**6),
        line("some_plugin", tags, {"who": "fedcba9876543210fedcba9876543210"}, T * 10**6),
        *flow_lines("demo", interval(3, 2))])
    (tmp_path / "var" / "edge" / "buffer.sqlite").write_bytes(b"\0" * 5000 + b"wifi_sighting mac_hash=\"ab\"")
    found = scan(cfg)
    text = "\n".join(found)
    assert "wifi_sighting.mac_hash: a field naming a phone" in text
    assert "some_plugin.who: values shaped like a phone's keyed hash" in text
    assert "zone_flow: 1 point(s) followed fewer than k = 5" in text
    assert "zone_wandering: 1 point(s) with a count under k = 5" in text
    assert "zone_detour: 1 point(s) with a count under k = 5" in text  # imaging_us 1; "other" 1 is allowed
    assert "buffer.sqlite: a mac_hash field" in text
    assert "keys" not in text
    assert len(found) == 6
