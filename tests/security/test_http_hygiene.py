"""HTTP hygiene against a real ``python -m hub``: security headers, JSON-only cookie writes, bad numbers
and deep JSON are 400s, the session cookie's Secure flag (issue #12 item 5)."""

from __future__ import annotations

import urllib.request

from tests.hub.conftest import HubProcess, http
from tests.security.hub_under_test import PASSWORDS, real_hub  # noqa: F401 - pytest fixtures, taken by name


def _raw(url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_security_headers_on_every_response(real_hub: HubProcess) -> None:
    for path in ("/", "/js/main.js", "/api/me", "/healthz", "/api/nothing"):
        status, headers, _ = _raw(real_hub.url + path)
        csp = headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp, path
        assert headers.get("X-Frame-Options") == "DENY" and headers.get("X-Content-Type-Options") == "nosniff"
        assert headers.get("Referrer-Policy") == "no-referrer", path


def test_cookie_writes_must_be_json(real_hub: HubProcess) -> None:
    token = http(real_hub.url + "/api/login", "POST", {"username": "admin", "password": PASSWORDS["admin"]})[1]["token"]
    cookie = {"Cookie": f"floorops_session={token}"}
    # What a cross-site HTML form can send: text/plain or urlencoded bodies, or nothing at all.
    status, _, body = _raw(real_hub.url + "/api/alarms/1/ack", "POST", None, cookie)
    assert status == 415, body
    status, _, body = _raw(real_hub.url + "/api/users", "POST", b'{"username":"x"}',
                           {**cookie, "Content-Type": "text/plain"})
    assert status == 415, body
    status, _, _ = _raw(real_hub.url + "/api/alarms/1/ack", "POST", None, {**cookie, "Content-Type": "application/json"})
    assert status == 404  # JSON-typed: reaches the route (no such alarm)


def test_bad_numbers_and_deep_json_are_400s(real_hub: HubProcess) -> None:
    token = http(real_hub.url + "/api/login", "POST", {"username": "admin", "password": PASSWORDS["admin"]})[1]["token"]
    for path in ("/api/zones/lab/history?since=nan", "/api/zones/lab/history?since=inf",
                 "/api/zones/lab/history?since=-inf", "/api/zones/lab/history?limit=99999999999999999999999",
                 "/api/events?since=99999999999999999999999", "/api/events?since=%C2%B2",
                 "/api/forecast?hours=%C2%B2"):
        status, body = http(real_hub.url + path, token=token)
        assert status == 400 and "error" in body, (path, status, body)
    deep = b"[" * 200_000 + b"]" * 200_000
    status, _, body = _raw(real_hub.url + "/api/login", "POST", deep, {"Content-Type": "application/json"})
    assert status == 400 and b"deep" in body, body
    status, _, body = _raw(real_hub.url + "/api/login", "POST", b'{"username": NaN, "password": "x"}',
                           {"Content-Type": "application/json"})
    assert status == 400, body
    assert real_hub.proc is not None
    log = real_hub.proc.log_path.read_text()
    assert "Traceback" not in log and "RecursionError" not in log


def test_session_cookie_is_secure_behind_a_tls_proxy(real_hub: HubProcess) -> None:
    body = b'{"username": "monitor", "password": "%s"}' % PASSWORDS["monitor"].encode()
    status, headers, _ = _raw(real_hub.url + "/api/login", "POST", body,
                              {"Content-Type": "application/json", "X-Forwarded-Proto": "https"})
    assert status == 200 and "Secure" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    status, headers, _ = _raw(real_hub.url + "/api/login", "POST", body, {"Content-Type": "application/json"})
    assert status == 200 and "Secure" not in headers["Set-Cookie"]  # plain HTTP on loopback: a Secure cookie would be lost
