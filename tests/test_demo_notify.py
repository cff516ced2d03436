"""``make run``'s notify file (centre.launcher.demo_notify_file): the demo's chains, unchanged, with channels
pointing at the simulated hospital; every person the demo chains page has a channel that reaches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from centre.launcher import demo_notify_file
from floorops.config import REPO_ROOT, Config, ConfigError
from hub.notify.dingtalk import DingTalkRobot
from hub.notify.settings import load_notify
from hub.notify.smtp import SmtpChannel
from hub.roster import load_roster

DEMO_NOTIFY = REPO_ROOT / "hub" / "notify-demo.toml"
DEMO_ROSTER = REPO_ROOT / "hub" / "roster-demo.toml"


def cfg() -> Config:
    c = Config()
    c.sim.control_port, c.sim.smtp_port, c.sim.dingtalk_secret = 18091, 12525, "SECtest"
    return c


def test_demo_chains_are_kept_and_channels_point_at_the_simulator(tmp_path: Path) -> None:
    people = {p.id for p in load_roster(DEMO_ROSTER).people}
    out = demo_notify_file(cfg(), DEMO_NOTIFY, tmp_path / "notify.toml")
    assert out == tmp_path / "notify.toml" and out.stat().st_mode & 0o077 == 0  # the DingTalk secret is in it
    demo, source = load_notify(out, people), load_notify(DEMO_NOTIFY, people)
    assert demo.chains == source.chains and source.chains
    assert sorted(demo.channels) == ["dingtalk", "sms", "smtp", "wecom"]
    smtp, ding = demo.channels["smtp"], demo.channels["dingtalk"]
    assert isinstance(smtp, SmtpChannel) and isinstance(ding, DingTalkRobot)
    assert (smtp.host, smtp.port, smtp.tls) == ("127.0.0.1", 12525, "none")
    assert ding.secret == "SECtest" and ding.url.startswith("http://127.0.0.1:18091/robot/send?")


def test_everyone_the_demo_chains_page_is_reachable_in_the_simulated_hospital(tmp_path: Path) -> None:
    roster = load_roster(DEMO_ROSTER)
    demo = load_notify(demo_notify_file(cfg(), DEMO_NOTIFY, tmp_path / "notify.toml"), {p.id for p in roster.people})
    targets = {t for chain in demo.chains for step in chain.steps for t in step.to}
    paged = [p for p in roster.people if p.on_duty and (f"role:{p.role}" in targets or f"person:{p.id}" in targets)]
    assert {p.role for p in paged} >= {"maintenance", "floor_manager"}
    for person in paged:
        reach = [c for c in person.channels or demo.default_channels
                 if c in demo.channels and demo.channels[c].address(person) is not None]
        assert reach, f"{person.id} is paged by a demo chain but no channel reaches them"


def test_a_site_with_its_own_channels_keeps_them(tmp_path: Path) -> None:
    own = tmp_path / "site-notify.toml"
    own.write_text('[channels.smtp]\nhost = "mail.hospital.example"\nport = 587\nsender = "ops@hospital.example"\n')
    assert demo_notify_file(cfg(), own, tmp_path / "notify.toml") == own
    assert not (tmp_path / "notify.toml").exists()


def test_a_broken_notify_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[chains]\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        demo_notify_file(cfg(), bad, tmp_path / "notify.toml")
