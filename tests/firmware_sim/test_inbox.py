"""The simulated hospital's message services (firmware_sim/inbox.py): the robots and the SMS gateway refuse
malformed messages with the answers the real services give and keep what they accept, the mail server
refuses a message without a sender, and ``firmware_sim inbox`` prints who received what."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.parse
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient, TestServer

from centre.services import free_port
from firmware_sim.__main__ import format_inbox
from firmware_sim.control import ControlServer
from firmware_sim.inbox import Inbox
from hub.notify.dingtalk import sign as hub_sign

NOW_MS = 1_765_000_000_000  # the simulator's clock in these tests: what the inbox stamps messages with
SECRET = "SEC0123456789abcdef"


def sign(secret: str, ts: int) -> str:
    """The hub's signature, URL-encoded as the hub sends it (base64 has + / =)."""
    return urllib.parse.quote(hub_sign(secret, ts), safe="")


def control(inbox: Inbox) -> ControlServer:
    return ControlServer(None, lambda: NOW_MS, "127.0.0.1", 0, inbox)


async def post(client: TestClient, path: str, body: Any = None, data: str | None = None,
               content_type: str = "application/json") -> tuple[int, Any]:
    r = await client.post(path, json=body) if data is None else \
        await client.post(path, data=data, headers={"Content-Type": content_type})
    return r.status, await r.json(content_type=None)


def run(inbox: Inbox, scenario: Any) -> Any:
    async def main() -> Any:
        async with TestClient(TestServer(control(inbox).app())) as client:
            return await scenario(client)
    return asyncio.run(main())


WECOM = "/cgi-bin/webhook/send?key=demo"


def test_wecom_robot_refuses_malformed_messages_with_wecom_errcodes() -> None:
    inbox = Inbox(lambda: NOW_MS)

    async def scenario(client: TestClient) -> list[Any]:
        return [
            await post(client, "/cgi-bin/webhook/send", {"msgtype": "text", "text": {"content": "hi"}}),  # no key
            await post(client, WECOM, {"msgtype": "news", "news": {}}),
            await post(client, WECOM, data="{not json"),
            await post(client, WECOM, {"msgtype": "text", "text": {"content": ""}}),
            await post(client, WECOM, {"msgtype": "markdown", "markdown": {"content": "长" * 1400}}),  # 4200 bytes
            await post(client, WECOM, {"msgtype": "text", "text": {"content": "hi", "mentioned_mobile_list": "138"}}),
            await post(client, WECOM, {"msgtype": "text", "text": {"content": "alarm #7: card jam\nstep 1",
                                                                    "mentioned_mobile_list": ["13800000001"]}}),
        ]

    answers = run(inbox, scenario)
    assert [status for status, _ in answers] == [200] * 7  # WeCom answers 200 with an errcode
    assert [a["errcode"] for _, a in answers] == [93000, 40008, 40008, 44004, 40058, 40058, 0]
    assert inbox.counts["wecom"] == {"accepted": 1, "refused": 6}
    assert inbox.received == [{"channel": "wecom", "to": "@13800000001", "subject": "alarm #7: card jam",
                               "text": "alarm #7: card jam\nstep 1", "at_ms": NOW_MS}]


def test_dingtalk_robot_checks_the_signature_the_way_the_hub_signs() -> None:
    inbox = Inbox(lambda: NOW_MS, dingtalk_secret=SECRET)
    body = {"msgtype": "markdown", "markdown": {"title": "alarm #8", "text": "### alarm #8\ncharger"},
            "at": {"atMobiles": ["13800000004"], "isAtAll": False}}
    now = int(time.time() * 1000)  # DingTalk checks the timestamp against real time

    async def scenario(client: TestClient) -> list[Any]:
        base = "/robot/send?access_token=demo"
        return [
            await post(client, "/robot/send", body),
            await post(client, base, body),  # unsigned
            await post(client, f"{base}&timestamp={now}&sign={sign('SECwrong', now)}", body),
            await post(client, f"{base}&timestamp={now - 7200_000}&sign={sign(SECRET, now - 7200_000)}", body),
            await post(client, f"{base}&timestamp={now}&sign={sign(SECRET, now)}", {"msgtype": "markdown"}),
            await post(client, f"{base}&timestamp={now}&sign={sign(SECRET, now)}", body),
        ]

    answers = run(inbox, scenario)
    assert [a["errcode"] for _, a in answers] == [300001, 310000, 310000, 310000, 40035, 0]
    assert inbox.counts["dingtalk"] == {"accepted": 1, "refused": 5}
    [got] = inbox.received
    assert (got["to"], got["subject"]) == ("@13800000004", "alarm #8")


