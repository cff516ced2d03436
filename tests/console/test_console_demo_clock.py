"""The console on make run's demo clock (issue #16 item 8): a plain "DEMO CLOCK" badge in both languages, and
the times it shows follow the hub's clock, not the browser's (against the stand-in hub, console_fake_hub.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from conftest import Console
from console_fake_hub import FakeHub

pytestmark = [pytest.mark.browser]

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT_0742 = dt.datetime(2026, 12, 6, 7, 42, 0, tzinfo=SHANGHAI)


def demo_clock(now: dt.datetime, speed: float) -> dict[str, Any]:
    """GET /api/clock as the hub answers on a demo clock started at 07:30 (hub.clock.clock_json)."""
    return {"demo": True, "start": "2026-12-06T07:30:00+08:00", "speed": speed,
            "now": now.isoformat(timespec="milliseconds"), "now_ms": int(now.timestamp() * 1000),
            "timezone": "Asia/Shanghai"}


@pytest.fixture
def demo_hub() -> Iterator[FakeHub]:
    hub = FakeHub(clock=demo_clock(AT_0742, 10)).start()
    yield hub
    hub.stop()


def seconds_of_day(text: str) -> int:
    h, m, s = (int(p) for p in text.strip().split(":"))
    return h * 3600 + m * 60 + s


@pytest.mark.parametrize("lang, badge", [("en", "DEMO CLOCK 07:4"), ("zh", "演示时钟 07:4")])
def test_a_demo_clock_is_shown_plainly_and_the_console_keeps_its_time(
        demo_hub: FakeHub, open_console: Callable[..., Console], lang: str, badge: str) -> None:
    page = open_console(demo_hub.url).login("monitor", "monitor-pw", lang=lang)
    expect(page.get_by_test_id("view-operations")).to_be_visible()
    shown = page.get_by_test_id("demo-clock")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text(badge)
    expect(shown).to_contain_text("×10")
    # The top bar's clock is the site's 07:4x by the hub, whatever the browser's own clock says ...
    expect(page.locator("#clock")).to_have_text(re.compile(r"^07:4\d:\d\d$"))
    first = seconds_of_day(page.locator("#clock").inner_text())
    # ... and it runs ten times real time: 30 site seconds pass well within 10 real seconds (at x1 they cannot).
    page.wait_for_function(
        """(target) => { const [h, m, s] = document.getElementById("clock").textContent.split(":").map(Number);
                         return h * 3600 + m * 60 + s >= target; }""", arg=first + 30, timeout=10_000)


def test_on_the_real_clock_there_is_no_badge(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url).login("monitor", "monitor-pw")
    expect(page.get_by_test_id("view-operations")).to_be_visible()
    expect(page.locator("#clock")).not_to_have_text("")
    expect(page.get_by_test_id("demo-clock")).to_be_hidden()
