"""A small roster and notify file for the escalation and silence tests (written into the test's tmp folder)."""

from __future__ import annotations

from pathlib import Path

from floorops.config import Config

ROSTER = """
[[people]]
id = "p-mt"
name = "Ma Tao"
role = "maintenance"
username = "mt1"
email = "mt@hospital.example"
phone = "13800000001"
channels = ["smtp", "sms"]

[[people]]
id = "p-fm"
name = "Fang Min"
role = "floor_manager"
username = "fm1"
email = "fm@hospital.example"
channels = ["smtp"]
quiet_hours = "22:00-07:00"

[[people]]
id = "p-dm"
name = "Du Ming"
role = "floor_manager"
email = "dm@hospital.example"
phone = "13800000003"
channels = ["smtp", "wecom"]
on_duty = true

[[people]]
id = "p-crit"
name = "Cui Ting"
role = "staff"
email = "crit@hospital.example"
channels = ["smtp"]
events = ["severity:critical"]
"""


def notify_toml(smtp_port: int = 1, wecom_url: str = "http://127.0.0.1:1/cgi-bin/webhook/send?key=k",
                reminder_every_s: int = 120, extra: str = "") -> str:
    return f"""
reminder_every_s = {reminder_every_s}
urgent_severities = ["critical"]
link = "http://console.example/"

[[chains]]
name = "major"
subject = "alarm"
severities = ["major", "critical"]
steps = [
    {{ to = ["role:maintenance"], timeout_s = 300 }},
    {{ to = ["person:p-fm"], timeout_s = 600 }},
    {{ to = ["person:p-dm", "person:p-crit"], timeout_s = 0 }},
]

[channels.smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "floorops@hospital.example"
tls = "none"
timeout_s = 5

[channels.wecom]
url = "{wecom_url}"
msgtype = "text"

[channels.sms]
url = "http://127.0.0.1:1/sms"
body = '{{"to": "$phone", "text": "$text"}}'

[outbox]
retries = 3
backoff_s = 0.05
backoff_max_s = 0.2
{extra}
"""


def use_notify_files(cfg: Config, tmp: Path, notify: str | None = None) -> None:
    (tmp / "roster.toml").write_text(ROSTER, encoding="utf-8")
    (tmp / "notify.toml").write_text(notify if notify is not None else notify_toml(), encoding="utf-8")
    cfg.hub.roster_file = str(tmp / "roster.toml")
    cfg.hub.notify_file = str(tmp / "notify.toml")
