"""Reports over HTTP (GET /api/reports, /api/reports.csv, /reports/print) on an in-process hub, and the daily
report sent at its time to a real local SMTP server (aiosmtpd) and WeCom robot, on a ManualClock, once even
across a restart."""

from __future__ import annotations

import csv
import email
import email.policy
import datetime as dt
import io
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from floorops.config import Config, ConfigError
from hub import reports
from hub.clock import ManualClock
from tests.hub.conftest import http, wait_for
from tests.hub.helpers import Feeder
from tests.hub.live import LiveHub
from tests.hub.notify_fixtures import notify_toml, use_notify_files
from tests.hub.notify_receivers import smtp_server, wecom_errors
from tests.hub.webhook_receiver import Receiver, Request


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


def get(url: str, token: str) -> tuple[int, str, bytes, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read(), r.headers


def issue_and_call(live: LiveHub, clock: ManualClock) -> None:
    hub = live.ctx.hub
    screen = next(d.id for d in hub.site.devices if d.queue == "REG-1")

    def feed() -> None:
        f = Feeder(hub)
        for n in range(3):
            f.record(screen, "event", {"event": "ticket_issued", "queue": "REG-1", "ticket": f"A{n}"})
        clock.advance(5 * 60)
        for n in range(3):
            f.record(screen, "event", {"event": "ticket_called", "queue": "REG-1", "ticket": f"A{n}"})
    live.call(feed)


async def wecom_robot(receiver: Receiver, req: Request) -> web.StreamResponse:
    """Answers as WeCom does: errcode 0 for a well-formed message, 40008 otherwise."""
    errors = wecom_errors(req.path, {"key": "k"}, req.json)
    return web.json_response({"errcode": 40008 if errors else 0, "errmsg": "; ".join(errors) or "ok"})


def test_month_as_json_csv_and_a_printable_page(live: LiveHub, clock: ManualClock) -> None:
    issue_and_call(live, clock)
    token = live.login("fm-zhang")  # a floor manager reads reports
    status, month = http(live.url + "/api/reports?period=month&date=2025-11-10", token=token)
    assert status == 200 and (month["from"], month["to"]) == ("2025-11-01", "2025-11-30")
    assert len(month["days"]) == 24 and month["totals"]["visits"] == 3 and month["totals"]["service_level"] == 1.0

    status, ctype, body, headers = get(live.url + "/api/reports.csv?period=month&date=2025-11-10&lang=zh", token)
    assert status == 200 and ctype.startswith("text/csv") and body.startswith(b"\xef\xbb\xbf")
    assert 'filename="floorops-month-2025-11-01.csv"' in headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:2] == ["日期", "取号人次"] and len(rows) == 1 + 24 + 1
    assert {r[0]: r for r in rows}["2025-11-24"][1] == "3"

    status, ctype, body, headers = get(live.url + "/reports/print?period=month&date=2025-11-10&lang=zh", token)
    page = body.decode()
    assert status == 200 and ctype.startswith("text/html") and "月报" in page and "2025-11-01 – 2025-11-30" in page
    assert page.count("<svg") == 5 and 'id="chart-fault-rate"' in page and 'class="target"' in page
    assert "Content-Security-Policy" in headers and "<script>" not in page and " style=" not in page
    status, ctype, css, _ = get(live.url + "/css/report.css", token)
    assert status == 200 and b"@media print" in css
    status, _, body, _ = get(live.url + "/reports/print?period=quarter&lang=en", token)
    assert "Quarterly report" in body.decode() and "2025-10-01 – 2025-12-31" in body.decode()


@pytest.mark.parametrize(("query", "message"), [
    ("period=year", "period must be one of day, week, month, quarter"),
    ("period=month&date=2025-02-30", "date must be YYYY-MM-DD"),
    ("period=month&lang=fr", "lang must be one of en, zh"),
])
def test_bad_parameters_are_400_with_a_clear_error(live: LiveHub, query: str, message: str) -> None:
    token = live.login("monitor")
    for path in ("/api/reports", "/api/reports.csv", "/reports/print"):
        status, body = http(f"{live.url}{path}?{query}", token=token)
        assert status == 400 and body == {"error": message}, (path, body)


