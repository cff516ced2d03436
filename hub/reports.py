"""Reports over a day, an ISO week (Monday to Sunday), a month or a quarter, in site local time (issue #16
item 7, 「汇总当日服务数据并生成日报」): one row per day of the KPIs the hub already computes, and the
period's totals. JSON (GET /api/reports), CSV (GET /api/reports.csv) and a printable page with charts
(GET /reports/print); the daily report sent at a set time is hub.report_schedule.

Each day's figures come from the existing per-day functions (hub.kpis.compute, hub.service_levels.compute,
hub.wheelchairs.compute, hub.reliability.fault_rates), so a report's day always agrees with GET /api/kpis,
/api/service-levels and /api/wheelchairs of the same date. What no per-day function counts yet (tickets opened
and closed, requests by kind and within target, system_slow / system_down alarms) is counted here.

Totals: counts are summed; shares are recomputed from the summed counts (service level = tickets called
within target / called); MTTA and MTTR are the daily means weighted by what they average; the fault rate
of the period is the share of devices with an equipment fault at any moment of it (hub.reliability);
dispatch times are the mean of the daily means. Days after today have no row.

Building a quarter runs a few thousand small queries: the routes build reports off the event loop, on
a connection of their own that only reads, from a ``Snapshot`` of the live state taken on the loop (``snapshot``).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

from hub import kpis, satisfaction, service_levels, wheelchairs
from hub.core import Hub
from hub.db import Database
from hub.reliability import equipment_fault_types, fault_rates, period_bounds
from hub.requests import KINDS as REQUEST_KINDS
from hub.rules import systems as systems_rule
from hub.rules import wheelchairs as wheelchair_rule
from hub.tickets import REMOVED_RESOLUTION

PERIODS = ("day", "week", "month", "quarter")
LANGS = ("en", "zh")


class ReportError(ValueError):
    """A bad period, date or language: the client's mistake (400)."""


