"""The floor plan in Debian's chromium against the stand-in hub: the drawn floors, the heat layer, the flow
arrows, the satisfaction layer and the time slider, in English and Chinese, on the 1920x1080 wall.

The hub's clock (the stand-in's GET /api/clock, which the console follows) and the browser's are fixed, so the
slider's day does not depend on when the test runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import expect

from conftest import WALL, Console
from console_fake_hub import FakeHub

pytestmark = [pytest.mark.browser]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# 14:40 in Asia/Shanghai (the demo site's zone): the slider runs from 00:00 to 14:40 in 15-minute steps.
NOW = "2026-03-10T06:40:00Z"
FLOOR_TITLE = {"en": "Ground floor", "zh": "一楼"}
TO_FLOOR_2 = {"en": "to floor 2", "zh": "去 2 楼"}


def rgb(fill: str) -> tuple[int, ...]:
    m = re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", fill)
    assert m, fill
    return tuple(int(x) for x in m.groups())


def zone_fill(page: Any, zone: str) -> str:
    return str(page.locator(f'.zone-g[data-zone="{zone}"] .zone-rect').evaluate("el => getComputedStyle(el).fill"))


def open_plan(fake_hub: FakeHub, open_console: Callable[..., Console], lang: str = "en") -> Any:
    console = open_console(fake_hub.url, WALL, reduced_motion="reduce")  # colours change at once, no fade
    fake_hub.fix_time(NOW)  # the console shows the hub's time (GET /api/clock) ...
    console.page.clock.set_fixed_time(NOW)  # ... and the browser's own agrees
    page = console.login("monitor", "monitor-pw", lang)
    expect(page.get_by_test_id("plan-controls")).to_be_visible()
    return page


def seek(page: Any, step: int) -> None:
    page.get_by_test_id("plan-slider").evaluate(
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', {bubbles: true})); }", step)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_floor_is_drawn_from_its_plan_and_labels_fit(
    fake_hub: FakeHub, open_console: Callable[..., Console], artifacts: Path, lang: str
) -> None:
    page = open_plan(fake_hub, open_console, lang)
    for floor in (1, 2):
        svg = page.locator(f'svg[data-floor="{floor}"]')
        zones = [z for z in fake_hub.site.zones if z.floor == floor]
        expect(svg.locator('.zone-rect[data-shape="polygon"]')).to_have_count(len(zones))
        expect(svg.locator(".plan-outline")).to_have_count(1)
        expect(svg.locator(".plan-corridor")).to_have_count(1)
        expect(svg.locator(".plan-lift")).to_have_count(2)
    expect(page.locator(".floor h3").first).to_contain_text(FLOOR_TITLE[lang])
    reg = fake_hub.site.zone("reg_hall")
    label = page.locator('.zone-label[data-zone="reg_hall"] .zone-name').text_content() or ""
    assert label == reg.name_zh if lang == "zh" else reg.name.startswith(label.rstrip("…")) and len(label) > 12, label
    # Every zone's name stays inside its shape's box, Chinese included (glyphs one em wide).
    outside = page.evaluate("""() => [...document.querySelectorAll('.zone-g')].filter((g) => {
        const label = document.querySelector(`.zone-label[data-zone="${g.dataset.zone}"]`);
        const shape = g.querySelector('.zone-rect').getBBox(), text = label.querySelector('.zone-name').getBBox();
        return text.x < shape.x - 0.1 || text.x + text.width > shape.x + shape.width + 0.1; }).map((g) => g.dataset.zone)""")
    assert outside == []
    # Both floors fit the wall's height without scrolling.
    box = page.locator(".floors").bounding_box()
    assert box and box["y"] + box["height"] <= WALL["height"], box
    # The wall as it looks, for the docs: in tests/artifacts; copied over docs/img/ when asked to.
    page.screenshot(path=str(artifacts / f"plan-wall-{lang}.png"))
    if os.environ.get("FLOOROPS_UPDATE_DOCS_IMG"):
        page.screenshot(path=str(DOCS_IMG / f"floorplan-wall-{lang}.png"))


def test_heat_colours_follow_occupancy_and_the_crowding_layer_follows_levels(
    fake_hub: FakeHub, open_console: Callable[..., Console]
) -> None:
    page = open_plan(fake_hub, open_console)
    expect(page.get_by_test_id("plan-mode-heat")).to_have_attribute("aria-pressed", "true")
    expect(page.locator('.zone-g[data-zone="reg_hall"]')).to_have_attribute("data-ratio", "0.960")
    hot, mild = rgb(zone_fill(page, "reg_hall")), rgb(zone_fill(page, "pharmacy"))  # 96 % and 40 % of capacity
    assert hot[0] > hot[1] and mild[1] > mild[0], (hot, mild)
    # No occupancy measured: grey, not a colour of the scale.
    assert rgb(zone_fill(page, "imaging_xr")) == (42, 52, 65)
    # The pharmacy filling up turns it hot, live.
    fake_hub.zones["pharmacy"].update(occupancy=118, level="crowded")
    fake_hub.publish("zone.updated", fake_hub.zones["pharmacy"])
    expect(page.locator('.zone-g[data-zone="pharmacy"]')).to_have_attribute("data-ratio", "0.983", timeout=2000)
    now_hot = rgb(zone_fill(page, "pharmacy"))
    assert now_hot[0] > now_hot[1] and now_hot[0] > mild[0], now_hot
    page.get_by_test_id("plan-mode-level").click()
    assert rgb(zone_fill(page, "lab")) == (194, 135, 31)  # --busy
    assert rgb(zone_fill(page, "reg_hall")) == (196, 67, 60)  # --crowded
    expect(page.get_by_test_id("plan-legend")).to_contain_text("Crowded")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_flows_are_arrows_as_wide_as_their_counts_and_below_k_never_shows(
    fake_hub: FakeHub, open_console: Callable[..., Console], lang: str
) -> None:
    # A pair under k (5) that a faulty hub would send: the console does not draw it either.
    fake_hub.flows.append({"origin": "lab", "dest": "imaging_xr", "count": 3, "median_transit_s": 60.0})
    page = open_plan(fake_hub, open_console, lang)
    same = page.locator('[data-testid=flow][data-part="same"]')
    expect(same).to_have_count(4)
    expect(page.locator('[data-testid=flow][data-dest="imaging_xr"]')).to_have_count(0)
    rows = same.evaluate_all("els => els.map((e) => [+e.dataset.count, +e.querySelector('path').getAttribute('stroke-width')])")
    by_count = sorted(rows)
    assert [w for _, w in by_count] == sorted(w for _, w in rows) and by_count[0][1] < by_count[-1][1], rows
    expect(page.locator('[data-testid=flow][data-origin="entrance"][data-dest="reg_hall"] .flow-count')).to_have_text("42")
    # Up to floor 2: to the stairs on the ground floor, from the stairs on floor 2.
    leave = page.locator('svg[data-floor="1"] [data-testid=flow][data-part="leave"][data-dest="im_clinic"]')
    expect(leave).to_contain_text(TO_FLOOR_2[lang])
    expect(page.locator('svg[data-floor="2"] [data-testid=flow][data-part="arrive"][data-dest="im_clinic"]')).to_have_count(1)
    # More visitors than usual walk back and forth in CT (18 %, usually 6 %): a badge on the zone.
    expect(page.locator('[data-testid=wandering][data-zone="imaging_ct"] text')).to_have_text(
        "↺ 18%")
    title = page.locator('[data-testid=wandering][data-zone="imaging_ct"] title').text_content() or ""
    assert ("usual 6%" if lang == "en" else "通常 6%") in title, title
    page.get_by_test_id("plan-flows").uncheck()
    expect(page.get_by_test_id("flow")).to_have_count(0)
    page.get_by_test_id("plan-flows").check()
    expect(page.get_by_test_id("flow")).to_have_count(6)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_satisfaction_layer_shows_scores_against_the_target(
    fake_hub: FakeHub, open_console: Callable[..., Console], lang: str
) -> None:
    page = open_plan(fake_hub, open_console, lang)
    page.get_by_test_id("plan-mode-satisfaction").click()
    reg = page.locator('.zone-g[data-zone="reg_hall"]')
    expect(reg).to_have_attribute("data-satisfaction", "poor")
    expect(page.locator('.zone-label[data-zone="reg_hall"] .zone-extra')).to_have_text("★ 62.5 (140)" if lang == "en" else "★ 62.5（140）")
    expect(page.locator('.zone-g[data-zone="pharmacy"]')).to_have_attribute("data-satisfaction", "good")
    expect(page.locator('.zone-g[data-zone="lab"]')).to_have_attribute("data-satisfaction", "fair")
    entrance = page.locator('.zone-g[data-zone="entrance"]')
    expect(entrance).to_have_attribute("data-satisfaction", "unknown")
    expect(page.locator('.zone-label[data-zone="entrance"] .zone-extra')).to_have_text("no ratings" if lang == "en" else "暂无评价")
    expect(page.get_by_test_id("plan-sat-target")).to_have_text("target 80" if lang == "en" else "目标 80")
    assert rgb(zone_fill(page, "pharmacy")) == (47, 122, 90)


def test_a_hub_without_flows_or_satisfaction_shows_the_plan_without_them(
    open_console: Callable[..., Console]
) -> None:
    hub = FakeHub(missing={"/api/flows", "/api/satisfaction"}).start()
    try:
        page = open_plan(hub, open_console)
        expect(page.get_by_test_id("plan-controls")).to_have_attribute("data-flows", "unavailable")
        expect(page.get_by_test_id("flow")).to_have_count(0)
        expect(page.locator('.zone-g[data-zone="reg_hall"]')).to_have_attribute("data-ratio", "0.960")
        page.get_by_test_id("plan-mode-satisfaction").click()
        expect(page.get_by_test_id("plan-sat-target")).to_have_text("no satisfaction data")
        expect(page.locator('.zone-g[data-zone="reg_hall"]')).to_have_attribute("data-satisfaction", "unknown")
        seek(page, 40)  # the replay still works without flows
        expect(page.get_by_test_id("plan-time")).to_have_text("Replay · 10:00")
        expect(page.get_by_test_id("flow")).to_have_count(0)
    finally:
        hub.stop()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_slider_replays_the_day_and_live_returns(
    fake_hub: FakeHub, open_console: Callable[..., Console], lang: str
) -> None:
    live_word, replay_word = ("Live", "Replay") if lang == "en" else ("实时", "回放")
    page = open_plan(fake_hub, open_console, lang)
    controls, shown = page.get_by_test_id("plan-controls"), page.get_by_test_id("plan-time")
    lab = page.locator('.zone-label[data-zone="lab"] [data-testid=zone-num]')
    expect(controls).to_have_attribute("data-state", "live")
    expect(shown).to_have_text(f"{live_word} · 14:40")
    expect(lab).to_have_text("80 / 100")
    expect(page.get_by_test_id("plan-live")).to_be_disabled()
    assert page.get_by_test_id("plan-slider").get_attribute("max") == "59"

    seek(page, 40)  # 10:00 site time: the morning peak
    expect(controls).to_have_attribute("data-state", "replay")
    expect(shown).to_have_text(f"{replay_word} · 10:00")
    expect(lab).to_have_text("50 / 100")
    expect(page.locator('.zone-g[data-zone="reg_hall"]')).to_have_attribute("data-ratio", "0.960")
    expect(page.locator('[data-testid=flow][data-origin="entrance"][data-dest="reg_hall"] .flow-count')).to_have_text("84")

    seek(page, 12)  # 03:00: the building is nearly empty and nobody walks between zones
    expect(shown).to_have_text(f"{replay_word} · 03:00")
    expect(lab).to_have_text("10 / 100")
    expect(page.get_by_test_id("flow")).to_have_count(0)
    # A live change while replaying does not overwrite the replayed hour.
    fake_hub.zones["lab"].update(occupancy=95, level="crowded")
    fake_hub.publish("zone.updated", fake_hub.zones["lab"])
    page.wait_for_timeout(300)
    expect(lab).to_have_text("10 / 100")

    page.get_by_test_id("plan-live").click()
    expect(controls).to_have_attribute("data-state", "live")
    expect(shown).to_have_text(f"{live_word} · 14:40")
    expect(lab).to_have_text("95 / 100")
    expect(page.locator('[data-testid=flow][data-origin="entrance"][data-dest="reg_hall"] .flow-count')).to_have_text("42")
