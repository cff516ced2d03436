"""The command line: help, the CSV history per api.md, and load-history into a real InfluxDB 1.x."""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_sim.load import load_history
from floorops.config import Config, dump_toml
from floorops.influx import query_sync
from centre.services import InfluxServer
from floorops.kinds import BUILTIN
from floorops.site import Site


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "firmware_sim", *args], capture_output=True, text=True, timeout=120)


def test_help() -> None:
    for args in ([], ["run"], ["inject"], ["history"], ["load-history"]):
        out = sim(*args, "--help")
        assert out.returncode == 0 and "usage: python -m firmware_sim" in out.stdout


def test_faults_listing() -> None:
    out = sim("faults")
    assert out.returncode == 0
    listing = json.loads(out.stdout)
    assert listing["card_jam"]["devices"] == ["kiosk"] and listing["card_jam"]["persistent"] is True
    assert listing["bad_crc"]["persistent"] is False
    assert listing["bad_checksum"]["devices"] == ["wifi_probe:serial"]  # a kind's fault on one of its transports
    assert listing["power_loss"]["devices"] == list(BUILTIN.names)  # a generic fault: every simulated kind
    assert set(listing) == {
        "card_jam", "app_hang", "app_crash", "paper_out", "printer_jam", "display_fault", "over_temperature",
        "over_current", "ground_fault", "fan_fault", "take_all", "power_loss", "probe_offline", "clock_skew", "no_ack",
        "bad_mood", "malformed_json", "wrong_type", "out_of_range", "duplicate_seq", "out_of_order_seq",
        "bad_checksum", "line_noise", "long_line", "bad_fields", "bad_crc", "truncated_frame"}


