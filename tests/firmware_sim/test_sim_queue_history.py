"""load-history's queue screens: the readings and ticket events every queue screen would have sent, stored as
the edge stores them, consistent with the zones' history; into a real influxd, trained on, forecast, served."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge.processors.normalise import influx_lines
from edge.processors.validate import from_mqtt
from firmware_sim.history import simulate_days, simulate_weeks
from firmware_sim.load import load_history
from firmware_sim.screen_history import screen_lines
from floorops.site import Site, load_site
from models.data import load_queue_stats, load_zone_stats, queue_key
from models.service import ForecastService
from tests.hub.conftest import make_cfg
from tests.hub.live import LiveHub
from tests.models.hub_forecasts import assert_hub_serves_queue_forecasts
from tests.models.train_cli import train

END = dt.date(2026, 11, 22)  # a Sunday


def parse_line(ln: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    """Measurement, tags, fields and time of one of our lines (no escaped characters in them)."""
    series, fields_part, ts = ln.split(" ")
    measurement, *tag_parts = series.split(",")
    tags = dict(t.split("=", 1) for t in tag_parts)
    fields: dict[str, object] = {}
    for f in fields_part.split(","):
        k, v = f.split("=", 1)
        fields[k] = v[1:-1] if v.startswith('"') else int(v[:-1]) if v.endswith("i") else float(v)
    return measurement, tags, fields, int(ts)


def test_queue_minutes_add_up_to_the_zones_and_leave_them_unchanged(demo_site: Site) -> None:
    days = [END - dt.timedelta(days=1), END]
    with_queues = simulate_days(demo_site, days, seed=5, queues=True)
    plain = simulate_days(demo_site, days, seed=5)
    assert plain.queue_minutes is None
    for name in ("arrivals", "occupancy", "waiting"):  # the same hospital, with or without the queues' minutes
        np.testing.assert_array_equal(getattr(with_queues, name), getattr(plain, name))
    qm = with_queues.queue_minutes
    assert qm is not None and qm.queues == [q.id for q in demo_site.queues]
    zone_of = {q.id: q.zone for q in demo_site.queues}
    for z, zone in enumerate(with_queues.zones):
        cols = [k for k, q in enumerate(qm.queues) if zone_of[q] == zone]
        tickets = qm.tickets[:, :, cols].sum(axis=2).reshape(2, 96, 15).sum(axis=2)
        np.testing.assert_array_equal(tickets, with_queues.arrivals[:, :, z])  # tickets are the zone's arrivals
        waiting = qm.waiting[:, :, cols].sum(axis=2).reshape(2, 96, 15).mean(axis=2)
        np.testing.assert_array_equal(np.rint(waiting), with_queues.waiting[:, :, z])


def test_every_line_is_what_the_edge_writes_for_the_screens_message(demo_site: Site) -> None:
    """Each point, turned back into the MQTT message a screen sends, goes through the edge's validation and
    mapping to the very same line: one schema, the edge's."""
    hist = simulate_weeks(demo_site, 1, seed=2, end=END, queues=True)
    not_after = dt.datetime(2026, 11, 22, 10, 0, tzinfo=demo_site.tz)
    lines = list(screen_lines(hist, demo_site.id, not_after, seed=2))
    zone_of = {d.id: d.zone for d in demo_site.devices}
    seen: dict[tuple[str, str], int] = {}
    for ln in lines[:: max(1, len(lines) // 3000)]:
        measurement, tags, fields, ts_ns = parse_line(ln)
        device = tags["device_id"]
        if measurement == "queue_screen":
            channel, body = "telemetry", {"queue": tags["queue"], **{k: v for k, v in fields.items() if k != "seq"}}
        else:
            assert measurement == "device_event" and tags["event"] == "ticket_issued"
            channel, body = "event", {"event": tags["event"], "queue": fields["queue"], "ticket": fields["ticket"]}
        payload = json.dumps({"v": 1, "ts": ts_ns // 1_000_000, "seq": fields["seq"], **body}).encode()
        msg = from_mqtt(f"hospital/{demo_site.id}/queue_screen/{device}/{channel}", payload, demo_site.id, str,
                        demo_site.kinds)
        assert influx_lines(msg, demo_site.id, zone_of[device], demo_site.kinds.get("queue_screen")) == [ln]
        seen[(measurement, device)] = seen.get((measurement, device), 0) + 1
    screens = {d.id for d in demo_site.devices if d.kind == "queue_screen"}
    assert {d for (m, d) in seen if m == "queue_screen"} == screens
    # Whole buckets before not_after only; same seed, same lines.
    assert max(parse_line(ln)[3] for ln in lines) < int(not_after.timestamp() * 1e9)
    assert lines[:5000] == list(screen_lines(hist, demo_site.id, not_after, seed=2))[:5000]


def test_screens_number_tickets_and_call_them_in_order(demo_site: Site) -> None:
    hist = simulate_weeks(demo_site, 1, seed=4, end=END, queues=True)
    lines = [parse_line(ln) for ln in screen_lines(hist, demo_site.id,
                                                    dt.datetime(2026, 11, 17, tzinfo=demo_site.tz), seed=4)]
    reg1 = [x for x in lines if x[1]["device_id"] == "qs-reg-1"]
    tickets = [f["ticket"] for m, _t, f, _ts in reg1 if m == "device_event"]
    assert tickets[:3] == ["A001", "A002", "A003"]  # numbered from 1 each morning, as the live screens print them
    by_time = sorted((ts, f["seq"]) for _m, _t, f, ts in reg1)
    seqs = [seq for _ts, seq in by_time]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # the device's seq counts up with its clock
    readings = [(f, ts) for m, _t, f, ts in reg1 if m == "queue_screen"]
    morning = [f for f, ts in readings
               if dt.datetime.fromtimestamp(ts / 1e9, demo_site.tz).hour in (9,)]
    assert all(f["counters_open"] == 6 for f in morning)  # REG-1's six counters staffed in opening hours
    assert max(f["avg_wait_s"] for f in morning) > 0 and all(f["serving"].startswith("A") for f in morning)


@pytest.fixture(scope="module")
def loaded(influx, tmp_path_factory: pytest.TempPathFactory):
    """Three weeks of load-history up to now in a fresh database, through the real influxd (the model needs
    more than two weeks: with 13 days, training fails)."""
    db = "sim_queue_history"
    influx.query(f'DROP DATABASE "{db}"', method="POST")
    cfg = make_cfg(tmp_path_factory.mktemp("queue-history"), influx=influx, database=db)
    site = load_site(cfg.site.file)
    now = dt.datetime.now(site.tz)
    points = load_history(cfg, site, 3, seed=9, now=now)
    yield cfg, site, now, points
    influx.query(f'DROP DATABASE "{db}"', method="POST")


@pytest.mark.integration
def test_queue_series_exist_with_a_morning_peak(loaded) -> None:
    cfg, site, now, points = loaded
    since = now - dt.timedelta(days=22)
    queues = load_queue_stats(cfg.influx.url, cfg.influx.database, since, now, 15, site.timezone,
                              [q.id for q in site.queues], site=site.id)
    screens = {d.queue for d in site.devices if d.kind == "queue_screen"}
    assert set(queues.keys) == {queue_key(q) for q in screens}
    hours = np.array([queues.time_of(i).hour for i in range(queues.n_steps)])
    weekday = np.array([queues.time_of(i).weekday() < 5 for i in range(queues.n_steps)])
    for q in screens:
        arrivals = queues.series("arrivals", queue_key(q))
        peak = np.nanmean(arrivals[weekday & (hours >= 8) & (hours < 10)])
        night = np.nanmean(arrivals[weekday & (hours >= 1) & (hours < 5)])
        assert peak > night, q  # every queue busier in the morning peak than at night
    total = np.nansum([queues.series("arrivals", queue_key(q)) for q in screens], axis=0)
    assert total[weekday & (hours >= 8) & (hours < 10)].mean() > 10 * total[weekday & (hours >= 1) & (hours < 5)].mean()
    lab = queues.series("waiting", queue_key("LAB-1"))  # what the lab's screen shows: a queue in the morning
    assert np.nanmean(lab[weekday & (hours >= 8) & (hours < 10)]) > 2 + np.nanmean(lab[hours < 5])
    # The queues are the zones' history seen from the screens: per zone and bucket, tickets are its arrivals.
    zones = load_zone_stats(cfg.influx.url, cfg.influx.database, since, now, 15, site.timezone, site=site.id)
    assert zones.start_s == queues.start_s and points > 14 * 96 * 20 * 2
    zone_of = {q.id: q.zone for q in site.queues}
    for zone in {zone_of[q] for q in screens}:
        tickets = np.nansum([queues.series("arrivals", queue_key(q)) for q in screens if zone_of[q] == zone], axis=0)
        expected = np.nan_to_num(zones.series("arrivals", zone))
        np.testing.assert_array_equal(tickets[: len(expected)], expected[: len(tickets)])


@pytest.mark.integration
def test_trained_model_serves_queue_forecasts_from_the_start(loaded, influx, tmp_path: Path) -> None:
    cfg, site, now, _points = loaded
    mine = make_cfg(tmp_path, influx=influx, database=cfg.influx.database)
    doc, _progress = train(mine, tmp_path, days=22, max_rows=4000)
    screens = {d.queue for d in site.devices if d.kind == "queue_screen"}
    assert {queue_key(q) for q in screens} <= set(doc["keys"]) and "waiting" in doc["targets"]
    svc = ForecastService(mine, site)
    assert svc.load()
    fc = svc.forecast(now, hours=48, zones=[queue_key("REG-1")], target="arrivals")[queue_key("REG-1")]
    assert len(fc) == 48 * 4 and all(r["p10"] <= r["p50"] <= r["p90"] for r in fc)
    assert dt.datetime.fromisoformat(fc[0]["start"]).timestamp() == math.floor(now.timestamp() / 900) * 900
    by_start = {dt.datetime.fromisoformat(r["start"]): r for r in fc}
    tomorrow = (now + dt.timedelta(days=1)).date()
    peak = by_start[dt.datetime.combine(tomorrow, dt.time(9, 0), site.tz)]["p50"]
    night = by_start[dt.datetime.combine(tomorrow, dt.time(3, 0), site.tz)]["p50"]
    assert peak > 3 * max(night, 0.5)
    live = LiveHub(mine).start()
    try:
        assert_hub_serves_queue_forecasts(live)
    finally:
        live.stop()
