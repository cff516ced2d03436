"""Silences over HTTP as the console's screen uses them (issue #15 item 5): a weekly window is upcoming until
its hour comes, then active; lifted and expired silences leave the list in force and show under ?ended=true
with who lifted them. An in-process hub on a ManualClock (2025-11-24 10:00 Asia/Shanghai, a Monday)."""

from __future__ import annotations

from typing import Iterator

import pytest

from floorops.config import Config
from hub.clock import ManualClock
from tests.hub.conftest import http
from tests.hub.live import LiveHub


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


def test_weekly_one_off_lifted_and_expired(live: LiveHub, clock: ManualClock) -> None:
    token = live.login("monitor")
    url = live.url + "/api/silences"
    status, weekly = http(url, "POST", {"zones": ["reg_hall"], "weekly": {"days": ["mon"], "start": "12:00",
                                                                          "end": "14:00"},
                                        "expires_at": "2025-12-24T00:00:00+08:00", "reason": "floor polish"},
                          token=token)
    assert status == 201 and weekly["active"] is False  # 10:00: not yet
    status, one_off = http(url, "POST", {"types": ["kiosk_paper_out"], "ends_at": clock.now() + 1800,
                                         "reason": "paper delivery late"}, token=token)
    assert status == 201 and one_off["active"] is True and one_off["author"] == "monitor"
    status, lifted = http(url, "POST", {"device_ids": ["kiosk-01"], "expires_at": clock.now() + 3600,
                                        "reason": "mistake"}, token=token)
    assert http(url + f"/{lifted['id']}", "DELETE", token=token)[0] == 200
    clock.advance(2 * 3600 + 60)  # 12:01, the one-off window is over
    status, now = http(url, token=token)
    assert status == 200 and [(s["id"], s["active"]) for s in now] == [(weekly["id"], True)]
    status, ended = http(url + "?ended=true", token=token)
    assert status == 200
    by_id = {s["id"]: s for s in ended}
    assert set(by_id) == {one_off["id"], lifted["id"]}
    assert by_id[lifted["id"]]["lifted_by"] == "monitor" and by_id[lifted["id"]]["lifted_at"]
    assert by_id[one_off["id"]]["lifted_by"] == "" and by_id[one_off["id"]]["lifted_at"] is None
    assert not any(s["active"] for s in ended)
    assert http(url + "?ended=yes", token=token)[0] == 400
    clock.advance(31 * 86400)  # a month later: the weekly window has expired, the others are forgotten
    token = live.login("monitor")
    assert http(url, token=token) == (200, [])
    status, ended = http(url + "?ended=true", token=token)
    assert [s["id"] for s in ended] == [weekly["id"]]
