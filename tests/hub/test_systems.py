"""Watching the hospital's systems: the check runner against real local servers (slow, failing, hanging,
refusing, bad TLS), and the system_slow / system_down rules on a ManualClock (hysteresis, counts in a row,
a locked database)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sqlite3
import time
from typing import Any, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from centre.services import free_port
from floorops.config import ConfigError, SystemCheck, load_config
from hub.clock import ManualClock
from hub.rules import systems as rule
from hub.rules.base import RuleContext
from hub.rules.config import RuleSet, validate_rules
from hub.systems import CheckResult, SystemWatcher, probe_http, probe_tcp
from tests.hub.helpers import make_hub, open_alarms

CLOCK_START = 1_763_949_600.0


async def _serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                 ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    return runner, port


def _http(url: str, **kw: Any) -> SystemCheck:
    check = SystemCheck(name="his", kind="http", target=url, **kw)
    check.validate("test")
    return check


async def _probe(check: SystemCheck) -> CheckResult:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        return await probe_http(check, session, CLOCK_START)


def test_http_check_up_slow_failing_and_keyword() -> None:
    delay = {"s": 0.0}
    status = {"code": 200}

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delay["s"])
        return web.Response(status=status["code"], text="HIS ready")

    async def main() -> list[CheckResult]:
        runner, port = await _serve(handler)
        url = f"http://127.0.0.1:{port}/his"
        try:
            out = [await _probe(_http(url))]
            delay["s"] = 0.4
            out.append(await _probe(_http(url)))
            delay["s"] = 0.0
            status["code"] = 503
            out.append(await _probe(_http(url)))
            out.append(await _probe(_http(url, expect_status=[503])))
            status["code"] = 200
            out.append(await _probe(_http(url, keyword="ready")))
            out.append(await _probe(_http(url, keyword="PACS")))
            return out
        finally:
            await runner.cleanup()

    up, slow, failing, expected_503, keyword_ok, keyword_missing = asyncio.run(main())
    assert up.ok and up.status_code == 200 and up.error == "" and up.response_ms is not None
    assert slow.ok and slow.response_ms is not None and slow.response_ms >= 400
    assert not failing.ok and failing.status_code == 503 and failing.error == "unexpected status 503"
    assert expected_503.ok
    assert keyword_ok.ok
    assert not keyword_missing.ok and "PACS" in keyword_missing.error


def test_hostile_answers_are_results_not_crashes() -> None:
    """An unknown charset, a body far over 1 MiB, a connection cut mid-answer: each is one check's result."""
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/charset":
            return web.Response(body=b"ok", headers={"Content-Type": "text/plain; charset=no-such-charset"})
        if request.path == "/huge":
            return web.Response(body=b"x" * (8 * 1024 * 1024) + b"ok")
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"partial")
        request.transport.close()  # cut
        return response

    async def main() -> list[CheckResult]:
        runner, port = await _serve(handler)
        base = f"http://127.0.0.1:{port}"
        try:
            return [await _probe(_http(base + "/charset", keyword="ok")),
                    await _probe(_http(base + "/huge", keyword="ok")),
                    await _probe(_http(base + "/cut"))]
        finally:
            await runner.cleanup()

    charset, huge, cut = asyncio.run(main())
    assert charset.ok
    assert not huge.ok and "not in the response" in huge.error  # only the first 1 MiB is read
    assert not cut.ok and cut.error


def test_http_check_that_hangs_is_bounded_by_its_timeout() -> None:
    async def main() -> tuple[CheckResult, float]:
        release = asyncio.Event()

        async def handler(request: web.Request) -> web.Response:
            await release.wait()  # hangs until the test is over
            return web.Response(text="late")

        runner, port = await _serve(handler)
        try:
            t0 = time.monotonic()
            result = await _probe(_http(f"http://127.0.0.1:{port}/", timeout_s=0.5))
            return result, time.monotonic() - t0
        finally:
            release.set()
            await runner.cleanup()

    result, took = asyncio.run(main())
    assert not result.ok and result.error == "timed out after 0.5 s" and result.response_ms is None
    assert took < 30  # bounded, not an hour (a bound, not a speed assertion)


def test_refused_connection_http_and_tcp() -> None:
    port = free_port()  # nothing listens there
    http_result = asyncio.run(_probe(_http(f"http://127.0.0.1:{port}/")))
    assert not http_result.ok and http_result.error.startswith("cannot connect")
    tcp = SystemCheck(name="pacs", kind="tcp", target=f"127.0.0.1:{port}", timeout_s=5)
    tcp_result = asyncio.run(probe_tcp(tcp, CLOCK_START))
    assert not tcp_result.ok and "refused" in tcp_result.error


