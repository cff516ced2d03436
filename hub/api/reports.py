"""Reports (hub.reports): JSON, CSV and the printable page of a day, ISO week, month or quarter."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from hub import reports
from hub.api import ANY_OBJ, DATE, STR, ApiError, Route, arr, enum, obj, ok
from hub.context import ctx

QUERY = {"period": enum(*reports.PERIODS), "lang": enum(*reports.LANGS),
         "date": {**DATE, "pattern": "^[12][0-9]{3}-[0-9]{2}-[0-9]{2}$"}}  # years 1000..2999
REPORT = obj(period=enum(*reports.PERIODS), **{"from": DATE, "to": DATE}, site=STR, timezone=STR, generated_at=STR,
             targets=ANY_OBJ, days=arr(ANY_OBJ), totals=ANY_OBJ)


async def _report(request: web.Request) -> tuple[dict[str, Any], str]:
    """The report the query asks for, built in a worker thread (a quarter is thousands of small queries)."""
    hub = ctx(request).hub
    today = dt.datetime.fromtimestamp(hub.clock.now(), hub.tz).date()
    q = request.query
    try:
        period, day, lang = reports.parse_params(q.get("period"), q.get("date"), q.get("lang"), today)
    except reports.ReportError as exc:
        raise ApiError(400, str(exc)) from None
    snap = reports.snapshot(hub)
    report = await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(reports.build_off_loop, snap, hub.db.path, period, day))
    return report, lang


async def report_json(request: web.Request) -> web.Response:
    report, _ = await _report(request)
    return ok(report)


async def report_csv(request: web.Request) -> web.Response:
    report, lang = await _report(request)
    return web.Response(body=reports.to_csv(report, lang), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{reports.filename(report, "csv")}"',
                                 "Cache-Control": "no-store"})


async def report_print(request: web.Request) -> web.Response:
    report, lang = await _report(request)
    csv_href = "/api/reports.csv?" + urlencode({"period": report["period"], "date": report["from"], "lang": lang})
    return web.Response(text=reports.to_html(report, lang, csv_href), content_type="text/html",
                        headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("GET", "/api/reports", report_json, "reports.read",
          "The report of the day, ISO week, month or quarter holding ?date= (default: today, site time): a row "
          "of KPIs per day so far and the period's totals", REPORT, query=QUERY, tag="reports"),
    Route("GET", "/api/reports.csv", report_csv, "reports.read",
          "The same report as CSV (UTF-8 with BOM; ?lang= names the columns): a row per day, then the totals",
          STR, query=QUERY, tag="reports", content_type="text/csv"),
    Route("GET", "/reports/print", report_print, "reports.read",
          "The same report as a printable HTML page with charts (daily service level, fault rate against its "
          "target, requests); ?lang=en|zh", STR, query=QUERY, tag="reports", content_type="text/html"),
]
