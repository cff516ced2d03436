"""Issue #16 items 1 and 2 with real processes: a calling screen's ticket events and a charging station's
slot readings go through Mosquitto to a running hub, which serves the service level and the wheelchairs
and raises service_level_low and wheelchair_low_stock (the latter exactly once for an emptied station)."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from floorops.config import Config
from floorops.topics import EdgeRecord
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.test_thin_path import cli, edge_publisher, login, publish

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")  # the demo site's


def charger(*socs: float | None) -> dict:
    return {"station": {"status_bits": 1, "mains_ok": True, "over_temperature": False, "ground_fault": False,
                        "fan_fault": False, "temperature_c": 30.0},
            "slots": [{"slot": i, "state": "empty" if s is None else "full", "soc_pct": s or 0, "fault": 0,
                       "minutes_docked": 0 if s is None else 60} for i, s in enumerate(socs)]}


def test_screen_events_and_an_emptied_station_through_the_broker(hub_process: HubProcess, live_cfg: Config) -> None:
    cfg = live_cfg
    assert cli(hub_process, "users", "add", "root", "--role", "admin", stdin="admin-pass-1\n").returncode == 0
    hub_process.start()
    url, token = hub_process.url, login(hub_process.url, "root", "admin-pass-1")
    status, _ = http(url + "/api/rules", "PUT", {"rules": {"service_level_low": {"min_tickets": 4}}}, token=token)
    assert status == 200
    pub = edge_publisher(cfg)
    try:
        # REG-1 (registration: 25 min target): 5 tickets issued 40 minutes ago, 4 called after 10, 20, 30, 40
        # minutes (device times), one of them not shown; the fifth still waiting.
        issued_ms = int(time.time() * 1000) - 40 * 60_000
        seq = 0

        def screen(event: str, label: str, at_ms: int) -> None:
            nonlocal seq
            seq += 1
            publish(pub, cfg, EdgeRecord("qs-reg-1", "queue_screen", "event", at_ms, seq,
                                         {"event": event, "queue": "REG-1", "ticket": label},
                                         zone="reg_hall", site=cfg.site.id))
        for n in range(5):
            screen("ticket_issued", f"A{n}", issued_ms + n)
        for n in range(4):
            screen("ticket_called", f"A{n}", issued_ms + (n + 1) * 10 * 60_000)
        screen("ticket_no_show", "A3", issued_ms + 40 * 60_000 + 1000)
        day = dt.datetime.fromtimestamp(issued_ms / 1000, TZ).date().isoformat()

        def reg1() -> dict | None:
            body = http(f"{url}/api/service-levels?date={day}", token=token)[1]
            q = next(q for q in body["queues"] if q["queue"] == "REG-1")
            return q if q["no_show"] == 1 else None
        q = wait_for(reg1, 10, "REG-1 service level")
        # Run in the first 40 minutes after the site's midnight, the tickets' day is over: the uncalled
        # one is then abandoned, no longer waiting (hub.service_levels).
        over = day != dt.datetime.now(TZ).date().isoformat()
        assert (q["issued"], q["called"], q["within_target"]) == (5, 4, 2)
        assert (q["waiting"], q["abandoned"]) == ((0, 1) if over else (1, 0))
        assert (q["service_level"], q["no_show_rate"]) == (0.5, 0.25)
        alarms = http(url + "/api/alarms?state=active", token=token)[1]
        assert [a["source"] for a in alarms if a["type"] == "service_level_low"] == ["REG-1"]

        # charger-02 (6 slots): full, then emptied; the low reading comes three times.
        def station(*socs: float | None) -> None:
            publish(pub, cfg, EdgeRecord("charger-02", "charger", "telemetry", int(time.time() * 1000), None,
                                         charger(*socs), zone="reg_hall", site=cfg.site.id))
        before = dt.datetime.now(TZ).date().isoformat()
        station(95, 95, 95, 95, 95, 95)
        for _ in range(3):
            station(None, None, None, None, None, None)

        def low() -> list[dict]:
            return [a for a in http(url + "/api/alarms", token=token)[1] if a["type"] == "wheelchair_low_stock"]
        wait_for(lambda: http(url + "/api/wheelchairs", token=token)[1]["site"]["demand_today"] >= 6
                 or dt.datetime.now(TZ).date().isoformat() != before, 10, "demand counted")
        [alarm] = low()
        assert (alarm["source"], alarm["state"], alarm["count"], alarm["zone"]) == ("charger-02", "active", 1, "reg_hall")
        days = {before, dt.datetime.now(TZ).date().isoformat()}  # the test may straddle midnight
        demand = sum(http(f"{url}/api/wheelchairs?date={d}", token=token)[1]["site"]["demand_today"] for d in days)
        assert demand == 6
        body = http(url + "/api/wheelchairs", token=token)[1]
        st = next(s for s in body["stations"] if s["id"] == "charger-02")
        assert (st["docked"], st["charged"], st["low_stock"]) == (0, 0, True)
        assert http(url + "/api/zones/reg_hall/wheelchair-station", token=token)[1]["station"] != "charger-02"
        station(95, 95, 95, None, None, None)  # three back: cleared
        wait_for(lambda: low()[0]["state"] == "cleared", 10, "low stock cleared")
        assert len(low()) == 1
        assert http(url + "/api/zones/reg_hall/wheelchair-station", token=token)[1]["station"] == "charger-02"
    finally:
        pub.loop_stop()
        pub.disconnect()
