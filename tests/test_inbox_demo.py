"""``make run``'s pages arrive in the simulated hospital: the launcher (the ``control_centre`` fixture, the
same code as make run) points the hub's channels at the simulator's mail server and robots, so a charger's
over-temperature (critical) e-mails the maintenance person on shift, as ``firmware_sim inbox`` shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from centre.launcher import ControlCentre, inbox_line
from centre.services import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def inbox(centre: ControlCentre, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "firmware_sim", "inbox", "--json", *args,
                          "--config", str(centre.runtime_config)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    answer: dict[str, Any] = json.loads(out)
    return answer


def test_a_critical_alarm_under_make_run_reaches_the_simulated_mail_server(control_centre: ControlCentre) -> None:
    centre = control_centre
    assert Path(centre.cfg.hub.notify_file) == centre.var / "notify.runtime.toml"
    assert f":{centre.cfg.sim.smtp_port} " in inbox_line(centre) and "firmware_sim inbox" in inbox_line(centre)

    def mails() -> list[dict[str, Any]]:
        return [m for m in inbox(centre, "--channel", "smtp")["messages"]
                if m["to"] == "liu.yang@hospital.example" and "charger_over_temperature - charger-02" in m["subject"]]

    centre.inject("charger-02", "over_temperature")
    try:
        wait_until(mails, 90, "the maintenance person's e-mail in the simulated hospital's inbox")
    finally:
        centre.inject("charger-02", "clear")
    [mail] = mails()[:1]
    assert "escalation step 1, to Liu Yang" in mail["text"]
    assert inbox(centre)["counts"]["smtp"]["refused"] == 0
