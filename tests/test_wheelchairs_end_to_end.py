"""A wheelchair station emptied in the simulator (``take_all``), for real: its Modbus registers, polled by the
edge agent, reach the hub through Mosquitto, which has one open ``wheelchair_low_stock`` for it, never two, and
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

    def stations() -> list[dict]:
        """The stations the edge has read (their slots known)."""
        return [s for s in get(centre, "/api/wheelchairs", token)["stations"] if s["slots"] > 0]
    chargers = centre.site.devices_of("charger")
    wait_for(lambda: len(stations()) == len(chargers), 60, "every charger read by the edge")

    def low(station_id: str) -> list[dict]:
        return [a for a in get(centre, "/api/alarms", token) if a["type"] == "wheelchair_low_stock"
                and a["source"] == station_id]
    # The simulated patients take and return chairs all day, so whether a station is already low when the
    # test starts depends on the hour: empty the station with the most chairs docked, and expect one open
    # alarm for it afterwards either way (raised now, or the one already open).
    chosen = max(stations(), key=lambda s: (s["docked"], s["charged"]))
    sid = chosen["id"]

    def station() -> dict | None:
        return next((s for s in stations() if s["id"] == sid), None)
    before = low(sid)
    open_before = [a["id"] for a in before if a["state"] == "active"]
    day = get(centre, "/api/wheelchairs", token)["day"]
    demand_before = get(centre, f"/api/wheelchairs?date={day}", token)["site"]["demand_today"]
    docked_before = chosen["docked"]  # every chair docked at the last poll is taken
    assert docked_before > 0, stations()
    centre.inject(sid, "take_all")
    [alarm] = wait_for(lambda: [a for a in low(sid) if a["state"] == "active"], 60, "wheelchair_low_stock")
    assert alarm["zone"] == chosen["zone"]
    if not open_before:  # raised by the emptying: its detail is the empty station
        assert alarm["detail"]["charged"] == 0 and alarm["detail"]["slots"] == chosen["slots"]
    else:
        assert [alarm["id"]] == open_before
    empty = wait_for(lambda: (s := station()) and s["docked"] == 0 and s, 30, "station empty")
    assert empty["low_stock"] is True and empty["charged"] == 0
    # More polls of the same empty station (every edge.modbus_poll_s) raise nothing more.
    def last_seen() -> str:
        return next(d["last_seen"] for d in get(centre, "/api/devices", token) if d["id"] == sid)
    last = last_seen()
    for _ in range(2):
        last = wait_for(lambda prev=last: (t := last_seen()) != prev and t, 60, "another poll")
    alarms = low(sid)
    assert len(alarms) == len(before) + (0 if open_before else 1)
    assert [a["id"] for a in alarms if a["state"] == "active"] == [alarm["id"]]
    if not open_before:
        assert [a["count"] for a in alarms if a["state"] == "active"] == [1]
    demand = get(centre, f"/api/wheelchairs?date={day}", token)["site"]["demand_today"]
    assert demand - demand_before >= docked_before
    centre.inject(sid, "clear")
