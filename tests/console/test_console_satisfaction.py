"""The satisfaction tile and the plan's satisfaction layer in Debian's chromium, fed by a real hub (in this
process, on a ManualClock) from terminal presses, in English and Chinese: the site's score today against the
target, the open corrective actions of satisfaction_low, and each zone's band and "★ score (ratings)"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import WALL, Console

pytestmark = [pytest.mark.browser]

NOW = 1_763_949_600.0  # 2025-11-24 10:00 Asia/Shanghai


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[Any]:
    from hub.clock import ManualClock
    from tests.hub.conftest import make_cfg
    from tests.hub.helpers import Feeder
    from tests.hub.live import LiveHub

    clock = ManualClock(NOW)
    live = LiveHub(make_cfg(tmp_path), clock).start()
    hub = live.ctx.hub

    def feed() -> None:
        f = Feeder(hub)
        for back in (3, 2, 1):  # registration: three days at 50, a corrective action opens
            clock.set(NOW - back * 86400)
            for _ in range(5):
                f.record("sat-02", "event", {"event": "press", "button": "neutral"})
        clock.set(NOW)
        hub.check_satisfaction()
        for device, buttons in (("sat-02", ["neutral"] * 4),  # 50: poor
                                ("sat-03", ["very_satisfied"] * 3 + ["satisfied"]),  # 93.75: good
                                ("sat-04", ["satisfied"] * 4)):  # 75: fair (within 10 below the target)
            for b in buttons:
                f.record(device, "event", {"event": "press", "button": b})
    live.call(feed)
    yield live
    live.stop()


TILE = {"en": ("Satisfaction today", "12 ratings · 1 corrective actions open"),
        "zh": ("今日满意度", "12 条评价 · 整改中 1 项")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_satisfaction_tile_and_layer_from_the_hub(live_hub: Any, open_console: Callable[..., Console],
                                                  lang: str) -> None:
    console = open_console(live_hub.url, WALL, reduced_motion="reduce")
    console.page.clock.set_fixed_time(dt.datetime.fromtimestamp(NOW, dt.timezone.utc))
    page = console.login("monitor", "monitor-pass-1", lang)
    tile = page.locator('.kpi[data-kpi="satisfaction"]')
    expect(page.get_by_test_id("kpi-satisfaction")).to_have_text("★ 72.9")  # (4*50 + 375 + 300) / 12
    expect(tile.locator(".kpi-label")).to_have_text(TILE[lang][0])
    expect(tile.locator(".kpi-sub")).to_have_text(TILE[lang][1])
    expect(tile).to_have_attribute("data-tone", "bad")  # a corrective action is open
    page.get_by_test_id("plan-mode-satisfaction").click()
    expect(page.locator('.zone-g[data-zone="reg_hall"]')).to_have_attribute("data-satisfaction", "poor")
    expect(page.locator('.zone-label[data-zone="reg_hall"] .zone-extra')).to_have_text(
        "★ 50.0 (4)" if lang == "en" else "★ 50.0（4）")
    expect(page.locator('.zone-g[data-zone="pharmacy"]')).to_have_attribute("data-satisfaction", "good")
    expect(page.locator('.zone-g[data-zone="lab"]')).to_have_attribute("data-satisfaction", "fair")
    expect(page.locator('.zone-g[data-zone="entrance"]')).to_have_attribute("data-satisfaction", "unknown")
    expect(page.get_by_test_id("plan-sat-target")).to_have_text("target 80" if lang == "en" else "目标 80")


CARD = {"en": ("Registration & payment hall", "3 days below the target: 50.0 · 50.0 · 50.0", "Acknowledged"),
        "zh": ("挂号收费大厅", "连续 3 天低于目标：50.0 · 50.0 · 50.0", "已确认")}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_floor_manager_acknowledges_and_closes_the_corrective_action(
        live_hub: Any, open_console: Callable[..., Console], lang: str) -> None:
    console = open_console(live_hub.url, reduced_motion="reduce")
    console.page.clock.set_fixed_time(dt.datetime.fromtimestamp(NOW, dt.timezone.utc))
    page = console.login("fm-zhang", "fm-pass-123", lang)
    card = page.get_by_test_id("corrective-action")
    expect(card).to_have_count(1)
    expect(card.locator(".offer-zone")).to_have_text(CARD[lang][0])
    expect(page.get_by_test_id("corrective-reason")).to_have_text(CARD[lang][1])
    page.get_by_test_id("corrective-note").fill("two more counters 8-10h")
    page.get_by_test_id("corrective-acknowledge").click()
    expect(page.get_by_test_id("corrective-state")).to_have_text(CARD[lang][2])
    expect(page.get_by_test_id("corrective-acknowledge")).to_have_count(0)
    page.get_by_test_id("corrective-close").click()
    expect(page.get_by_test_id("no-corrective-actions")).to_be_visible()
    [action] = live_hub.call(lambda: live_hub.ctx.hub.satisfaction.actions())
    assert (action["state"], action["acknowledged_by"], action["closed_by"]) == ("closed", "fm-zhang", "fm-zhang")
    assert [n["body"] for n in action["notes"] if n["author"] == "fm-zhang"] == ["two more counters 8-10h"]
