"""Supervision under ``make run``: a ``kill -9`` of any component is followed by a restart, and the hub
shows it; one crash never stops the centre; a crash loop raises an alarm; SIGTERM still stops everything.

The kill tests share one control centre (centre.launcher.ControlCentre, the code behind ``make run``) on
free ports in a temporary folder: real Mosquitto, influxd, hub, edge and simulator processes. The hub's
half (notices -> event, alarm) is also checked in-process on a manual clock.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from floorops.config import Config, load_config
from centre.launcher import ControlCentre
from centre.services import MosquittoServer, free_port
from floorops.dynsec import DynsecClient, hub_acls, supervisor_acls, supervisor_client_id
from centre.supervision import Backoff, Notices
from floorops.topics import parse_supervisor_topic, supervisor_filter, supervisor_topic
from hub.clock import ManualClock
from hub.core import Hub
from tests.hub.conftest import http as http_url
from tests.hub.helpers import make_hub, open_alarms
from tests.test_end_to_end import launcher_env, processes_mentioning

COMPONENTS = ("edge", "simulator", "hub", "influxd", "mosquitto")
STEADY_S = 4.0  # the fixture's supervisor.steady_s: a restarted component counts as steady after this


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(interval_s)


# -- the launcher's backoff ------------------------------------------------------------------------


def test_backoff_starts_small_doubles_to_its_cap_and_resets_after_steady_running() -> None:
    b = Backoff(initial_s=0.5, max_s=4.0, steady_s=60.0)
    assert [b.after_exit(ran_s=1.0) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.after_exit(ran_s=61.0) == 0.5  # a minute of steady running: back to the start
    assert b.after_exit(ran_s=1.0) == 1.0


def test_supervisor_topics_are_built_and_parsed_in_one_place() -> None:
    assert parse_supervisor_topic(supervisor_topic("demo", "edge", "restarted")) == ("edge", "restarted")
    assert parse_supervisor_topic("floorops/demo/supervisor/edge/exploded") is None
    assert parse_supervisor_topic("floorops/demo/supervisor/a+b/restarted") is None
    assert parse_supervisor_topic("floorops/demo/agent/edge-1/status") is None


# -- the hub's half, in-process ---------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    return make_hub(cfg, ManualClock(1_800_000_000.0))


def notice(hub: Hub, component: str, event: str, seq: int, recent_s: list[float], run: str = "run1") -> tuple[str, bytes]:
    now_ms = int(hub.clock.now() * 1000)
    payload = {"v": 1, "ts": now_ms, "component": component, "event": event, "run": run, "seq": seq,
               "restarts": len(recent_s), "exit_code": None, "signal": "SIGKILL", "next_delay_s": 0.5,
               "recent_ms": [int(t * 1000) for t in recent_s]}
    return supervisor_topic(hub.site.id, component, event), json.dumps(payload).encode()


def restarted_events(hub: Hub) -> list[dict[str, Any]]:
    return [e.data for e in hub.bus.since(0) if e.type == "component.restarted"]


def test_hub_turns_restart_notices_into_events_and_a_crash_loop_alarm_cleared_by_steady(hub: Hub) -> None:
    clock: ManualClock = hub.clock  # type: ignore[assignment]  # - the hub was built with a ManualClock
    times: list[float] = []
    sent = []
    for seq in (1, 2):
        times.append(clock.now())
        sent.append(notice(hub, "edge", "restarted", seq, times))
        hub.apply_messages([sent[-1]])
        clock.advance(30)
    assert [e["component"] for e in restarted_events(hub)] == ["edge", "edge"]
    assert restarted_events(hub)[0]["signal"] == "SIGKILL"
    assert open_alarms(hub, "component_crashloop") == []  # two restarts are events, not an alarm

    # The same notice again (a QoS 1 redelivery after the hub crashed): no second event.
    hub.apply_messages([sent[-1]])
    clock.advance(1)
    times.append(clock.now())
    hub.apply_messages([notice(hub, "edge", "restarted", 3, times)])
    assert len(restarted_events(hub)) == 3
    [alarm] = open_alarms(hub, "component_crashloop")
    assert (alarm["source"], alarm["severity"], alarm["kind"]) == ("component:edge", "major", "component")
    assert alarm["detail"]["restarts_in_window"] == 3

    hub.apply_messages([notice(hub, "edge", "steady", 4, times)])
    assert open_alarms(hub, "component_crashloop") == []


def test_restarts_spread_wider_than_the_window_raise_no_alarm(hub: Hub) -> None:
    clock: ManualClock = hub.clock  # type: ignore[assignment]  # - the hub was built with a ManualClock
    window_s = hub.rules.rule("component_crashloop")["window_s"]
    times: list[float] = []
    for seq in (1, 2, 3):
        times.append(clock.now())
        hub.apply_messages([notice(hub, "hub", "restarted", seq, times)])
        clock.advance(window_s / 2 + 1)
    assert len(restarted_events(hub)) == 3
    assert open_alarms(hub, "component_crashloop") == []


def test_a_bad_supervisor_notice_is_counted_and_the_good_one_beside_it_kept(hub: Hub) -> None:
    good = notice(hub, "edge", "restarted", 1, [hub.clock.now()])
    topic = supervisor_topic(hub.site.id, "edge", "restarted")
    hub.apply_messages([(topic, b"not json"), (topic, b'{"component": "hub", "event": "restarted"}'), good])
    assert hub.metrics["rejected_bad_supervisor"] == 2
    assert len(restarted_events(hub)) == 1


def test_the_empty_retained_notice_the_launcher_clears_with_is_neither_news_nor_bad_input(hub: Hub) -> None:
    hub.apply_messages([(supervisor_topic(hub.site.id, "edge", "restarted"), b"")])
    assert restarted_events(hub) == [] and hub.metrics["rejected_bad_supervisor"] == 0


# -- the notices on a real broker ----------------------------------------------------------------------


@pytest.fixture
def notices_on_broker(broker: MosquittoServer, dynsec: DynsecClient,
                      site_id: str) -> Iterator[Callable[[], Notices]]:
    """Launcher notice clients on the shared broker, each a new launcher run, under the test's own site."""
    site = site_id
    username = f"floorops-supervisor-{site}"
    password = "pw-" + site
    dynsec.provision_service(username, password, supervisor_acls(site), client_id=supervisor_client_id(username, site))
    opened: list[Notices] = []

    def open_() -> Notices:
        opened.append(Notices("127.0.0.1", broker.port, username, password, site))
        return opened[-1]

    yield open_
    for n in opened:
        n.clear(list(COMPONENTS))
        n.close()


