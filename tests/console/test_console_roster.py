"""Tomorrow's roster in Debian's chromium, in both languages, against a real hub HTTP server (in-process, on a
clock the test sets): a floor manager proposes it from the forecast, edits a cell, publishes it; the
dispatcher then uses it. The forecast is a models service with fixed arrivals and the real Erlang C
(tests/hub/test_roster.py); everything else is the hub's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import DESK, Console
from hub.clock import ManualClock
from tests.hub.conftest import http, make_cfg
from tests.hub.live import PASSWORDS, LiveHub
from tests.hub.test_roster import FixedArrivals

pytestmark = [pytest.mark.browser]

TEXT = {
    "en": {"none": "No plan", "proposed": "Proposed, not published", "published": "Published",
           "changed": "Edited since published", "off": "Off", "tab": "Roster"},
    "zh": {"none": "尚无排班", "proposed": "已生成，未发布", "published": "已发布", "changed": "发布后已修改",
           "off": "休息", "tab": "排班"},
}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveHub]:
    cfg = make_cfg(tmp_path)
    h = LiveHub(cfg, ManualClock(1_763_949_600.0)).start()  # 2025-11-24 10:00 Asia/Shanghai
    with h.ctx.forecaster._lock:
        h.ctx.forecaster._service, h.ctx.forecaster._loaded = FixedArrivals(cfg), False
    yield h
    h.stop()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_propose_edit_publish_tomorrows_roster(open_console: Callable[..., Console], live: LiveHub, lang: str,
                                                artifacts: Path) -> None:
    console = open_console(live.url, DESK, locale="zh-CN" if lang == "zh" else "en-GB")
    page = console.login("fm-zhang", PASSWORDS["fm-zhang"], lang=lang)
    tab = page.get_by_test_id("tab-roster")
    expect(tab).to_have_text(TEXT[lang]["tab"])
    tab.click()
    expect(page.get_by_test_id("view-roster")).to_be_visible()
    # Tomorrow by the hub's clock, with no plan yet.
    expect(page.get_by_test_id("roster-date")).to_have_value("2025-11-25")
    status = page.get_by_test_id("roster-status")
    expect(status).to_have_text(TEXT[lang]["none"])
    expect(page.get_by_test_id("roster-publish")).to_be_disabled()

    page.get_by_test_id("roster-propose").click()
    expect(status).to_have_attribute("data-status", "proposed")
    expect(status).to_have_text(TEXT[lang]["proposed"])
    expect(page.get_by_test_id("roster-unfilled")).to_be_visible()  # registration needs more than it has
    gaps = page.get_by_test_id("roster-gaps").locator("td")
    expect(gaps.nth(9)).not_to_have_text("")  # short at 09:00
    expect(gaps.nth(3)).to_have_text("")  # nothing needed at 03:00
    zhang_nine = page.locator('[data-testid="roster-cell"][data-person="p-zhang"][data-hour="9"]')
    expect(zhang_nine).to_have_attribute("data-zone", "reg_hall")

    # Edit a cell: Li to registration at 09:00.
    li_nine = page.locator('[data-testid="roster-cell"][data-person="p-li"][data-hour="9"]')
    expect(li_nine).to_have_attribute("data-zone", "im_clinic")
    li_nine.click()
    li_nine.get_by_test_id("roster-cell-edit").select_option("reg_hall")
    expect(li_nine).to_have_attribute("data-zone", "reg_hall")

    page.get_by_test_id("roster-publish").click()
    expect(status).to_have_attribute("data-status", "published")
    expect(status).to_have_text(TEXT[lang]["published"])
    expect(page.get_by_test_id("roster-publish")).to_be_disabled()
    console.shot(artifacts, f"roster-published-{lang}")
    # The hub publishes what the page showed: Li at registration at 09:00 tomorrow.
    status_code, day = http(live.url + "/api/roster?date=2025-11-25", token=live.login("monitor"))
    assert status_code == 200 and {"person": "p-li", "hour": 9, "zone": "reg_hall"} in day["published"]
    assert live.ctx.hub.roster.hours[(dt.date(2025, 11, 25), "p-li", 9)] == "reg_hall"

    # An edit after publishing is marked and waits for the next publication.
    zhang_nine.click()
    zhang_nine.get_by_test_id("roster-cell-edit").select_option("__off")
    expect(zhang_nine).to_have_attribute("data-zone", "")
    expect(zhang_nine).to_have_attribute("title", TEXT[lang]["off"])
    expect(zhang_nine).to_have_attribute("data-changed", "1")
    expect(status).to_have_text(TEXT[lang]["changed"])
    expect(page.get_by_test_id("roster-publish")).to_be_enabled()
    assert console.errors == []


def test_admin_adds_a_person_who_appears_in_the_grid(open_console: Callable[..., Console], live: LiveHub) -> None:
    console = open_console(live.url, DESK, locale="en-GB")
    page = console.login("admin", PASSWORDS["admin"], lang="en")
    page.get_by_test_id("tab-roster").click()
    expect(page.get_by_test_id("person")).to_have_count(8)  # the demo roster's people, seeded
    page.get_by_test_id("person-id").fill("p-ma")
    page.get_by_test_id("person-name").fill("Ma Li")
    page.get_by_test_id("person-role").select_option("staff")
    page.get_by_test_id("person-zone").select_option("reg_hall")
    page.get_by_test_id("person-add").click()
    expect(page.get_by_test_id("person")).to_have_count(9)
    page.get_by_test_id("roster-propose").click()
    expect(page.get_by_test_id("roster-status")).to_have_attribute("data-status", "proposed")
    # Ma works 08:00-17:00 by default, at registration, where the forecast needs people.
    expect(page.locator('[data-testid="roster-cell"][data-person="p-ma"][data-hour="9"]')).to_have_attribute(
        "data-zone", "reg_hall")
    # Taken off duty: a new proposal leaves Ma out.
    with page.expect_response(lambda r: r.url.endswith("/api/people/p-ma") and r.ok):
        page.locator('[data-testid="person"][data-person="p-ma"]').get_by_test_id("person-on-duty").uncheck()
    page.get_by_test_id("roster-propose").click()
    expect(page.locator('[data-testid="roster-cell"][data-person="p-ma"][data-hour="9"]')).to_have_attribute(
        "data-zone", "")
    assert console.errors == []


def test_admin_edits_and_deletes_a_person_and_sees_what_pages_them(open_console: Callable[..., Console],
                                                                   live: LiveHub, artifacts: Path) -> None:
    """Role, zones, shift and contact points edited in the people list; the person's own notification choices
    shown over the roster's; a person the notify file names cannot be deleted, another one can."""
    hub = live.ctx.hub
    person = hub.roster_store.get("p-zhou")
    assert person is not None

    def own_choice() -> None:
        zhang = hub.roster_store.get("p-zhang")
        assert zhang is not None
        with hub.unit_of_work():
            hub.escalation.set_preferences(zhang, {"events": ["severity:critical"], "quiet_hours": "23:00-06:00"})
    live.call(own_choice)
    console = open_console(live.url, DESK, locale="en-GB")
    page = console.login("admin", PASSWORDS["admin"], lang="en")
    page.get_by_test_id("tab-roster").click()
    zhang = page.locator('[data-testid="person"][data-person="p-zhang"]')
    expect(zhang.get_by_test_id("person-pages")).to_contain_text("severity:critical")
    expect(zhang.get_by_test_id("person-pages-own")).to_be_visible()

    row = page.locator('[data-testid="person"][data-person="p-zhou"]')
    expect(row.get_by_test_id("person-pages-own")).to_have_count(0)
    row.get_by_test_id("person-edit").click()
    editor = page.get_by_test_id("person-editor")
    editor.get_by_test_id("edit-role").select_option("floor_manager")
    for zone in person.zones:
        editor.get_by_test_id(f"edit-zone-{zone}").uncheck()
    editor.get_by_test_id("edit-zone-pharmacy").check()
    editor.get_by_test_id("edit-shift").fill("07:00-15:00")
    editor.get_by_test_id("edit-day-sun").uncheck()
    editor.get_by_test_id("edit-email").fill("zhou@hospital.example")
    editor.get_by_test_id("edit-phone").fill("+86 21 5555 0101")
    editor.get_by_test_id("edit-events").fill("severity:critical, subject:request")
    editor.get_by_test_id("edit-quiet_hours").fill("22:00-07:00")
    console.shot(artifacts, "roster-person-edit-en")
    with page.expect_response(lambda r: r.url.endswith("/api/people/p-zhou") and r.request.method == "PATCH" and r.ok):
        editor.get_by_test_id("person-save").click()
    expect(editor).to_have_count(0)
    expect(row.get_by_test_id("person-shift-text")).to_have_text("07:00-15:00")
    expect(row.get_by_test_id("person-contact")).to_contain_text("zhou@hospital.example")
    expect(row.get_by_test_id("person-pages")).to_contain_text("quiet 22:00-07:00")
    got = live.call(lambda: hub.roster_store.get("p-zhou"))
    assert (got.role, got.zones, got.shift, got.email, got.phone, got.events, got.quiet_hours) == (
        "floor_manager", ("pharmacy",), "07:00-15:00", "zhou@hospital.example", "+86 21 5555 0101",
        ("severity:critical", "subject:request"), "22:00-07:00")
    assert "sun" not in got.days and got.name == person.name  # untouched fields stay
    audit = live.call(lambda: [tuple(r) for r in hub.db.all("SELECT actor, action, target FROM audit")])
    assert ("admin", "person.update", "person:p-zhou") in audit

    # Zhang is named in the notify file's chain: the hub refuses, and the page says why.
    zhang.get_by_test_id("person-edit").click()
    delete = page.get_by_test_id("person-editor").get_by_test_id("person-delete")
    delete.click()
    expect(delete).to_contain_text("Click again")
    delete.click()
    expect(page.locator('.toast[data-tone="bad"]')).to_contain_text("notify chain", timeout=10000)
    expect(zhang).to_have_count(1)
    # Zhou is not: deleted after the second click.
    row.get_by_test_id("person-edit").click()
    delete = page.get_by_test_id("person-editor").get_by_test_id("person-delete")
    delete.click()
    delete.click()
    expect(row).to_have_count(0, timeout=10000)
    assert live.call(lambda: hub.roster_store.get("p-zhou")) is None
    assert console.errors == []
