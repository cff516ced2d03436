"""The virtual clock, the live ground truth's buckets, and the control server's answers to bad requests."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from firmware_sim.clock import VirtualClock
from firmware_sim.control import ControlServer
from firmware_sim.engine import SimOptions, Simulation
from floorops.site import Site

from .conftest import Recorder, local_ms


class FakeWall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_virtual_clock_runs_at_its_speed() -> None:
    wall = FakeWall()
    clock = VirtualClock(1_763_884_800_000, speed=60, wall=wall)
    assert clock.now_ms() == 1_763_884_800_000
    wall.t += 1.0
    assert clock.now_ms() == 1_763_884_800_000 + 60_000  # a wall second is a virtual minute
    assert clock.wall_delay_s(1_763_884_800_000 + 120_000) == pytest.approx(1.0)
    assert clock.wall_delay_s(0) == 0.0
    with pytest.raises(ValueError):
        VirtualClock(0, speed=0)


def test_live_truth_starts_at_a_whole_bucket_and_writes_csv(demo_site: Site, tmp_path) -> None:
    csv_path = tmp_path / "truth.csv"
    sim = Simulation(demo_site, local_ms(demo_site, 2026, 11, 24, 9, 7), Recorder(),
                     SimOptions(seed=1, only_devices=set(), truth_csv=csv_path))
    sim.start()
    sim.advance_to(sim.start_ms + 40 * 60_000)
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "ts,zone,arrivals,occupancy,waiting"
    stamps = sorted({line.split(",")[0] for line in lines[1:]})
    # Run 09:07..09:47: the buckets of 09:15 and 09:30 are complete; 09:00 (not whole) and 09:45 (open) are not.
    assert stamps == ["2026-11-24T09:15:00+08:00", "2026-11-24T09:30:00+08:00"]
    rows = [r for r in sim.truth.rows if r.zone == "lab"]
    assert rows[0].occupancy > 5 and rows[0].arrivals > 0


@pytest.fixture
def control(demo_site: Site):
    sim = Simulation(demo_site, local_ms(demo_site, 2026, 11, 24, 9, 0), Recorder(),
                     SimOptions(seed=1, only_devices={"kiosk-01"}))
    sim.start()
    return sim, ControlServer(sim, lambda: sim.now_ms, "127.0.0.1", 0)


def test_control_server_refuses_bad_requests(control) -> None:
    sim, server = control

    async def scenario() -> list[tuple[int, dict]]:
        async with TestClient(TestServer(server.app())) as client:
            out = []
            for body in (b"not json", b"[1,2]", json.dumps({"device": "kiosk-01"}).encode(),
                         json.dumps({"device": "kiosk-01", "fault": "card_jam", "repair_min": "soon"}).encode(),
                         json.dumps({"device": "kiosk-99", "fault": "card_jam"}).encode(),
                         json.dumps({"device": "kiosk-01", "fault": "card_jam"}).encode()):
                r = await client.post("/inject", data=body)
                out.append((r.status, await r.json()))
            r = await client.get("/status")
            out.append((r.status, await r.json()))
            return out

    results = asyncio.run(scenario())
    assert [s for s, _ in results[:5]] == [400, 400, 400, 400, 404]
    assert all("error" in b for _, b in results[:5])
    assert results[5][0] == 200 and results[5][1]["active"] == ["card_jam"]
    assert results[6][1]["devices"]["kiosk-01"]["faults"] == ["card_jam"]
    assert server.rejected == 5


def test_control_server_plays_hospital_systems_slow_and_failing(control) -> None:
    """/systems/<name> answers after its delay, 503 while failing; bad settings are refused and counted."""
    sim, server = control

    async def scenario() -> dict[str, object]:
        async with TestClient(TestServer(server.app())) as client:
            out: dict[str, object] = {}
            r = await client.get("/systems/his")
            out["up"] = (r.status, await r.json())
            r = await client.post("/systems/his", json={"delay_s": 0.3})
            out["set"] = (r.status, await r.json())
            t0 = asyncio.get_running_loop().time()
            r = await client.get("/systems/his")
            out["slow"] = (r.status, asyncio.get_running_loop().time() - t0)
            await client.post("/systems/pacs", json={"fail": True})
            r = await client.get("/systems/pacs")
            out["down"] = (r.status, await r.json())
            out["bad"] = [(await client.post("/systems/his", json=body)).status
                          for body in ({"delay_s": -1}, {"delay_s": "slow"}, {"fail": "yes"}, {"colour": 1})]
            out["unknown"] = (await client.get("/systems/mri")).status
            out["list"] = await (await client.get("/systems")).json()
            return out

    out = asyncio.run(scenario())
    assert out["up"] == (200, {"system": "his", "status": "ok"})
    assert out["set"] == (200, {"his": {"delay_s": 0.3, "fail": False}})
    status, took = out["slow"]
    assert status == 200 and took >= 0.3
    assert out["down"] == (503, {"system": "pacs", "status": "down"})
    assert out["bad"] == [400, 400, 400, 400] and out["unknown"] == 404
    assert out["list"]["his"] == {"delay_s": 0.3, "fail": False} and server.rejected == 5


@pytest.mark.parametrize("date,start,people", [
    ("2026-11-24", "08:30", "busy"),     # a Tuesday's morning peak
    ("2026-11-22", "03:00", "empty"),    # a Sunday in the small hours
    ("2026-11-28", "10:00", "some"),     # a Saturday morning: fewer than a weekday, more than the night
])
def test_the_demo_clock_puts_the_simulated_hospital_at_that_day_and_hour(demo_site: Site, date: str, start: str,
                                                                        people: str) -> None:
    """The one ``[clock]`` setting (``make run DEMO_START= DEMO_DATE=``) is where the simulator starts its
    day: tried at several days and hours, the hospital is as full as that day and hour make it."""
    from floorops.clock import clock_of
    from floorops.config import ClockConfig

    clock = clock_of(ClockConfig(start=start, speed=10, date=date), demo_site.tz, wall=lambda: 1_000_000.0)
    sim = Simulation(demo_site, clock.now_ms(), Recorder(), SimOptions(seed=3, only_devices={"kiosk-01"}))
    sim.start()
    sim.advance_to(sim.start_ms + 45 * 60_000)
    status = sim.status()
    assert status["virtual_time"].startswith(date)
    inside = sum(z["occupancy"] for z in status["zones"].values())
    # 45 minutes after an empty start (seeded: 259, 11 and 75 people inside; the bounds leave room).
    if people == "busy":
        assert inside > 150, inside
    elif people == "empty":
        assert inside < 30, inside
    else:
        assert 30 <= inside < 150, inside
