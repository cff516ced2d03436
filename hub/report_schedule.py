"""The daily report (issue #16 item 7, 「汇总当日服务数据并生成日报」): at ``[reports] daily_at`` (site
local time) the hub builds the day's report (hub.reports) and puts one message per contact point in the
notify outbox (hub.notify.outbox), which delivers it with its retries: e-mail with the CSV and the printable
page attached, WeCom / DingTalk a Markdown summary, SMS a line.

The time comes from the hub's clock (a test moves a ManualClock). A report is recorded in ``report_sends``
in the transaction that writes its messages, so a restart after the send never sends it again; a hub that was
down at ``daily_at`` sends the day's report when it comes back the same day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
from pathlib import Path
from typing import Any, Callable

from floorops.config import ConfigError, ReportsConfig
from hub import reports
from hub.core import Hub
from hub.db import busy
from hub.escalation import in_span, span_end
from hub.notify import Message, outbox
from hub.roster import Person

log = logging.getLogger("hub.reports")

CHECK_EVERY_S = 2.0
PERIOD = "day"
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
CSS = Path(__file__).resolve().parent.parent / "console" / "static" / "css" / "report.css"


def check_config(cfg: ReportsConfig, people: set[str], channels: set[str]) -> None:
    """Every setting, at start (ConfigError naming the bad one)."""
    if not TIME_RE.match(cfg.daily_at):
        raise ConfigError(f"reports.daily_at: HH:MM (site time), not {cfg.daily_at!r}")
    if cfg.daily_day not in ("today", "yesterday"):
        raise ConfigError("reports.daily_day: today or yesterday")
    if cfg.daily_lang not in reports.LANGS:
        raise ConfigError(f"reports.daily_lang: one of {', '.join(reports.LANGS)}")
    if cfg.daily_to and not channels:
        raise ConfigError("reports.daily_to: no notify channel is configured (hub.notify_file, [channels.*])")
    for target in cfg.daily_to:
        kind, _, name = target.partition(":")
        if kind == "person" and name in people:
            continue
        if kind == "channel" and name in channels:
            continue
        raise ConfigError(f"reports.daily_to: {target!r} is not person:<a roster id> or channel:<a configured "
                          f"notify channel: {', '.join(sorted(channels)) or 'none configured'}>")


class DailyReports:
    """Decides when the day's report is due, builds it off the loop, and queues its messages."""

    def __init__(self, cfg: ReportsConfig, hub: Hub, wake: Callable[[], None] = lambda: None) -> None:
        check_config(cfg, {p.id for p in hub.roster.people}, set(hub.notify_settings.channels))
        self.cfg, self.hub, self.wake = cfg, hub, wake
        hour, minute = cfg.daily_at.split(":")  # HH:MM, checked just above
        self.at = dt.time(int(hour), int(minute))
        self._sent: str | None = None  # the last day known to be sent (saves a query per check)

    def due(self, now: float) -> dt.date | None:
        """The day whose report should go out now, or None (too early, or already sent)."""
        local = dt.datetime.fromtimestamp(now, self.hub.tz)
        if local.time() < self.at:
            return None
        day = local.date() - dt.timedelta(days=1 if self.cfg.daily_day == "yesterday" else 0)
        if self._sent == day.isoformat():
            return None
        if self.hub.db.one("SELECT 1 FROM report_sends WHERE period=? AND day=?", (PERIOD, day.isoformat())):
            self._sent = day.isoformat()
            return None
        return day

    async def check(self) -> int | None:
        """Send the report if it is due; the number of messages queued (None: nothing was due)."""
        day = self.due(self.hub.clock.now())
        if day is None:
            return None
        snap = reports.snapshot(self.hub)
        report = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(reports.build_off_loop, snap, self.hub.db.path, PERIOD, day))
        with self.hub.unit_of_work():
            if self.due(self.hub.clock.now()) != day:  # sent meanwhile (another check)
                return None
            written = self.queue(report, day)
            self.hub.db.execute("INSERT INTO report_sends(period, day, sent_at, messages) VALUES (?,?,?,?)",
                                (PERIOD, day.isoformat(), self.hub.clock.now(), written))
        self._sent = day.isoformat()
        self.wake()
        log.info("daily report queued", extra={"day": day.isoformat(), "messages": written})
        return written

    def recipients(self) -> list[tuple[Person | None, str]]:
        """(person, channel name) per contact point; a group robot has no person."""
        out: list[tuple[Person | None, str]] = []
        settings = self.hub.notify_settings
        for target in self.cfg.daily_to:
            kind, _, name = target.partition(":")
            if kind == "channel":
                out.append((None, name))
                continue
            person = next((p for p in self.hub.roster.people if p.id == name), None)
            if person is None:
                continue
            person = self.hub.escalation.effective(person)
            out += [(person, c) for c in person.channels or settings.default_channels]
        return out

    def queue(self, report: dict[str, Any], day: dt.date) -> int:
        """The report's messages into the outbox (inside the caller's transaction)."""
        settings, now = self.hub.notify_settings, self.hub.clock.now()
        lang = self.cfg.daily_lang
        query = f"period={PERIOD}&date={day.isoformat()}&lang={lang}"
        link = settings.link.rstrip("/") + f"/reports/print?{query}" if settings.link else ""
        title, lines = summary(report, lang)
        csv_text = reports.to_csv(report, lang).decode("utf-8")
        page = reports.to_html(report, lang, f"{settings.link.rstrip('/')}/api/reports.csv?{query}",
                               css=CSS.read_text(encoding="utf-8"))
        attachments = ((reports.filename(report, "csv"), "text/csv", csv_text),
                       (reports.filename(report, "html"), "text/html", page))
        markdown = f"### {title}\n" + "\n".join(f"> {line}" for line in lines) + (f"\n[{title}]({link})" if link else "")
        written = 0
        for person, channel_name in self.recipients():
            channel = settings.channels.get(channel_name)
            address = channel.address(person) if channel is not None and person is not None else ""
            if channel is None or address is None:
                continue
            next_at = now
            local = dt.datetime.fromtimestamp(now, self.hub.tz)
            if person is not None and person.quiet_hours and in_span(person.quiet_hours, local):
                next_at = span_end(person.quiet_hours, local).timestamp()
            who = person.id if person is not None else f"channel:{channel_name}"
            message = Message(title, "\n".join(lines), markdown, "info", False, address,
                              person.phone if person else "", person.id if person else "",
                              person.name if person else "", link, attachments=attachments)
            written += outbox.enqueue(self.hub.db, f"report:{PERIOD}:{day.isoformat()}:{who}:{channel_name}",
                                      channel_name, person.id if person else "", "report", day.isoformat(), 0,
                                      message, next_at, now)
        return written


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _min(value: float | None) -> str:
    return "—" if value is None else f"{value / 60:.1f}"


