"""Escalation to a second named person on the phone view, in both languages (issue #15 item 7): a critical alarm
the first person's phone is paged about but does not acknowledge goes, after the step's timeout, to the second
named person's phone, who acknowledges it with a comment; the chain stops. A real in-process hub on a
ManualClock (the step timeout passes by moving the hub's clock, not by waiting); Debian's chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import expect

from conftest import PHONE, Console
from hub.clock import ManualClock
from hub.notify.settings import Chain, Step
from tests.hub.conftest import make_cfg
from tests.hub.helpers import Feeder, open_alarms
from tests.hub.live import PASSWORDS, LiveHub

pytestmark = [pytest.mark.browser]

TITLE = {"en": "You are paged", "zh": "告警呼叫"}
STEP_TIMEOUT_S = 30


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveHub]:
    clock = ManualClock(1_763_949_600.0)  # 2025-11-24 10:00 Asia/Shanghai
    h = LiveHub(make_cfg(tmp_path), clock).start()
    # Critical alarms: Liu (p-liu, maintenance), then Zhang Wei (p-zhang, floor manager), each by name.
    h.ctx.hub.notify_settings.chains = (Chain("critical-alarms", "alarm", ("critical",), (), (
        Step(("person:p-liu",), STEP_TIMEOUT_S), Step(("person:p-zhang",), 0))),)
    yield h
    h.stop()


def phone(open_console: Callable[..., Console], live: LiveHub, user: str, lang: str) -> Any:
    console = open_console(live.url, PHONE, locale="zh-CN" if lang == "zh" else "en-GB")
    page = console.login(user, PASSWORDS[user], lang=lang)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
    return page


def paged(live: LiveHub, alarm_id: int) -> list[tuple[int, list[str]]]:
    """(step, people) of each page the hub recorded in the alarm's history."""
    import json
    rows = live.call(lambda: live.ctx.hub.db.all(
        "SELECT detail FROM alarm_history WHERE alarm_id=? AND action='paged' ORDER BY id", (alarm_id,)))
    return [(d["step"], d["people"]) for d in (json.loads(r["detail"]) for r in rows)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_unacknowledged_critical_alarm_goes_to_the_second_person(live: LiveHub, open_console: Callable[..., Console],
                                                                    lang: str, artifacts: Path) -> None:
    hub = live.ctx.hub
    first = phone(open_console, live, "maintenance", lang)  # p-liu
    second = phone(open_console, live, "fm-zhang", lang)  # p-zhang
    live.call(lambda: Feeder(hub).record("charger-02", "telemetry", {"station": {"over_temperature": True,
                                                                                 "mains_ok": True}}))
    [alarm] = live.call(lambda: open_alarms(hub, "charger_over_temperature"))
    assert alarm["severity"] == "critical"
    card = first.get_by_test_id("page")
    expect(card).to_have_attribute("data-alarm-id", str(alarm["id"]), timeout=10000)
    expect(card).to_contain_text(TITLE[lang])
    assert paged(live, alarm["id"]) == [(0, ["p-liu"])]
    expect(second.get_by_test_id("page")).to_have_count(0)

    clock = hub.clock
    assert isinstance(clock, ManualClock)

    def timeout_passes() -> None:
        clock.advance(STEP_TIMEOUT_S + 1)
        hub.tick()
    live.call(timeout_passes)
    assert paged(live, alarm["id"])[-1] == (1, ["p-zhang"])
    card2 = second.get_by_test_id("page")
    expect(card2).to_have_attribute("data-alarm-id", str(alarm["id"]), timeout=10000)
    expect(card2).to_contain_text(TITLE[lang])
    second.get_by_test_id("page-comment").fill("二号充电站已断电" if lang == "zh" else "station 2 switched off")
    second.get_by_test_id("page-ack").click()
    expect(card2).to_have_count(0, timeout=10000)
    got = live.call(lambda: (hub.alarms.json(alarm["id"]), hub.alarms.comments(alarm["id"]),
                             hub.escalation.status("alarm", str(alarm["id"]))))
    assert got[0]["state"] == "acknowledged" and got[0]["acked_by"] == "fm-zhang"
    assert [c["body"] for c in got[1]] == ["二号充电站已断电" if lang == "zh" else "station 2 switched off"]
    assert got[2]["state"] == "stopped"
    # Later ticks page nobody: the chain stopped at the acknowledgement.
    live.call(timeout_passes)
    assert len(paged(live, alarm["id"])) == 2
