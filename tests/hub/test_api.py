"""The HTTP API and WebSocket: the whole route-by-role matrix (401/403), JSON errors, health, rules
editing with audit, event catch-up, and schemathesis against the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
from typing import Iterator

import pytest
import websockets
import websockets.exceptions

from floorops.config import Config
from hub.auth import PERMISSIONS, ROLES
from hub.clock import ManualClock
from hub.openapi import all_routes
from tests.hub.conftest import http
from tests.hub.helpers import Feeder
from tests.hub.live import PASSWORDS, LiveHub


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock) -> Iterator[LiveHub]:
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


def token(live: LiveHub, username: str) -> str:
    status, body = http(live.url + "/api/login", "POST", {"username": username, "password": PASSWORDS[username]})
    assert status == 200, body
    return body["token"]


def concrete(path: str) -> str:
    if path.startswith("/api/zones/"):
        return path.replace("{id}", "lab")
    return path.replace("{id}", "kiosk-01" if path.startswith("/api/devices/") else "1")


def test_route_by_role_matrix(live: LiveHub) -> None:
    tokens = {role: token(live, name) for name, role in
              (("admin", "admin"), ("monitor", "monitor"), ("fm-zhang", "floor_manager"), ("maintenance", "maintenance"),
                                          ("desk", "service_desk"), ("liaison-lab", "liaison"))}
    checked = 0
    for r in sorted(all_routes(), key=lambda r: r.path == "/api/logout"):  # logging out last
        url = live.url + concrete(r.path)
        if r.permission is None:
            assert http(url, r.method, {} if r.method in ("POST", "PUT") else None)[0] != 401, r.path
            continue
        status, body = http(url, r.method, {} if r.method in ("POST", "PUT") else None)
        assert status == 401 and "error" in body, (r.method, r.path, status)
        assert http(url, r.method, token="not-a-token")[0] == 401
        for role in ROLES:
            status, body = http(url, r.method, {} if r.method in ("POST", "PUT") else None, token=tokens[role])
            allowed = role in PERMISSIONS[r.permission]
            assert (status == 403) == (not allowed), (r.method, r.path, role, status, body)
            assert status != 401 and (status < 500 or status == 503), (r.method, r.path, role, status, body)
            if isinstance(body, dict) and status >= 400:
                assert set(body) == {"error"}, body
            checked += 1
    assert checked >= 4 * 25


def test_token_expires(live: LiveHub, clock: ManualClock) -> None:
    t = token(live, "monitor")
    assert http(live.url + "/api/me", token=t) == (200, {"username": "monitor", "role": "monitor", "person": ""})
    clock.advance(live.cfg.hub.token_ttl_s + 1)
    assert http(live.url + "/api/me", token=t)[0] == 401


def test_password_guessing_backs_off_per_address_and_username(live: LiveHub, clock: ManualClock) -> None:
    url = live.url + "/api/login"
    for _ in range(3):
        assert http(url, "POST", {"username": "admin", "password": "guess-guess"})[0] == 401
    status, body = http(url, "POST", {"username": "admin", "password": PASSWORDS["admin"]})
    assert status == 429 and "try again" in body["error"]
    assert http(url, "POST", {"username": "monitor", "password": PASSWORDS["monitor"]})[0] == 200  # others unaffected
    clock.advance(2)  # backoff, not a lock: 1 s after the 3rd failure, 2 s after the 4th ...
    assert http(url, "POST", {"username": "admin", "password": PASSWORDS["admin"]})[0] == 200


def test_session_cookie_authenticates(live: LiveHub) -> None:
    t = token(live, "monitor")
    status, body = http(live.url + "/api/zones", headers={"Cookie": f"floorops_session={t}"})
    assert status == 200 and len(body) == 14


def test_errors_are_json_without_stack_traces(live: LiveHub) -> None:
    t = token(live, "admin")
    status, body = http(live.url + "/api/nothing-here", token=t)
    assert status == 404 and set(body) == {"error"}
    status, body = http(live.url + "/api/alarms?state=bogus", token=t)
    assert status == 400 and "state" in body["error"]
    status, body = http(live.url + "/api/alarms/999/ack", "POST", token=t)
    assert status == 404 and set(body) == {"error"}
    import urllib.request
    req = urllib.request.Request(live.url + "/api/users", data=b"{broken", method="POST",
                                 headers={"Authorization": f"Bearer {t}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req)
    except urllib.error.HTTPError as exc:
        assert exc.code == 400 and json.loads(exc.read()) == {"error": "the request body must be a JSON object"}


def test_healthz_503_when_broker_link_is_down(live: LiveHub) -> None:
    status, body = http(live.url + "/healthz")
    assert status == 503 and body["components"]["mqtt"] == "down" and body["components"]["db"] == "up"


def test_rules_edit_is_validated_applied_and_audited(live: LiveHub) -> None:
    admin, mon = token(live, "admin"), token(live, "monitor")
    status, rules = http(live.url + "/api/rules", token=mon)
    assert status == 200 and rules["rules"]["slow_response"]["threshold_ms"] == 10000
    assert http(live.url + "/api/rules", "PUT", rules, token=mon)[0] == 403
    bad = json.loads(json.dumps(rules))
    bad["rules"]["slow_response"]["threshold_ms"] = "fast"
    status, body = http(live.url + "/api/rules", "PUT", bad, token=admin)
    assert status == 400 and "threshold_ms" in body["error"]
    status, body = http(live.url + "/api/rules", "PUT", {"rules": {"nope": {}}}, token=admin)
    assert status == 400 and "nope" in body["error"]
    status, body = http(live.url + "/api/rules", "PUT", {"rules": {"slow_response": {"threshold_ms": 3000}}}, token=admin)
    assert status == 200 and body["rules"]["slow_response"]["threshold_ms"] == 3000
    from tests.hub.helpers import kiosk_ok
    live.call(Feeder(live.ctx.hub).record, "kiosk-01", "telemetry", kiosk_ok(resp_ms=4000))
    status, alarms = http(live.url + "/api/alarms?state=active", token=mon)
    assert [a["type"] for a in alarms] == ["slow_response"]
    status, audit = http(live.url + "/api/audit", token=admin)
    assert any(a["action"] == "rules.update" and a["actor"] == "admin" for a in audit)
    assert http(live.url + "/api/audit", token=mon)[0] == 403


def test_actions_are_audited_and_dispatch_belongs_to_its_assignee(live: LiveHub, clock: ManualClock) -> None:
    hub = live.ctx.hub
    f = Feeder(hub)
    live.call(f.occupancy, "reg_hall", 250)
    clock.advance(121)
    live.call(hub.tick)
    zhang, li, mon = token(live, "fm-zhang"), token(live, "fm-li"), token(live, "monitor")
    status, mine = http(live.url + "/api/dispatches", token=zhang)
    assert status == 200 and [d["assignee"] for d in mine] == ["fm-zhang"]
    assert http(live.url + "/api/dispatches", token=li)[1] == []
    d_id = mine[0]["id"]
    assert http(live.url + f"/api/dispatches/{d_id}/accept", "POST", token=li)[0] == 403
    assert http(live.url + f"/api/dispatches/{d_id}/accept", "POST", token=mon)[0] == 403
    status, body = http(live.url + f"/api/dispatches/{d_id}/accept", "POST", token=zhang)
    assert status == 200 and body["state"] == "accepted"
    assert http(live.url + f"/api/dispatches/{d_id}/accept", "POST", token=zhang)[0] == 409
    status, audit = http(live.url + "/api/audit", token=token(live, "admin"))
    assert any(a["action"] == "dispatch.accept" and a["actor"] == "fm-zhang" and a["target"] == f"dispatch:{d_id}"
               for a in audit)


def test_websocket_auth_catch_up_and_floor_manager_filter(live: LiveHub) -> None:
    hub = live.ctx.hub
    mon, li = token(live, "monitor"), token(live, "fm-li")
    ws_url = live.url.replace("http://", "ws://") + "/ws"

    async def scenario() -> None:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(ws_url):
                pass
        assert refused.value.response.status_code == 401
        async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {mon}"}) as ws, \
                websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {li}"}) as ws_li:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: live.call(Feeder(hub).record, "kiosk-01", "event", {"event": "card_jam"}))
            seen = []
            while not any(m["type"] == "alarm.raised" for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            ids = [m["id"] for m in seen]
            assert ids == sorted(ids) and all(set(m) == {"id", "type", "ts", "data"} for m in seen)
            raised = next(m for m in seen if m["type"] == "alarm.raised")
            assert raised["ts"].endswith("+08:00")
            msg = json.loads(await asyncio.wait_for(ws_li.recv(), 5))  # floor managers see alarms too
            assert msg["id"] >= ids[0]
        # Reconnect with ?since=: what was missed is replayed in order.
        first = ids[0]
        async with websockets.connect(ws_url + f"?since={first - 1}",
                                      additional_headers={"Authorization": f"Bearer {mon}"}) as ws:
            replay = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in ids]
            assert [m["id"] for m in replay] == ids

    asyncio.run(scenario())
    status, events = http(live.url + "/api/events?since=0", token=mon)
    assert status == 200 and any(e["type"] == "alarm.raised" for e in events)


def test_forecast_is_503_with_a_clear_error_without_a_model(live: LiveHub) -> None:
    """While the hub's first import of scikit-learn runs (seconds, when this is the process's first), a
    request is told "busy, try again" after 2 s, as documented; the client asks again, as the console does."""
    import time
    deadline = time.monotonic() + 60
    while True:
        status, body = http(live.url + "/api/forecast?zone=lab&hours=2", token=token(live, "monitor"))
        if "busy" not in body.get("error", "") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 503 and ("model" in body["error"] or "models" in body["error"]), body


@pytest.mark.parametrize("query", ["zone=", "zone=nowhere", "queue=nowhere"])
def test_forecast_of_no_zone_of_the_site_is_400(live: LiveHub, query: str) -> None:
    """An empty zone is no zone of the site either (the OpenAPI enum): not the site-wide forecast."""
    status, body = http(live.url + f"/api/forecast?{query}&hours=2", token=token(live, "monitor"))
    assert status == 400 and "no such" in body["error"]


def test_console_is_served_at_root(live: LiveHub) -> None:
    import urllib.request
    from hub.app import STATIC_DIR
    if not (STATIC_DIR / "index.html").exists():
        pytest.skip("console/static not present")
    with urllib.request.urlopen(live.url + "/") as r:
        assert r.status == 200 and r.headers.get_content_type() == "text/html"
        assert r.read() == (STATIC_DIR / "index.html").read_bytes()
    status, body = http(live.url + "/../../etc/passwd")
    assert status == 404


def test_metrics_count_rejected_input(live: LiveHub) -> None:
    import urllib.request

    from prometheus_client import CONTENT_TYPE_LATEST
    from prometheus_client.parser import text_string_to_metric_families

    hub = live.ctx.hub
    f = Feeder(hub)
    live.call(hub.apply_messages, [("floorops/demo/edge/kiosk/kiosk-01/event", b"{broken")])
    live.call(f.record, "kiosk-01", "event", {"event": "card_jam"}, 7)  # an alarm and its ticket
    live.call(f.record, "kiosk-01", "event", {"event": "card_jam"}, 7)  # the same seq again: a duplicate
    assert http(live.url + "/api/login", "POST", {"username": "monitor", "password": "wrong"})[0] == 401
    with urllib.request.urlopen(live.url + "/metrics") as r:
        assert r.headers["Content-Type"] == CONTENT_TYPE_LATEST
        families = list(text_string_to_metric_families(r.read().decode()))
    types = {fam.name: fam.type for fam in families}
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in families for s in fam.samples}
    assert types == {"floorops_hub_messages": "counter", "floorops_hub_duplicates": "counter",
                     "floorops_hub_rejected": "counter", "floorops_hub_alarms_active": "gauge",
                     "floorops_hub_ws_clients": "gauge", "floorops_hub_events": "counter",
                     "floorops_hub_login_failed": "counter", "floorops_hub_tickets": "gauge",
                     "floorops_hub_ticks": "counter", "floorops_hub_dead_letters": "counter",
                     "floorops_hub_queue_tickets_unmatched": "counter", "floorops_hub_ingest_retries": "counter", "floorops_hub_ingest_stalled_seconds": "gauge",
                     "floorops_hub_ingest_preemptions": "counter", "floorops_hub_http_db_busy": "counter",
                     "floorops_hub_closure_notices": "gauge", "floorops_hub_wheelchair_history": "counter"}
    assert got[("floorops_hub_rejected_total", (("reason", "bad_record"),))] == 1
    assert got[("floorops_hub_messages_total", ())] == 3
    assert got[("floorops_hub_duplicates_total", ())] == 1
    assert got[("floorops_hub_login_failed_total", ())] == 1
    assert got[("floorops_hub_alarms_active", ())] == 1
    assert got[("floorops_hub_tickets", (("state", "open"),))] == 1
    assert got[("floorops_hub_ws_clients", ())] == 0


def test_metrics_show_webhook_deliveries_and_tickets_by_label() -> None:
    from collections import Counter
    from types import SimpleNamespace

    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from hub.api.system import metrics_registry

    hub = SimpleNamespace(metrics=Counter(messages=5, rejected_bad_topic=2), alarms=SimpleNamespace(open={}),
                          bus=SimpleNamespace(subscribers=[], delivered=9),
                          db=SimpleNamespace(all=lambda sql: [("open", 2), ("resolved", 1)]),
                          requests=SimpleNamespace(notice_counts=lambda: {"sent": 3, "failed": 1}))
    c = SimpleNamespace(hub=hub, webhooks=SimpleNamespace(stats=Counter(delivered=4, failed=1)), extra={})
    registry = metrics_registry(c)  # type: ignore[arg-type]  # - a stand-in with the attributes it reads
    assert metrics_registry(c) is registry  # one per app, kept in its context
    hub.metrics["messages"] += 1  # read live at each scrape
    got = {(s.name, tuple(s.labels.items())): s.value
           for fam in text_string_to_metric_families(generate_latest(registry).decode()) for s in fam.samples}
    assert got[("floorops_hub_messages_total", ())] == 6 and got[("floorops_hub_events_total", ())] == 9
    assert got[("floorops_hub_rejected_total", (("reason", "bad_topic"),))] == 2
    assert got[("floorops_hub_webhooks_total", (("result", "delivered"),))] == 4
    assert got[("floorops_hub_webhooks_total", (("result", "retries"),))] == 0
    assert got[("floorops_hub_webhooks_total", (("result", "failed"),))] == 1
    assert got[("floorops_hub_tickets", (("state", "open"),))] == 2
    assert got[("floorops_hub_tickets", (("state", "resolved"),))] == 1
    assert got[("floorops_hub_closure_notices", (("state", "failed"),))] == 1


def test_openapi_document_lists_every_route(live: LiveHub) -> None:
    status, doc = http(live.url + "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for r in all_routes():
        assert r.method.lower() in doc["paths"][r.path]
    for path in ("/api/login", "/api/alarms/{id}/ack", "/api/tickets/{id}/resolve", "/api/dispatches/{id}/decline",
                 "/api/forecast", "/api/staffing", "/healthz", "/metrics", "/api/kpis", "/api/site", "/api/me"):
        assert path in doc["paths"], path


def test_adding_a_user_hashes_the_password_off_the_event_loop(live: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 on the loop stalls every request while an admin adds a user; the hub keeps answering instead."""
    import threading

    import hub.auth

    hashing, release, hashed = threading.Event(), threading.Event(), threading.Event()
    real_hash = hub.auth.hash_password

    def held_hash(password: str) -> str:
        hashing.set()
        release.wait(10)  # held until /healthz has answered (or 10 s: the loop was blocked)
        hashed.set()
        return real_hash(password)

    monkeypatch.setattr(hub.auth, "hash_password", held_hash)
    admin = token(live, "admin")
    result: dict = {}

    def add() -> None:
        result["add"] = http(live.url + "/api/users", "POST",
                             {"username": "desk-wang", "role": "monitor", "password": "desk-pass-1"}, token=admin)

    adder = threading.Thread(target=add)
    adder.start()
    assert hashing.wait(10), "the password was never hashed"
    status, _ = http(live.url + "/healthz")
    answered_while_hashing = not hashed.is_set()
    release.set()
    adder.join(15)
    assert answered_while_hashing and status in (200, 503)
    assert result["add"][0] == 201, result
    status, body = http(live.url + "/api/login", "POST", {"username": "desk-wang", "password": "desk-pass-1"})
    assert status == 200, body


