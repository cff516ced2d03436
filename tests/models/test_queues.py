"""Per-queue forecasts from what queue screens report to a real InfluxDB: ticket events and waiting readings,
stored as the edge stores them (docs/architecture.md), read back, trained on, forecast."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from floorops.config import load_config
from floorops.influx import line, point_time_ns, write_sync
from floorops.site import load_site
from models.data import load_queue_stats, merge, queue_key
from models.service import ForecastService, ModelUnavailable
from models.synthetic import synthetic_history
from tests.hub.conftest import http, make_cfg
from tests.hub.live import LiveHub
from tests.models.hub_forecasts import assert_hub_serves_queue_forecasts
from tests.models.train_cli import train

pytestmark = pytest.mark.integration
ZONES = {"reg_hall": 30.0, "lab": 15.0}
QUEUES = {"REG-1": ("reg_hall", "qs-reg-1", 12.0), "LAB-1": ("lab", "qs-lab-1", 6.0)}  # zone, screen, peak


def _queue_lines(site_id: str, queue: str, zone: str, screen: str, arrivals: np.ndarray, waiting: np.ndarray,
                 start_s: int, freq_s: int, upto: int) -> list[str]:
    """A screen's readings (two per bucket) and one ``ticket_issued`` event per arrival, spread over the bucket."""
    tags = {"site": site_id, "zone": zone, "device_id": screen}
    out, seq = [], 0
    for i in range(upto):
        t0 = (start_s + i * freq_s) * 1000
        for half in (0, 1):
            seq += 1
            out.append(line("queue_screen", {**tags, "queue": queue},
                            {"waiting": int(waiting[i]) + half, "serving": 1, "counters_open": 1, "avg_wait_s": 60.0,
                             "seq": seq}, point_time_ns(t0 + half * freq_s * 500, seq)))
        n = int(arrivals[i])
        for j in range(n):
            seq += 1
            out.append(line("device_event", {**tags, "kind": "queue_screen", "event": "ticket_issued"},
                            {"seq": seq, "queue": queue, "ticket": f"A{seq:05d}"},
                            point_time_ns(t0 + (j * freq_s * 1000) // max(n, 1), seq)))
    return out


@pytest.fixture(scope="module")
def queue_history(influx, tmp_path_factory: pytest.TempPathFactory):
    """Four weeks up to now: zone_stats for two zones, screen readings and ticket events for two queues; the
    hours 02:00-04:00 of one day have no queue data at all (a gap, not a quiet night)."""
    db = "models_queues"
    influx.query(f'CREATE DATABASE "{db}"', method="POST")
    site = load_site(load_config(env={}).site.file)
    now = dt.datetime.now(site.tz)
    start = (now - dt.timedelta(days=28)).date()
    zones = synthetic_history(weeks=5, zones=ZONES, seed=11, timezone=site.timezone, start=start)
    queues = synthetic_history(weeks=5, zones={q: p for q, (_z, _s, p) in QUEUES.items()}, seed=12,
                               timezone=site.timezone, start=start)
    last = zones.index_of(now)
    gap = range(zones.index_of(dt.datetime.combine(start + dt.timedelta(days=3), dt.time(2), site.tz)),
                zones.index_of(dt.datetime.combine(start + dt.timedelta(days=3), dt.time(4), site.tz)))
    lines = [line("zone_stats", {"site": site.id, "zone": z},
                  {"arrivals": int(zones.values["arrivals"][k, i]), "occupancy": float(zones.values["occupancy"][k, i]),
                   "waiting": 0}, (zones.start_s + i * zones.freq_s) * 1_000_000_000)
             for i in range(last + 1) for k, z in enumerate(zones.keys)]
    for k, (q, (zone, screen, _peak)) in enumerate(QUEUES.items()):
        arr = queues.values["arrivals"][k].copy()
        waiting = np.rint(queues.values["occupancy"][k])
        q_lines = _queue_lines(site.id, q, zone, screen, arr, waiting, queues.start_s, queues.freq_s, last + 1)
        lines += [ln for ln in q_lines if not _in_gap(ln, queues.start_s, queues.freq_s, gap)]
    for j in range(0, len(lines), 20_000):
        write_sync(influx.url, db, lines[j:j + 20_000])
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path_factory.mktemp("models-queues"))
    cfg.influx.url, cfg.influx.database = influx.url, db
    yield cfg, site, now, queues, gap
    influx.query(f'DROP DATABASE "{db}"', method="POST")


def _in_gap(ln: str, start_s: int, freq_s: int, gap: range) -> bool:
    ts_ns = int(ln.rsplit(" ", 1)[1])
    return (ts_ns // 1_000_000_000 - start_s) // freq_s in gap


def test_queue_arrivals_and_waiting_read_back_per_bucket(queue_history) -> None:
    cfg, site, now, queues, gap = queue_history
    since = dt.datetime.fromtimestamp(queues.start_s, dt.timezone.utc)
    until = now - dt.timedelta(hours=1)
    got = load_queue_stats(cfg.influx.url, cfg.influx.database, since, until, 15, site.timezone,
                           [q.id for q in site.queues], site=site.id)
    assert got.keys == (queue_key("LAB-1"), queue_key("REG-1")) and got.start_s == queues.start_s
    n = got.index_of(until)
    for q in QUEUES:
        written = queues.series("arrivals", q)[:n]
        read = got.series("arrivals", queue_key(q))[:n]
        outside = np.ones(n, dtype=bool)
        outside[list(gap)] = False
        # Every ticket counted in its bucket; quiet buckets with screen readings are zero, not unknown.
        np.testing.assert_array_equal(read[outside], written[outside])
        assert (written[outside] == 0).any() and not np.isnan(read[outside]).any()
        # No readings and no tickets: unknown, not zero.
        assert np.isnan(read[list(gap)]).all()
        # Waiting: the mean of the bucket's two readings (w and w + 1).
        w = np.rint(queues.series("occupancy", q)[:n])
        np.testing.assert_allclose(got.series("waiting", queue_key(q))[:n][outside], w[outside] + 0.5)


def test_train_from_influxdb_and_forecast_a_queue(queue_history, influx, tmp_path: Path) -> None:
    cfg, site, now, queues, _gap = queue_history
    mine = make_cfg(tmp_path, influx=influx, database=cfg.influx.database)  # also a hub's configuration
    doc, _progress = train(mine, tmp_path, days=29, max_rows=4000)
    assert {"queue:REG-1", "queue:LAB-1", "reg_hall", "lab"} <= set(doc["keys"])
    assert set(doc["targets"]) == {"arrivals", "occupancy", "waiting"}

    svc = ForecastService(mine, site)
    assert svc.load()
    fc = svc.forecast(now, hours=48, zones=["queue:REG-1"], target="arrivals")
    rows = fc["queue:REG-1"]
    assert len(rows) == 48 * 4
    first = dt.datetime.fromisoformat(rows[0]["start"])
    assert first.timestamp() == math.floor(now.timestamp() / 900) * 900
    assert all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
    # The queue's own daily shape and size: tomorrow's 09:30 near its peak, far above 03:00.
    tomorrow = (now + dt.timedelta(days=1)).date()
    by_start = {dt.datetime.fromisoformat(r["start"]): r for r in rows}
    peak = by_start[dt.datetime.combine(tomorrow, dt.time(9, 30), site.tz)]
    night = by_start[dt.datetime.combine(tomorrow, dt.time(3, 0), site.tz)]
    expected_peak = QUEUES["REG-1"][2] * (0.3 if tomorrow.weekday() == 6 else 0.45 if tomorrow.weekday() == 5
                                          else 1.15 if tomorrow.weekday() == 0 else 1.0)
    assert peak["p10"] <= expected_peak * 1.3 and peak["p90"] >= expected_peak * 0.7
    assert peak["p50"] > 4 * max(night["p50"], 0.5)
    # Waiting per queue, and every queue and zone at once for arrivals; occupancy stays per zone.
    waiting = svc.forecast(now, hours=2, zones=["queue:LAB-1"], target="waiting")
    assert len(waiting["queue:LAB-1"]) == 8
    assert {"queue:REG-1", "queue:LAB-1", "reg_hall", "lab"} <= set(svc.forecast(now, hours=1, target="arrivals"))
    assert set(svc.forecast(now, hours=1)) == set(ZONES)
    lines = svc.forecast_lines(waiting, target="waiting")
    assert lines[0].startswith("forecast,queue=LAB-1,site=demo,target=waiting p10=")
    # A queue the model never saw: a clear refusal, not an empty or invented forecast.
    with pytest.raises(ModelUnavailable, match="queue:PHA-1"):
        svc.forecast(now, hours=1, zones=["queue:PHA-1"], target="arrivals")

    # The hub serves it: GET /api/forecast?queue=...
    live = LiveHub(mine).start()
    try:
        token = assert_hub_serves_queue_forecasts(live)
        status, every = http(live.url + "/api/forecast?target=arrivals&hours=1", token=token)
        assert status == 200 and {"queue:REG-1", "reg_hall"} <= set(every)
        status, body = http(live.url + "/api/forecast?queue=REG-1&target=occupancy", token=token)
        assert status == 400 and "arrivals" in body["error"]
        status, body = http(live.url + "/api/forecast?queue=NOPE", token=token)
        assert status == 400 and "NOPE" in body["error"]
        status, body = http(live.url + "/api/forecast?queue=PHA-1", token=token)
        assert status == 503 and "queue:PHA-1" in body["error"]
    finally:
        live.stop()


def test_merge_keeps_every_key_on_one_grid() -> None:
    a = synthetic_history(weeks=1, freq_min=60, zones={"lab": 5.0}, seed=1)
    b = synthetic_history(weeks=2, freq_min=60, zones={"queue:LAB-1": 3.0}, seed=2, start=dt.date(2026, 1, 12))
    m = merge([a, b])
    assert m.keys == ("lab", "queue:LAB-1") and m.n_steps == 3 * 7 * 24
    np.testing.assert_array_equal(m.series("arrivals", "lab")[:168], a.series("arrivals", "lab"))
    assert np.isnan(m.series("arrivals", "lab")[168:]).all()
    assert np.isnan(m.series("arrivals", "queue:LAB-1")[:168]).all()
    np.testing.assert_array_equal(m.series("arrivals", "queue:LAB-1")[168:], b.series("arrivals", "queue:LAB-1"))