def test_roles_without_reports_are_refused(live: LiveHub) -> None:
    for username in ("maintenance", "desk", "liaison-lab"):
        token = live.login(username)
        for path in ("/api/reports?period=month", "/api/reports.csv", "/reports/print"):
            status, body = http(live.url + path, token=token)
            assert status == 403 and "may not" in body["error"], (username, path)
    status, body = http(live.url + "/reports/print")
    assert status == 401
    assert http(live.url + "/api/reports", token=live.login("admin"))[0] == 200


def test_a_bad_daily_report_setting_is_named_at_start(offline_cfg: Config, tmp_path: Path) -> None:
    from hub.app import create_app
    use_notify_files(offline_cfg, tmp_path)
    for setting, value, message in (("daily_at", "6pm", "reports.daily_at"),
                                    ("daily_to", ["person:nobody"], "person:<a roster id>"),
                                    ("daily_to", ["channel:fax"], "channel:<a configured notify channel")):
        offline_cfg.reports.daily_to = ["person:p-fm"]
        setattr(offline_cfg.reports, setting, value)
        with pytest.raises(ConfigError, match=message):
            create_app(offline_cfg, ManualClock(), connect_broker=False, background=False)
        offline_cfg.reports.daily_at = "18:00"


def test_daily_report_is_sent_at_its_time_once_even_after_a_restart(offline_cfg: Config, tmp_path: Path,
                                                                    clock: ManualClock) -> None:
    controller, box = smtp_server()
    robot = Receiver(wecom_robot).start()
    try:
        use_notify_files(offline_cfg, tmp_path, notify_toml(controller.port, robot.url("/cgi-bin/webhook/send?key=k")))
        offline_cfg.reports.daily_at = "18:00"
        offline_cfg.reports.daily_to = ["person:p-fm", "channel:wecom"]
        offline_cfg.reports.daily_lang = "zh"
        live = LiveHub(offline_cfg, clock).start()  # Monday 2025-11-24 10:00 Shanghai
        try:
            daily = live.ctx.extra["reports"]
            issue_and_call(live, clock)
            assert live.call(daily.due, clock.now()) is None  # 10:05: not yet
            clock.set(dt.datetime(2025, 11, 24, 18, 0, 30, tzinfo=live.ctx.hub.tz).timestamp())
            assert live.call(daily.due, clock.now()) == dt.date(2025, 11, 24)
            [(rcpt, raw)] = wait_for(lambda: box.messages, 30, "the daily report e-mail")
            mail = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
            assert rcpt == ["fm@hospital.example"] and mail["Subject"] == "FloorOps 日报 2025-11-24"
            parts = {p.get_filename(): p for p in mail.iter_attachments()}
            assert set(parts) == {"floorops-day-2025-11-24.csv", "floorops-day-2025-11-24.html"}
            rows = list(csv.reader(io.StringIO(parts["floorops-day-2025-11-24.csv"].get_content().lstrip("\ufeff"))))
            assert rows[0][1] == "取号人次" and rows[1][:2] == ["2025-11-24", "3"]
            page = parts["floorops-day-2025-11-24.html"].get_content()
            assert "日报" in page and "<svg" in page and "<style>" in page
            assert "服务达标率 100.0%" in mail.get_body(("plain",)).get_content()
            [wecom] = robot.wait_for(lambda got: got, 30, "the WeCom summary")
            assert wecom.json["msgtype"] == "text" and "FloorOps 日报 2025-11-24" in wecom.json["text"]["content"]
        finally:
            live.stop()
        clock.advance(3600)  # 19:00, the same day: a restarted hub has it recorded and sends nothing more
        live = LiveHub(offline_cfg, clock).start()
        try:
            assert live.call(live.ctx.extra["reports"].due, clock.now()) is None
            time.sleep(3)  # more than one check of the schedule
            assert len(box.messages) == 1
            assert live.ctx.hub.db.one("SELECT COUNT(*) FROM report_sends")[0] == 1
        finally:
            live.stop()
    finally:
        controller.stop()
        robot.stop()


def test_report_module_names_no_period_it_cannot_build() -> None:
    assert reports.PERIODS == ("day", "week", "month", "quarter")
