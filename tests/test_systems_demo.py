"""``make run`` as a new user tries it (README, "Try it as a new user would"): the whole stack checks the
simulator's hospital systems; ``python -m firmware_sim slow his 12`` raises system_slow (above the default
10 s) once, and ``slow his 0`` clears it."""

from __future__ import annotations

from typing import Any

import pytest

from centre.launcher import ControlCentre
from tests.hub.conftest import wait_for
from tests.test_end_to_end import cli, http, login

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_slowed_his_raises_system_slow_and_clears(control_centre: ControlCentre) -> None:
    centre = control_centre
    token = login(centre, "monitor")

    def systems() -> dict[str, Any]:
        status, body = http(centre, "GET", "/api/systems", token=token)
        assert status == 200, body
        return {s["name"]: s for s in body}

    up = wait_for(lambda: (s := systems()) and all(x["state"] == "up" for x in s.values()) and s, 60,
                  "every simulated system checked and up")
    assert sorted(up) == ["app", "his", "pacs", "queue"]
    try:
        cli(centre, "-m", "firmware_sim", "slow", "his", "12")
        wait_for(lambda: systems()["his"]["state"] == "slow", 60, "system_slow raised")
        [alarm] = [a for a in http(centre, "GET", "/api/alarms", token=token)[1] if a["type"] == "system_slow"]
        assert alarm["source"] == "system:his" and alarm["detail"]["response_ms"] > 10_000
        assert systems()["pacs"]["state"] == "up"  # one slow system delays no other's checks
    finally:
        cli(centre, "-m", "firmware_sim", "slow", "his", "0")
    wait_for(lambda: systems()["his"]["state"] == "up", 60, "system_slow cleared")
    alarms = [a for a in http(centre, "GET", "/api/alarms", token=token)[1] if a["type"] == "system_slow"]
    assert [a["state"] for a in alarms] == ["cleared"]
