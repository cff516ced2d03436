"""The operations view's Reports panel against a real in-process hub on a ManualClock, in Debian's chromium,
in English and in Chinese: a month's report downloads as CSV (parsed with the csv module) and opens as the
printable page with its charts (issue #16 item 7, done-when: "a monthly report that downloads as CSV and
prints")."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import WALL, Console
from hub.clock import ManualClock
from tests.hub.conftest import make_cfg
from tests.hub.helpers import Feeder
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]

A4_LANDSCAPE_PX = int((297 - 2 * 12) / 25.4 * 96)  # the printable width of A4 landscape, in CSS px


@pytest.fixture
def hub_with_a_day(tmp_path: Path) -> Iterator[LiveHub]:
    clock = ManualClock(1_763_949_600.0)  # Monday 2025-11-24 10:00 Asia/Shanghai
    hub = LiveHub(make_cfg(tmp_path), clock).start()

    def feed() -> None:
        f = Feeder(hub.ctx.hub)
        screen = next(d.id for d in hub.ctx.hub.site.devices if d.queue == "REG-1")
        for n in range(4):
            f.record(screen, "event", {"event": "ticket_issued", "queue": "REG-1", "ticket": f"A{n}"})
        clock.advance(10 * 60)
        for n in range(4):
            f.record(screen, "event", {"event": "ticket_called", "queue": "REG-1", "ticket": f"A{n}"})
    hub.call(feed)
    yield hub
    hub.stop()


@pytest.mark.parametrize(("lang", "visits", "print_title"), [("en", "Tickets issued (visits)", "Monthly report"),
                                                             ("zh", "取号人次", "月报")])
def test_monthly_report_downloads_as_csv_and_prints(hub_with_a_day: LiveHub, open_console: Callable[..., Console],
                                                    artifacts: Path, lang: str, visits: str, print_title: str) -> None:
    console = open_console(hub_with_a_day.url, WALL)
    page = console.login("monitor", PASSWORDS["monitor"], lang=lang)
    panel = page.get_by_test_id("reports")
    expect(panel).to_be_visible(timeout=15000)
    page.get_by_test_id("report-period").select_option("month")
    page.get_by_test_id("report-date").fill("2025-11-10")
    page.get_by_test_id("report-date").dispatch_event("change")
    summary = page.get_by_test_id("report-summary")
    expect(summary).to_contain_text("2025-11-01", timeout=15000)
    expect(summary.locator('td[data-key="reports.visits"]')).to_have_text("4")
    console.shot(artifacts, f"operations-reports-{lang}")

    with page.expect_download() as got:
        page.get_by_test_id("report-csv").click()
    download: Any = got.value
    assert download.suggested_filename == "floorops-month-2025-11-01.csv"
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][1] == visits and {r[0]: r for r in rows}["2025-11-24"][1] == "4"

    with console.context.expect_page() as opened:
        page.get_by_test_id("report-print").click()
    printed: Any = opened.value
    printed.on("pageerror", lambda exc: console.errors.append(str(exc)))
    printed.wait_for_load_state()
    expect(printed.locator("#report-period")).to_contain_text(print_title)
    expect(printed.locator("svg#chart-service-level")).to_be_visible()
    expect(printed.locator("svg#chart-fault-rate .target")).to_have_count(1)
    expect(printed.locator("#print-button")).to_be_visible()
    expect(printed.locator("svg#chart-satisfaction .target")).to_have_count(1)
    expect(printed.locator("svg#chart-wheelchairs")).to_be_visible()
    printed.emulate_media(media="print")
    expect(printed.locator("#print-button")).to_be_hidden()  # @media print hides the buttons
    # On A4 landscape less the page margins (report.css: 12 mm each side), every table fits across the paper:
    # chromium's PDF has 96 CSS px an inch, so nothing may be wider than the printable width.
    printed.set_viewport_size({"width": A4_LANDSCAPE_PX, "height": 800})
    tables = printed.locator("table.days")
    expect(tables).to_have_count(2)  # the 24 days so far of November, at most 16 a table
    widths = printed.evaluate("() => [document.documentElement.scrollWidth,"
                              " ...[...document.querySelectorAll('table')].map((t) => t.getBoundingClientRect().right)]")
    assert max(widths) <= A4_LANDSCAPE_PX, widths
    printed.pdf(path=str(artifacts / f"report-month-{lang}.pdf"), format="A4", landscape=True)  # it prints
    printed.screenshot(path=str(artifacts / f"report-month-{lang}.png"), full_page=True)


def test_a_floor_manager_finds_reports_with_the_requests(hub_with_a_day: LiveHub,
                                                         open_console: Callable[..., Console]) -> None:
    """Floor managers have no operations view: their Reports panel is in the requests view."""
    console = open_console(hub_with_a_day.url, WALL)
    page = console.login("fm-zhang", PASSWORDS["fm-zhang"], lang="zh")
    page.get_by_test_id("tab-requests").click()
    expect(page.get_by_test_id("reports")).to_contain_text("报表", timeout=15000)
    page.get_by_test_id("report-date").fill("2025-11-24")
    page.get_by_test_id("report-date").dispatch_event("change")
    expect(page.get_by_test_id("report-summary").locator('td[data-key="reports.visits"]')).to_have_text("4")
    expect(page.get_by_test_id("report-print")).to_have_attribute(
        "href", "/reports/print?period=month&date=2025-11-24&lang=zh")
