"""Watching the hospital's systems (HIS, PACS, the queue system, the app back end): HTTP and TCP checks of
the endpoints in ``[[systems.checks]]`` (floorops.config.SystemCheck), each at its own interval.

What a check offers follows blackbox_exporter's http/tcp probes and Uptime Kuma's monitors: the expected
status codes (default 200-399), a keyword the body must contain, a timeout, an interval, failures in a row
before "down" (the system_down rule's ``failures``) and the days left on an https certificate.

Why it cannot hurt the hub: every check is an aiohttp request on the event loop, bounded by its own timeout
(a system that hangs costs that system's task its timeout, nothing else); each system has its own task, so
one slow system never delays another's check. Results reach InfluxDB through a bounded queue and one
writer task (InfluxDB slow or down: points are counted as dropped, never waited for), and the rules
(hub.rules.systems) through ``Hub.check_system``, whose transaction may fail while the database is locked:
the failure is counted and the next check gives the same signal again (the rules compare with the alarms
open), so checking never stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509

from floorops.config import ConfigError, SystemCheck
from floorops.measurements import system_check_line
from hub.clock import Clock, iso
from hub.rules import systems as rule

log = logging.getLogger("hub.systems")

MAX_BODY = 1024 * 1024  # bytes of a body read for the keyword
HISTORY = 60  # results kept per system for GET /api/systems
WRITE_QUEUE_MAX = 10_000  # points waiting for InfluxDB; beyond, new ones are dropped (counted)
WRITE_BATCH = 500


@dataclass(frozen=True)
class CheckResult:
    check: str
    kind: str
    at: float  # epoch seconds (the hub's clock), when the check started
    ok: bool
    response_ms: float | None  # None when nothing answered (refused, timed out)
    status_code: int | None = None
    error: str = ""
    cert_days_left: float | None = None

    @property
    def outcome(self) -> rule.Outcome:
        return rule.Outcome(self.ok, self.response_ms, self.error, self.status_code)


def _status_expected(check: SystemCheck, status: int) -> bool:
    return status in check.expect_status if check.expect_status else 200 <= status < 400


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks)[:MAX_BODY]


async def _cert_days_left(url: str, verify: bool, now: float) -> float | None:
    """Days until the server certificate of an https URL expires, from its own TLS handshake (aiohttp has
    released the request's connection by the time its body is read)."""
    parsed = urlsplit(url)
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 443, ssl=context,
                                              server_hostname=parsed.hostname)
    try:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
    finally:
        writer.close()
    if not der:
        return None
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return round((not_after.timestamp() - now) / 86400, 2)


def _text(body: bytes, charset: str) -> str:
    """The body as text in its declared charset; an unknown charset (a hostile or broken server) as UTF-8."""
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _describe(exc: BaseException, check: SystemCheck) -> str:
    """A failure in words an operator understands (the console and the alarm show it)."""
    if isinstance(exc, TimeoutError):
        return f"timed out after {check.timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate not accepted: {exc.certificate_error}"[:300]
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error: {exc}"[:300]
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"[:300]
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"[:300]
    if isinstance(exc, ConnectionRefusedError):
        return "cannot connect: connection refused"
    return f"{type(exc).__name__}: {exc}"[:300]


async def probe_http(check: SystemCheck, session: aiohttp.ClientSession, now: float) -> CheckResult:
    """GET the URL: up when the status is expected, the keyword is in the body and the certificate has at
    least ``cert_min_days`` left. The response time runs until the body (up to 1 MiB) has arrived."""
    t0 = time.monotonic()
    status: int | None = None
    elapsed: float | None = None
    cert_days: float | None = None
    cert_error = ""
    charset = "utf-8"
    try:
        async with asyncio.timeout(check.timeout_s):
            async with session.get(check.target, ssl=check.tls_verify,
                                   allow_redirects=True) as response:
                status = response.status
                body = await _read_limited(response)
                elapsed = (time.monotonic() - t0) * 1000
                charset = response.charset or "utf-8"
            if check.target.startswith("https://"):
                try:
                    cert_days = await _cert_days_left(check.target, check.tls_verify, now)
                except (OSError, ValueError) as exc:  # the answer came: only the expiry is unknown
                    cert_error = _describe(exc, check)
    except Exception as exc:  # noqa: BLE001 - any failure of the system under check is its result
        return CheckResult(check.name, check.kind, now, False, elapsed, status, _describe(exc, check), cert_days)
    error = ""
    if status is None or not _status_expected(check, status):
        error = f"unexpected status {status}"
    elif check.keyword and check.keyword not in _text(body, charset):
        error = f"keyword {check.keyword!r} not in the response"
    elif check.cert_min_days and cert_days is None:
        error = f"TLS certificate expiry not read: {cert_error or 'no certificate'}"
    elif check.cert_min_days and cert_days is not None and cert_days < check.cert_min_days:
        error = f"TLS certificate expires in {cert_days:g} days"
    return CheckResult(check.name, check.kind, now, not error, round(elapsed, 1), status, error, cert_days)


async def probe_tcp(check: SystemCheck, now: float) -> CheckResult:
    """Open a TCP connection to host:port and close it: up when it is accepted within the timeout."""
    host, _, port = check.target.rpartition(":")
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(check.timeout_s):
            _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        elapsed = (time.monotonic() - t0) * 1000
    except Exception as exc:  # noqa: BLE001 - any failure of the system under check is its result
        return CheckResult(check.name, check.kind, now, False, None, None, _describe(exc, check))
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1):
            await writer.wait_closed()
    return CheckResult(check.name, check.kind, now, True, round(elapsed, 1))


