"""Requests in the escalation chains and the notify outbox (issue #15 items 1 and 3, issue #16 item 2), over
HTTP against an in-process hub with a ManualClock and real local receivers: a desk emergency pages the
chain until someone accepts it, a page acknowledged, a repeat complaint paged to the named manager, a
complaint's closure notice through a real HTTP SMS gateway that is down and then up, and a wheelchair
request routed to the nearest station with a charged chair."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from aiohttp import web

from centre.services import free_port
from floorops.config import Config
from hub.clock import ManualClock
from tests.hub.conftest import http
from tests.hub.live import LiveHub
from tests.hub.notify_receivers import wecom_errors
from tests.hub.test_requests import at_local, mine, token
from tests.hub.test_service_levels_wheelchairs import slots
from tests.hub.helpers import Feeder
from tests.hub.webhook_receiver import Receiver, Request

PHONE = "+8613900139000"

# Zhang Wei's channels in the demo roster (hub/roster-demo.toml), each paged in that order; Li's is wecom.
ZHANG = ("wecom", "sms")

async def wecom_robot(receiver: Receiver, req: Request) -> web.StreamResponse:
    """Answers as WeCom does: errcode 0 for a well-formed message, 40008 otherwise."""
    try:
        body: Any = req.json
    except ValueError:
        body = None
    errors = wecom_errors(req.path, {"key": "k"}, body)
    return web.json_response({"errcode": 40008 if errors else 0, "errmsg": "; ".join(errors) or "ok"})


async def sms_refuses(receiver: Receiver, req: Request) -> web.StreamResponse:
    return web.json_response({"error": "unknown number"}, status=400)


def notify_file(wecom_url: str, sms_url: str) -> str:
    return f"""
reminder_every_s = 0
default_channels = ["wecom"]
link = "http://console.example/"

[[chains]]
name = "emergencies"
subject = "request"
types = ["emergency"]
steps = [{{ to = ["role:floor_manager"], timeout_s = 60 }}, {{ to = ["person:p-li"], timeout_s = 0 }}]

[[chains]]
name = "repeat-complaints"
subject = "request"
types = ["repeat_complaint"]
steps = [{{ to = ["named"], timeout_s = 0 }}]

[[chains]]
name = "requests"
subject = "request"
steps = [{{ to = ["role:floor_manager"], timeout_s = 0 }}]

[channels.wecom]
url = "{wecom_url}"
msgtype = "text"

[channels.sms]
url = "{sms_url}"
body = '{{"to": "$phone", "text": "$text"}}'

