"""Requests and measurable dispatch in Debian's chromium on a phone-sized screen, in both languages, against
a real hub HTTP server (in-process, with a clock the test moves): a desk emergency raised in the console and a
patient's request from a zone's QR page, each offered, accepted, arrived and done on the floor manager's
phone, with the time-to-arrive tile moving."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import PHONE, Console
from hub.clock import ManualClock
from tests.hub.conftest import make_cfg
from tests.hub.helpers import Feeder
from tests.hub.live import PASSWORDS, LiveHub
from tests.hub.test_service_levels_wheelchairs import slots

pytestmark = [pytest.mark.browser]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_763_949_600.0)  # 2025-11-24 10:00 Asia/Shanghai


@pytest.fixture
def live(tmp_path: Path, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(make_cfg(tmp_path), clock).start()
    yield h
    h.stop()


TEXT = {
    "en": {"arrive": "I have arrived", "emergency": "Emergency", "sent": "Received", "wheelchair": "I need a wheelchair",
           "bringing": "bringing you a wheelchair", "station": "Take a chair from charger-02, Registration & payment hall",
           "no_stock": "No station has a charged chair"},
    "zh": {"arrive": "我已到达", "emergency": "紧急", "sent": "已收到", "wheelchair": "需要轮椅",
           "bringing": "为您送来轮椅", "station": "到挂号收费大厅的charger-02取轮椅", "no_stock": "各充电桩暂无满电轮椅"},
}


def phone(open_console: Callable[..., Console], live: LiveHub, username: str, lang: str) -> Any:
    console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB")
    page = console.login(username, PASSWORDS[username], lang=lang)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    return page


def work_the_offer(fm: Any, clock: ManualClock, arrive_after_s: float, lang: str) -> None:
    """Accept, arrive (after ``arrive_after_s`` of the hub's clock) and complete the one open offer."""
    card = fm.get_by_test_id("dispatch")
    expect(card).to_have_count(1, timeout=10000)
    card.get_by_test_id("dispatch-accept").click()
    expect(card.get_by_test_id("dispatch-arrive")).to_have_text(TEXT[lang]["arrive"])
    clock.advance(arrive_after_s)
    card.get_by_test_id("dispatch-arrive").click()
    expect(card).to_have_attribute("data-state", "arrived")
    card.get_by_test_id("dispatch-complete").click()
    expect(fm.get_by_test_id("no-dispatches")).to_be_visible()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_desk_emergency_and_qr_request_through_arrival(open_console: Callable[..., Console], live: LiveHub,
                                                       clock: ManualClock, lang: str, artifacts: Path) -> None:
    desk = phone(open_console, live, "desk", lang)
    expect(desk.get_by_test_id("view-requests")).to_be_visible()
    expect(desk.get_by_test_id("time-to-arrive")).to_have_text("—")
    fm = phone(open_console, live, "fm-zhang", lang)
    expect(fm.get_by_test_id("view-dispatch")).to_be_visible()

    # The desk raises an emergency at the registration hall: it rings on Zhang's phone.
    desk.get_by_test_id("request-kind").select_option("emergency")
    desk.get_by_test_id("request-zone").select_option("reg_hall")
    desk.get_by_test_id("request-detail").fill("fainted at window 3")
    desk.get_by_test_id("request-send").click()
    request_card = desk.get_by_test_id("request")
    expect(request_card).to_have_count(1)
    expect(request_card).to_contain_text(TEXT[lang]["emergency"])
    expect(desk.get_by_test_id("tile-emergency").get_by_test_id("tile-open")).to_have_text("1")
    work_the_offer(fm, clock, 120, lang)
    expect(desk.get_by_test_id("no-requests")).to_be_visible()
    expect(desk.get_by_test_id("time-to-arrive")).not_to_have_text("—", timeout=5000)
    first = desk.get_by_test_id("time-to-arrive").inner_text()

    # A patient asks for a wheelchair from the pharmacy's QR page, in the browser's language.
    patient_console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB")
    patient = patient_console.page
    patient.goto("/r/reg_hall")
    expect(patient.locator("html")).to_have_attribute("lang", lang)
    patient.get_by_test_id("kind-assist").check()
    patient.get_by_test_id("send").click()
    expect(patient.get_by_test_id("result")).to_contain_text(TEXT[lang]["sent"])
    patient_console.shot(artifacts, f"requests-qr-{lang}")
    other = "zh" if lang == "en" else "en"
    patient.get_by_test_id("lang-switch").click()
    expect(patient.locator("html")).to_have_attribute("lang", other)
    expect(patient.get_by_test_id("send")).to_have_text("Send" if other == "en" else "发送")

    work_the_offer(fm, clock, 600, lang)  # a slower arrival: the mean time to arrive goes up
    expect(desk.get_by_test_id("time-to-arrive")).not_to_have_text(first, timeout=5000)
    desk.screenshot(path=str(artifacts / f"requests-desk-{lang}.png"), full_page=True)


ALERT = {
    "en": {"emergency": "Emergency", "withdrawn": "Withdrawn", "toast": "Offer withdrawn"},
    "zh": {"emergency": "紧急", "withdrawn": "已撤回", "toast": "派单已撤回"},
}
RECORD_VIBRATION = "window.__vibrations = []; navigator.vibrate = (p) => { window.__vibrations.push(p); return true; };"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_emergency_alert_withdrawn_offer_and_accept_from_the_notification(
        open_console: Callable[..., Console], live: LiveHub, lang: str, artifacts: Path) -> None:
    """On the floor manager's phone: a routine offer rings and vibrates briefly; an emergency that pre-empts it
    shows red with its own alert and a long vibration, the withdrawn offer shows as such, and the emergency is
    accepted through the service worker (as the notification's "Accept" button does: a test cannot click a
    system notification, so it asks the worker by message)."""
    hub = live.ctx.hub
    console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB",
                           permissions=["notifications"])
    console.page.add_init_script(RECORD_VIBRATION)
    fm = console.login("fm-zhang", PASSWORDS["fm-zhang"], lang=lang)
    expect(fm.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    expect(fm.locator("body")).to_have_attribute("data-page-worker", "ready", timeout=10000)

    def raise_(kind: str, zone: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            with hub.unit_of_work():
                return hub.requests.raise_request(kind, zone, "console", "desk")
        return live.call(run)

    def accept_all_but_zhang() -> None:
        with hub.unit_of_work():
            for d in hub.dispatch.list("offered"):
                if d["assignee"] != "fm-zhang":
                    hub.dispatch.accept(d["id"], d["assignee"], "floor_manager")

    raise_("assist", "reg_hall")
    card = fm.get_by_test_id("dispatch")
    expect(card).to_have_count(1, timeout=10000)
    expect(card).to_have_attribute("data-urgent", "0")
    fm.wait_for_function("() => window.__vibrations.length === 1")
    assert fm.evaluate("window.__vibrations") == [[250, 100, 250]]
    for zone in ("lab", "lab", "im_clinic"):  # Wang, Chen and Li take a job each: nobody else is free
        raise_("assist", zone)
        live.call(accept_all_but_zhang)

    emergency = raise_("emergency", "entrance")  # Zhang's unanswered assist is withdrawn for it
    expect(card).to_have_attribute("data-urgent", "1", timeout=10000)
    expect(card.get_by_test_id("dispatch-urgent")).to_have_text(ALERT[lang]["emergency"])
    fm.wait_for_function("() => window.__vibrations.length === 2")
    assert fm.evaluate("window.__vibrations")[1] == [600, 200, 600, 200, 600, 200, 600]
    expect(fm.locator("body")).to_have_attribute("data-sirens", "1", timeout=5000)
    done = fm.locator('[data-testid="dispatch-done"][data-state="withdrawn"]')
    expect(done).to_contain_text(ALERT[lang]["withdrawn"])
    expect(fm.locator(".toast").filter(has_text=ALERT[lang]["toast"])).to_have_count(1)
    console.shot(artifacts, f"dispatch-emergency-{lang}")

    [offer] = live.call(hub.dispatch.list, "offered", "fm-zhang")
    assert offer["service_request"] == emergency["id"]
    # The system notification is the worker's, with an Accept button; the withdrawn offer's one is closed.
    shown = fm.evaluate("""async () => (await (await navigator.serviceWorker.ready).getNotifications())
        .map((n) => ({ id: n.data && n.data.dispatchId, actions: n.actions.map((a) => a.action), title: n.title }))""")
    assert shown == [{"id": offer["id"], "actions": ["accept"], "title": ALERT[lang]["emergency"]}]
    fm.evaluate("""async (id) => {
        const reg = await navigator.serviceWorker.ready;
        reg.active.postMessage({type: "dispatch.accept", dispatchId: id});
    }""", offer["id"])
    expect(card).to_have_attribute("data-state", "accepted", timeout=10000)
    assert live.call(hub.dispatch.get, offer["id"])["state"] == "accepted"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_wheelchair_from_the_qr_page_goes_to_the_nearest_station(open_console: Callable[..., Console], live: LiveHub,
                                                                  lang: str, artifacts: Path) -> None:
    """A patient at the pharmacy asks for a wheelchair on the QR page; the floor manager's offer and the desk's
    list say which station to take it from, and a request no station can serve is flagged."""
    hub = live.ctx.hub
    feeder = Feeder(hub)
    live.call(feeder.record, "charger-02", "telemetry", slots(90, 95))  # reg_hall: the nearest with stock
    fm = phone(open_console, live, "fm-zhang", lang)  # Zhang covers the pharmacy
    patient_console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB")
    patient = patient_console.page
    patient.goto("/r/pharmacy")
    choice = patient.locator('label[data-kind="wheelchair"]')
    expect(choice).to_contain_text(TEXT[lang]["wheelchair"])
    patient.get_by_test_id("kind-wheelchair").check()
    expect(patient.locator("#complaint")).to_be_hidden()  # no phone number asked for
    patient.get_by_test_id("send").click()
    expect(patient.get_by_test_id("result")).to_contain_text(TEXT[lang]["bringing"])
    patient_console.shot(artifacts, f"requests-qr-wheelchair-{lang}")
    card = fm.get_by_test_id("dispatch")
    expect(card).to_have_count(1, timeout=10000)
    expect(card.get_by_test_id("request-station")).to_have_text(TEXT[lang]["station"], timeout=10000)
    # The chairs are gone: the desk raises one more, dispatched all the same and flagged.
    live.call(feeder.record, "charger-02", "telemetry", slots(None, None))
    desk = phone(open_console, live, "desk", lang)
    desk.get_by_test_id("request-kind").select_option("wheelchair")
    desk.get_by_test_id("request-zone").select_option("pharmacy")
    desk.get_by_test_id("request-send").click()
    flagged = desk.locator('[data-testid="request"][data-kind="wheelchair"]').get_by_test_id("request-station")
    expect(flagged).to_have_count(2, timeout=10000)
    expect(flagged.filter(has_text=TEXT[lang]["no_stock"])).to_have_count(1)
    desk.screenshot(path=str(artifacts / f"requests-wheelchair-desk-{lang}.png"), full_page=True)
