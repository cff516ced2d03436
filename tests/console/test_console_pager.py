"""The phone view's pages (issue #15): an escalation pages the maintenance person's console session, which
shows a card (sound, vibration, system notification where allowed) and acknowledges with a comment; the
operations grid shows a device in a maintenance window as "in maintenance" (en and zh). A real in-process
hub on a free port, fed by hand; Debian's chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import expect

from conftest import PHONE, WALL, Console
from hub.clock import ManualClock
from tests.hub.conftest import make_cfg
from tests.hub.helpers import Feeder, open_alarms
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]


@pytest.fixture
def live(tmp_path: Path) -> Any:
    h = LiveHub(make_cfg(tmp_path)).start()
    yield h
    h.stop()


def test_a_page_is_acknowledged_with_a_comment_on_the_phone(live: LiveHub,
                                                            open_console: Callable[..., Console]) -> None:
    console = open_console(live.url, PHONE)
    page = console.login("maintenance", PASSWORDS["maintenance"])  # p-liu, maintenance round the clock
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    hub = live.ctx.hub
    live.call(lambda: Feeder(hub).record("kiosk-01", "event", {"event": "card_jam"}))  # major: role:maintenance
    [alarm] = live.call(lambda: open_alarms(hub, "card_jam"))
    card = page.get_by_test_id("page")
    expect(card).to_be_visible(timeout=10000)
    expect(card).to_have_attribute("data-alarm-id", str(alarm["id"]))
    page.get_by_test_id("page-comment").fill("on my way with a spare reader")
    page.get_by_test_id("page-ack").click()
    expect(card).to_have_count(0, timeout=10000)
    got = live.call(lambda: (hub.alarms.json(alarm["id"]), hub.alarms.comments(alarm["id"])))
    assert got[0]["state"] == "acknowledged" and got[0]["acked_by"] == "maintenance"
    assert [c["body"] for c in got[1]] == ["on my way with a spare reader"]


@pytest.mark.parametrize("lang,label", [("en", "in maintenance"), ("zh", "维护中")])
def test_device_grid_shows_a_device_in_maintenance(live: LiveHub, open_console: Callable[..., Console],
                                                   lang: str, label: str) -> None:
    hub = live.ctx.hub

    def silence() -> None:
        with hub.unit_of_work():
            hub.silences.create({"device_ids": ["kiosk-02"], "expires_at": time.time() + 3600,
                                 "reason": "printer swap"}, "monitor")
    live.call(silence)
    console = open_console(live.url, WALL)
    page = console.login("monitor", PASSWORDS["monitor"], lang=lang)
    tile = page.locator('[data-testid="device"][data-device="kiosk-02"]')
    expect(tile).to_have_attribute("data-maintenance", "1", timeout=10000)
    expect(tile.get_by_test_id("device-maintenance")).to_contain_text(label)
    expect(page.locator('[data-testid="device"][data-device="kiosk-01"]')).to_have_attribute("data-maintenance", "0")
    # An alarm of the device in maintenance is shown, marked silenced; an assignee shows on its row.
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    live.call(lambda: Feeder(hub).record("kiosk-02", "event", {"event": "card_jam"}))
    [alarm] = live.call(lambda: open_alarms(hub, "card_jam"))

    def assign() -> None:
        with hub.unit_of_work():
            hub.alarms.assign(alarm["id"], "p-liu", "monitor")
    live.call(assign)
    row = page.locator(f'[data-testid="alarm"][data-alarm-id="{alarm["id"]}"]')
    expect(row.get_by_test_id("alarm-silenced")).to_be_visible(timeout=10000)
    expect(row.get_by_test_id("alarm-assignee")).to_contain_text("p-liu")


def test_the_service_worker_acknowledges_from_the_notification(live: LiveHub,
                                                               open_console: Callable[..., Console]) -> None:
    """The notification's "Acknowledge" button runs in the service worker; a test cannot click a system
    notification, so it asks the worker for the same acknowledgement by message."""
    console = open_console(live.url, PHONE)
    page = console.login("maintenance", PASSWORDS["maintenance"])
    expect(page.locator("body")).to_have_attribute("data-page-worker", "ready", timeout=10000)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    hub = live.ctx.hub
    live.call(lambda: Feeder(hub).record("kiosk-03", "event", {"event": "card_jam"}))
    [alarm] = live.call(lambda: open_alarms(hub, "card_jam"))
    card = page.get_by_test_id("page")
    expect(card).to_be_visible(timeout=10000)
    page.evaluate("""async (id) => {
        const reg = await navigator.serviceWorker.ready;
        reg.active.postMessage({type: "page.ack", alarmId: String(id)});
    }""", alarm["id"])
    expect(card).to_have_count(0, timeout=10000)  # the worker's answer dismisses the card
    got = live.call(lambda: hub.alarms.json(alarm["id"]))
    assert got["state"] == "acknowledged" and got["acked_by"] == "maintenance"


def test_a_request_page_is_acknowledged_on_the_phone_and_takes_the_offer(tmp_path: Path,
                                                                          open_console: Callable[..., Console]) -> None:
    """A request raised for paediatrics is offered to its floor manager; not taken within the assist chain's
    first, waiting step (hub/notify-demo.toml: 2 minutes, the offer still hers), the chain pages her:
    acknowledging the page stops the chain and accepts the offer."""
    clock = ManualClock(time.time())
    live = LiveHub(make_cfg(tmp_path), clock).start()
    try:
        request_page_acknowledged(live, clock, open_console)
    finally:
        live.stop()


def request_page_acknowledged(live: LiveHub, clock: ManualClock, open_console: Callable[..., Console]) -> None:
    console = open_console(live.url, PHONE)
    page = console.login("fm-li", PASSWORDS["fm-li"])  # p-li covers paed
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    hub = live.ctx.hub

    def raise_assist() -> dict:
        with hub.unit_of_work():
            return hub.requests.raise_request("assist", "paed", "console", "desk", detail="escort to ultrasound")
    req = live.call(raise_assist)
    card = page.get_by_test_id("page")
    expect(page.get_by_test_id("dispatch").first).to_have_attribute("data-state", "offered", timeout=10000)
    expect(card).to_have_count(0)  # the offer rang her; nobody is paged yet
    clock.advance(121)
    live.call(hub.tick)
    expect(card).to_be_visible(timeout=10000)
    expect(card).to_have_attribute("data-request-id", str(req["id"]))
    expect(card).to_contain_text(f"request #{req['id']}: assist")
    page.get_by_test_id("page-comment").fill("coming from the lab")
    page.get_by_test_id("page-ack").click()
    expect(card).to_have_count(0, timeout=10000)
    got = live.call(hub.requests.json, req["id"])
    assert got["acked_by"] == "fm-li" and got["ack_comment"] == "coming from the lab"
    [d] = live.call(lambda: [x for x in hub.dispatch.list() if x["service_request"] == req["id"]])
    assert d["state"] == "accepted" and d["assignee"] == "fm-li"
    assert live.call(hub.escalation.status, "request", str(req["id"]))["state"] == "stopped"
    expect(page.get_by_test_id("dispatch").first).to_have_attribute("data-state", "accepted", timeout=10000)