def what_a_hub_subscribing_now_gets(broker: MosquittoServer, dynsec: DynsecClient, site: str,
                                    wait_s: float = 1.5) -> list[tuple[str, dict[str, Any]]]:
    """Subscribe as a hub whose broker session was lost (a broker killed with -9): what arrives."""
    name = f"floorops-hub-{site}"
    dynsec.provision_service(name, "pw-" + name, hub_acls(site))
    got: list[tuple[str, dict[str, Any]]] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    c.username_pw_set(name, "pw-" + name)
    c.on_message = lambda _c, _u, m: got.append((m.topic, json.loads(m.payload))) if m.payload else None
    c.on_connect = lambda cl, *_: cl.subscribe(supervisor_filter(site), qos=1)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    time.sleep(wait_s)
    c.disconnect()
    c.loop_stop()
    return got


@pytest.mark.integration
def test_a_notice_sent_while_the_hub_had_no_broker_session_reaches_it_when_it_subscribes(
    broker: MosquittoServer, dynsec: DynsecClient, notices_on_broker: Callable[[], Notices]
) -> None:
    # The broker was killed with -9: the hub's session is gone, and the launcher's queued notice reaches
    # the new broker before the hub has subscribed again. The hub must still get it.
    notices = notices_on_broker()
    assert notices.clear(list(COMPONENTS))
    notices.send("mosquitto", "restarted", restarts=1, signal="SIGKILL", exit_code=None, next_delay_s=0.5,
                 recent_ms=[1])
    notices.send("edge", "restarted", restarts=1, signal="SIGKILL", exit_code=None, next_delay_s=0.5,
                 recent_ms=[2])
    notices.send("edge", "steady", restarts=1, up_s=60.0)
    got = what_a_hub_subscribing_now_gets(broker, dynsec, notices.site)
    # The latest notice of each component, and for the edge the steady one only: a late hub never sees
    # a restart after the steady running that followed it.
    assert sorted((p["component"], p["event"], p["seq"]) for _, p in got) == [
        ("edge", "steady", 3), ("mosquitto", "restarted", 1)]