def test_tcp_check_up() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        tcp = SystemCheck(name="queue", kind="tcp", target=f"127.0.0.1:{server.getsockname()[1]}")
        result = asyncio.run(probe_tcp(tcp, CLOCK_START))
    assert result.ok and result.response_ms is not None and result.error == ""


def test_https_check_untrusted_certificate_fails_and_days_left_are_reported(tls_files: Any) -> None:
    """The private CA is not in the system's trust store: verified, the check fails; with tls_verify off it
    passes and reports the certificate's days left; cert_min_days above that fails it."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_files.server_crt, tls_files.server_key)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def main() -> list[CheckResult]:
        runner, port = await _serve(handler, ctx)
        url = f"https://localhost:{port}/"
        try:
            return [await _probe(_http(url)), await _probe(_http(url, tls_verify=False)),
                    await _probe(_http(url, tls_verify=False, cert_min_days=100_000))]
        finally:
            await runner.cleanup()

    verified, unverified, too_soon = asyncio.run(main())
    assert not verified.ok and verified.error.startswith("TLS certificate not accepted")
    assert unverified.ok and unverified.cert_days_left is not None and unverified.cert_days_left > 0
    assert not too_soon.ok and too_soon.error.startswith("TLS certificate expires in")


def test_config_refuses_bad_checks_and_reads_env() -> None:
    cfg = load_config(env={"FLOOROPS_SYSTEMS__CHECKS":
                           '[{"name": "his", "target": "http://127.0.0.1:1/his", "expect_status": [200]}]'})
    assert [(c.name, c.kind, c.expect_status) for c in cfg.systems.checks] == [("his", "http", [200])]
    for bad, what in (('[{"name": "h i s", "target": "http://x/"}]', "name"),
                      ('[{"name": "his", "target": "ftp://x/"}]', "target"),
                      ('[{"name": "his", "kind": "tcp", "target": "nohost"}]', "target"),
                      ('[{"name": "his", "target": "http://x/", "timeout_s": 0}]', "timeout_s"),
                      ('[{"name": "his", "target": "http://x/", "colour": "red"}]', "colour")):
        with pytest.raises(ConfigError, match=what):
            load_config(env={"FLOOROPS_SYSTEMS__CHECKS": bad})


# -- the rules ---------------------------------------------------------------------------------------

def _rules(**rule_settings: Any) -> RuleSet:
    return RuleSet(validate_rules({"rules": rule_settings}))


def _run(results: list[tuple[bool, float | None]], rules: RuleSet) -> list[list[tuple[str, bool]]]:
    """Feed outcomes through observe + evaluate, keeping the open set as the hub would."""
    open_: set[tuple[str, str]] = set()
    track = rule.Track()
    out = []
    for ok, ms in results:
        outcome = rule.Outcome(ok, ms, "" if ok else "refused")
        track = rule.observe(track, outcome, rule.threshold(rules)[0])
        sigs = rule.evaluate(RuleContext(rules=rules, now=0.0, open=open_,
                                         system_check=rule.Check("his", track, outcome)))
        for s in sigs:
            (open_.add if s.active else open_.discard)((s.source, s.type))
        out.append([(s.type, s.active) for s in sigs])
    return out


def test_slow_rule_hysteresis_and_consecutive() -> None:
    rules = _rules()
    # 12 s raises; 9 s (between clear and raise) keeps it; 11 s does not raise again; 8 s clears.
    assert _run([(True, 500), (True, 12000), (True, 9000), (True, 11000), (True, 8000), (True, 500)], rules) == [
        [], [("system_slow", True)], [], [], [("system_slow", False)], []]
    rules = _rules(system_slow={"consecutive": 3})
    assert _run([(True, 12000), (True, 12000), (True, 500), (True, 12000), (True, 12000), (True, 12000)], rules) == [
        [], [], [], [], [], [("system_slow", True)]]


def test_down_rule_counts_failures_in_a_row() -> None:
    rules = _rules(system_down={"failures": 3})
    assert _run([(False, None), (False, None), (True, 100), (False, None), (False, None), (False, None),
                 (False, None), (True, 100)], rules) == [
        [], [], [], [], [], [("system_down", True)], [], [("system_down", False)]]


def test_slow_override_per_system() -> None:
    assert rule.threshold(_rules(), 2000.0) == (2000.0, 1600.0)
    assert rule.threshold(_rules()) == (10000.0, 8000.0)


def test_validation_refuses_clear_above_threshold() -> None:
    with pytest.raises(Exception, match="hysteresis"):
        _rules(system_slow={"threshold_ms": 1000, "clear_below_ms": 2000})


def test_hub_raises_once_and_clears_and_a_locked_database_does_not_stop_checking(offline_cfg: Any) -> None:
    """Through the hub (real SQLite): a slow system raises one system_slow alarm with no device, stays raised
    while slow, and clears after; while another process holds the write lock the result is not stored,
    the watcher keeps its record, and the next check stores the alarm."""
    clock = ManualClock(CLOCK_START)
    hub = make_hub(offline_cfg, clock)
    check = SystemCheck(name="his", kind="http", target="http://127.0.0.1:1/his")
    written: list[str] = []

    async def write(lines: list[str]) -> None:
        written.extend(lines)

    watcher = SystemWatcher([check], hub.site.id, clock, lambda ms: rule.threshold(hub.rules, ms)[0],
                            hub.check_system, write)

    def result(ms: float) -> CheckResult:
        clock.advance(30)
        return CheckResult("his", "http", clock.now(), True, ms, 200)

    try:
        watcher.record(result(300))
        watcher.record(result(12_000))
        watcher.record(result(11_000))
        [alarm] = open_alarms(hub, "system_slow")
        assert (alarm["source"], alarm["device_id"], alarm["kind"]) == ("system:his", "", "hospital_system")
        watcher.record(result(7_000))
        assert open_alarms(hub, "system_slow") == []
        assert len([a for a in hub.alarms.list() if a["type"] == "system_slow"]) == 1

        other = sqlite3.connect(offline_cfg.path(offline_cfg.hub.db_path), timeout=0)
        other.execute("BEGIN IMMEDIATE")
        hub.db.fail_fast()
        watcher.record(result(12_000))  # locked: not stored, counted
        assert watcher.metrics["rule_failures"] == 1 and open_alarms(hub, "system_slow") == []
        other.rollback()
        other.close()
        watcher.record(result(12_500))  # still slow: the next check stores it
        assert [a["type"] for a in open_alarms(hub)] == ["system_slow"]
        assert watcher.metrics["checks"] == 6
        assert watcher.json(hub.alarms.open, hub.tz)[0]["state"] == "slow"
    finally:
        hub.db.close()


def test_influxdb_failing_or_hanging_does_not_stop_checks() -> None:
    """The watcher's real loop against a real server: InfluxDB refusing every write (and one write that
    hangs) costs points, counted, never a check."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def main() -> tuple[SystemWatcher, int]:
        runner, port = await _serve(handler)
        calls = {"n": 0}

        async def write(lines: list[str]) -> None:
            calls["n"] += 1
            if calls["n"] == 1:
                await asyncio.sleep(0.5)  # a slow InfluxDB
            raise RuntimeError("InfluxDB unreachable")

        check = _http(f"http://127.0.0.1:{port}/", interval_s=0.05, timeout_s=2.0)
        clock = ManualClock(CLOCK_START)
        applied: list[rule.Outcome] = []
        watcher = SystemWatcher([check], "demo", clock, lambda ms: 10_000.0,
                                lambda name, track, outcome, slow_ms: applied.append(outcome), write)
        task = asyncio.create_task(watcher.run())
        try:
            for _ in range(200):
                await asyncio.sleep(0.05)
                if watcher.metrics["checks"] >= 10 and watcher.metrics["influx_write_failures"] >= 2:
                    break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await runner.cleanup()
        return watcher, len(applied)

    watcher, applied = asyncio.run(main())
    assert watcher.metrics["checks"] >= 10 and applied == watcher.metrics["checks"]
    assert watcher.metrics["check_failures"] == 0
    assert watcher.metrics["influx_write_failures"] >= 2 and watcher.metrics["influx_dropped"] >= 2


def test_duplicate_names_are_refused() -> None:
    check = SystemCheck(name="his", target="http://127.0.0.1:1/")
    with pytest.raises(ConfigError, match="used twice"):
        SystemWatcher([check, check], "demo", ManualClock(CLOCK_START), lambda ms: 1.0,
                      lambda *a: None, _no_write)


async def _no_write(lines: list[str]) -> None:
    return None