[outbox]
retries = 200
backoff_s = 0.05
backoff_max_s = 0.5
timeout_s = 3
"""


@pytest.fixture
def wecom() -> Iterator[Receiver]:
    r = Receiver(wecom_robot).start()
    yield r
    r.stop()


@pytest.fixture
def sms_port() -> int:
    return free_port()


@pytest.fixture
def live(offline_cfg: Config, clock: ManualClock, tmp_path: Path, wecom: Receiver, sms_port: int) -> Iterator[LiveHub]:
    (tmp_path / "notify.toml").write_text(
        notify_file(wecom.url("/cgi-bin/webhook/send?key=k"), f"http://127.0.0.1:{sms_port}/sms"), encoding="utf-8")
    offline_cfg.hub.notify_file = str(tmp_path / "notify.toml")
    at_local(clock, 10)
    h = LiveHub(offline_cfg, clock).start()
    yield h
    h.stop()


def outbox(live: LiveHub, request_id: int) -> list[str]:
    """The keys of the pages about a request, oldest first."""
    return [r["key"] for r in live.call(live.ctx.hub.db.all, "SELECT key FROM notify_outbox WHERE "
                                        "subject_kind='request' AND subject_id=? ORDER BY id", (str(request_id),))]


def tick(live: LiveHub, clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    live.call(live.ctx.hub.tick)


def wecom_texts(wecom: Receiver, needle: str) -> list[str]:
    return [r.json["text"]["content"] for r in wecom.got() if needle in r.json["text"]["content"]]


def until(check: Callable[[], Any], clock: ManualClock | None = None, timeout_s: float = 30.0) -> Any:
    """Wait for ``check``; with a clock, move it a second a turn (the outbox's backoff runs on it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        if clock is not None:
            clock.advance(1)
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_desk_emergency_pages_the_chain_until_someone_accepts(live: LiveHub, clock: ManualClock,
                                                              wecom: Receiver) -> None:
    desk = token(live, "desk")
    status, req = http(live.url + "/api/requests", "POST",
                       {"kind": "emergency", "zone": "reg_hall", "detail": "fainted at window 3"}, token=desk)
    assert status == 201
    rid = req["id"]
    # Step 1: the floor manager on shift who covers reg_hall, on the WeCom group (a real receiver).
    assert outbox(live, rid) == [f"request:{rid}:s0:r0:p-zhang:{c}" for c in ZHANG]
    [text] = until(lambda: wecom_texts(wecom, f"request #{rid}: emergency"))
    assert "fainted at window 3" in text and "CRITICAL" in text
    # Unanswered for the step's minute: the next person, by name.
    tick(live, clock, 61)
    assert outbox(live, rid)[-1] == f"request:{rid}:s1:r0:p-li:wecom"
    until(lambda: len(wecom_texts(wecom, f"request #{rid}: emergency")) == 2)
    # The emergency's own offer timeout (45 s) has meanwhile passed its offer on from Zhang: whoever holds it
    # now takes it, and the chain stops and pages nobody else.
    [offer] = [d for d in live.call(live.ctx.hub.dispatch.list, "offered") if d["service_request"] == rid]
    assert offer["assignee"] != "fm-zhang"
    hub = live.ctx.hub

    def accept() -> None:  # as their phone does; the test hub has no login for every person on the roster
        with hub.unit_of_work():
            hub.dispatch.accept(offer["id"], offer["assignee"], "floor_manager")
    live.call(accept)
    assert live.call(live.ctx.hub.escalation.status, "request", str(rid))["stopped_by"] == offer["assignee"]
    tick(live, clock, 3600)
    assert len(outbox(live, rid)) == len(ZHANG) + 1


def test_acknowledging_a_request_page(live: LiveHub, clock: ManualClock) -> None:
    desk, zhang, li, mon = (token(live, n) for n in ("desk", "fm-zhang", "fm-li", "monitor"))
    _, req = http(live.url + "/api/requests", "POST", {"kind": "assist", "zone": "reg_hall"}, token=desk)
    rid = req["id"]
    assert outbox(live, rid) == [f"request:{rid}:s0:r0:p-zhang:{c}" for c in ZHANG]
    assert http(live.url + f"/api/requests/{rid}/ack", "POST", {}, token=mon)[0] == 403
    assert http(live.url + "/api/requests/9999/ack", "POST", {}, token=li)[0] == 404
    # Li is not the one offered it: acknowledging stops the chain and leaves the offer with Zhang.
    status, body = http(live.url + f"/api/requests/{rid}/ack", "POST", {"comment": "on my way over"}, token=li)
    assert status == 200 and body["acked_by"] == "fm-li" and body["ack_comment"] == "on my way over"
    assert body["state"] == "dispatched" and mine(live, zhang)[0]["service_request"] == rid
    assert live.call(live.ctx.hub.escalation.status, "request", str(rid))["state"] == "stopped"
    # Zhang acknowledging a page about their own offer accepts it (the first acknowledgement stays recorded).
    [offer] = mine(live, zhang)
    status, body = http(live.url + f"/api/requests/{rid}/ack", "POST", {}, token=zhang)
    assert status == 200 and body["acked_by"] == "fm-li"
    status, d = http(live.url + "/api/dispatches?state=accepted", token=zhang)
    assert [x["id"] for x in d] == [offer["id"]]
    assert mine(live, zhang) == []
    status, audit = http(live.url + "/api/audit", token=token(live, "admin"))
    assert sum(a["action"] == "request.ack" for a in audit) == 2


def test_repeat_complaint_is_paged_to_the_named_manager(live: LiveHub, clock: ManualClock, wecom: Receiver) -> None:
    desk, admin = token(live, "desk"), token(live, "admin")
    url = live.url + "/api/requests/settings"
    status, body = http(url, "PUT", {"escalate_to": "Deputy director"}, token=admin)
    assert status == 409 and "roster" in body["error"]  # a person of the roster, not a title
    status, s = http(url, "PUT", {"escalate_to": "p-li"}, token=admin)
    assert status == 200 and s["escalate_to"] == "p-li"
    complaint = {"kind": "complaint", "zone": "pharmacy", "topic": "wait_time"}
    _, first = http(live.url + "/api/requests", "POST", complaint, token=desk)
    assert first["escalated_to"] == "" and outbox(live, first["id"]) == [f"request:{first['id']}:s0:r0:p-zhang:{c}"
                                                                   for c in ZHANG]
    clock.advance(10 * 86400)
    desk = token(live, "desk")
    _, again = http(live.url + "/api/requests", "POST", complaint, token=desk)
    assert again["repeat_of"] == first["id"] and again["escalated_to"] == "p-li"
    assert outbox(live, again["id"]) == [f"request:{again['id']}:s0:r0:p-li:wecom"]
    [text] = until(lambda: wecom_texts(wecom, f"request #{again['id']}: repeat_complaint"))
    assert f"repeat complaint after #{first['id']}" in text
    _, notices = http(live.url + "/api/requests/notices", token=token(live, "admin"))
    assert (notices[0]["kind"], notices[0]["recipient"], notices[0]["state"]) == ("escalation", "p-li", "recorded")
    # Closing it stops the chain.
    http(live.url + f"/api/requests/{again['id']}/close", "POST", {"resolution": "called back"}, token=desk)
    assert live.call(live.ctx.hub.escalation.status, "request", str(again["id"]))["state"] == "stopped"


def notice_of(live: LiveHub, request_id: int) -> dict[str, Any]:
    admin = token(live, "admin")
    _, notices = http(live.url + "/api/requests/notices", token=admin)
    return next(n for n in notices if n["request_id"] == request_id and n["kind"] == "closure")


def stored_anywhere(live: LiveHub, digits: str) -> list[str]:
    """Where the hub's database still holds the number (the tables a notice passes through)."""
    db = live.ctx.hub.db
    found = []
    for table, col in (("requests", "phone"), ("request_notices", "recipient"), ("notify_outbox", "message"),
                       ("events", "data")):
        if live.call(db.one, f"SELECT 1 FROM {table} WHERE {col} LIKE ?", (f"%{digits}%",)):
            found.append(table)
    return found


def complain_and_close(live: LiveHub) -> int:
    status, body = http(live.url + "/api/public/requests", "POST",
                        {"kind": "complaint", "zone": "lab", "topic": "attitude", "phone": PHONE})
    assert status == 201
    status, closed = http(live.url + f"/api/requests/{body['id']}/close", "POST", {"resolution": "apologised"},
                          token=token(live, "desk"))
    assert status == 200 and closed["state"] == "closed"
    return int(body["id"])


def test_closure_notice_waits_for_the_sms_gateway_then_is_sent_once_and_forgotten(live: LiveHub, clock: ManualClock,
                                                                                  sms_port: int) -> None:
    rid = complain_and_close(live)
    assert notice_of(live, rid)["state"] == "pending"
    # The gateway is down (nothing listens): the notice is retried, the number kept only in the outbox row.
    until(lambda: live.call(live.ctx.hub.db.one, "SELECT 1 FROM notify_outbox WHERE subject_kind='request_notice' "
                                                 "AND attempts >= 2 AND state='pending'"), clock)
    assert notice_of(live, rid)["state"] == "pending" and stored_anywhere(live, "13900139000") == ["notify_outbox"]
    gateway = Receiver(port=sms_port).start()
    try:
        [sent] = until(gateway.got, clock)
        assert sent.path == "/sms" and sent.json["to"] == PHONE and f"#{rid}" in sent.json["text"]
        assert sent.headers["idempotency-key"].startswith("request_notice:")
        n = until(lambda: (x := notice_of(live, rid))["state"] == "sent" and x)
        assert n["sent_at"] and n["recipient"] == "*" * 12 + "00" and n["error"] == ""
        assert stored_anywhere(live, "13900139000") == []  # erased once sent
        clock.advance(600)
        time.sleep(1.0)
        assert len(gateway.got()) == 1  # once
    finally:
        gateway.stop()


def test_closure_notice_refused_for_good_is_counted_shown_and_forgotten(live: LiveHub, clock: ManualClock,
                                                                        sms_port: int) -> None:
    gateway = Receiver(sms_refuses, port=sms_port).start()
    try:
        rid = complain_and_close(live)
        n = until(lambda: (x := notice_of(live, rid))["state"] == "failed" and x, clock)
        assert n["error"] == "HTTP 400" and n["sent_at"] is None
        assert stored_anywhere(live, "13900139000") == []
        assert len(gateway.got()) == 1  # a 400 is final: not asked again
        status, metrics = http(live.url + "/metrics")
        assert 'floorops_hub_closure_notices{state="failed"} 1.0' in metrics.decode()
    finally:
        gateway.stop()


def test_wheelchair_request_goes_to_the_nearest_station_with_stock(live: LiveHub, clock: ManualClock,
                                                                   wecom: Receiver) -> None:
    hub = live.ctx.hub
    url = live.url + "/api/public/requests"
    # No charger has reported a charged chair: still dispatched, and flagged.
    status, body = http(url, "POST", {"kind": "wheelchair", "zone": "pharmacy"})
    assert status == 201 and body["kind"] == "wheelchair"
    _, got = http(live.url + "/api/requests", token=token(live, "monitor"))
    first = next(r for r in got if r["id"] == body["id"])
    assert first["station"] is None and first["no_stock"] is True and first["state"] == "dispatched"
    feeder = Feeder(hub)
    live.call(feeder.record, "charger-02", "telemetry", slots(90, 95, None))  # reg_hall: 2 charged
    live.call(feeder.record, "charger-06", "telemetry", slots(20, None))  # pharmacy: docked, not charged
    desk = token(live, "desk")
    _, req = http(live.url + "/api/requests", "POST", {"kind": "wheelchair", "zone": "pharmacy"}, token=desk)
    # The pharmacy's own station has no charged chair: the nearest that has one, on the same floor.
    assert (req["station"], req["station_zone"], req["no_stock"]) == ("charger-02", "reg_hall", False)
    offer = next(o for o in live.call(hub.dispatch.list, "offered") if o["service_request"] == req["id"])
    assert offer["reason"] == "wheelchair" and offer["zone"] == "pharmacy"
    [text] = until(lambda: wecom_texts(wecom, f"request #{req['id']}: wheelchair"))
    assert "take a chair from charger-02, reg_hall" in text
    live.call(feeder.record, "charger-06", "telemetry", slots(20, 95))
    _, here = http(live.url + "/api/requests", "POST", {"kind": "wheelchair", "zone": "pharmacy"}, token=desk)
    assert here["station"] == "charger-06"  # the zone's own station first