def bounds(period: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """[first day, day after the last) of the period holding ``day``; weeks are ISO (Monday first),
    quarters start in January, April, July and October."""
    if period == "quarter":
        first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        after = first.replace(year=first.year + 1, month=1) if first.month == 10 else first.replace(month=first.month + 3)
        return first, after
    if period not in PERIODS:
        raise ReportError(f"period must be one of {', '.join(PERIODS)}")
    return period_bounds(period, day, ZoneInfo("UTC"))


def epoch(day: dt.date, tz: ZoneInfo) -> float:
    """Local midnight starting ``day`` (a day is 23 or 25 hours long on a daylight-saving change)."""
    return dt.datetime.combine(day, dt.time(), tz).timestamp()


def parse_params(period: str | None, date: str | None, lang: str | None, today: dt.date) -> tuple[str, dt.date, str]:
    """The query's period (default day), date (default today, site time) and language (default en); a
    parameter given empty is an error, as any other bad value."""
    period = "day" if period is None else period
    if period not in PERIODS:
        raise ReportError(f"period must be one of {', '.join(PERIODS)}")
    try:
        day = today if date is None else dt.date.fromisoformat(date)
    except ValueError:
        raise ReportError("date must be YYYY-MM-DD") from None
    if date is not None and len(date) != 10:  # fromisoformat also takes 20251124
        raise ReportError("date must be YYYY-MM-DD")
    if not 1000 <= day.year <= 2999:
        raise ReportError("date must be between the years 1000 and 2999")
    lang = "en" if lang is None else lang
    if lang not in LANGS:
        raise ReportError(f"lang must be one of {', '.join(LANGS)}")
    return period, day, lang


# -- what a report reads of the live hub -------------------------------------------------------------------

@dataclass
class Snapshot:
    """The parts of the hub a report reads, copied on the event loop so a thread can read them safely."""

    hub_view: Any  # what hub.kpis.compute reads of a Hub (db replaced by the caller's connection)
    site: Any
    tz: ZoneInfo
    rules: Any
    devices: dict[str, str]  # device id -> kind
    now: float
    # Patient flow per local day (hub.flows, in memory: the last 8 days): transitions, back-and-forths
    flow_days: dict[str, dict[str, Any]] = field(default_factory=dict)


def snapshot(hub: Hub) -> Snapshot:
    """Copy, on the loop, what the report reads of the live state."""
    state = SimpleNamespace(devices=dict(hub.state.devices), queues=dict(hub.state.queues))
    tiles = hub.requests.tiles()
    view = SimpleNamespace(db=hub.db, clock=hub.clock, tz=hub.tz, rules=hub.rules, state=state, site=hub.site,
                           alarms=SimpleNamespace(open=dict(hub.alarms.open)),
                           requests=SimpleNamespace(settings=dict(hub.requests.settings), tiles=lambda: tiles))
    return Snapshot(view, hub.site, hub.tz, hub.rules, {d.id: d.kind for d in state.devices.values()},
                    hub.clock.now(), flow_days(hub))


def flow_days(hub: Hub) -> dict[str, dict[str, Any]]:
    """Each local day's patient-flow figures from the intervals the hub holds (hub.flows): people moving
    between zones, back-and-forth walks among the zones' visitors, the mean extra walk of a detour, and
    the zone where walking back and forth was most common (at least 20 visitors)."""
    out: dict[str, dict[str, Any]] = {}
    days: dict[str, Any] = {}
    for iv in hub.flows.intervals:
        day = dt.datetime.fromtimestamp(iv.start_ms / 1000, hub.tz).date().isoformat()
        days.setdefault(day, []).append(iv)
    for day, intervals in days.items():
        moves = sum(f["count"] for iv in intervals for f in iv.flows) + sum(iv.other for iv in intervals)
        zones: dict[str, list[float]] = {}
        for iv in intervals:
            for w in iv.wandering:
                z = zones.setdefault(w["zone"], [0, 0, 0.0, 0.0])
                z[0] += w["visitors"]
                z[1] += w["back_and_forth"]
                z[2] += w["extra_walk_s"] * w["back_and_forth"]
                z[3] += w["back_and_forth"] / w.get("detection", 1.0)  # as many as the edge would have seen
        visitors = sum(int(z[0]) for z in zones.values())
        bnf = sum(int(z[1]) for z in zones.values())
        busy = {zone: z[3] / z[0] for zone, z in zones.items() if z[0] >= 20}
        out[day] = {"transitions": moves, "back_and_forth": bnf, "wandering_visitors": visitors,
                    "back_and_forth_est": round(sum(z[3] for z in zones.values()), 2),
                    "wandering_extra_s": sum(z[2] for z in zones.values()),
                    "wandering_top_zone": max(busy, key=lambda zone: busy[zone]) if busy else None}
    return out


# -- one day ------------------------------------------------------------------------------------------

def _count(db: Database, sql: str, params: tuple[Any, ...]) -> int:
    row = db.one(sql, params)
    return int(row[0] or 0) if row is not None else 0


def day_row(snap: Snapshot, db: Database, day: dt.date) -> dict[str, Any]:
    """One day's figures (see the module's doc for where each comes from)."""
    view = SimpleNamespace(**{**vars(snap.hub_view), "db": db})
    k = kpis.compute(cast(Hub, view), day)  # cast: kpis reads only the attributes the snapshot copies
    start, end = epoch(day, snap.tz), epoch(day + dt.timedelta(days=1), snap.tz)
    sl = service_levels.compute(db, snap.site, snap.rules, snap.now, day)["site"]
    soc = snap.rules.rule(wheelchair_rule.RULE)["charged_soc_pct"]
    chairs = wheelchairs.compute(db, snap.site, [], soc, snap.now, (), day)["hours"]
    supplies = [h["supply"] for h in chairs if h["supply"] is not None]
    requests: dict[str, int] = {kind: 0 for kind in REQUEST_KINDS}
    judged = within = 0
    for r in db.all("SELECT kind, due_at, answered_at FROM requests WHERE raised_at >= ? AND raised_at < ?",
                    (start, end)):
        requests[r["kind"]] = requests.get(r["kind"], 0) + 1
        if r["answered_at"] is not None or snap.now > r["due_at"]:
            judged += 1
            within += r["answered_at"] is not None and r["answered_at"] <= r["due_at"]
    presses = counts_by_button(db, day, day)
    score = satisfaction.score_of(presses)
    systems = {t: _count(db, "SELECT COUNT(*) FROM alarms WHERE type=? AND raised_at >= ? AND raised_at < ?",
                         (t, start, end)) for t in (systems_rule.SLOW, systems_rule.DOWN)}
    return {
        "date": day.isoformat(),
        "visits": sl["issued"], "called": sl["called"], "within_target": sl["within_target"],
        "no_show": sl["no_show"], "abandoned": sl["abandoned"],
        "service_level": sl["service_level"], "avg_wait_s": sl["avg_wait_s"],
        "no_show_rate": sl["no_show_rate"], "abandonment_rate": sl["abandonment_rate"],
        "fault_rate": k["fault_rate"],
        "tickets_opened": _count(db, "SELECT COUNT(*) FROM tickets WHERE opened_at >= ? AND opened_at < ? AND "
                                     "(resolution IS NULL OR resolution != ?)", (start, end, REMOVED_RESOLUTION)),
        "tickets_closed": _count(db, "SELECT COUNT(*) FROM tickets WHERE resolved_at >= ? AND resolved_at < ? AND "
                                     "(resolution IS NULL OR resolution != ?)", (start, end, REMOVED_RESOLUTION)),
        "tickets_overdue": k["sla_breaches"],
        # what MTTA and MTTR of the day average (hub.kpis' own conditions), to weight the period's means
        "alarms_acked": _count(db, "SELECT COUNT(*) FROM alarms WHERE acked_at IS NOT NULL AND raised_at >= ? "
                                   "AND raised_at < ?", (start, end)),
        "tickets_repaired": _count(db, "SELECT COUNT(*) FROM tickets WHERE resolved_at IS NOT NULL AND resolution != ? "
                                       "AND opened_at >= ? AND opened_at < ?", (REMOVED_RESOLUTION, start, end)),
        "mtta_s": k["mtta_s"], "mttr_s": k["mttr_s"],
        "requests": sum(requests.values()), "requests_by_kind": requests,
        "requests_judged": judged, "requests_within_target": within,
        "requests_within_target_share": round(within / judged, 4) if judged else None,
        "time_to_accept_s": k["dispatch_time_to_accept_s"], "time_to_arrive_s": k["dispatch_time_to_arrive_s"],
        "night_emergency_calls": k["night_emergency_calls"],
        "night_emergency_timeout_rate": k["night_emergency_timeout_rate"],
        "wheelchair_demand": sum(h["demand"] for h in chairs),
        "wheelchair_supply_min": min(supplies) if supplies else None,
        "system_slow": systems[systems_rule.SLOW], "system_down": systems[systems_rule.DOWN],
        "satisfaction": None if score is None else round(score, 1), "satisfaction_ratings": sum(presses.values()),
        "satisfaction_presses": presses,
        **_flow_figures(snap.flow_days.get(day.isoformat())),
    }


def counts_by_button(db: Database, first: dt.date, last: dt.date) -> dict[str, int]:
    """The site's satisfaction presses by button over first..last (all zones; hub.satisfaction)."""
    out = {b: 0 for b in satisfaction.BUTTONS}
    for days in satisfaction.counts_by_zone_day(db, first.isoformat(), last.isoformat()).values():
        for counts in days.values():
            for b, n in counts.items():
                out[b] += n
    return out


def _flow_figures(f: dict[str, Any] | None) -> dict[str, Any]:
    """A day's patient-flow columns; zeros and nulls on a day the hub holds no flow interval for."""
    f = f or {}
    bnf, visitors = int(f.get("back_and_forth", 0)), int(f.get("wandering_visitors", 0))
    estimated = float(f.get("back_and_forth_est", bnf))  # corrected by the edge's flow calibration
    return {"transitions": int(f.get("transitions", 0)), "back_and_forth": bnf, "wandering_visitors": visitors,
            "back_and_forth_est": estimated, "wandering_rate": round(estimated / visitors, 4) if visitors else None,
            "wandering_extra_s": float(f.get("wandering_extra_s", 0.0)),
            "wandering_extra_walk_s": round(f["wandering_extra_s"] / bnf, 1) if bnf else None,
            "wandering_top_zone": f.get("wandering_top_zone")}


# -- the period ---------------------------------------------------------------------------------------

SUMMED = ("visits", "called", "within_target", "no_show", "abandoned", "tickets_opened", "tickets_closed",
          "tickets_overdue", "alarms_acked", "tickets_repaired", "requests", "requests_judged",
          "requests_within_target", "wheelchair_demand", "system_slow", "system_down", "night_emergency_calls",
          "transitions", "back_and_forth", "back_and_forth_est", "wandering_visitors", "wandering_extra_s",
          "satisfaction_ratings")


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _weighted(rows: list[dict[str, Any]], value: str, weight: str) -> float | None:
    pairs = [(r[value], r[weight]) for r in rows if r[value] is not None and r[weight]]
    total = sum(w for _, w in pairs)
    return round(sum(v * w for v, w in pairs) / total, 1) if total else None


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 1) if present else None