class SystemWatcher:
    """Runs the checks, keeps each system's recent results, and hands each result to the rules and InfluxDB.

    ``threshold_ms(slow_ms)``: the system_slow threshold in force (the rules may be edited while running);
    ``apply(name, track, outcome, slow_ms)``: the hub's ``check_system`` (may raise: the database is locked);
    ``write(lines)``: the hub's InfluxDB client (may raise: InfluxDB is down)."""

    def __init__(self, checks: list[SystemCheck], site_id: str, clock: Clock,
                 threshold_ms: Callable[[float], float],
                 apply: Callable[[str, rule.Track, rule.Outcome, float], None],
                 write: Callable[[list[str]], Awaitable[None]]) -> None:
        names = [c.name for c in checks]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"systems.checks: the name {', '.join(dupes)} is used twice")
        self.checks = {c.name: c for c in checks}
        self.site_id, self.clock, self._threshold_ms = site_id, clock, threshold_ms
        self._apply, self._write = apply, write
        self.tracks = {c.name: rule.Track() for c in checks}
        self.history: dict[str, deque[CheckResult]] = {c.name: deque(maxlen=HISTORY) for c in checks}
        self.last_error: dict[str, CheckResult] = {}
        self.metrics: Counter[str] = Counter()
        self._queue: asyncio.Queue[str] = asyncio.Queue(WRITE_QUEUE_MAX)
        for c in checks:
            if c.timeout_s * 1000 <= threshold_ms(c.slow_ms):
                log.warning("a system's timeout is not above its system_slow threshold: when slow it will be "
                            "reported down, not slow", extra={"system": c.name, "timeout_s": c.timeout_s,
                                                              "threshold_ms": threshold_ms(c.slow_ms)})

    async def check_once(self, check: SystemCheck, session: aiohttp.ClientSession) -> CheckResult:
        now = self.clock.now()
        if check.kind == "tcp":
            result = await probe_tcp(check, now)
        else:
            result = await probe_http(check, session, now)
        self.record(result)
        return result

    def record(self, result: CheckResult) -> None:
        """Keep the result, tell the rules, queue its point."""
        name = result.check
        self.metrics["checks"] += 1
        if not result.ok:
            self.metrics["check_failures"] += 1
            self.last_error[name] = result
        self.history[name].append(result)
        check = self.checks[name]
        track = self.tracks[name] = rule.observe(self.tracks[name], result.outcome, self._threshold_ms(check.slow_ms))
        try:
            self._apply(name, track, result.outcome, check.slow_ms)
        except Exception as exc:  # noqa: BLE001 - the next check gives the same signal again
            self.metrics["rule_failures"] += 1
            log.warning("system check result not applied to the alarms; the next check retries",
                        extra={"system": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
        point = system_check_line(self.site_id, name, result.kind, result.ok, result.response_ms,
                                  result.status_code, result.error, int(result.at * 1e9))
        try:
            self._queue.put_nowait(point)
        except asyncio.QueueFull:
            self.metrics["influx_dropped"] += 1

    async def _check_loop(self, check: SystemCheck, session: aiohttp.ClientSession) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.check_once(check, session)
            except Exception:  # noqa: BLE001 - a bug in one check must not stop the others
                self.metrics["check_errors"] += 1
                log.exception("system check failed", extra={"system": check.name})
            await asyncio.sleep(max(0.0, check.interval_s - (time.monotonic() - started)))

    async def _writer(self) -> None:
        while True:
            lines = [await self._queue.get()]
            while len(lines) < WRITE_BATCH and not self._queue.empty():
                lines.append(self._queue.get_nowait())
            try:
                await self._write(lines)
                self.metrics["influx_points"] += len(lines)
            except Exception as exc:  # noqa: BLE001 - counted; the checks go on
                self.metrics["influx_write_failures"] += 1
                self.metrics["influx_dropped"] += len(lines)
                log.warning("system check points not written to InfluxDB",
                            extra={"points": len(lines), "error": f"{type(exc).__name__}: {exc}"[:300]})

    async def run(self) -> None:
        """Every check in its own task, and the InfluxDB writer, until cancelled."""
        connector = aiohttp.TCPConnector(force_close=True, limit=0)  # a fresh connection each time, as a user's
        async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": "FloorOps-hub-check"}) as session:
            tasks = [asyncio.create_task(self._check_loop(c, session), name=f"system-check-{c.name}")
                     for c in self.checks.values()]
            tasks.append(asyncio.create_task(self._writer(), name="system-check-writer"))
            try:
                await asyncio.gather(*tasks)
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t

    def json(self, open_: Any, tz: Any) -> list[dict[str, Any]]:
        """Each system: its last result, state, last error and recent response times (GET /api/systems)."""
        out = []
        for name, check in self.checks.items():
            hist = self.history[name]
            last = hist[-1] if hist else None
            err = self.last_error.get(name)
            out.append({
                "name": name, "kind": check.kind, "target": check.target, "interval_s": check.interval_s,
                "state": rule.state(name, last.outcome if last else None, open_),
                "last": _result_json(last, tz) if last else None,
                "last_error": {"at": iso(err.at, tz), "error": err.error} if err else None,
                "alarms": sorted(t for (s, t) in open_ if s == rule.source(name)),
                "recent": [{"at": iso(r.at, tz), "ok": r.ok, "response_ms": r.response_ms} for r in hist],
            })
        return out


def _result_json(r: CheckResult, tz: Any) -> dict[str, Any]:
    return {"at": iso(r.at, tz), "ok": r.ok, "response_ms": r.response_ms, "status_code": r.status_code,
            "error": r.error, "cert_days_left": r.cert_days_left}

