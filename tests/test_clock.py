"""The centre's one clock (floorops/clock.py): real by default, a demo clock from [clock] at a chosen day,
time and speed, parsed from the file and the environment, with bad values refused by name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from floorops.clock import anchored, centre_clock, clock_of
from floorops.config import ClockConfig, ConfigError, dump_toml, load_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 05:53 in Shanghai on Sunday 6 December 2026: the site's night, when the issue was tried.
NIGHT = dt.datetime(2026, 12, 6, 5, 53, tzinfo=SHANGHAI).timestamp()


class Wall:
    """A real-time source a test moves."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def local(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, SHANGHAI)


def test_default_is_the_real_wall_clock() -> None:
    wall = Wall(NIGHT)
    clock = clock_of(ClockConfig(), SHANGHAI, wall)
    assert not clock.demo
    assert clock.now() == NIGHT
    wall.t += 100
    assert clock.now() == NIGHT + 100
    assert clock.describe()["demo"] is False and clock.describe()["start"] is None


def test_demo_clock_starts_the_sites_day_at_0730_and_runs_ten_times_faster() -> None:
    wall = Wall(NIGHT)
    clock = clock_of(ClockConfig(start="07:30", speed=10), SHANGHAI, wall)
    assert clock.demo
    assert local(clock.now()) == dt.datetime(2026, 12, 6, 7, 30, tzinfo=SHANGHAI)  # the site's today at 07:30
    wall.t += 60  # one real minute
    assert local(clock.now()) == dt.datetime(2026, 12, 6, 7, 40, tzinfo=SHANGHAI)
    d = clock.describe()
    assert d["demo"] is True and d["speed"] == 10
    assert d["start"] == "2026-12-06T07:30:00+08:00"
    assert d["now"].startswith("2026-12-06T07:40:00")
    assert d["now_ms"] == clock.now_ms()
    assert clock.wall_delay_s(clock.now_ms() + 10_000) == pytest.approx(1.0)  # 10 s of site time: 1 s real


def test_start_on_a_given_date_and_the_anchor_fixes_it_for_every_process() -> None:
    setting = ClockConfig(start="07:30", speed=10, date="2026-11-24", anchor=NIGHT)  # a Tuesday
    early, late = Wall(NIGHT + 30), Wall(NIGHT + 30)
    a = clock_of(setting, SHANGHAI, early)
    b = clock_of(setting, SHANGHAI, late)  # another process, built later: same anchor, same time
    assert local(a.now()) == dt.datetime(2026, 11, 24, 7, 35, tzinfo=SHANGHAI)
    assert a.now() == b.now()
    assert local(a.now()).weekday() == 1


def test_the_day_rolls_over_at_the_sites_midnight() -> None:
    wall = Wall(NIGHT)
    clock = clock_of(ClockConfig(start="23:50", speed=60, date="2026-12-31", anchor=NIGHT), SHANGHAI, wall)
    wall.t += 20  # 20 real seconds at x60: 20 site minutes
    assert local(clock.now()) == dt.datetime(2027, 1, 1, 0, 10, tzinfo=SHANGHAI)


def test_speed_alone_runs_from_now() -> None:
    wall = Wall(NIGHT)
    clock = clock_of(ClockConfig(speed=4, anchor=NIGHT), SHANGHAI, wall)
    wall.t += 15
    assert clock.demo and clock.now() == NIGHT + 60


def test_anchored_fixes_the_anchor_once() -> None:
    wall = Wall(NIGHT)
    fixed = anchored(ClockConfig(start="07:30", speed=10), wall)
    assert fixed.anchor == NIGHT
    wall.t += 50
    assert anchored(fixed, wall).anchor == NIGHT
    assert anchored(ClockConfig(), wall).anchor == 0  # the real clock needs none


def test_clock_from_file_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_text('[clock]\nstart = "08:00"\nspeed = 5\n')
    cfg = load_config(f, env={"FLOOROPS_CLOCK__SPEED": "10", "FLOOROPS_CLOCK__DATE": "2026-11-24",
                              "FLOOROPS_CLOCK__ANCHOR": str(NIGHT)})
    assert (cfg.clock.start, cfg.clock.speed, cfg.clock.date) == ("08:00", 10.0, "2026-11-24")
    clock = centre_clock(cfg, Wall(NIGHT))  # the demo site is in Shanghai
    assert local(clock.now()) == dt.datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI)
    again = tmp_path / "again.toml"  # what the launcher hands its children
    again.write_text(dump_toml(cfg))
    assert load_config(again, env={}).clock == cfg.clock


@pytest.mark.parametrize("env, message", [
    ({"FLOOROPS_CLOCK__START": "7:30"}, "clock.start: expected HH:MM"),
    ({"FLOOROPS_CLOCK__START": "24:00"}, "clock.start: expected HH:MM"),
    ({"FLOOROPS_CLOCK__START": "morning"}, "clock.start: expected HH:MM"),
    ({"FLOOROPS_CLOCK__SPEED": "0"}, "clock.speed: expected a number above 0"),
    ({"FLOOROPS_CLOCK__SPEED": "-2"}, "clock.speed: expected a number above 0"),
    ({"FLOOROPS_CLOCK__SPEED": "nan"}, "clock.speed: expected a number above 0"),
    ({"FLOOROPS_CLOCK__SPEED": "fast"}, "clock.speed: expected a number"),
    ({"FLOOROPS_CLOCK__START": "07:30", "FLOOROPS_CLOCK__DATE": "2026-13-01"}, "clock.date: expected YYYY-MM-DD"),
    ({"FLOOROPS_CLOCK__DATE": "2026-11-24"}, "clock.date: needs clock.start"),
])
def test_bad_clock_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_make_run_options_go_over_the_configured_clock() -> None:
    from centre.launcher import clock_setting, main

    base = ClockConfig(start="09:00", speed=2)
    assert clock_setting(base, "07:30", 10.0, None) == ClockConfig(start="07:30", speed=10.0)
    assert clock_setting(base, "", None, "2026-11-24") == ClockConfig(start="09:00", speed=2, date="2026-11-24")
    with pytest.raises(ConfigError, match="clock.speed"):
        clock_setting(base, None, 0.0, None)
    assert main(["--start", "7.30"]) == 2  # refused before anything starts
