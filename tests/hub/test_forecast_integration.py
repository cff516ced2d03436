"""The hub's forecast and staffing routes with a real trained model (models/, the other component) and
zone_stats in a real InfluxDB: 200 with occupancy buckets in the site's offset, and forecast.updated
pushed by the hub's re-forecast."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import pytest

from floorops.config import Config
from floorops.influx import line, write_sync
from floorops.site import load_site
from tests.hub.conftest import http, make_cfg
from tests.hub.live import LiveHub

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ZONES = {"reg_hall": 40.0, "lab": 20.0, "paed": 8.0}


@pytest.fixture(scope="module")
def trained(influx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    models = pytest.importorskip("models.store")
    from models.forecaster import QuantileForecaster
    from models.synthetic import synthetic_history

    db = "hub_forecast"
    influx.query(f'CREATE DATABASE "{db}"', method="POST")
    cfg = make_cfg(Path(tmp_path_factory.mktemp("hub-forecast")), influx=influx, database=db)
    site = load_site(cfg.site.file)
    now = dt.datetime.now(site.tz)
    hist = synthetic_history(weeks=5, zones=ZONES, seed=3, timezone=site.timezone,
                             start=(now - dt.timedelta(days=28)).date())
    last = hist.index_of(now)
    lines = [line("zone_stats", {"site": site.id, "zone": z},
                  {"arrivals": int(hist.values["arrivals"][k, i]), "occupancy": float(hist.values["occupancy"][k, i]),
                   "waiting": 0}, (hist.start_s + i * hist.freq_s) * 1_000_000_000)
             for i in range(last + 1) for k, z in enumerate(hist.keys)]
    write_sync(influx.url, db, lines)
    observed = hist.slice(last)
    model = models.SiteModel({t: QuantileForecaster(t, max_iter=30, max_rows=10_000).fit(observed)
                              for t in ("arrivals", "occupancy")}, 15, site.timezone)
    models.save_model(model, cfg.path(cfg.models.dir), {"train_range": list(observed.date_range())})
    yield cfg
    influx.query(f'DROP DATABASE "{db}"', method="POST")


def test_forecast_and_staffing_routes_with_a_trained_model(trained: Config) -> None:
    live = LiveHub(trained).start()
    try:
        token = live.login()
        status, rows = live.get_when_models_loaded("/api/forecast?zone=lab&hours=2", token)
        assert status == 200, rows
        assert len(rows) == 8
        assert all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
        assert dt.datetime.fromisoformat(rows[0]["start"]).utcoffset() == dt.timedelta(hours=8)
        status, staffing = http(live.url + "/api/staffing?date=" + dt.date.today().isoformat(), token=token)
        assert status == 200 and isinstance(staffing, list) and staffing
        assert {"zone", "hour", "required"} <= set(staffing[0])
        # The hub's own re-forecast: forecast.updated with every zone, and the crowding-forecast rule ran.
        hub = live.ctx.hub
        seen = []
        hub.bus.sinks.append(lambda e: seen.append(e.type))
        result = live.ctx.forecaster.forecast(dt.datetime.now(hub.tz), hours=2)
        live.call(hub.apply_forecast, result)
        assert "forecast.updated" in seen and set(hub.forecasts) >= set(ZONES)
    finally:
        live.stop()