def test_the_hub_reports_its_clock_and_a_demo_clock_plainly(offline_cfg: Config) -> None:
    """GET /api/clock (no login) and /api/site's "clock": the site's time by the centre's clock; on a demo clock
    started at 07:30 at x10, one real minute later it reads 07:40."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from floorops.clock import clock_of
    from floorops.config import ClockConfig

    tz = ZoneInfo("Asia/Shanghai")
    night = dt.datetime(2026, 12, 6, 5, 53, tzinfo=tz).timestamp()
    wall = [night + 60.0]
    demo = clock_of(ClockConfig(start="07:30", speed=10, anchor=night), tz, lambda: wall[0])
    h = LiveHub(offline_cfg, demo).start()
    try:
        status, body = http(h.url + "/api/clock")
        assert status == 200
        assert body["demo"] is True and body["speed"] == 10
        assert body["start"] == "2026-12-06T07:30:00+08:00"
        assert body["now"].startswith("2026-12-06T07:40:00")
        status, site = http(h.url + "/api/site", token=h.login())
        assert status == 200 and site["clock"]["demo"] is True and site["clock"]["now"].startswith("2026-12-06T07:40")
    finally:
        h.stop()


def test_a_real_clock_is_reported_as_not_demo(live: LiveHub, clock: ManualClock) -> None:
    status, body = http(live.url + "/api/clock")
    assert status == 200 and body["demo"] is False and body["start"] is None
    assert body["now_ms"] == int(clock.now() * 1000)