@pytest.mark.integration
def test_a_new_launcher_run_clears_the_previous_runs_notices_before_the_hub_starts(
    broker: MosquittoServer, dynsec: DynsecClient, notices_on_broker: Callable[[], Notices]
) -> None:
    earlier = notices_on_broker()
    earlier.send("hub", "restarted", restarts=3, signal="SIGKILL", exit_code=None, next_delay_s=2.0,
                 recent_ms=[1, 2, 3])
    assert what_a_hub_subscribing_now_gets(broker, dynsec, earlier.site)  # held for a hub that comes later
    earlier.close()
    assert notices_on_broker().clear(list(COMPONENTS))
    assert what_a_hub_subscribing_now_gets(broker, dynsec, earlier.site) == []


# -- the real stack ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlCentre]:
    cfg: Config = load_config(env={})
    cfg.var_dir = str(tmp_path_factory.mktemp("supervised-var"))
    cfg.log_format = "json"
    cfg.mqtt.port = free_port()
    cfg.influx.url = f"http://127.0.0.1:{free_port()}"
    cfg.influx.rpc_port = free_port()
    cfg.hub.http_port = free_port()
    cfg.edge.metrics_port = free_port()
    cfg.sim.control_port = free_port()
    cfg.supervisor.steady_s = STEADY_S
    c = ControlCentre(cfg, bootstrap_models=False)
    c.start()
    yield c
    c.stop()


