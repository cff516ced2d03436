"""Issue #16 item 4 with every process real (centre.launcher: Mosquitto, influxd, edge, hub, simulator): a
satisfaction terminal registered with ``python -m hub devices add`` presses its buttons with
``mosquitto_pub`` on its own credentials; the edge checks each press against the kind's contract, the hub
turns them into the zone's score of the day, and a press with a button the terminal does not have is
dead-lettered, not scored. Its heartbeat reading shows on the device's tile."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from centre.launcher import ControlCentre
from tests.test_end_to_end import cli, http, login, mosquitto_pub, now_ms

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def eventually(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_a_terminals_presses_become_its_zones_score(control_centre: ControlCentre) -> None:
    centre = control_centre
    # The paediatrics zone has no simulated terminal: its score is this terminal's alone.
    creds = json.loads(cli(centre, "-m", "hub", "devices", "add", "sat-99", "--kind", "satisfaction_terminal",
                           "--zone", "paed"))
    assert creds["topic_prefix"] == "hospital/demo/satisfaction_terminal/sat-99/"
    token = login(centre, "monitor")
    ts = now_ms()
    day = dt.datetime.fromtimestamp(ts / 1000, ZoneInfo("Asia/Shanghai")).date().isoformat()
    buttons = ["very_satisfied", "satisfied", "satisfied", "neutral", "very_dissatisfied"]  # 100+75+75+50+0 = 300
    for seq, button in enumerate(buttons, start=1):
        mosquitto_pub(centre, creds, "event", json.dumps({"v": 1, "ts": ts + seq, "seq": seq, "event": "press",
                                                          "button": button}))
    mosquitto_pub(centre, creds, "event", json.dumps({"v": 1, "ts": ts + 9, "seq": 9, "event": "press",
                                                      "button": "delighted"}))  # not a button of the contract
    mosquitto_pub(centre, creds, "telemetry", json.dumps({"v": 1, "ts": ts + 10, "seq": 10, "presses": 5,
                                                          "battery_pct": 88.5}))

    def paed() -> dict[str, Any] | None:
        status, body = http(centre, "GET", f"/api/satisfaction?date={day}&zone=paed", token=token)
        assert status == 200, body
        [z] = body["zones"]
        return z if z["ratings"] >= len(buttons) else None
    z = eventually(paed)
    assert z is not None, "the presses never became a score"
    assert (z["score"], z["ratings"]) == (60.0, 5)
    assert z["counts"] == {"very_satisfied": 1, "satisfied": 2, "neutral": 1, "dissatisfied": 0,
                           "very_dissatisfied": 1}

    def device() -> dict[str, Any] | None:
        devices = http(centre, "GET", "/api/devices", token=token)[1]
        return next((d for d in devices if d["id"] == "sat-99" and d["readings"].get("presses") == 5), None)
    dev = eventually(device)
    assert dev is not None and dev["kind"] == "satisfaction_terminal" and dev["readings"]["battery_pct"] == 88.5
    listing = eventually(lambda: "sat-99" in (out := cli(centre, "-m", "edge", "deadletters")) and out)
    assert listing and "delighted" in listing
    # The site's document knows the kind, with its readings.
    site = http(centre, "GET", "/api/site", token=token)[1]
    kind = {k["name"]: k for k in site["device_kinds"]}["satisfaction_terminal"]
    assert kind["readings"] == ["presses", "battery_pct"]