def totals(rows: list[dict[str, Any]], period_fault_rate: float) -> dict[str, Any]:
    """The period's figures from its days (see the module's doc)."""
    t: dict[str, Any] = {k: sum(r[k] for r in rows) for k in SUMMED}
    supplies = [r["wheelchair_supply_min"] for r in rows if r["wheelchair_supply_min"] is not None]
    daily_faults = [r["fault_rate"] for r in rows]
    t.update({
        "service_level": _ratio(t["within_target"], t["called"]),
        "avg_wait_s": _weighted(rows, "avg_wait_s", "called"),
        "no_show_rate": _ratio(t["no_show"], t["called"]),
        "abandonment_rate": _ratio(t["abandoned"], t["visits"]),
        "fault_rate": period_fault_rate,
        "mean_daily_fault_rate": round(sum(daily_faults) / len(daily_faults), 4) if daily_faults else None,
        "mtta_s": _weighted(rows, "mtta_s", "alarms_acked"),
        "mttr_s": _weighted(rows, "mttr_s", "tickets_repaired"),
        "requests_by_kind": {kind: sum(r["requests_by_kind"].get(kind, 0) for r in rows)
                             for kind in sorted({k for r in rows for k in r["requests_by_kind"]}, key=_kind_order)},
        "requests_within_target_share": _ratio(t["requests_within_target"], t["requests_judged"]),
        "time_to_accept_s": _mean([r["time_to_accept_s"] for r in rows]),
        "time_to_arrive_s": _mean([r["time_to_arrive_s"] for r in rows]),
        "night_emergency_timeout_rate": None,
        "wheelchair_supply_min": min(supplies) if supplies else None,
        "satisfaction": _score({b: sum(r["satisfaction_presses"][b] for r in rows) for b in satisfaction.BUTTONS}),
        "wandering_rate": _ratio(t["back_and_forth_est"], t["wandering_visitors"]),
        "wandering_extra_walk_s": round(t["wandering_extra_s"] / t["back_and_forth"], 1) if t["back_and_forth"] else None,
    })
    late = sum(round((r["night_emergency_timeout_rate"] or 0) * r["night_emergency_calls"]) for r in rows)
    t["night_emergency_timeout_rate"] = _ratio(late, t["night_emergency_calls"])
    return t


