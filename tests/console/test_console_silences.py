"""The silences screen on a phone, in both languages (issue #15 items 5 and 7): a monitor silences a kiosk from
the console; the kiosk's alarm is recorded but pages nobody and opens no ticket while the same alarm on another
kiosk pages the maintenance phone; the device grid shows the kiosk "in maintenance"; lifting it moves it to the
ended list. A weekly window (Sunday 02:00-04:00) is listed as coming up. A real in-process hub on a ManualClock
(Monday 2025-11-24 10:00 Asia/Shanghai); Debian's chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import PHONE, Console
from hub.clock import ManualClock
from tests.hub.conftest import make_cfg
from tests.hub.helpers import Feeder, open_alarms
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]

TEXT = {
    "en": {"tab": "Silences", "maintenance": "in maintenance", "weekly": "Sun 02:00–04:00 weekly", "lifted": "Lifted by monitor"},
    "zh": {"tab": "静默与维护", "maintenance": "维护中", "weekly": "每周日 02:00–04:00", "lifted": "monitor 于"},
}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveHub]:
    h = LiveHub(make_cfg(tmp_path), ManualClock(1_763_949_600.0)).start()
    yield h
    h.stop()


def login(open_console: Callable[..., Console], live: LiveHub, user: str, lang: str) -> Any:
    console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB")
    page = console.login(user, PASSWORDS[user], lang=lang)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    return page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_silence_made_on_the_phone_keeps_a_kiosk_from_paging(live: LiveHub, open_console: Callable[..., Console],
                                                               lang: str, artifacts: Path) -> None:
    hub = live.ctx.hub
    pager = login(open_console, live, "maintenance", lang)  # p-liu: the major-alarms chain pages them first
    page = login(open_console, live, "monitor", lang)
    tab = page.get_by_test_id("tab-silences")
    expect(tab).to_have_text(TEXT[lang]["tab"])
    tab.click()
    expect(page.get_by_test_id("view-silences")).to_be_visible()
    page.get_by_test_id("silence-scope").select_option("device")
    page.get_by_test_id("silence-device").select_option("kiosk-02")
    page.get_by_test_id("silence-repeat").select_option("once")
    page.get_by_test_id("silence-hours").select_option("2")
    page.get_by_test_id("silence-reason").fill("更换读卡器" if lang == "zh" else "card reader being replaced")
    page.get_by_test_id("silence-create").click()
    active = page.get_by_test_id("silences-active").get_by_test_id("silence")
    expect(active).to_have_count(1, timeout=10000)
    expect(active).to_contain_text("kiosk-02")
    [made] = live.call(hub.silences.list)
    assert made["device_ids"] == ["kiosk-02"] and made["author"] == "monitor" and made["active"]
    assert made["expires_at"].startswith("2025-11-24T12:00")  # two hours by the hub's clock

    # A weekly window: every Sunday 02:00-04:00, coming up (it is Monday morning).
    page.get_by_test_id("silence-scope").select_option("zone")
    page.get_by_test_id("silence-zone").select_option("pharmacy")
    page.get_by_test_id("silence-repeat").select_option("weekly")
    page.get_by_test_id("silence-day-sun").check()
    page.get_by_test_id("silence-reason").fill("每周保养" if lang == "zh" else "weekly servicing")
    page.get_by_test_id("silence-create").click()
    upcoming = page.get_by_test_id("silences-upcoming").get_by_test_id("silence")
    expect(upcoming).to_have_count(1, timeout=10000)
    expect(upcoming.get_by_test_id("silence-when")).to_contain_text(TEXT[lang]["weekly"])
    weekly = next(s for s in live.call(hub.silences.list) if s["weekly"])
    assert weekly["weekly"] == {"days": ["sun"], "start": "02:00", "end": "04:00"} and weekly["zones"] == ["pharmacy"]
    page.screenshot(path=str(artifacts / f"silences-{lang}.png"), full_page=True)

    # The silenced kiosk's alarm is recorded, pages nobody, opens no ticket; another kiosk's pages the phone.
    feeder = Feeder(hub)
    live.call(lambda: feeder.record("kiosk-02", "event", {"event": "card_jam"}))
    live.call(lambda: feeder.record("kiosk-01", "event", {"event": "card_jam"}))
    alarms = {a["device_id"]: a for a in live.call(lambda: open_alarms(hub, "card_jam"))}
    expect(pager.get_by_test_id("page")).to_have_attribute("data-alarm-id", str(alarms["kiosk-01"]["id"]), timeout=10000)
    expect(pager.get_by_test_id("page")).to_have_count(1)
    assert alarms["kiosk-02"]["silenced"] and not alarms["kiosk-01"]["silenced"]
    outbox = live.call(lambda: [r["subject_id"] for r in hub.db.all("SELECT subject_id FROM notify_outbox")])
    assert str(alarms["kiosk-02"]["id"]) not in outbox
    tickets = live.call(lambda: {t["alarm_id"] for t in hub.tickets.list()})
    assert alarms["kiosk-01"]["id"] in tickets and alarms["kiosk-02"]["id"] not in tickets

    # The device grid shows the kiosk in maintenance.
    page.get_by_test_id("tab-operations").click()
    tile = page.locator('[data-testid="device"][data-device="kiosk-02"]')
    expect(tile).to_have_attribute("data-maintenance", "1", timeout=10000)
    expect(tile.get_by_test_id("device-maintenance")).to_contain_text(TEXT[lang]["maintenance"])

    # Lifted from the screen: it leaves the list in force and shows as ended, with who lifted it.
    page.get_by_test_id("tab-silences").click()
    active = page.get_by_test_id("silences-active").get_by_test_id("silence")
    expect(active).to_have_count(1, timeout=10000)
    active.get_by_test_id("silence-lift").click()
    expect(active).to_have_count(0, timeout=10000)
    ended = page.get_by_test_id("silences-ended").get_by_test_id("silence")
    expect(ended).to_have_count(1)
    expect(ended.get_by_test_id("silence-lifted")).to_contain_text(TEXT[lang]["lifted"])
    assert live.call(lambda: hub.silences.silencing("kiosk-02", "reg_hall", "kiosk", "card_jam")) is None
    audit = {tuple(r) for r in live.call(lambda: hub.db.all("SELECT actor, action FROM audit"))}
    assert {("monitor", "silence.create"), ("monitor", "silence.lift")} <= audit


def test_those_without_silences_write_have_no_screen(live: LiveHub, open_console: Callable[..., Console]) -> None:
    page = login(open_console, live, "maintenance", "en")
    expect(page.get_by_test_id("tab-tickets")).to_be_visible()
    expect(page.get_by_test_id("tab-silences")).to_have_count(0)
    page.goto(live.url + "/#/silences")
    expect(page.get_by_test_id("view-silences")).to_have_count(0)
