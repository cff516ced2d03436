"""``influx.retention`` is a real retention policy (issue #12 item 7b), against real influxd 1.6.7 (its
retention check every second) and a real edge agent: at start the edge sets the database's default policy
to ``influx.retention`` and puts raw hashed sightings in a shorter ``floorops_sightings`` policy; points older
than a policy go, newer ones stay; a retention shorter than ``models.history_days`` is refused clearly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from floorops.config import ConfigError, load_config
from floorops.influx import query_sync
from floorops.retention import SIGHTING_RP, plan
from centre.services import InfluxServer, MosquittoServer, wait_until
from tests.edge.edge_harness import EdgeHarness, make_config, provision_edge

DAY_NS = 86_400 * 10**9


def write(url: str, db: str, lines: list[str], rp: str | None = None) -> None:
    params = {"db": db, "precision": "ns", **({"rp": rp} if rp else {})}
    req = urllib.request.Request(f"{url}/write?{urllib.parse.urlencode(params)}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 204


def policies(url: str, db: str) -> dict[str, tuple[str, bool]]:
    series = query_sync(url, db, f'SHOW RETENTION POLICIES ON "{db}"')
    cols = series[0]["columns"]
    return {r["name"]: (r["duration"], r["default"]) for r in (dict(zip(cols, v)) for v in series[0]["values"])}


def count(url: str, db: str, source: str, where: str = "") -> int:
    series = query_sync(url, db, f"SELECT count(rssi) FROM {source} {where}")
    return int(series[0]["values"][0][1]) if series else 0


def test_a_retention_shorter_than_the_models_history_is_refused() -> None:
    cfg = load_config(env={})
    cfg.models.history_days = 182
    cfg.influx.retention = "90d"
    with pytest.raises(ConfigError, match=r"influx.retention = '90d' is shorter than models.history_days = 182"):
        plan(cfg)
    cfg.influx.retention = "26w"
    assert plan(cfg).default_s == 182 * 86_400
    for bad in ("90 days", "0d", "-1d", "1y", "inf"):
        cfg.influx.retention = bad
        with pytest.raises(ConfigError, match="influx.retention: expected a duration"):
            plan(cfg)
    cfg.influx.retention, cfg.influx.sighting_retention = "182d", "200d"
    with pytest.raises(ConfigError, match="sighting_retention is longer"):
        plan(cfg)


@pytest.mark.integration
def test_the_edge_refuses_to_start_with_too_short_a_retention(tmp_path: Path, broker: MosquittoServer,
                                                               influx: InfluxServer, influx_db: str) -> None:
    cfg = make_config(tmp_path, broker, influx.url, influx_db)
    cfg.influx.retention = "30d"
    edge = EdgeHarness(cfg, broker, influx.url, influx_db, tmp_path)
    edge.write_config()
    out = subprocess.run([sys.executable, "-m", "edge", "--config", str(edge.config_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "shorter than models.history_days" in out.stderr, out.stderr


@pytest.mark.integration
def test_policies_are_applied_and_old_sightings_go(tmp_path: Path, broker: MosquittoServer, dynsec,
                                                   make_influx: Callable[..., InfluxServer], site_id: str) -> None:
    influx = make_influx(retention_check_interval="1s")
    db, url = influx.database, influx.url
    now = time.time_ns()
    tags = f"wifi_sighting,site={site_id},zone=reg_hall,device_id=probe-05"
    # Before FloorOps managed retention: everything in "autogen" (infinite), kept forever.
    write(url, db, [f"{tags} rssi=-60i,mac_hash=\"old\" {now - 200 * DAY_NS}",
                    f"{tags} rssi=-61i,mac_hash=\"recent\" {now - 10 * DAY_NS}",
                    f"zone_occupancy,site={site_id},zone=reg_hall count=5i {now - 200 * DAY_NS}",
                    f"zone_occupancy,site={site_id},zone=reg_hall count=6i {now - 10 * DAY_NS}"])
    # A sightings policy from an earlier, longer setting, holding 3-day-old and 1-minute-old sightings.
    query_sync(url, db, f'CREATE RETENTION POLICY "{SIGHTING_RP}" ON "{db}" DURATION 30d REPLICATION 1')
    write(url, db, [f"{tags} rssi=-62i,mac_hash=\"3days\" {now - 3 * DAY_NS}",
                    f"{tags} rssi=-63i,mac_hash=\"minute\" {now - 60 * 10**9}"], rp=SIGHTING_RP)
    time.sleep(2.5)  # a few retention checks: nothing goes under the old policies
    assert count(url, db, "wifi_sighting") == 2 and count(url, db, f'"{SIGHTING_RP}".wifi_sighting') == 2

    cfg = make_config(tmp_path, broker, url, db, site_id)
    cfg.influx.retention = "182d"
    cfg.influx.sighting_retention = "1h"
    provision_edge(cfg, broker)
    edge = EdgeHarness(cfg, broker, url, db, tmp_path).start()
    try:
        probe = edge.device("wifi_probe", "probe-05", dynsec)
        ts = int(time.time() * 1000)
        probe.publish(f"hospital/{site_id}/wifi_probe/probe-05/telemetry", json.dumps(
            {"v": 1, "ts": ts, "seq": 1, "sightings": [{"mac": "3c:22:fb:9a:41:7e", "rssi": -58, "ts": ts}]}),
            qos=0).wait_for_publish(5)
        wait_until(lambda: count(url, db, f'"{SIGHTING_RP}".wifi_sighting', "WHERE rssi = -58") == 1, 30,
                   "the new sighting in the sightings policy")
        assert count(url, db, "wifi_sighting", "WHERE rssi = -58") == 0  # not in the default policy
        pols = policies(url, db)
        assert pols["autogen"] == ("4368h0m0s", True)  # 182 days, still the default
        assert pols[SIGHTING_RP] == ("1h0m0s", False)
        # influxd's retention check deletes the shards past each policy's duration.
        def occupancy() -> list:
            return [v[1] for s in query_sync(url, db, "SELECT count FROM zone_occupancy") for v in s["values"]]

        wait_until(lambda: occupancy() == [6], 30, "the 200-day-old occupancy point deleted, the 10-day-old kept")
        wait_until(lambda: count(url, db, "wifi_sighting") == 1, 30, "the 200-day-old sighting deleted")
        wait_until(lambda: count(url, db, f'"{SIGHTING_RP}".wifi_sighting') == 2, 30, "the 3-day-old one deleted")
        left = query_sync(url, db, f'SELECT mac_hash FROM "{SIGHTING_RP}".wifi_sighting')[0]["values"]
        assert "3days" not in {v[1] for v in left} and "minute" in {v[1] for v in left}
        assert query_sync(url, db, "SELECT mac_hash FROM wifi_sighting")[0]["values"][0][1] == "recent"
    finally:
        edge.stop()
