"""A wheelchair station emptied in the simulator (``take_all``), for real: its Modbus registers, polled by the
edge agent, reach the hub through Mosquitto, which raises ``wheelchair_low_stock`` for it exactly once and
counts the chairs taken as demand. Broker, influxd, hub, edge and simulator are separate processes
(centre.launcher, the code behind ``make run``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from centre.launcher import ControlCentre
from tests.hub.conftest import http as http_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def get(centre: ControlCentre, path: str, token: str) -> Any:
    status, body = http_url(centre.hub_url + path, "GET", None, token)
    assert status == 200, body
    return body


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_emptied_station_raises_low_stock_once_and_counts_demand(control_centre: ControlCentre) -> None:
    centre = control_centre
    status, body = http_url(centre.hub_url + "/api/login", "POST",
                            {"username": "monitor", "password": centre.passwords["monitor"]})
    assert status == 200, body
    token = body["token"]

    def station() -> dict | None:
        st = next((s for s in get(centre, "/api/wheelchairs", token)["stations"] if s["id"] == "charger-01"), None)
        return st if st and st["slots"] == 8 else None
    wait_for(station, 60, "charger-01 read by the edge")

    def low() -> list[dict]:
        return [a for a in get(centre, "/api/alarms", token) if a["type"] == "wheelchair_low_stock"
                and a["source"] == "charger-01"]
    before = len(low())
    day = get(centre, "/api/wheelchairs", token)["day"]
    demand_before = get(centre, f"/api/wheelchairs?date={day}", token)["site"]["demand_today"]
    docked_before = station()["docked"]  # every chair docked at the last poll is taken
    centre.inject("charger-01", "take_all")
    [alarm] = wait_for(lambda: [a for a in low() if a["state"] == "active"], 60, "wheelchair_low_stock")
    assert alarm["zone"] == "entrance" and alarm["detail"]["charged"] == 0
    empty = wait_for(lambda: (s := station()) and s["docked"] == 0 and s, 30, "station empty")
    assert empty["low_stock"] is True
    # More polls of the same empty station (every edge.modbus_poll_s) raise nothing more.
    def last_seen() -> str:
        return next(d["last_seen"] for d in get(centre, "/api/devices", token) if d["id"] == "charger-01")
    last = last_seen()
    for _ in range(2):
        last = wait_for(lambda prev=last: (t := last_seen()) != prev and t, 60, "another poll")
    alarms = low()
    assert len(alarms) == before + 1 and [a["count"] for a in alarms if a["state"] == "active"] == [1]
    demand = get(centre, f"/api/wheelchairs?date={day}", token)["site"]["demand_today"]
    assert demand - demand_before >= docked_before
    centre.inject("charger-01", "clear")
