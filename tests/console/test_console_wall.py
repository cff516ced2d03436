"""The operations view on the operations-room wall (1920x1080) against a real in-process hub on a ManualClock,
in Debian's chromium, in English and in Chinese (issue #16): every tile and panel a monitor needs lies
inside the screen without scrolling; today's wheelchair supply against demand with the forecast, for the
site and each station; device reliability by day, week and month with per-device rows; the hospital
systems' names and response times; a notice broadcast to a queue screen."""

from __future__ import annotations

import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import WALL, Console
from floorops.config import SystemCheck
from hub import wheelchairs
from hub.clock import ManualClock
from tests.hub.conftest import make_cfg
from tests.hub.helpers import Feeder
from tests.hub.test_service_levels_wheelchairs import slots
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]

MONDAY_10H = 1_763_949_600.0  # Monday 2025-11-24 10:00 Asia/Shanghai
SYSTEMS = ("his", "pacs", "queue", "app")
# What a monitor needs on the wall: each must lie wholly inside the 1920x1080 viewport.
PANELS = ("kpis", "floorplan", "zone-detail", "wheelchairs", "alarms", "devices", "systems", "reliability",
          "screens", "reports")
TEXT = {
    "en": {"chairs": "Wheelchairs today: supply and demand", "totals": "taken today 5 · forecast 6",
           "legend": "fewest charged", "day": "Today: ", "week": "This week: ", "month": "This month: ",
           "row": "100% (1/1)", "week_row": "(1/1)", "others": "other devices without a fault",
           "his": "HIS", "ms": " s", "sent": "Notice sent to 1 screens.", "pending": "waiting for the screen"},
    "zh": {"chairs": "今日轮椅供需", "totals": "今日借出 5 · 预测 6", "legend": "最少已充电", "day": "今日：",
           "week": "本周：", "month": "本月：", "row": "100%（1/1 天）", "week_row": "（1/1 天）",
           "others": "台设备无故障", "his": "HIS 医院信息系统", "ms": " 秒", "sent": "通知已发送到 1 块叫号屏。",
           "pending": "等待叫号屏"},
}


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def wall_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """A hub watching four answering systems, with today's wheelchair hours at charger-01 (5 taken, 2 fewest
    charged at 08:00), last Monday's (the forecast: 6 at 08:00-09:00), charger-02's reading now (4 of 6
    charged) and a card jam on kiosk-01 today."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = make_cfg(tmp_path)
    cfg.systems.checks = [SystemCheck(name=n, target=f"http://127.0.0.1:{server.server_port}/{n}", interval_s=0.5,
                                      timeout_s=5.0, slow_ms=5000.0) for n in SYSTEMS]
    clock = ManualClock(MONDAY_10H)
    hub = LiveHub(cfg, clock).start()

    def feed() -> None:
        h = hub.ctx.hub
        day = dt.datetime.fromtimestamp(clock.now(), h.tz).replace(hour=0, minute=0, second=0, microsecond=0)
        eight = day.timestamp() + 8 * 3600
        with h.unit_of_work():
            wheelchairs.record(h.db, h.tz, "charger-01", "entrance", eight, 3, 0, 2)
            wheelchairs.record(h.db, h.tz, "charger-01", "entrance", eight + 3600, 2, 1, 3)
            wheelchairs.record(h.db, h.tz, "charger-01", "entrance", eight - 7 * 86400, 4, 0, 4)
            wheelchairs.record(h.db, h.tz, "charger-01", "entrance", eight + 3600 - 7 * 86400, 2, 0, 4)
        f = Feeder(h)
        clock.set(eight)
        f.record("kiosk-01", "event", {"event": "card_jam"})
        clock.set(eight + 600)
        f.record("kiosk-01", "event", {"event": "fault_cleared", "fault": "card_jam"})
        clock.set(MONDAY_10H)
        f.record("charger-02", "telemetry", slots(90, 95, 100, 85, 70, None))  # now: 4 of 6 charged
    hub.call(feed)
    yield hub
    hub.stop()
    server.shutdown()


def _open(open_console: Callable[..., Console], hub: LiveHub, lang: str) -> tuple[Console, Any]:
    console = open_console(hub.url, WALL)
    page = console.login("monitor", PASSWORDS["monitor"], lang=lang)
    expect(page.get_by_test_id("view-operations")).to_be_visible(timeout=15000)
    return console, page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_wall_shows_every_panel_without_scrolling(wall_hub: LiveHub, open_console: Callable[..., Console],
                                                      artifacts: Path, lang: str) -> None:
    console, page = _open(open_console, wall_hub, lang)
    # Wait for the panels' contents, so their boxes are the filled ones.
    expect(page.get_by_test_id("system-state-pacs")).to_have_text("up" if lang == "en" else "正常", timeout=15000)
    expect(page.get_by_test_id("reliability-chart")).to_be_visible(timeout=15000)
    expect(page.get_by_test_id("chairs-station")).to_have_count(6, timeout=15000)
    expect(page.get_by_test_id("screen")).not_to_have_count(0, timeout=15000)
    expect(page.get_by_test_id("report-summary").locator("td").first).to_be_visible(timeout=15000)
    expect(page.get_by_test_id("device")).not_to_have_count(0)
    console.shot(artifacts, f"operations-wall-{lang}")
    for testid in PANELS:
        box = page.get_by_test_id(testid).first.bounding_box()
        assert box is not None, f"{testid} is not displayed"
        assert box["x"] >= 0 and box["y"] >= 0, (testid, box)
        assert box["x"] + box["width"] <= WALL["width"] and box["y"] + box["height"] <= WALL["height"], (testid, box)
        assert box["height"] >= 40, (testid, box)  # shown, not squeezed to nothing
    # The tiles are drawn again on every refresh, so their boxes are read in one go, from one drawing.
    expect(page.locator(".kpi")).to_have_count(10)  # the KPIs and the service level, wheelchair and satisfaction tiles
    tiles = page.eval_on_selector_all(".kpi", "els => els.map(e => { const r = e.getBoundingClientRect();"
                                              " return [e.dataset.kpi, r.x, r.y, r.width, r.height]; })")
    assert len(tiles) == 10, tiles
    for key, x, y, width, height in tiles:
        assert width > 0 and height > 0, (key, "not displayed")
        assert x >= 0 and y >= 0 and x + width <= WALL["width"] and y + height <= WALL["height"], (key, x, y, width, height)
    # and nothing to scroll to: neither the page nor the view is taller than the screen
    heights = page.evaluate("() => [document.documentElement.scrollHeight, document.getElementById('view').scrollHeight,"
                            " document.getElementById('view').clientHeight]")
    assert heights[0] <= WALL["height"] and heights[1] <= heights[2], heights


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_wheelchair_supply_and_demand_by_hour_per_site_and_station(
        wall_hub: LiveHub, open_console: Callable[..., Console], lang: str) -> None:
    _, page = _open(open_console, wall_hub, lang)
    panel = page.get_by_test_id("wheelchairs")
    site = panel.get_by_test_id("chairs-site-chart")
    expect(site).to_be_visible(timeout=15000)
    expect(page.get_by_test_id("view-operations")).to_contain_text(TEXT[lang]["chairs"])
    expect(panel.get_by_test_id("chairs-totals")).to_have_text(TEXT[lang]["totals"])
    expect(panel).to_contain_text(TEXT[lang]["legend"])
    expect(site.locator(".bar-demand")).to_have_count(2)  # 08:00 and 09:00 had chairs taken
    expect(site.get_by_test_id("chairs-forecast")).to_have_count(1)
    expect(site.get_by_test_id("chairs-supply")).to_have_count(1)
    # 08:00 took 3 chairs, 09:00 two: the bars' heights say so
    bars = site.locator(".bar-demand")
    assert float(bars.nth(0).get_attribute("height") or 0) == pytest.approx(
        1.5 * float(bars.nth(1).get_attribute("height") or 0), rel=0.01)
    one = panel.locator('[data-testid=chairs-station][data-station="charger-01"]')
    two = panel.locator('[data-testid=chairs-station][data-station="charger-02"]')
    expect(two.get_by_test_id("chairs-station-stock")).to_have_text("4 / 6")  # its reading now
    expect(one.locator(".bar-demand")).to_have_count(2)
    expect(one.get_by_test_id("chairs-forecast")).to_have_count(1)
    expect(panel.locator('[data-testid=chairs-station][data-station="charger-02"] .bar-demand')).to_have_count(0)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reliability_by_day_week_month_with_device_rows(wall_hub: LiveHub, open_console: Callable[..., Console],
                                                        lang: str) -> None:
    _, page = _open(open_console, wall_hub, lang)
    tile = page.get_by_test_id("reliability")
    summary = tile.get_by_test_id("reliability-summary")
    expect(summary).to_contain_text(TEXT[lang]["month"], timeout=15000)
    expect(tile.get_by_test_id("reliability-chart")).to_be_visible()
    row = tile.locator('[data-testid=reliability-devices] tr[data-device="kiosk-01"]')
    expect(row).to_have_count(1)
    expect(tile.get_by_test_id("reliability-healthy")).to_contain_text(TEXT[lang]["others"])
    page.get_by_test_id("reliability-day").click()
    expect(summary).to_contain_text(TEXT[lang]["day"])
    expect(page.get_by_test_id("reliability-day")).to_have_attribute("aria-pressed", "true")
    expect(row).to_contain_text(TEXT[lang]["row"])  # a fault on the one day so far
    expect(row).to_contain_text("98.3%")  # available: 10 min of the 10 h so far with a ticket open
    expect(row).to_have_attribute("data-tone", "warn")  # above the 5 % target
    expect(tile.get_by_test_id("reliability-chart")).to_have_count(0)  # one day: no trend to draw
    page.get_by_test_id("reliability-week").click()
    expect(summary).to_contain_text(TEXT[lang]["week"])
    expect(row).to_contain_text(TEXT[lang]["week_row"])  # the week so far is its Monday


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_systems_panel_names_and_response_times(wall_hub: LiveHub, open_console: Callable[..., Console],
                                                lang: str) -> None:
    _, page = _open(open_console, wall_hub, lang)
    his = page.locator('.system[data-system="his"]')
    expect(page.get_by_test_id("system-state-his")).to_have_text("up" if lang == "en" else "正常", timeout=15000)
    expect(his.locator(".system-name")).to_have_text(TEXT[lang]["his"])
    expect(page.get_by_test_id("system-ms-his")).to_contain_text(TEXT[lang]["ms"])
    expect(page.locator(".system")).to_have_count(len(SYSTEMS))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screens_panel_broadcasts_a_notice(wall_hub: LiveHub, open_console: Callable[..., Console],
                                           lang: str) -> None:
    """No broker here: the notice waits for the screen, and the list says so in the operator's language."""
    _, page = _open(open_console, wall_hub, lang)
    expect(page.get_by_test_id("screen")).not_to_have_count(0, timeout=15000)
    expect(page.get_by_test_id("notice-form")).to_be_hidden()  # folded on the wall
    page.get_by_test_id("notice-open").click()
    form = page.get_by_test_id("notice-form")
    form.get_by_test_id("notice-screens").select_option(["qs-us-1"])
    form.get_by_test_id("notice-text").fill("Daily update")
    form.get_by_test_id("notice-text-zh").fill("每日更新")
    form.get_by_test_id("notice-send").click()
    expect(page.locator(".toast")).to_contain_text(TEXT[lang]["sent"])
    notice = page.locator('[data-testid=screen][data-device="qs-us-1"] [data-testid=screen-notice]')
    expect(notice).to_contain_text("Daily update" if lang == "en" else "每日更新", timeout=15000)
    expect(notice).to_contain_text(TEXT[lang]["pending"])
