"""The hospital's side of paging, live: a real hub process pages through the channels ``make run`` writes
(centre.launcher.demo_notify_file) into the simulator's mail server and robots (firmware_sim/inbox.py).
An unacknowledged critical alarm reaches the maintenance person by e-mail, then the floor manager on the
WeCom and DingTalk robots, each in its service's format, and ``python -m firmware_sim inbox`` shows them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from centre.launcher import demo_notify_file
from centre.services import free_port
from firmware_sim.control import ControlServer
from firmware_sim.inbox import Inbox, wecom_errors
from floorops.config import REPO_ROOT, Config
from tests.hub.conftest import HubProcess, http, wait_for
from tests.hub.test_notify_live import alarm_of, card_jam

pytestmark = pytest.mark.integration

ROSTER = """
[[people]]
id = "p-mt"
name = "Ma Tao"
role = "maintenance"
email = "mt@hospital.example"
channels = ["smtp"]

[[people]]
id = "p-dm"
name = "Du Ming"
role = "floor_manager"
phone = "13800000003"
channels = ["wecom", "dingtalk"]
"""

CHAINS = """
reminder_every_s = 0
[[chains]]
name = "card-jams"
subject = "alarm"
severities = ["critical"]
types = ["card_jam"]
steps = [{ to = ["role:maintenance"], timeout_s = 2 }, { to = ["role:floor_manager"], timeout_s = 0 }]
[outbox]
retries = 30
backoff_s = 0.2
backoff_max_s = 1.0
timeout_s = 3
"""


class SimulatedInbox:
    """The simulator's control server and mail server, as ``firmware_sim run`` serves them, in a thread."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.inbox = Inbox(dingtalk_secret=cfg.sim.dingtalk_secret)
        self.control = ControlServer(None, self.inbox.now_ms, "127.0.0.1", cfg.sim.control_port, self.inbox)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-inbox", daemon=True)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> "SimulatedInbox":
        self.thread.start()
        self.call(self.control.start())
        self.call(self.inbox.start_smtp("127.0.0.1", self.cfg.sim.smtp_port))
        return self

    def stop(self) -> None:
        self.call(self.inbox.stop_smtp())
        self.call(self.control.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def received(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in list(self.inbox.received) if m["channel"] == channel]


def test_critical_alarm_pages_reach_the_simulated_mail_server_and_robots(live_cfg: Config, tmp_path: Path) -> None:
    from hub import provisioning
    from tests.hub.test_thin_path import login
    cfg = live_cfg
    cfg.sim.control_port, cfg.sim.smtp_port, cfg.sim.dingtalk_secret = free_port(), free_port(), "SECdemo-secret"
    rules = (REPO_ROOT / "hub" / "rules.toml").read_text(encoding="utf-8")
    (tmp_path / "rules.toml").write_text(rules + '\n[rules.card_jam]\nseverity = "critical"\n', encoding="utf-8")
    (tmp_path / "roster.toml").write_text(ROSTER, encoding="utf-8")
    (tmp_path / "chains.toml").write_text(CHAINS, encoding="utf-8")
    cfg.hub.rules_file, cfg.hub.roster_file = str(tmp_path / "rules.toml"), str(tmp_path / "roster.toml")
    cfg.hub.notify_file = str(demo_notify_file(cfg, tmp_path / "chains.toml", tmp_path / "notify.toml"))
    assert cfg.hub.notify_file == str(tmp_path / "notify.toml")
    provisioning.ensure_user(cfg, "mon", "monitor", "monitor-pass-1")
    sim = SimulatedInbox(cfg).start()
    proc = HubProcess(cfg).start()
    try:
        token = login(proc.url, "mon", "monitor-pass-1")
        card_jam(cfg, "kiosk-03", 1)
        alarm = wait_for(lambda: alarm_of(proc.url, token, "kiosk-03"), 20, "the alarm")
        assert alarm["severity"] == "critical"
        tag = f"alarm #{alarm['id']}"
        [mail] = wait_for(lambda: sim.received("smtp"), 20, "the maintenance person's e-mail")
        assert mail["to"] == "mt@hospital.example" and tag in mail["subject"] + mail["text"]
        [wecom] = wait_for(lambda: sim.received("wecom"), 20, "the floor manager's WeCom message")
        [ding] = wait_for(lambda: sim.received("dingtalk"), 20, "the floor manager's DingTalk message")
        assert mail["at_ms"] <= wecom["at_ms"]  # the second step only after the first one's timeout
        assert wecom["to"] == "@13800000003" and tag in wecom["text"]
        assert ding["to"] == "@13800000003" and tag in ding["text"]
        # Each in its service's format: the WeCom text message with its @-mention, DingTalk signed (checked
        # on arrival with the secret the launcher gave both sides), the e-mail from the configured sender.
        [body] = sim.inbox.accepted["wecom"]
        assert body["msgtype"] == "text" and body["text"]["mentioned_mobile_list"] == ["13800000003"]
        assert wecom_errors("/cgi-bin/webhook/send", {"key": "floorops-demo"}, body) == []
        [(rcpt, email)] = sim.inbox.accepted["smtp"]
        assert rcpt == ["mt@hospital.example"] and email["From"] == "floorops@hospital.example"
        assert sim.inbox.refused == []
        assert mail["to"] not in [m["to"] for m in sim.received("wecom") + sim.received("dingtalk")]
        status, _ = http(proc.url + f"/api/alarms/{alarm['id']}/ack", "POST", {"comment": "on it"}, token=token)
        assert status == 200
        # What a user runs to see the pages arrive.
        out = subprocess.run([sys.executable, "-m", "firmware_sim", "inbox", "--config", str(proc.config_path)],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        lines = out.splitlines()
        first = next(i for i, line in enumerate(lines) if "smtp" in line and "to mt@hospital.example" in line)
        second = next(i for i, line in enumerate(lines) if "wecom" in line and "to @13800000003" in line)
        assert first < second and tag in out
        assert "received: smtp 1, wecom 1, dingtalk 1, sms 0" in lines[-1]
    finally:
        proc.stop()
        sim.stop()
