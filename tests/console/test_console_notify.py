"""My notifications on a phone, in both languages (issue #15 item 4): a person of the roster chooses channels,
events and quiet hours; the hub stores them, pages by them, and shows them to admins as the values in force.
A real in-process hub on a ManualClock; Debian's chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import PHONE, Console
from hub.clock import ManualClock
from tests.hub.conftest import http, make_cfg
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]

TEXT = {"en": {"tab": "My notifications", "urgent": "Critical"}, "zh": {"tab": "我的通知", "urgent": "紧急级别"}}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveHub]:
    h = LiveHub(make_cfg(tmp_path), ManualClock(1_763_949_600.0)).start()
    yield h
    h.stop()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_person_chooses_their_pages_on_the_phone(live: LiveHub, open_console: Callable[..., Console],
                                                  lang: str, artifacts: Path) -> None:
    console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB")
    page = console.login("maintenance", PASSWORDS["maintenance"], lang=lang)  # p-liu
    tab = page.get_by_test_id("tab-notify")
    expect(tab).to_have_text(TEXT[lang]["tab"])
    tab.click()
    expect(page.get_by_test_id("notify-urgent")).to_contain_text(TEXT[lang]["urgent"])
    page.get_by_test_id("notify-severity-major").check()
    page.get_by_test_id("notify-subject-request").check()
    page.get_by_test_id("notify-quiet").check()
    page.get_by_test_id("notify-quiet-from").fill("22:30")
    page.get_by_test_id("notify-quiet-to").fill("06:45")
    with page.expect_response(lambda r: r.url.endswith("/api/me/notify") and r.request.method == "PUT" and r.ok):
        page.get_by_test_id("notify-save").click()
    page.screenshot(path=str(artifacts / f"my-notifications-{lang}.png"), full_page=True)
    status, mine = http(live.url + "/api/me/notify", token=live.login("maintenance"))
    assert status == 200 and mine["events"] == ["severity:major", "subject:request"]
    assert mine["quiet_hours"] == "22:30-06:45"
    liu = live.call(lambda: live.ctx.hub.roster_store.get("p-liu"))
    assert live.call(lambda: live.ctx.hub.escalation.effective(liu)).quiet_hours == "22:30-06:45"  # what pages by
    status, people = http(live.url + "/api/people", token=live.login("admin"))
    assert next(p for p in people if p["id"] == "p-liu")["notify"]["source"] == "own"
    # Seen again after a reload: the form shows what the hub holds.
    page.reload()
    expect(page.get_by_test_id("notify-severity-major")).to_be_checked(timeout=10000)
    expect(page.get_by_test_id("notify-severity-critical")).not_to_be_checked()
    expect(page.get_by_test_id("notify-quiet-from")).to_have_value("22:30")
    # Unticking everything means "everything reaches me", and no quiet hours.
    page.get_by_test_id("notify-severity-major").uncheck()
    page.get_by_test_id("notify-subject-request").uncheck()
    page.get_by_test_id("notify-quiet").uncheck()
    with page.expect_response(lambda r: r.url.endswith("/api/me/notify") and r.request.method == "PUT" and r.ok):
        page.get_by_test_id("notify-save").click()
    status, mine = http(live.url + "/api/me/notify", token=live.login("maintenance"))
    assert (mine["events"], mine["quiet_hours"]) == ([], "")


def test_an_account_that_is_no_roster_person_has_no_such_view(live: LiveHub,
                                                             open_console: Callable[..., Console]) -> None:
    console = open_console(live.url, PHONE, locale="en-GB")
    page = console.login("monitor", PASSWORDS["monitor"], lang="en")
    expect(page.get_by_test_id("tab-operations")).to_be_visible()
    expect(page.get_by_test_id("tab-notify")).to_have_count(0)
