"""The flow calibration file (edge/flow_calibration.py): the share of wandering detours the edge sees per
zone, checked against the site and the flow settings it was fitted under; a file that does not fit is
reported and wandering goes out as seen, never a stopped edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.flow_calibration import FlowCalibration, load_for_site, read, save, settings_of
from edge.processors.flows import FlowSettings
from floorops.config import load_config
from floorops.site import Site, load_site


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(load_config(env={}).site.file)


def written(tmp_path: Path, site_id: str = "demo", settings: FlowSettings | None = None,
            detection: dict[str, float] | None = None) -> Path:
    cal = FlowCalibration(site_id, settings_of(settings or FlowSettings()),
                          detection if detection is not None else {"imaging_ct": 0.7, "imaging_us": 0.65})
    return save(cal, tmp_path / "flows.json")


def test_round_trip_and_the_site_zones(tmp_path: Path, site: Site) -> None:
    path = written(tmp_path, site.id)
    assert read(path).detection == {"imaging_ct": 0.7, "imaging_us": 0.65}
    loaded = load_for_site(path, site, FlowSettings())
    assert (loaded.detection, loaded.problems) == ({"imaging_ct": 0.7, "imaging_us": 0.65}, [])


@pytest.mark.parametrize("make,problem", [
    (lambda p: p / "absent.json", "missing"),
    (lambda p: (p / "x.json").write_text("{half") and p / "x.json", "corrupt"),
    (lambda p: written(p, "another-hospital"), "wrong_site"),
    (lambda p: written(p, settings=FlowSettings(wander_window_s=900)), "settings"),
    (lambda p: written(p, detection={"imaging_ct": 1.7}), "corrupt"),
])
def test_a_file_that_does_not_fit_leaves_wandering_uncorrected(tmp_path: Path, site: Site, make, problem: str) -> None:
    loaded = load_for_site(make(tmp_path), site, FlowSettings())
    assert loaded.detection == {} and loaded.calibration is None
    assert [p for p, _ in loaded.problems] == [problem]


def test_a_zone_the_site_lacks_is_ignored(tmp_path: Path, site: Site) -> None:
    loaded = load_for_site(written(tmp_path, site.id, detection={"imaging_ct": 0.7, "mars": 0.5}), site,
                           FlowSettings())
    assert loaded.detection == {"imaging_ct": 0.7}
    assert [p for p, _ in loaded.problems] == ["unknown_zone"]


def test_another_version_names_the_command_to_run(tmp_path: Path, site: Site) -> None:
    path = written(tmp_path, site.id)
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "version": 99}))
    [(problem, message)] = load_for_site(path, site, FlowSettings()).problems
    assert problem == "version" and "calibrate-flows" in message


def test_the_demo_sites_file_fits_the_demo_site_as_configured(site: Site) -> None:
    """What make run loads: fitted for this site and these settings, a share for every imaging zone, each
    below 1 (the edge misses some detours), with its held-out error recorded."""
    cfg = load_config(env={})
    loaded = load_for_site(cfg.path(cfg.edge.flow_calibration), site, FlowSettings.of(cfg.edge))
    assert loaded.problems == []
    imaging = {z.id for z in site.zones if z.kind == "imaging"}
    assert set(loaded.detection) == imaging
    assert all(0.3 < d < 1.0 for d in loaded.detection.values())
    assert loaded.calibration is not None
    assert set(loaded.calibration.heldout["wandering"]) == imaging
    assert loaded.calibration.heldout["transitions"]["pair_hours"] >= 50


@pytest.mark.integration
def test_the_edge_with_another_sites_flow_file_starts_and_says_why(tmp_path: Path, make_edge, broker, influx,
                                                                    influx_db) -> None:
    path = written(tmp_path, "other-hospital")
    edge = make_edge(broker, influx, influx_db, flow_calibration=str(path)).start()
    assert edge.metric("edge_flow_calibration_problems_total", problem="wrong_site") == 1
    assert "fitted for site 'other-hospital'" in edge.log_text()
    assert "wandering is published as seen, uncorrected" in edge.log_text()