def _score(presses: dict[str, int]) -> float | None:
    """The period's site score: the mean of all its presses (not the mean of the days' scores)."""
    score = satisfaction.score_of(presses)
    return None if score is None else round(score, 1)


def _kind_order(kind: str) -> tuple[int, str]:
    return (REQUEST_KINDS.index(kind) if kind in REQUEST_KINDS else len(REQUEST_KINDS), kind)


def build(snap: Snapshot, db: Database, period: str, day: dt.date) -> dict[str, Any]:
    """The report of the period holding ``day``: its days up to today and its totals."""
    first, after = bounds(period, day)
    tz = snap.tz
    rows = []
    d = first
    while d < after and epoch(d, tz) <= snap.now:
        rows.append(day_row(snap, db, d))
        d += dt.timedelta(days=1)
    rates = fault_rates(db, equipment_fault_types(snap.rules.settings), snap.devices, epoch(first, tz),
                        min(epoch(after, tz), max(snap.now, epoch(first, tz))))
    faulted, total = sum(f for f, _ in rates.values()), sum(n for _, n in rates.values())
    sl_rule = snap.rules.rule("service_level_low")
    return {
        "period": period, "from": first.isoformat(), "to": (after - dt.timedelta(days=1)).isoformat(),
        "site": snap.site.id, "timezone": str(tz),
        "generated_at": dt.datetime.fromtimestamp(snap.now, tz).isoformat(timespec="seconds"),
        "targets": {"service_level": sl_rule["target_share"],
                    "fault_rate": float(snap.rules.rule("fault_rate_high")["target"]),
                    "night_emergency_timeout_rate": 0.10,
                    "satisfaction": float(snap.rules.rule(satisfaction.RULE)["threshold"])},
        "days": rows,
        "totals": totals(rows, round(faulted / total, 4) if total else 0.0),
    }


