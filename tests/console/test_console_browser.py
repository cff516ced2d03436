"""The console in Debian's chromium against the stand-in hub (console_fake_hub.py): what each user sees and does.

The stand-in lets these tests cut the WebSocket, hold events back and remove routes on cue; the same console
against the real stack is test_console_live.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

import pytest
from playwright.sync_api import expect

from conftest import DESK, PHONE, WALL, Console
from console_fake_hub import FakeHub

pytestmark = [pytest.mark.browser]

LANDING = {
    "monitor": ("monitor-pw", "view-operations", ["operations", "silences"]),
    "fm-zhang": ("zhang-pw", "view-dispatch", ["dispatch", "requests", "roster", "notify"]),  # a roster person
    "maintenance": ("maint-pw", "view-tickets", ["tickets"]),
    "admin": ("admin-pw", "view-admin", ["admin", "operations", "dispatch", "tickets", "requests", "roster", "silences"]),
}


@pytest.mark.parametrize("username", list(LANDING))
def test_each_role_lands_on_its_own_view(fake_hub: FakeHub, open_console: Callable[..., Console], username: str) -> None:
    password, view, tabs = LANDING[username]
    page = open_console(fake_hub.url).login(username, password)
    expect(page.get_by_test_id(view)).to_be_visible()
    expect(page.locator("#tabs a")).to_have_count(len(tabs))
    assert [a.get_attribute("data-testid") for a in page.locator("#tabs a").all()] == [f"tab-{t}" for t in tabs]
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # A view the role may not use is not reachable by typing its address either.
    if username != "admin":
        page.goto("/#/admin")
        expect(page.get_by_test_id(view)).to_be_visible()
        expect(page.get_by_test_id("view-admin")).to_have_count(0)


def test_wrong_password_is_refused_with_a_message(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url).login("monitor", "not-the-password")
    expect(page.get_by_test_id("login-error")).to_contain_text("Wrong username or password")
    expect(page.locator("#topbar")).to_be_hidden()


def test_session_survives_a_reload_and_sign_out_ends_it(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url).login("maintenance", "maint-pw")
    expect(page.get_by_test_id("view-tickets")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("view-tickets")).to_be_visible()
    page.locator("#logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login-submit")).to_be_visible()


def test_operations_shows_live_zones_kpis_devices_forecast_and_staffing(
    fake_hub: FakeHub, open_console: Callable[..., Console]
) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw")
    expect(page.get_by_test_id("kpi-waiting_now")).to_have_text(str(sum(z["waiting"] for z in fake_hub.zones.values())))
    expect(page.get_by_test_id("kpi-avg_wait_s")).to_have_text("13 min")
    reg = page.locator('.zone-g[data-zone="reg_hall"]')
    expect(reg).to_have_attribute("data-level", "crowded")
    expect(page.locator('.zone-g[data-zone="lab"]')).to_have_attribute("data-level", "busy")
    # A zone with no occupancy measured is grey ("no data"), not green.
    expect(page.locator('.zone-g[data-zone="imaging_xr"]')).to_have_attribute("data-level", "unknown")
    # The most crowded zone is selected first: its forecast band and staffing plan are drawn.
    expect(page.get_by_test_id("zone-occupancy")).to_have_text("240")
    expect(page.get_by_test_id("forecast-chart").locator("path.band")).to_have_count(1)
    expect(page.get_by_test_id("staffing-chart").locator("rect.bar-req")).not_to_have_count(0)
    expect(page.get_by_test_id("staffing-gaps")).to_contain_text("09, 10, 14")
    expect(page.get_by_test_id("device")).to_have_count(len(fake_hub.devices))
    # A tile's tooltip shows the readings its kind declares (floorops/kinds/kiosk.py), not the others.
    kiosk = next(d["id"] for d in fake_hub.devices.values() if d["kind"] == "kiosk")
    title = page.locator(f'[data-testid=device][data-device="{kiosk}"]').get_attribute("title") or ""
    assert "resp_ms 640" in title and "paper_pct 80.5" in title and "card_reader ok" in title, title
    assert "cpu_pct" not in title, title
    # A zone getting crowded recolours live, without a reload.
    fake_hub.zones["entrance"].update(occupancy=290, waiting=70, level="crowded")
    fake_hub.publish("zone.updated", fake_hub.zones["entrance"])
    expect(page.locator('.zone-g[data-zone="entrance"]')).to_have_attribute("data-level", "crowded", timeout=2000)
    page.locator('.zone-g[data-zone="entrance"]').click()
    expect(page.get_by_test_id("zone-occupancy")).to_have_text("290")


def test_alarm_arrives_live_and_is_acknowledged(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    alarm = fake_hub.raise_alarm("kiosk-03", "card_jam", "major")
    card = page.locator(f'[data-testid=alarm][data-alarm-id="{alarm["id"]}"]')
    expect(card).to_be_visible(timeout=2000)
    expect(card).to_contain_text("Card jam")
    expect(card).to_contain_text("kiosk-03")
    expect(page.locator('[data-device="kiosk-03"]')).to_have_attribute("data-state", "fault")
    expect(page.get_by_test_id("kpi-devices_faulted")).to_have_text("1", timeout=4000)
    card.get_by_test_id("alarm-ack").click()
    expect(card.get_by_test_id("alarm-state")).to_have_text("Acknowledged")
    expect(card.get_by_test_id("alarm-ack")).to_have_count(0)
    assert fake_hub.alarms[alarm["id"]]["state"] == "acknowledged"


def test_edge_agent_going_offline_and_a_removed_device_show_live(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    agent = page.locator('[data-testid=agents] [data-agent="edge-1"]')
    expect(agent).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("agents")).to_contain_text("Edge agents (1)")
    fake_hub.agents["edge-1"].update(state="offline")
    fake_hub.publish("agent.updated", fake_hub.agents["edge-1"])
    expect(agent).to_have_attribute("data-state", "offline", timeout=2000)
    alarm = {"id": 1, "type": "agent_offline", "severity": "critical", "source": "agent:edge-1", "zone": "",
             "kind": "edge_agent", "state": "active", "raised_at": fake_hub.agents["edge-1"]["since"], "count": 1}
    fake_hub.alarms[1] = alarm
    fake_hub.publish("alarm.raised", alarm)
    expect(page.locator('[data-testid=alarm][data-alarm-id="1"]')).to_contain_text("Edge agent offline", timeout=2000)

    devices = len(fake_hub.devices)
    expect(page.get_by_test_id("device")).to_have_count(devices)
    removed = fake_hub.devices.pop("kiosk-03")
    fake_hub.publish("device.removed", {**removed, "state": "removed"})
    expect(page.get_by_test_id("device")).to_have_count(devices - 1, timeout=2000)
    expect(page.locator('[data-device="kiosk-03"]')).to_have_count(0)
    page.reload()  # the snapshot agrees
    expect(page.get_by_test_id("device")).to_have_count(devices - 1)
    expect(page.locator('[data-testid=agents] [data-agent="edge-1"]')).to_have_attribute("data-state", "offline")


def test_reconnects_and_catches_up_on_everything_missed(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    first = fake_hub.raise_alarm("kiosk-01")
    expect(page.get_by_test_id("alarm")).to_have_count(1)
    last_seen = fake_hub.events[-1]["id"]
    # The connection drops and the hub refuses to take it back for a while.
    fake_hub.refuse_ws = True
    fake_hub.drop_sockets()
    expect(page.locator("#conn")).not_to_have_attribute("data-state", "live", timeout=2000)
    missed = [fake_hub.raise_alarm(d) for d in ("kiosk-02", "kiosk-04", "qs-reg-1")]
    fake_hub.publish("alarm.updated", {**first, "state": "acknowledged"})
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline", timeout=8000)
    expect(page.locator("#conn .conn-label")).to_have_text(re.compile("Offline"))
    fake_hub.refuse_ws = False
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=8000)
    # Everything raised during the outage is there exactly once, and the acknowledgement too.
    expect(page.get_by_test_id("alarm")).to_have_count(4)
    for a in missed:
        expect(page.locator(f'[data-testid=alarm][data-alarm-id="{a["id"]}"]')).to_have_count(1)
    expect(page.locator(f'[data-alarm-id="{first["id"]}"] [data-testid=alarm-state]')).to_have_text("Acknowledged")
    assert f"since={last_seen}" in fake_hub.ws_connects[-1].split("&")
    # After the catch-up, live streaming goes on.
    late = fake_hub.raise_alarm("kiosk-05")
    expect(page.locator(f'[data-testid=alarm][data-alarm-id="{late["id"]}"]')).to_have_count(1, timeout=2000)


NOTIFICATION_SPY = """
window.__notifications = [];
class SpyNotification {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notifications.push({ title, body: options && options.body }); }
  close() {}
}
window.Notification = SpyNotification;
"""


def test_dispatch_offer_rings_notifies_and_is_accepted_on_a_phone(
    fake_hub: FakeHub, open_console: Callable[..., Console], artifacts: Path
) -> None:
    console = open_console(fake_hub.url, PHONE, is_mobile=True, has_touch=True)
    console.page.add_init_script(NOTIFICATION_SPY)
    page = console.login("fm-zhang", "zhang-pw")
    expect(page.get_by_test_id("no-dispatches")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#user")).to_have_text("Zhang Wei · Floor manager")
    offer = fake_hub.offer_dispatch("reg_hall")
    card = page.locator(f'[data-testid=dispatch][data-dispatch-id="{offer["id"]}"]')
    expect(card).to_be_visible(timeout=2000)
    expect(card).to_contain_text("Registration & payment hall")
    expect(card.get_by_test_id("dispatch-zone-state")).to_contain_text("240")
    expect(card.locator("[data-expires]")).to_have_text(re.compile(r"answer within [23]:\d\d"))
    expect(page.locator("body")).to_have_attribute("data-chimes", "1", timeout=3000)
    notes = page.evaluate("window.__notifications")
    assert len(notes) == 1 and notes[0]["title"] == "New dispatch" and "Registration" in notes[0]["body"]
    # The buttons are big enough for a thumb, and the card fits the phone's width.
    box = card.get_by_test_id("dispatch-accept").bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 140
    card_box = card.bounding_box()
    assert card_box and card_box["x"] >= 0 and card_box["x"] + card_box["width"] <= PHONE["width"]
    console.shot(artifacts, "fake-dispatch-offer-phone-en")
    card.get_by_test_id("dispatch-accept").tap()
    expect(card.get_by_test_id("dispatch-state")).to_have_text("Accepted")
    assert fake_hub.dispatches[offer["id"]]["state"] == "accepted"
    card.get_by_test_id("dispatch-complete").tap()
    expect(page.get_by_test_id("no-dispatches")).to_be_visible()
    assert fake_hub.dispatches[offer["id"]]["state"] == "completed"
    # Declining works the same way.
    second = fake_hub.offer_dispatch("lab", reason="queue_long")
    page.locator(f'[data-dispatch-id="{second["id"]}"]').get_by_test_id("dispatch-decline").tap()
    expect(page.get_by_test_id("no-dispatches")).to_be_visible()
    assert fake_hub.dispatches[second["id"]]["state"] == "declined"


def test_maintenance_works_tickets_in_due_order(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    later = fake_hub.open_ticket(fake_hub.raise_alarm("kiosk-07", "paper_out"), due_in_min=240)
    overdue = fake_hub.open_ticket(fake_hub.raise_alarm("kiosk-03", "card_jam"), due_in_min=-5)
    soon = fake_hub.open_ticket(fake_hub.raise_alarm("qs-lab-1", "display_fault"), due_in_min=12)
    page = open_console(fake_hub.url).login("maintenance", "maint-pw")
    rows = page.get_by_test_id("ticket-row")
    expect(rows).to_have_count(3)
    assert [r.get_attribute("data-ticket-id") for r in rows.all()] == [str(t["id"]) for t in (overdue, soon, later)]
    expect(rows.nth(0)).to_have_attribute("data-due", "overdue")
    expect(rows.nth(0)).to_contain_text("overdue")
    expect(rows.nth(1)).to_have_attribute("data-due", "soon")
    fake_hub.tickets[later["id"]]["assignee"] = "maintenance"
    fake_hub.publish("ticket.updated", fake_hub.tickets[later["id"]])
    page.get_by_test_id("only-mine").check()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_have_attribute("data-ticket-id", str(later["id"]))
    page.get_by_test_id("only-mine").uncheck()
    expect(rows).to_have_count(3)
    rows.nth(0).click()
    detail = page.get_by_test_id("ticket-detail")
    expect(detail.get_by_test_id("timeline")).to_contain_text("Card jam")
    expect(detail.get_by_test_id("telemetry").locator("figure")).to_have_count(2)  # cpu_pct, paper_pct; not seq
    detail.get_by_test_id("ticket-accept").click()
    expect(detail.get_by_test_id("ticket-state")).to_have_text("Accepted")
    assert fake_hub.tickets[overdue["id"]]["assignee"] == "maintenance"
    expect(detail.get_by_test_id("ticket-resolve")).to_be_disabled()
    detail.get_by_test_id("resolution-code").select_option("cleared_jam")
    # A live update of the same ticket redraws its head: the picked code and the enabled button survive it.
    fake_hub.publish("ticket.updated", {**fake_hub.tickets[overdue["id"]], "note": "redraw"})
    expect(detail.get_by_test_id("resolution-code")).to_have_value("cleared_jam")
    expect(detail.get_by_test_id("ticket-resolve")).to_be_enabled()
    detail.get_by_test_id("ticket-resolve").click()
    expect(rows).to_have_count(2)
    assert fake_hub.tickets[overdue["id"]]["state"] == "resolved"
    assert fake_hub.tickets[overdue["id"]]["resolution"] == "cleared_jam"


def test_admin_provisions_a_device_and_sees_its_password_once(
    fake_hub: FakeHub, open_console: Callable[..., Console]
) -> None:
    page = open_console(fake_hub.url).login("admin", "admin-pw")
    page.get_by_test_id("device-id").fill("kiosk-99")
    page.get_by_test_id("device-kind").select_option("kiosk")
    page.get_by_test_id("device-zone").select_option("pharmacy")
    page.get_by_test_id("device-add").click()
    creds = page.get_by_test_id("credentials-json")
    expect(creds).to_contain_text('"mqtt_password"')
    assert "kiosk-99" in fake_hub.devices
    expect(page.locator('[data-testid=device-table] tr[data-device="kiosk-99"]')).to_contain_text("Outpatient pharmacy")
    page.get_by_test_id("credentials-dismiss").click()
    expect(creds).to_have_count(0)
    # A second provisioning of the same id is refused with the hub's message.
    page.get_by_test_id("device-id").fill("kiosk-99")
    page.get_by_test_id("device-add").click()
    expect(page.locator("form .error-text").nth(1)).to_contain_text("device exists")
    # Users and thresholds.
    page.get_by_test_id("user-name").fill("fm-wang")
    page.get_by_test_id("user-role").select_option("floor_manager")
    page.get_by_test_id("user-password").fill("a-long-password")
    page.get_by_test_id("user-add").click()
    expect(page.get_by_test_id("users")).to_contain_text("fm-wang")
    assert fake_hub.users["fm-wang"] == ("a-long-password", "floor_manager")
    page.locator('input[data-rule="rules.zone_crowded.raise_ratio"]').fill("0.85")
    page.locator('select[data-rule="rules.card_jam.severity"]').select_option("critical")
    page.locator('input[data-rule="tickets.respond_min"]').fill("")
    page.get_by_test_id("rules-save").click()
    expect(page.get_by_test_id("rules").locator(".error-text")).to_contain_text("tickets.respond_min")
    page.locator('input[data-rule="tickets.respond_min"]').fill("20")
    page.get_by_test_id("rules-save").click()
    expect(page.locator(".toast", has_text="Thresholds saved")).to_be_visible()
    assert fake_hub.rules["rules"]["zone_crowded"]["raise_ratio"] == 0.85
    assert fake_hub.rules["rules"]["card_jam"]["severity"] == "critical"
    assert fake_hub.rules["tickets"] == {"respond_min": 20, "repair_min": {"critical": 120, "major": 240}}


def test_admin_removes_a_device_after_confirming(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url).login("admin", "admin-pw")
    row = page.locator('[data-testid=device-table] tr[data-device="kiosk-05"]')
    expect(row).to_be_visible()
    # Remove asks first, naming the device; Cancel leaves it alone.
    row.get_by_test_id("device-remove").click()
    expect(row.get_by_test_id("device-remove-confirm")).to_contain_text("Take kiosk-05 out of service?")
    expect(page.get_by_test_id("device-remove-confirm")).to_have_count(1)
    row.get_by_test_id("device-remove-no").click()
    expect(row.get_by_test_id("device-remove-confirm")).to_have_count(0)
    assert "kiosk-05" in fake_hub.devices
    # The hub cannot reach the broker: its message shows in the row, the device stays.
    fake_hub.removal_error = "the device could not be removed: broker at 127.0.0.1:1883 unreachable"
    row.get_by_test_id("device-remove").click()
    row.get_by_test_id("device-remove-yes").click()
    expect(row.locator(".error-text")).to_contain_text("broker at 127.0.0.1:1883 unreachable")
    assert "kiosk-05" in fake_hub.devices
    # A live update re-draws the table: the open confirmation stays.
    fake_hub.devices["kiosk-01"]["state"] = "fault"
    fake_hub.publish("device.updated", fake_hub.devices["kiosk-01"])
    expect(page.locator('[data-testid=device-table] tr[data-device="kiosk-01"]')).to_contain_text("Fault")
    expect(row.get_by_test_id("device-remove-confirm")).to_be_visible()
    fake_hub.removal_error = ""
    row.get_by_test_id("device-remove-yes").click()
    expect(page.locator(".toast", has_text="Device kiosk-05 removed.")).to_be_visible()
    expect(row).to_have_count(0, timeout=2000)
    assert "kiosk-05" not in fake_hub.devices
    page.reload()
    expect(page.locator('[data-testid=device-table] tr[data-device="kiosk-04"]')).to_be_visible()
    expect(page.locator('[data-testid=device-table] tr[data-device="kiosk-05"]')).to_have_count(0)


def test_language_switch_shows_chinese_names_and_sticks(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw")
    expect(page.get_by_test_id("tab-operations")).to_have_text("Operations")
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("tab-operations")).to_have_text("运营监控")
    expect(page.locator('.zone-label[data-zone="reg_hall"] .zone-name')).to_have_text("挂号收费大厅")
    expect(page.locator("#site-name")).to_have_text("FloorOps 演示综合医院")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.reload()
    expect(page.get_by_test_id("tab-operations")).to_have_text("运营监控")
    page.get_by_test_id("lang-toggle").click()
    expect(page.locator('.zone-label[data-zone="reg_hall"] .zone-name')).to_contain_text("Registration")


def test_missing_hub_routes_show_not_available_instead_of_failing(open_console: Callable[..., Console]) -> None:
    hub = FakeHub(missing={"/api/kpis", "/api/forecast", "/api/staffing", "/api/roster", "/api/rules",
                           "/api/devices/*/timeline", "/api/me"}).start()
    try:
        hub.open_ticket(hub.raise_alarm("kiosk-03"))
        console = open_console(hub.url, WALL)
        page = console.login("admin", "admin-pw")  # no /api/me: the login answer gives the role
        expect(page.get_by_test_id("view-admin")).to_be_visible()
        expect(page.get_by_test_id("unavailable")).to_contain_text("/api/rules")
        page.get_by_test_id("tab-operations").click()
        # KPIs fall back to what the console counts itself, and say so.
        expect(page.get_by_test_id("kpi-devices_faulted")).to_have_text("1")
        expect(page.locator(".kpi-sub").first).to_have_text("counted in the console")
        expect(page.get_by_test_id("zone-detail").get_by_test_id("unavailable")).to_have_count(2)
        page.get_by_test_id("tab-tickets").click()
        page.get_by_test_id("ticket-row").first.click()
        expect(page.get_by_test_id("ticket-detail").get_by_test_id("unavailable")).to_contain_text("timeline")
    finally:
        hub.stop()


VIEWS = [
    ("monitor", "monitor-pw", "operations", WALL),
    ("fm-zhang", "zhang-pw", "dispatch", PHONE),
    ("maintenance", "maint-pw", "tickets", DESK),
    ("admin", "admin-pw", "admin", DESK),
]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshot_of_every_view(fake_hub: FakeHub, open_console: Callable[..., Console], artifacts: Path, lang: str) -> None:
    """Screenshots for people to look at (tests/artifacts/console/), with realistic content on screen."""
    alarm = fake_hub.raise_alarm("kiosk-03", "card_jam", "major")
    fake_hub.raise_alarm("charger-02", "over_temperature", "critical")
    fake_hub.open_ticket(alarm, due_in_min=25)
    fake_hub.open_ticket(fake_hub.raise_alarm("qs-lab-1", "display_fault", "minor"), due_in_min=-3)
    fake_hub.offer_dispatch("reg_hall")
    for username, password, view, viewport in VIEWS:
        console = open_console(fake_hub.url, viewport)
        page = console.login(username, password, lang=lang)
        expect(page.get_by_test_id(f"view-{view}")).to_be_visible()
        if view == "operations":
            expect(page.get_by_test_id("forecast-chart")).to_be_visible()
        if view == "tickets":
            page.get_by_test_id("ticket-row").first.click()
            expect(page.get_by_test_id("telemetry")).to_be_visible()
        time.sleep(0.3)  # let the zone colour transition finish
        path = console.shot(artifacts, f"fake-{view}-{lang}")
        assert path.stat().st_size > 20_000
        if lang == "zh":
            assert re.search(r"[\u4e00-\u9fff]", page.locator("#view").inner_text())
        console.close()


def test_an_alarm_storm_shows_the_most_severe_first_and_counts_the_rest(
    fake_hub: FakeHub, open_console: Callable[..., Console]
) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    for n in range(70):
        fake_hub.raise_alarm(f"kiosk-{1 + n % 15:02d}", "paper_out", "minor")
    critical = fake_hub.raise_alarm("charger-02", "charger_over_temperature", "critical")
    expect(page.get_by_test_id("alarms-more")).to_contain_text("11 more", timeout=3000)
    expect(page.get_by_test_id("alarm")).to_have_count(60)
    expect(page.get_by_test_id("alarm").first).to_have_attribute("data-alarm-id", str(critical["id"]))
    expect(page.get_by_test_id("alarm").first).to_contain_text("Charger over temperature")


def test_an_ended_session_returns_to_sign_in(fake_hub: FakeHub, open_console: Callable[..., Console]) -> None:
    """The hub forgets the token (expiry, restart): the refused WebSocket leads back to the sign-in screen."""
    page = open_console(fake_hub.url).login("maintenance", "maint-pw")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    fake_hub.tokens.clear()
    fake_hub.drop_sockets()
    expect(page.get_by_test_id("login-error")).to_contain_text("session has ended", timeout=8000)
    expect(page.locator("#topbar")).to_be_hidden()


@pytest.mark.parametrize("lang,texts", [
    ("en", {"label": "Called within target", "sub": "no-show 8% · abandoned 5%", "chairs": "Wheelchairs charged",
            "chairs_sub": "taken today 23 · forecast 40"}),
    ("zh", {"label": "按时叫号率", "sub": "过号 8% · 放弃 5%", "chairs": "可用轮椅(已充电)",
            "chairs_sub": "今日借用 23 · 预测 40"}),
])
def test_service_level_and_wheelchair_tiles_in_both_languages(
    fake_hub: FakeHub, open_console: Callable[..., Console], lang: str, texts: dict[str, str]
) -> None:
    page = open_console(fake_hub.url, WALL).login("monitor", "monitor-pw", lang=lang)
    level = page.locator('.kpi[data-kpi="service_level"]')
    expect(page.get_by_test_id("kpi-service_level")).to_have_text("72%")
    expect(level).to_have_attribute("data-tone", "warn")  # below the 80% target
    expect(level.locator(".kpi-label")).to_have_text(texts["label"])
    expect(level.locator(".kpi-sub")).to_have_text(texts["sub"])
    chairs = page.locator('.kpi[data-kpi="wheelchairs"]')
    expect(page.get_by_test_id("kpi-wheelchairs")).to_have_text("7 / 15")
    expect(chairs).to_have_attribute("data-tone", "bad")  # a station is low
    expect(chairs.locator(".kpi-label")).to_have_text(texts["chairs"])
    expect(chairs.locator(".kpi-sub")).to_have_text(texts["chairs_sub"])
    page.locator('.zone-g[data-zone="reg_hall"]').click()  # the zone's own figures
    expect(page.get_by_test_id("zone-service-level")).to_have_text("72%")
    expect(page.get_by_test_id("zone-wheelchairs")).to_have_text("5 / 6")