def test_a_reader_that_leaves_early_is_no_traceback() -> None:
    """``python -m firmware_sim inbox | head``: the reader closes the pipe before the listing is written.
    The command ends as a pipe's writer does (exit 1), not with a BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "faults"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child has written anything
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_history_csv(tmp_path: Path, demo_site: Site) -> None:
    out = tmp_path / "h.csv"
    r = sim("history", "--weeks", "2", "--seed", "5", "--out", str(out), "--end", "2026-11-22")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 14 * 96 * len(demo_site.zones)
    assert rows[0]["ts"] == "2026-11-09T00:00:00+08:00"
    again = tmp_path / "h2.csv"
    sim("history", "--weeks", "2", "--seed", "5", "--out", str(again), "--end", "2026-11-22")
    assert out.read_bytes() == again.read_bytes()


def test_history_bad_arguments_are_clear(tmp_path: Path) -> None:
    r = sim("history", "--weeks", "0", "--out", str(tmp_path / "x.csv"))
    assert r.returncode == 2 and "weeks" in r.stderr
    r = sim("history", "--weeks", "1", "--out", str(tmp_path / "x.csv"), "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "no such configuration file" in r.stderr


def test_load_history_without_influxdb_is_a_clear_error(tmp_path: Path) -> None:
    cfg = Config(var_dir=str(tmp_path))
    cfg.influx.url = "http://127.0.0.1:9"  # nothing listens there
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    r = sim("load-history", "--weeks", "1", "--config", str(path))
    assert r.returncode == 3 and "InfluxDB unreachable" in r.stderr and "Traceback" not in r.stderr


def test_inject_without_a_running_simulator(tmp_path: Path) -> None:
    cfg = Config(var_dir=str(tmp_path))
    cfg.sim.control_port = 9  # nothing listens there
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    r = sim("inject", "kiosk-01", "card_jam", "--config", str(path))
    assert r.returncode == 1 and "no simulator answering" in r.stderr


@pytest.mark.integration
def test_load_history_into_influx(influx: InfluxServer, influx_db: str, demo_site: Site, tmp_path: Path) -> None:
    cfg = Config(var_dir=str(tmp_path))
    cfg.influx.url = influx.url
    cfg.influx.database = influx_db
    now = dt.datetime(2026, 11, 23, 10, 7, tzinfo=demo_site.tz)
    n = load_history(cfg, demo_site, 1, seed=3, now=now)
    # Seven days up to today 09:45 (the last whole bucket before 10:07), two measurements.
    buckets = 6 * 96 + (9 * 4 + 4)
    series = query_sync(influx.url, influx_db, "SELECT count(arrivals) FROM zone_stats GROUP BY zone")
    assert {s["tags"]["zone"] for s in series} == {z.id for z in demo_site.zones}
    assert all(s["values"][0][1] == buckets for s in series)
    last = query_sync(influx.url, influx_db,
                      "SELECT last(occupancy) FROM zone_occupancy WHERE zone='entrance'", epoch="ms")
    assert last[0]["values"][0][0] == int(dt.datetime(2026, 11, 23, 9, 45, tzinfo=demo_site.tz).timestamp() * 1000)
    # And every queue screen: a reading a minute up to 09:59, its queue's tickets (tests/test_sim_queue_history.py).
    screens = query_sync(influx.url, influx_db, "SELECT count(waiting) FROM queue_screen GROUP BY device_id")
    assert {s["tags"]["device_id"] for s in screens} == {d.id for d in demo_site.devices if d.kind == "queue_screen"}
    assert all(s["values"][0][1] == buckets * 15 for s in screens)
    last = query_sync(influx.url, influx_db, "SELECT last(waiting) FROM queue_screen", epoch="ms")
    assert dt.datetime.fromtimestamp(last[0]["values"][0][0] / 1000, demo_site.tz).strftime("%H:%M") == "09:59"
    tickets = query_sync(influx.url, influx_db, "SELECT count(seq) FROM device_event WHERE event='ticket_issued'")
    zone_arrivals = query_sync(influx.url, influx_db, "SELECT sum(arrivals) FROM zone_stats")
    assert tickets[0]["values"][0][1] == zone_arrivals[0]["values"][0][1] > 1000  # one screen a queue on the demo
    # And every charging station's hours, up to 09:00-10:00 (the hour the last bucket starts in).
    chairs = query_sync(influx.url, influx_db, "SELECT count(demand) FROM wheelchair_hour GROUP BY station")
    assert {s["tags"]["station"] for s in chairs} == {d.id for d in demo_site.devices if d.kind == "charger"}
    assert all(s["values"][0][1] == 6 * 24 + 10 for s in chairs)
    assert n == (2 * buckets * len(demo_site.zones) + len(screens) * buckets * 15 + tickets[0]["values"][0][1]
                 + len(chairs) * (6 * 24 + 10))
    # Loading twice overwrites rather than duplicates (same series, same timestamps).
    load_history(cfg, demo_site, 1, seed=3, now=now)
    again = query_sync(influx.url, influx_db, "SELECT count(arrivals) FROM zone_stats GROUP BY zone")
    assert again == series
    assert query_sync(influx.url, influx_db, "SELECT count(seq) FROM device_event") == tickets
    assert query_sync(influx.url, influx_db, "SELECT count(waiting) FROM queue_screen GROUP BY device_id") == screens
    assert query_sync(influx.url, influx_db, "SELECT count(demand) FROM wheelchair_hour GROUP BY station") == chairs


@pytest.mark.integration
def test_load_history_cli(influx: InfluxServer, influx_db: str, tmp_path: Path) -> None:
    cfg = Config(var_dir=str(tmp_path))
    cfg.influx.url = influx.url
    cfg.influx.database = influx_db
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    r = sim("load-history", "--weeks", "1", "--seed", "2", "--config", str(path))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["points"] > 14 * 96 * 6
    series = query_sync(influx.url, influx_db, "SELECT max(occupancy) FROM zone_stats WHERE zone='lab'")
    assert series and series[0]["values"][0][1] > 10