class HubClient:
    """The monitor's view of the hub's API, signing in again if the hub forgot the session."""

    def __init__(self, centre: ControlCentre) -> None:
        self.centre = centre
        self.token = ""

    def get(self, path: str) -> Any:
        for _ in range(2):
            if not self.token:
                status, body = http_url(self.centre.hub_url + "/api/login", "POST",
                                        {"username": "monitor", "password": self.centre.passwords["monitor"]})
                assert status == 200, body
                self.token = body["token"]
            status, body = http_url(self.centre.hub_url + path, token=self.token)
            if status != 401:
                assert status == 200, body
                return body
            self.token = ""
        raise AssertionError(f"{path}: signed in, still 401")

    def last_event_id(self) -> int:
        last = 0
        while page := self.get(f"/api/events?since={last}"):
            last = page[-1]["id"]
        return last

    def events_since(self, after: int, type_: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while page := self.get(f"/api/events?since={after}"):
            found += [e for e in page if e["type"] == type_]
            after = page[-1]["id"]
        return found

    def crashloop_alarms(self, component: str) -> list[dict[str, Any]]:
        return [a for a in self.get("/api/alarms") if a["type"] == "component_crashloop"
                and a["source"] == f"component:{component}"]


def pid_of(centre: ControlCentre, name: str) -> int:
    p = centre.component(name)
    assert p is not None and p.proc is not None and p.running, f"{name} is not running"
    return p.proc.pid


def served(client: HubClient) -> bool:
    try:
        return isinstance(client.get("/api/devices"), list)
    except (OSError, AssertionError):
        return False


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name", COMPONENTS)
def test_kill_9_of_a_component_brings_it_back_and_the_hub_shows_the_restart(
    centre: ControlCentre, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = HubClient(centre)
    wait_for(lambda: served(client), 30, "the hub serves")
    after = client.last_event_id()
    others = {n: pid_of(centre, n) for n in COMPONENTS if n != name}
    old_pid = pid_of(centre, name)
    restarts = centre.restarts(name)
    caplog.set_level(logging.INFO, logger="centre.launcher")

    os.kill(old_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: (p := centre.component(name)) is not None and p.running and p.proc is not None
             and p.proc.pid != old_pid and centre.ready(name) and centre.restarts(name) > restarts,
             10, f"{name} back after kill -9")
    back_s = time.monotonic() - killed_at
    assert centre.restarts(name) == restarts + 1

    # The centre kept running: nobody else was stopped or restarted.
    assert {n: pid_of(centre, n) for n in others} == others
    assert centre.check_alive() == []

    # The launcher said so in one structured line ...
    [line] = [r for r in caplog.records if r.getMessage() == "component exited; restarting it"
              and getattr(r, "component", None) == name]
    assert (line.signal, line.exit_code, line.restarts) == ("SIGKILL", None, restarts)  # type: ignore[attr-defined]  # - set by the log call's extra=
    assert 0 < line.next_delay_s <= 10  # type: ignore[attr-defined]  # - set by the log call's extra=

    # ... and the hub shows it as an event, even when the hub or the broker was the one killed.
    def restarted() -> list[dict[str, Any]]:
        return [e for e in client.events_since(after, "component.restarted") if e["data"]["component"] == name]

    [event] = wait_for(restarted, 45, f"component.restarted for {name} in /api/events")
    assert event["data"]["signal"] == "SIGKILL" and event["data"]["restarts"] == restarts + 1
    # One restart is an event, not an alarm (the alarm would have come in the event's transaction).
    if centre.restarts(name) < 3:
        assert client.crashloop_alarms(name) == []
    print(f"{name} back {back_s:.1f} s after kill -9")


@pytest.mark.integration
@pytest.mark.slow
def test_a_component_that_keeps_crashing_raises_the_crash_loop_alarm_until_it_runs_steadily(
    centre: ControlCentre,
) -> None:
    client = HubClient(centre)
    name = "simulator"
    while centre.restarts(name) < 3:  # the kill test may have restarted it once already (same 10 minutes)
        count = centre.restarts(name)
        os.kill(pid_of(centre, name), signal.SIGKILL)
        centre.wait_restarted(name, count + 1, timeout_s=20)

    def active() -> list[dict[str, Any]]:
        return [a for a in client.crashloop_alarms(name) if a["state"] == "active"]

    [alarm] = wait_for(active, 30, "component_crashloop alarm")
    assert alarm["severity"] == "major" and alarm["detail"]["restarts_in_window"] >= 3
    # Left alone, it runs steadily: the launcher says so after supervisor.steady_s and the alarm clears.
    cleared = wait_for(lambda: [a for a in client.crashloop_alarms(name) if a["id"] == alarm["id"]
                                and a["state"] == "cleared"], STEADY_S + 30, "crash-loop alarm cleared")
    assert cleared[0]["cleared_by"] == "auto"
    assert centre.check_alive() == []


def launcher_children(launcher_pid: int) -> dict[int, str]:
    """pid -> command line of the launcher's child processes."""
    found: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == launcher_pid:
                pid = int(stat.parent.name)
                found[pid] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.mark.integration
@pytest.mark.slow
def test_sigterm_of_make_run_stops_every_child_also_after_it_restarted_one(tmp_path: Path) -> None:
    """``python -m centre.launcher``: kill -9 of the edge is survived, then SIGTERM leaves nothing."""
    env = launcher_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "centre.launcher", "--no-simulator"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        said_at_start: list[str] = []
        for line in proc.stdout:
            said_at_start.append(line)
            if "Ctrl-C stops everything" in line:
                break
        else:
            raise AssertionError("the launcher did not start:\n" + "".join(said_at_start[-40:]))

        def edge() -> int | None:
            return next((pid for pid, cmd in launcher_children(proc.pid).items() if " -m edge " in cmd), None)

        old = wait_for(edge, 10, "edge child")
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: (pid := edge()) not in (None, old) and pid, 10, "edge restarted by make run")
        assert proc.poll() is None, "make run stopped because the edge was killed"
        assert new != old
    finally:
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rc = proc.wait(60)
    assert rc == 0
    assert time.monotonic() - t0 < 30
    said = proc.stdout.read()
    [line] = [ln for ln in said.splitlines() if "component exited; restarting it" in ln]
    assert "component=edge" in line and "signal=SIGKILL" in line and "next_delay_s=0.5" in line, line
    time.sleep(0.5)
    assert processes_mentioning(str(tmp_path)) == [], "processes left behind"
