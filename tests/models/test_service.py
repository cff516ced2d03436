"""ForecastService and ``python -m models train`` against a real InfluxDB holding zone_stats."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

from floorops.config import Config, load_config
from floorops.influx import line, write_sync
from floorops.site import load_site
from centre.services import free_port
from models.erlang import required_positions
from models.forecaster import QuantileForecaster
from models.service import ForecastService, ModelUnavailable
from models.staffing import handling_minutes
from models.store import SiteModel, save_model
from models.synthetic import synthetic_history
from tests.models.train_cli import train

pytestmark = pytest.mark.integration
ZONES = {"reg_hall": 40.0, "lab": 20.0, "paed": 8.0}


def _cfg(tmp_path: Path, url: str, database: str) -> Config:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    cfg.influx.url = url
    cfg.influx.database = database
    return cfg


@pytest.fixture(scope="module")
def loaded(influx, tmp_path_factory: pytest.TempPathFactory):
    """Five weeks of synthetic zone_stats up to now in InfluxDB, and a model trained on them."""
    db = "models_service"
    influx.query(f'CREATE DATABASE "{db}"', method="POST")
    site = load_site(load_config(env={}).site.file)
    now = dt.datetime.now(site.tz)
    start = (now - dt.timedelta(days=35)).date()
    hist = synthetic_history(weeks=6, zones=ZONES, seed=7, timezone=site.timezone, start=start)
    last = hist.index_of(now)  # the bucket being filled now: written, but never read as observed
    lines = []
    for i in range(last + 1):
        ts_ns = (hist.start_s + i * hist.freq_s) * 1_000_000_000
        for k, zone in enumerate(hist.keys):
            lines.append(line("zone_stats", {"site": site.id, "zone": zone},
                              {"arrivals": int(hist.values["arrivals"][k, i]),
                               "occupancy": float(hist.values["occupancy"][k, i]), "waiting": 0}, ts_ns))
    write_sync(influx.url, db, lines)
    observed = hist.slice(last)
    model = SiteModel({t: QuantileForecaster(t, max_iter=60, max_rows=20_000).fit(observed) for t in
                       ("arrivals", "occupancy")}, 15, site.timezone)
    tmp = tmp_path_factory.mktemp("models-var")
    cfg = _cfg(tmp, influx.url, db)
    save_model(model, cfg.path(cfg.models.dir), {"train_range": list(observed.date_range())})
    yield cfg, site, now
    influx.query(f'DROP DATABASE "{db}"', method="POST")


def test_forecast_of_every_zone(loaded) -> None:
    cfg, site, now = loaded
    svc = ForecastService(cfg, site)
    assert svc.load()
    out = svc.forecast(now, hours=48)
    assert set(out) == set(ZONES)
    bucket = math.floor(now.timestamp() / 900) * 900
    for rows in out.values():
        assert len(rows) == 48 * 4
        first = dt.datetime.fromisoformat(rows[0]["start"])
        assert first.timestamp() == bucket and first.utcoffset() == dt.timedelta(hours=8)
        assert all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
    assert not svc.degraded
    # The daily shape comes through: tomorrow 09:30 is far busier than tomorrow 03:00.
    tomorrow = (now + dt.timedelta(days=1)).date()
    by_start = {dt.datetime.fromisoformat(r["start"]): r for r in out["reg_hall"]}
    peak = by_start[dt.datetime.combine(tomorrow, dt.time(9, 30), site.tz)]["p50"]
    night = by_start[dt.datetime.combine(tomorrow, dt.time(3, 0), site.tz)]["p50"]
    assert peak > 5 * max(night, 1.0)
    only = svc.forecast(now, hours=1, zones=["lab"])
    assert list(only) == ["lab"] and len(only["lab"]) == 4
    lines = svc.forecast_lines(only)
    assert len(lines) == 4 and lines[0].startswith("forecast,site=demo,target=occupancy,zone=lab p10=")


def test_staffing_for_tomorrow_against_the_roster(loaded) -> None:
    cfg, site, now = loaded
    svc = ForecastService(cfg, site)
    assert svc.load()
    # The next weekday ("tomorrow" from Monday to Thursday): the synthetic weekend nights are too quiet for
    # the one lab position asserted below, so a run on a Friday or Saturday would otherwise fail.
    tomorrow = (now + dt.timedelta(days=1)).date()
    while tomorrow.weekday() >= 5:
        tomorrow += dt.timedelta(days=1)
    rows = svc.staffing(tomorrow, on_roster={("reg_hall", 9): 1}, now=now)
    assert {(r["zone"], r["hour"]) for r in rows} == {(z, h) for z in ZONES for h in range(24)}
    aht = handling_minutes(site)
    row = next(r for r in rows if (r["zone"], r["hour"]) == ("reg_hall", 9))
    expected = required_positions(row["arrivals_p50"], 60, aht["reg_hall"], cfg.models.target_wait_s,
                                  cfg.models.service_level, cfg.models.max_occupancy, cfg.models.shrinkage)
    assert row["required"] == expected.positions and row["required"] > 1
    assert row["required_p90"] >= row["required"] and row["arrivals_p90"] >= row["arrivals_p50"]
    assert row["on_roster"] == 1 and row["gap"] == row["required"] - 1 and row["short"]
    night = next(r for r in rows if (r["zone"], r["hour"]) == ("lab", 3))
    assert night["on_roster"] == 0 and night["required_raw"] == 1 and night["required"] == 2  # 1 / (1 - 0.3)
    # Without a roster there is nothing to compare with.
    assert all(r["gap"] is None for r in svc.staffing(tomorrow, now=now))


def test_without_a_model_nothing_is_invented(tmp_path: Path, loaded) -> None:
    cfg, site, now = loaded
    empty = _cfg(tmp_path, cfg.influx.url, cfg.influx.database)
    svc = ForecastService(empty, site)
    assert svc.load() is False
    with pytest.raises(ModelUnavailable):
        svc.forecast(now)


def test_influxdb_down_degrades_instead_of_failing(tmp_path: Path, loaded) -> None:
    cfg, site, now = loaded
    down = _cfg(Path(cfg.var_dir), f"http://127.0.0.1:{free_port()}", "nowhere")
    down.influx.timeout_s = 2
    svc = ForecastService(down, site)
    assert svc.load()
    out = svc.forecast(now, hours=2)
    assert svc.degraded and set(out) == set(ZONES) and len(out["lab"]) == 8


def test_train_command_reads_influxdb_and_saves_a_model(tmp_path: Path, loaded) -> None:
    cfg, _site, _now = loaded
    mine = _cfg(tmp_path, cfg.influx.url, cfg.influx.database)
    doc, progress = train(mine, tmp_path, days=40, max_rows=3000)
    saved = Path(doc["model"])
    assert saved.parent == mine.path(mine.models.dir) and saved.exists()
    assert sorted(doc["keys"]) == sorted(ZONES) and set(doc["targets"]) == {"arrivals", "occupancy"}
    meta = json.loads(saved.with_suffix(".json").read_text())
    assert meta["source"].startswith("influxdb:") and meta["train_range"][0] < meta["train_range"][1]
    assert "quantile 0.9 fitted" in progress  # progress while training