def test_sms_gateway_refuses_a_json_message_without_number_or_text() -> None:
    inbox = Inbox(lambda: NOW_MS)

    async def scenario(client: TestClient) -> list[Any]:
        return [await post(client, "/sms", {"to": "13800000001"}),
                await post(client, "/sms", data="[1]"),
                await post(client, "/sms", {"to": "13800000001", "text": "alarm #9: over temperature"})]

    answers = run(inbox, scenario)
    assert [s for s, _ in answers] == [400, 400, 200]
    assert "to" in answers[0][1]["error"]
    assert [(m["to"], m["text"]) for m in inbox.received] == [("13800000001", "alarm #9: over temperature")]


def test_what_arrived_is_bounded_and_counted() -> None:
    inbox = Inbox(lambda: NOW_MS, keep=3)

    async def scenario(client: TestClient) -> dict[str, Any]:
        for i in range(5):
            await post(client, "/sms", {"to": "1380000000", "text": f"page {i}"})
        return await (await client.get("/inbox")).json()

    got = run(inbox, scenario)
    assert [m["text"] for m in got["messages"]] == ["page 2", "page 3", "page 4"]
    assert got["counts"]["sms"] == {"accepted": 5, "refused": 0}
    assert len(inbox.accepted["sms"]) == 3


def mail(sender: str | None, to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    msg["To"], msg["Subject"] = to, subject
    msg.set_content(text)
    return msg


def test_mail_server_keeps_mail_and_refuses_a_message_without_sender() -> None:
    inbox = Inbox(lambda: NOW_MS)
    port = free_port()

    async def scenario() -> Exception | None:
        await inbox.start_smtp("127.0.0.1", port)
        try:
            await aiosmtplib.send(mail("floorops@hospital.example", "liu.yang@hospital.example",
                                       "[critical] alarm #3: card jam", "kiosk-03 in reg_hall\nstep 1"),
                                  hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
            try:
                await aiosmtplib.send(mail(None, "liu.yang@hospital.example", "no sender", "x"),
                                      sender="x@hospital.example", hostname="127.0.0.1", port=port,
                                      start_tls=False, use_tls=False)
            except aiosmtplib.SMTPDataError as exc:
                return exc
            return None
        finally:
            await inbox.stop_smtp()

    refused = asyncio.run(scenario())
    assert isinstance(refused, aiosmtplib.SMTPDataError) and refused.code == 550
    assert inbox.counts["smtp"] == {"accepted": 1, "refused": 1}
    assert inbox.received == [{"channel": "smtp", "to": "liu.yang@hospital.example",
                               "subject": "[critical] alarm #3: card jam", "text": "kiosk-03 in reg_hall\nstep 1",
                               "at_ms": NOW_MS}]


def test_inbox_listing_shows_when_who_and_what_in_site_time() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    at = int(dt.datetime(2026, 3, 2, 9, 15, 4, tzinfo=tz).timestamp() * 1000)
    text = format_inbox([{"channel": "smtp", "to": "liu.yang@hospital.example", "subject": "alarm #3",
                          "text": "kiosk-03\nstep 1", "at_ms": at},
                         {"channel": "wecom", "to": "@13800000001", "subject": "alarm #3",
                          "text": "alarm #3\nstep 2", "at_ms": at + 300_000}],
                        {"smtp": {"accepted": 1, "refused": 0}, "wecom": {"accepted": 0, "refused": 2}}, tz)
    assert text.splitlines() == [
        "2026-03-02 09:15:04  smtp      to liu.yang@hospital.example",
        "    alarm #3",
        "    | kiosk-03",
        "    | step 1",
        "2026-03-02 09:20:04  wecom     to @13800000001",
        "    alarm #3",
        "    | step 2",
        "2 message(s) shown; received: smtp 1, wecom 0 (+2 refused)",
    ]


@pytest.mark.parametrize("path", ["/cgi-bin/webhook/send", "/robot/send"])
def test_robots_keep_nothing_from_a_body_that_is_not_json(path: str) -> None:
    inbox = Inbox(lambda: NOW_MS)

    async def scenario(client: TestClient) -> Any:
        return await post(client, f"{path}?key=k&access_token=t", data="\xff garbage", content_type="text/plain")

    status, answer = run(inbox, scenario)
    assert status == 200 and answer["errcode"] != 0
    assert inbox.received == [] and sum(c["refused"] for c in inbox.counts.values()) == 1