def summary(report: dict[str, Any], lang: str) -> tuple[str, list[str]]:
    """The title and a few lines of the day: what a manager reads on a phone."""
    t = report["totals"]
    if lang == "zh":
        return (f"FloorOps 日报 {report['from']}", [
            f"取号 {t['visits']} 人次，服务达标率 {_pct(t['service_level'])}，平均等候 {_min(t['avg_wait_s'])} 分钟",
            f"设备故障率 {_pct(t['fault_rate'])}（目标 {_pct(report['targets']['fault_rate'])}），"
            f"新增工单 {t['tickets_opened']}，完成 {t['tickets_closed']}，超时 {t['tickets_overdue']}",
            f"服务请求 {t['requests']}，按时完成率 {_pct(t['requests_within_target_share'])}，"
            f"平均到场 {_min(t['time_to_arrive_s'])} 分钟",
            f"轮椅借用 {t['wheelchair_demand']}，系统缓慢 {t['system_slow']} 次，中断 {t['system_down']} 次"])
    return (f"FloorOps daily report {report['from']}", [
        f"{t['visits']} tickets issued, service level {_pct(t['service_level'])}, mean wait "
        f"{_min(t['avg_wait_s'])} min",
        f"device fault rate {_pct(t['fault_rate'])} (target {_pct(report['targets']['fault_rate'])}), repair "
        f"tickets {t['tickets_opened']} opened, {t['tickets_closed']} closed, {t['tickets_overdue']} overdue",
        f"{t['requests']} requests, {_pct(t['requests_within_target_share'])} within target, time to arrive "
        f"{_min(t['time_to_arrive_s'])} min",
        f"{t['wheelchair_demand']} wheelchairs taken, system slow {t['system_slow']}, down {t['system_down']}"])


async def run(daily: DailyReports) -> None:
    """The hub's task: check every few seconds (cheap: a time comparison, a query once a day)."""
    while True:
        try:
            await daily.check()
        except Exception as exc:  # noqa: BLE001 - a failed report is logged and tried again later
            if busy(exc):  # another process holds the write lock: the next check tries again
                log.warning("daily report waits for the database lock")
            else:
                log.exception("daily report failed")
                await asyncio.sleep(30)
        await asyncio.sleep(CHECK_EVERY_S)