def build_now(hub: Hub, period: str, day: dt.date) -> dict[str, Any]:
    """On the loop, with the hub's own connection (tests, and the small day report of the schedule)."""
    return build(snapshot(hub), hub.db, period, day)


def build_off_loop(snap: Snapshot, db_path: Any, period: str, day: dt.date) -> dict[str, Any]:
    """In a worker thread: a connection of its own (WAL readers never block the hub's writer)."""
    db = Database(db_path, check=False)
    try:
        return build(snap, db, period, day)
    finally:
        db.close()


# -- CSV and the printable page ------------------------------------------------------------------------

# (key, English, Chinese, format): the columns of the CSV and the rows of the printed table.
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("visits", "Tickets issued (visits)", "取号人次", "int"),
    ("called", "Called", "已叫号", "int"),
    ("service_level", "Service level (called within target)", "服务达标率", "pct"),
    ("avg_wait_s", "Mean wait (min)", "平均等候(分钟)", "min"),
    ("no_show_rate", "No-show rate", "过号率", "pct"),
    ("abandonment_rate", "Abandonment rate", "弃号率", "pct"),
    ("fault_rate", "Device fault rate", "设备故障率", "pct"),
    ("tickets_opened", "Repair tickets opened", "新增维修工单", "int"),
    ("tickets_closed", "Repair tickets closed", "完成维修工单", "int"),
    ("tickets_overdue", "Tickets overdue", "超时工单", "int"),
    ("mtta_s", "MTTA (min)", "平均响应时间(分钟)", "min"),
    ("mttr_s", "MTTR (min)", "平均修复时间(分钟)", "min"),
    ("requests", "Requests", "服务请求", "int"),
    *((f"requests_{k}", f"Requests: {k}", f"服务请求：{zh}", "int") for k, zh in
      zip(REQUEST_KINDS, ("协助", "轮椅", "紧急", "工单", "报修", "投诉"), strict=True)),
    ("requests_within_target_share", "Requests within target", "请求按时完成率", "pct"),
    ("time_to_accept_s", "Time to accept (min)", "接单用时(分钟)", "min"),
    ("time_to_arrive_s", "Time to arrive (min)", "到场用时(分钟)", "min"),
    ("night_emergency_timeout_rate", "Night emergencies late", "夜间急救超时率", "pct"),
    ("wheelchair_demand", "Wheelchairs taken", "轮椅借用", "int"),
    ("wheelchair_supply_min", "Fewest charged wheelchairs", "最少可用轮椅", "int"),
    ("satisfaction", "Satisfaction score (0-100)", "满意度评分(0-100)", "score"),
    ("satisfaction_ratings", "Satisfaction ratings", "满意度评价数", "int"),
    ("system_slow", "System slow alarms", "系统缓慢告警", "int"),
    ("system_down", "System down alarms", "系统中断告警", "int"),
    ("transitions", "Moves between zones", "区域间流动人次", "int"),
    ("back_and_forth", "Back-and-forth walks", "往返寻找次数", "int"),
    ("wandering_rate", "Back-and-forth rate", "往返寻找率", "pct"),
    ("wandering_extra_walk_s", "Extra walk per detour (min)", "每次往返多走(分钟)", "min"),
    ("wandering_top_zone", "Most back-and-forth at", "往返最多区域", "text"),
)

