"""The simulated queue screen's downlink: it shows the hub's commands, keeps them for the control API
until they expire, acknowledges each with a ``cmd_ack`` event the contract accepts, and stops
acknowledging under the ``no_ack`` fault."""

from __future__ import annotations

import json

from floorops.downlink import ScreenCommand
from floorops.kinds import BUILTIN
from floorops.site import Site

from .test_sim_faults import advance, decoded, sim_for


def command(type_: str, text_zh: str, lifetime_ms: int = 600_000, cid: str = "c1") -> bytes:
    return ScreenCommand(id=cid, ts=1_000, type=type_, text="x", text_zh=text_zh, room="2号B超室", floor=2,
                         waiting=3, expected_wait_s=600, expires_at=1_000 + lifetime_ms).to_json()


def test_screen_shows_and_acknowledges_commands_until_they_expire(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "qs-us-1")
    sim.command("qs-us-1", command("reroute", "请前往2号B超室"), sim.now_ms)
    sim.command("qs-us-1", command("notice", "每日更新", lifetime_ms=120_000, cid="c2"), sim.now_ms)
    shown = sim.status()["devices"]["qs-us-1"]["display"]
    assert shown["guide"]["text_zh"] == "请前往2号B超室" and shown["guide"]["room"] == "2号B超室"
    assert shown["notice"]["text_zh"] == "每日更新"
    acks = [e for e in decoded(rec, "qs-us-1", "event") if e["event"] == "cmd_ack"]
    assert [a["cmd"] for a in acks] == ["c1", "c2"]
    for a in acks:
        BUILTIN.get("queue_screen").validate("event", a)
    advance(sim, 3)  # the notice lived two minutes
    shown = sim.status()["devices"]["qs-us-1"]["display"]
    assert shown["notice"] is None and shown["guide"] is not None


def test_no_ack_fault_shows_but_never_acknowledges_and_bad_commands_are_refused(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "qs-us-1")
    sim.inject("qs-us-1", "no_ack")
    sim.command("qs-us-1", command("guide", "超声检查"), sim.now_ms)
    assert sim.status()["devices"]["qs-us-1"]["display"]["guide"]["text_zh"] == "超声检查"
    assert not [e for e in decoded(rec, "qs-us-1", "event") if e["event"] == "cmd_ack"]
    screen = sim.devices["qs-us-1"]
    for bad in (b"{", b"[]", json.dumps({"v": 1, "id": "c3", "ts": 1, "type": "launch"}).encode(), b"x" * 5000):
        sim.command("qs-us-1", bad, sim.now_ms)
    assert screen.commands_rejected == 4  # type: ignore[attr-defined]  # - a QueueScreenSim
    sim.inject("qs-us-1", "clear")
    sim.command("qs-us-1", command("guide", "超声检查", cid="c4"), sim.now_ms)
    assert [e["cmd"] for e in decoded(rec, "qs-us-1", "event") if e["event"] == "cmd_ack"] == ["c4"]
