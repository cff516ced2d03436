"""The occupancy calibration file: written and read back whole, checked against the site when loaded, and a
file that does not fit never stops the edge from counting people (docs/edge.md, "Calibration file")."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from centre.services import wait_until
from edge import calibration_store
from edge.calibration_store import Calibration, CalibrationError
from edge.kinds import probe_zones
from edge.processors.occupancy import OccupancyEstimator, ZoneFeatures
from floorops.config import load_config
from floorops.site import load_site

DEMO = load_site(load_config(env={}).site.file)
PROBE_ZONES = sorted(probe_zones(DEMO.devices))


def fitted(site: str = DEMO.id, zones: list[str] | None = None) -> Calibration:
    zones = PROBE_ZONES if zones is None else zones
    est = OccupancyEstimator(0.9, 1.1, {z: 1.05 for z in zones},
                             {z: {"universal": 0.1, "waiting": 1.0} for z in zones},
                             {z: {"universal": 1.2, "randomised": 0.7} for z in zones})
    return Calibration(site, zones, 120.0, -80, est, fit={"source": "test", "days": ["2026-11-16"], "seeds": [1]},
                       heldout_mape={"zone_minute": 3.3})


def write(tmp_path: Path, cal: Calibration) -> Path:
    return calibration_store.save(cal, tmp_path / "site.occupancy.json")


def load(path: Path, window_s: float = 120.0, rssi_min: int = -80) -> calibration_store.Loaded:
    return calibration_store.load_for_site(path, DEMO, window_s, rssi_min)


def test_a_calibration_file_reads_back_as_written_and_fits_its_site(tmp_path: Path) -> None:
    path = write(tmp_path, fitted())
    raw = json.loads(path.read_text())
    assert raw["site"] == "demo" and raw["settings"] == {"window_s": 120.0, "rssi_min": -80}
    assert raw["version"] == calibration_store.VERSION and raw["fitted_at"]
    loaded = load(path)
    assert loaded.problems == []
    assert loaded.calibration is not None and loaded.calibration.heldout_mape == {"zone_minute": 3.3}
    zone = PROBE_ZONES[0]
    f = ZoneFeatures(universal=10, randomised=4)
    assert loaded.estimator.predict_zone(zone, f) == pytest.approx(1.2 * 10 + 0.7 * 4)


def test_the_demo_sites_file_is_shipped_and_fits_the_demo_site() -> None:
    edge = load_config(env={}).edge
    loaded = calibration_store.load_for_site(edge.occupancy_calibration, DEMO, edge.occupancy_window_s,
                                             edge.occupancy_rssi_min)
    assert loaded.problems == [] and loaded.calibration is not None
    assert sorted(loaded.estimator.zone_phone_weights) == PROBE_ZONES
    assert loaded.calibration.heldout_mape["zone_minute"] <= 10.0


@pytest.mark.parametrize("problem, spoil", [
    ("wrong_site", lambda raw: raw.update(site="other-hospital")),
    ("version", lambda raw: raw.update(version=99)),
    ("settings", lambda raw: raw["settings"].update(window_s=300)),
    ("settings", lambda raw: raw["settings"].update(rssi_min=-70)),
    ("corrupt", lambda raw: raw.pop("estimator")),
    ("corrupt", lambda raw: raw["estimator"]["zone_weights"].update(lab={"wating": 1.0})),
    ("corrupt", lambda raw: raw.update(schema="floorops.something_else")),
])
def test_a_file_that_does_not_fit_falls_back_to_the_uncalibrated_formula(tmp_path: Path, problem, spoil) -> None:
    path = write(tmp_path, fitted())
    raw = json.loads(path.read_text())
    spoil(raw)
    path.write_text(json.dumps(raw))
    loaded = load(path)
    assert [p for p, _ in loaded.problems] == [problem]
    assert str(path) in loaded.problems[0][1] and "\n" not in loaded.problems[0][1]
    assert loaded.calibration is None and loaded.estimator == OccupancyEstimator()


def test_a_truncated_or_missing_file_falls_back_too(tmp_path: Path) -> None:
    path = write(tmp_path, fitted())
    path.write_bytes(path.read_bytes()[:200])
    assert [p for p, _ in load(path).problems] == ["corrupt"]
    assert [p for p, _ in load(tmp_path / "absent.json").problems] == ["missing"]
    with pytest.raises(CalibrationError, match="no such occupancy calibration file"):
        calibration_store.read(tmp_path / "absent.json")


def test_a_zone_unknown_to_the_site_is_ignored_and_a_missing_probe_zone_uses_the_global_formula(
        tmp_path: Path) -> None:
    missing, *kept = PROBE_ZONES
    path = write(tmp_path, fitted(zones=kept + ["old_wing"]))
    loaded = load(path)
    assert sorted(loaded.problems) == [
        ("missing_zone", f"{path}: probe zone {missing!r} has no fitted weights; it uses the global formula"),
        ("unknown_zone", f"{path}: zone 'old_wing' is not a zone of site 'demo'; its weights are ignored")]
    est = loaded.estimator
    assert "old_wing" not in est.zone_phone_weights and sorted(est.zone_phone_weights) == kept
    # The missing zone gets the file's global formula: (universal + randomised / 1.1) / 0.9, zone factor 1.
    assert est.predict_zone(missing, ZoneFeatures(universal=9, randomised=11)) == pytest.approx((9 + 10) / 0.9)


@pytest.mark.integration
def test_the_edge_with_another_sites_file_still_counts_people_and_says_why(
        tmp_path: Path, make_edge, broker, dynsec, influx, influx_db) -> None:
    path = write(tmp_path, fitted(site="other-hospital"))
    edge = make_edge(broker, influx, influx_db, occupancy_publish_s=1.0, occupancy_calibration=str(path)).start()
    assert edge.metric("edge_occupancy_calibration_problems_total", problem="wrong_site") == 1
    now = int(time.time() * 1000)
    probe = edge.device("wifi_probe", "probe-03", dynsec)
    probe.publish(f"hospital/{edge.site}/wifi_probe/probe-03/telemetry", json.dumps(
        {"v": 1, "ts": now, "seq": 1, "sightings": [{"mac": "3c:22:fb:12:9a:01", "rssi": -61, "ts": now - 500},
                                                      {"mac": "3c:22:fb:12:9a:02", "rssi": -62, "ts": now - 400}]}),
        qos=1)
    wait_until(lambda: edge.count("zone_occupancy", "WHERE zone='reg_hall'") >= 1, 20, "occupancy")
    occ = edge.query("SELECT last(occupancy) FROM zone_occupancy WHERE zone='reg_hall'")[0]["values"][0][1]
    assert occ == pytest.approx(round(2 / OccupancyEstimator().phone_ratio, 1))
    assert "fitted for site 'other-hospital'" in edge.log_text()