TEXT = {
    "en": {"title": "FloorOps report", "day": "Daily report", "week": "Weekly report", "month": "Monthly report",
           "quarter": "Quarterly report", "date": "Date", "total": "Period", "site": "Site",
           "generated": "Generated", "period": "Period", "sl_chart": "Queue service level by day",
           "fault_chart": "Device fault rate by day", "requests_chart": "Requests by day",
           "chairs_chart": "Wheelchairs by day: taken against the fewest charged",
           "satisfaction_chart": "Satisfaction score by day (0-100)",
           "target": "target", "print": "Print", "csv": "Download CSV", "summary": "Summary",
           "by_day": "By day", "none": "—", "no_days": "This period has not started yet."},
    "zh": {"title": "FloorOps 报表", "day": "日报", "week": "周报", "month": "月报", "quarter": "季报",
           "date": "日期", "total": "合计", "site": "院区", "generated": "生成时间", "period": "统计周期",
           "sl_chart": "每日排队服务达标率", "fault_chart": "每日设备故障率", "requests_chart": "每日服务请求",
           "chairs_chart": "每日轮椅：借出与最少可用", "satisfaction_chart": "每日满意度评分(0-100)",
           "target": "目标", "print": "打印", "csv": "下载 CSV", "summary": "汇总", "by_day": "每日明细",
           "none": "—", "no_days": "该统计周期尚未开始。"},
}


def _value(row: dict[str, Any], key: str) -> Any:
    if key.startswith("requests_") and key[9:] in REQUEST_KINDS:
        return row["requests_by_kind"].get(key[9:], 0)
    return row.get(key)


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "min":
        return f"{value / 60:.1f}"
    if kind == "score":
        return f"{value:.1f}"
    return str(value)


def _csv_value(value: Any, kind: str) -> str:
    """Plain numbers a spreadsheet reads: shares as fractions, durations in minutes."""
    if value is None:
        return ""
    if kind == "min":
        return f"{value / 60:.1f}"
    return str(value)


