"""make run's demo clock, for real (issue #16 item 8): the whole centre (centre.launcher.ControlCentre: broker,
influxd, hub, edge, simulator as separate processes) on a clock that starts the site's day at 07:30 on a Tuesday
and runs ten times real time. Every process reads the same clock: the hub reports the morning and advances
about ten site seconds a real second, the devices' readings arrive stamped with the demo's time, and the
simulated hospital has its morning queues, whatever the hour the tests run at."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest

from centre.launcher import ControlCentre
from centre.services import free_port
from floorops.config import ClockConfig, load_config
from tests.hub.conftest import http as http_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 24)  # a Tuesday: an ordinary busy weekday
START = dt.datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI)
SPEED = 10.0


@pytest.fixture(scope="module")
def demo_centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlCentre]:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path_factory.mktemp("floorops-demo-var"))
    cfg.mqtt.port = free_port()
    cfg.mqtt.tls_port = free_port()
    cfg.influx.url = f"http://127.0.0.1:{free_port()}"
    cfg.influx.rpc_port = free_port()
    cfg.hub.http_port = free_port()
    cfg.edge.metrics_port = free_port()
    cfg.sim.control_port = free_port()
    cfg.sim.faults_per_device_day = 0.0  # a quiet floor of devices: only the patients move
    cfg.clock = ClockConfig(start="07:30", speed=SPEED, date=DAY.isoformat())  # make run DEMO_START=07:30 ...
    centre = ControlCentre(cfg, bootstrap_models=False)
    centre.start()
    yield centre
    centre.stop()


def get(centre: ControlCentre, path: str, token: str | None = None) -> Any:
    status, body = http_url(centre.hub_url + path, "GET", None, token)
    assert status == 200, (path, status, body)
    return body


def login(centre: ControlCentre) -> str:
    status, body = http_url(centre.hub_url + "/api/login", "POST",
                            {"username": "monitor", "password": centre.passwords["monitor"]})
    assert status == 200, body
    return str(body["token"])


def site_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(SHANGHAI)


def test_every_process_got_the_same_anchored_clock(demo_centre: ControlCentre) -> None:
    assert demo_centre.runtime_config is not None
    runtime = load_config(Path(demo_centre.runtime_config), env={})
    assert runtime.clock.start == "07:30" and runtime.clock.speed == SPEED and runtime.clock.anchor > 0


def test_the_hub_reports_the_demo_morning_and_it_runs_ten_times_faster(demo_centre: ControlCentre) -> None:
    before1 = time.monotonic()
    first = get(demo_centre, "/api/clock")
    after1 = time.monotonic()
    assert first["demo"] is True and first["speed"] == SPEED
    assert site_time(first["start"]) == START
    now = site_time(first["now"])
    assert START <= now < START + dt.timedelta(hours=1), now  # the morning, whatever the hour of the run
    time.sleep(3)
    before2 = time.monotonic()
    second = get(demo_centre, "/api/clock")
    after2 = time.monotonic()
    site_s = (second["now_ms"] - first["now_ms"]) / 1000
    # Bracketed by the real time around both requests: between 10x the shortest and 10x the longest gap.
    assert SPEED * (before2 - after1) - 0.5 <= site_s <= SPEED * (after2 - before1) + 0.5, site_s
    site = get(demo_centre, "/api/site", login(demo_centre))
    assert site["clock"]["demo"] is True


def test_devices_report_on_the_demo_clock_and_the_morning_queues_build(demo_centre: ControlCentre) -> None:
    """Registration's queue is short at 07:30 and builds as the 8:00-10:00 peak begins (measured: about 10 waiting
    by 08:10, 15 by 08:25): at x10 the demo reaches it in a few real minutes; the deadline is the site's 09:00."""
    token = login(demo_centre)
    waiting: list[tuple[str, int]] = []
    while True:
        clock_now = site_time(get(demo_centre, "/api/clock")["now"])
        zones = {z["id"]: z for z in get(demo_centre, "/api/zones", token)}
        waiting.append((clock_now.strftime("%H:%M"), int(zones["reg_hall"].get("waiting") or 0)))
        if waiting[-1][1] >= 10 or clock_now >= START + dt.timedelta(minutes=90):
            break
        time.sleep(3)
    assert waiting[0][1] < 5, waiting  # 07:3x: hardly anyone waits yet
    assert waiting[-1][1] >= 10, f"registration queue over the demo morning: {waiting}"
    assert waiting[-1][0] >= "08:00", waiting  # the peak's queue, not one the simulator started with
    # The readings came from the simulator through the edge stamped with the demo's time, not the machine's.
    seen = [site_time(d["last_seen"]) for d in get(demo_centre, "/api/devices", token) if d.get("last_seen")]
    assert seen
    clock_now = site_time(get(demo_centre, "/api/clock")["now"])
    assert all(START - dt.timedelta(minutes=5) <= t <= clock_now + dt.timedelta(minutes=1) for t in seen), \
        (min(seen), max(seen), clock_now)