def to_csv(report: dict[str, Any], lang: str = "en") -> bytes:
    """UTF-8 with a byte order mark, so Excel opens the Chinese headings; one row per day, then the totals."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    label = 1 if lang == "en" else 2
    w.writerow([TEXT[lang]["date"], *(c[label] for c in COLUMNS)])
    for row in report["days"]:
        w.writerow([row["date"], *(_csv_value(_value(row, c[0]), c[3]) for c in COLUMNS)])
    w.writerow([f"{TEXT[lang]['total']} {report['from']}..{report['to']}",
                *(_csv_value(_value(report["totals"], c[0]), c[3]) for c in COLUMNS)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def filename(report: dict[str, Any], ext: str) -> str:
    return f"floorops-{report['period']}-{report['from']}.{ext}"


DAYS_PER_TABLE = 16  # the days of one printed table (tests/console/test_console_reports.py: fits A4 landscape)

# Inline SVG charts (no script, no inline style: the hub's Content-Security-Policy forbids both).
CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 640, 220, 44, 28, 12


def _y(value: float, top: float) -> float:
    return PAD_T + (CHART_H - PAD_T - PAD_B) * (1 - value / top) if top else CHART_H - PAD_B


def _axes(dates: list[str], top: float, pct: bool) -> list[str]:
    parts = []
    for i in range(5):
        v = top * i / 4
        y = _y(v, top)
        text = f"{v * 100:.0f}%" if pct else f"{v:g}"
        parts.append(f'<line class="grid" x1="{PAD_L}" y1="{y:.1f}" x2="{CHART_W}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    step = max(1, len(dates) // 8)
    for i, d in enumerate(dates):
        if i % step == 0:
            x = _x(i, len(dates))
            parts.append(f'<text class="tick" x="{x:.1f}" y="{CHART_H - 8}" text-anchor="middle">{d[5:]}</text>')
    return parts


def _x(i: int, n: int) -> float:
    return PAD_L + (CHART_W - PAD_L - 10) * (i + 0.5) / max(n, 1)


def _target_line(target: float, top: float, label: str, pct: bool = True) -> str:
    y = _y(target, top)
    return (f'<line class="target" x1="{PAD_L}" y1="{y:.1f}" x2="{CHART_W}" y2="{y:.1f}"/>'
            f'<text class="target-label" x="{CHART_W - 4}" y="{y - 4:.1f}" text-anchor="end">'
            f'{html.escape(label)} {f"{target * 100:.0f}%" if pct else f"{target:g}"}</text>')


def _polyline(dates: list[str], values: list[float | None], top: float, cls: str = "line") -> str:
    points = [(_x(i, len(dates)), _y(v, top)) for i, v in enumerate(values) if v is not None]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle class="dot {cls}-dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in points)
    return (f'<polyline class="{cls}" points="{path}"/>' if points else "") + dots


def svg_line(chart_id: str, title: str, dates: list[str], values: list[float | None], target: float,
             target_label: str, top: float = 1.0) -> str:
    """A value per day as a line (gaps where a day has no value) against its target: a share (``top`` 1,
    axes in %) or a score from 0 to ``top``."""
    pct = top == 1.0
    return (f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {CHART_W} {CHART_H}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
            + "".join(_axes(dates, top, pct)) + _target_line(target, top, target_label, pct)
            + _polyline(dates, values, top) + "</svg>")


def svg_chairs(chart_id: str, title: str, dates: list[str], demand: list[int], supply: list[int | None]) -> str:
    """Wheelchairs by day: chairs taken (bars) against the fewest charged at the stations (a line)."""
    top = float(max(4, math.ceil(max([*demand, *(v for v in supply if v is not None), 0]) * 1.2 / 4) * 4))
    width = (CHART_W - PAD_L - 10) / max(len(dates), 1) * 0.7
    bars = "".join(f'<rect class="bar" x="{_x(i, len(dates)) - width / 2:.1f}" y="{_y(v, top):.1f}" width="{width:.1f}" '
                   f'height="{CHART_H - PAD_B - _y(v, top):.1f}"><title>{dates[i]}: {v}</title></rect>'
                   for i, v in enumerate(demand))
    return (f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {CHART_W} {CHART_H}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
            + "".join(_axes(dates, top, False)) + bars
            + _polyline(dates, [None if v is None else float(v) for v in supply], top, "supply") + "</svg>")


def svg_bars(chart_id: str, title: str, dates: list[str], values: list[float], target: float | None,
             target_label: str, pct: bool) -> str:
    """A value per day as bars, those over the target marked, against the target."""
    top = max([*values, target or 0.0]) * 1.2
    if pct:
        top = min(1.0, top) if top > 0 else 1.0
    else:  # counts: whole numbers on the four grid lines
        top = float(max(4, math.ceil(top / 4) * 4))
    width = (CHART_W - PAD_L - 10) / max(len(dates), 1) * 0.7
    bars = []
    for i, v in enumerate(values):
        y = _y(min(v, top), top)
        over = " over" if target is not None and v > target else ""
        bars.append(f'<rect class="bar{over}" x="{_x(i, len(dates)) - width / 2:.1f}" y="{y:.1f}" '
                    f'width="{width:.1f}" height="{CHART_H - PAD_B - y:.1f}"><title>{dates[i]}: '
                    f'{_fmt(v, "pct") if pct else v}</title></rect>')
    return (f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {CHART_W} {CHART_H}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(title)}</title>'
            + "".join(_axes(dates, top, pct)) + "".join(bars)
            + (_target_line(target, top, target_label) if target is not None else "") + "</svg>")


def to_html(report: dict[str, Any], lang: str, csv_href: str, css: str | None = None) -> str:
    """The printable page: title, period, the summary, charts and the table by day (console/static/css/report.css;
    @media print there hides the buttons and keeps tables and charts whole on the page). ``css``: the style
    sheet's text, put in the page itself (a copy sent by e-mail, read away from the hub; no print button)."""
    t = TEXT[lang]
    label = 1 if lang == "en" else 2
    e = html.escape
    days = report["days"]
    dates = [r["date"] for r in days]
    heading = f"{t[report['period']]} · {report['from']}" + (f" – {report['to']}" if report["to"] != report["from"] else "")
    summary = "".join(f"<tr><th>{e(c[label])}</th><td>{e(_fmt(_value(report['totals'], c[0]), c[3]))}</td></tr>"
                      for c in COLUMNS)
    # By day, transposed (a figure a row, a day a column) and cut into tables of DAYS_PER_TABLE days: the
    # figures are too many for columns across A4 landscape, the days of a month are not.
    tables = []
    for n in range(0, len(days), DAYS_PER_TABLE):
        chunk = days[n:n + DAYS_PER_TABLE]
        head = "".join(f'<th><time datetime="{e(r["date"])}">{e(r["date"][5:])}</time></th>' for r in chunk)
        body = "".join(f"<tr><th>{e(c[label])}</th>" + "".join(
            f"<td>{e(_fmt(_value(r, c[0]), c[3]))}</td>" for r in chunk) + "</tr>" for c in COLUMNS)
        tables.append(f'<table class="days"><thead><tr><th>{e(t["date"])}</th>{head}</tr></thead>'
                      f"<tbody>{body}</tbody></table>")
    charts = ""
    if days:
        charts = (
            f"<figure><figcaption>{e(t['sl_chart'])}</figcaption>"
            + svg_line("chart-service-level", t["sl_chart"], dates, [r["service_level"] for r in days],
                       report["targets"]["service_level"], t["target"]) + "</figure>"
            f"<figure><figcaption>{e(t['fault_chart'])}</figcaption>"
            + svg_bars("chart-fault-rate", t["fault_chart"], dates, [r["fault_rate"] for r in days],
                       report["targets"]["fault_rate"], t["target"], True) + "</figure>"
            f"<figure><figcaption>{e(t['requests_chart'])}</figcaption>"
            + svg_bars("chart-requests", t["requests_chart"], dates, [float(r["requests"]) for r in days], None,
                       "", False) + "</figure>"
            f"<figure><figcaption>{e(t['satisfaction_chart'])}</figcaption>"
            + svg_line("chart-satisfaction", t["satisfaction_chart"], dates, [r["satisfaction"] for r in days],
                       report["targets"]["satisfaction"], t["target"], top=100.0) + "</figure>"
            f"<figure><figcaption>{e(t['chairs_chart'])}</figcaption>"
            + svg_chairs("chart-wheelchairs", t["chairs_chart"], dates, [r["wheelchair_demand"] for r in days],
                         [r["wheelchair_supply_min"] for r in days]) + "</figure>")
    if css is None:
        head_links = '<link rel="stylesheet" href="/css/report.css"><script src="/js/report-print.js" defer></script>'
        print_button = f'<button type="button" id="print-button">{e(t["print"])}</button>'
    else:
        head_links, print_button = "<style>" + css.replace("</", "<\\/") + "</style>", ""
    return f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}">
<head><meta charset="utf-8"><title>{e(t['title'])} · {e(heading)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{head_links}</head>
<body class="report">
<header><h1>{e(t['title'])}</h1><h2 id="report-period">{e(heading)}</h2>
<p class="meta">{e(t['site'])}: {e(report['site'])} · {e(t['generated'])}: {e(report['generated_at'])}
 ({e(report['timezone'])})</p>
<p class="actions">{print_button}<a id="csv-link" href="{e(csv_href)}" download>{e(t['csv'])}</a></p></header>
<main>
<section><h3>{e(t['summary'])}</h3><table class="summary">{summary}</table></section>
<section class="charts">{charts or f"<p>{e(t['no_days'])}</p>"}</section>
<section class="by-day"><h3>{e(t['by_day'])}</h3>
{"".join(tables)}</section>
</main></body></html>
"""
