"""Each channel against a real local receiver: e-mail to an aiosmtpd server, WeCom and DingTalk robots and an
SMS gateway to aiohttp servers that check the documented formats (and DingTalk's signature); the outbox's
retries, backoff and final failures with real servers that fail first."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from centre.services import free_port
from hub.clock import SystemClock
from hub.db import Database
from hub.notify import DeliveryError, Message
from hub.notify import dingtalk, outbox, sms, smtp, wecom
from hub.notify.outbox import NotifySender
from hub.notify.settings import OutboxSettings
from tests.hub.notify_receivers import RobotServer, smtp_server

URGENT = Message("[CRITICAL] printer_fault - kiosk-03", "alarm #7: printer_fault (critical)\n挂号大厅 reg_hall",
                 "### [CRITICAL] printer_fault\n> 挂号大厅 reg_hall", "critical", True, "", "13800000001", "p-mt",
                 "Ma Tao", "http://console.example/")


def to(address: str) -> Message:
    return Message(**{**URGENT.json(), "address": address})


@contextlib.asynccontextmanager
async def robots(secret: str = "") -> AsyncIterator[tuple[RobotServer, aiohttp.ClientSession]]:
    server = RobotServer(secret)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield server, session
    finally:
        await server.stop()


def test_email_reaches_a_real_smtp_server() -> None:
    controller, box = smtp_server()
    try:
        channel = smtp.SmtpChannel.from_config({"host": "127.0.0.1", "port": controller.port, "tls": "none",
                                                "sender": "floorops@hospital.example"})

        async def send() -> None:
            async with aiohttp.ClientSession() as session:
                await channel.send(to("mt@hospital.example"), session)
        asyncio.run(send())
    finally:
        controller.stop()
    [(rcpt, mail)] = box.messages
    assert rcpt == ["mt@hospital.example"] and mail["To"] == "mt@hospital.example"
    assert mail["Subject"] == URGENT.title and mail["Importance"] == "high"
    assert "挂号大厅" in mail.get_payload(decode=True).decode("utf-8")


def test_smtp_server_down_is_a_retry_not_a_crash() -> None:
    channel = smtp.SmtpChannel("127.0.0.1", free_port(), "floorops@hospital.example", tls="none", timeout_s=2)

    async def send() -> None:
        async with aiohttp.ClientSession() as session:
            await channel.send(to("mt@hospital.example"), session)
    with pytest.raises(DeliveryError) as exc:
        asyncio.run(send())
    assert not exc.value.final


@pytest.mark.parametrize("msgtype", ["text", "markdown"])
def test_wecom_robot_message_follows_the_documented_format(msgtype: str) -> None:
    async def run() -> RobotServer:
        async with robots() as (server, session):
            robot = wecom.WeComRobot.from_config({"url": server.url("/cgi-bin/webhook/send?key=abc"),
                                                  "msgtype": msgtype})
            await robot.send(URGENT, session)
            long = Message(**{**URGENT.json(), "text": "长" * 3000, "markdown": "长" * 3000})
            await robot.send(long, session)  # cut to the robot's byte limit, not refused
            return server
    server = asyncio.run(run())
    assert server.refused == [] and len(server.accepted["wecom"]) == 2
    first = server.accepted["wecom"][0]
    assert first["msgtype"] == msgtype
    if msgtype == "text":
        assert first["text"]["mentioned_mobile_list"] == ["13800000001"] and "printer_fault" in first["text"]["content"]
    else:
        assert first["markdown"]["content"].startswith("### [CRITICAL]")


def test_wecom_rate_limit_is_retried_and_a_bad_key_is_final() -> None:
    async def run() -> list[bool]:
        async with robots() as (server, session):
            robot = wecom.WeComRobot(server.url("/cgi-bin/webhook/send?key=abc"))
            server.answers["wecom"] += [45009, 93000]
            finals = []
            for _ in range(2):
                with pytest.raises(DeliveryError) as exc:
                    await robot.send(URGENT, session)
                finals.append(exc.value.final)
            return finals
    assert asyncio.run(run()) == [False, True]


@pytest.mark.parametrize("msgtype", ["text", "markdown"])
def test_dingtalk_robot_signed_message_is_accepted(msgtype: str) -> None:
    secret = "SEC" + "f" * 64

    async def run() -> RobotServer:
        async with robots(secret) as (server, session):
            robot = dingtalk.DingTalkRobot.from_config({"url": server.url("/robot/send?access_token=tok"),
                                                        "secret": secret, "msgtype": msgtype})
            for _ in range(20):  # many signatures: '+', '/' and '=' in base64 must survive the query string
                await robot.send(URGENT, session)
            return server
    server = asyncio.run(run())
    assert server.refused == [] and len(server.accepted["dingtalk"]) == 20
    body = server.accepted["dingtalk"][0]
    assert body["msgtype"] == msgtype and body["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}


def test_dingtalk_wrong_secret_is_refused_for_good() -> None:
    async def run() -> tuple[bool, RobotServer]:
        async with robots("SEC-right") as (server, session):
            robot = dingtalk.DingTalkRobot(server.url("/robot/send?access_token=tok"), "SEC-wrong")
            with pytest.raises(DeliveryError) as exc:
                await robot.send(URGENT, session)
            return exc.value.final, server
    final, server = asyncio.run(run())
    assert final and server.refused == [("dingtalk", ["sign does not match"])]


def test_sms_gateway_template_escapes_each_value() -> None:
    async def run() -> RobotServer:
        async with robots() as (server, session):
            gw = sms.SmsGateway.from_config({"url": server.url("/sms"), "headers": {"X-Api-Key": "k1"},
                                             "body": '{"to": "$phone", "text": "$text"}'})
            tricky = Message(**{**URGENT.json(), "address": "13800000001", "title": 'say "hi"\\ ok'})
            await gw.send(tricky, session)
            form = sms.SmsGateway.from_config({"url": server.url("/sms"), "content_type":
                                               "application/x-www-form-urlencoded", "body": "to=$phone&msg=$text"})
            await form.send(Message(**{**URGENT.json(), "address": "+8613800000001"}), session)
            get = sms.SmsGateway.from_config({"url": server.url("/sms?to=$phone&msg=$title"), "method": "GET"})
            await get.send(Message(**{**URGENT.json(), "address": "+8613800000001"}), session)
            return server
    server = asyncio.run(run())
    assert server.refused == []
    j, f, g = server.accepted["sms"]
    assert j["key"] == "k1" and j["body"]["to"] == "13800000001" and j["body"]["text"].startswith('say "hi"\\ ok: ')
    assert "挂号大厅" in j["body"]["text"]
    assert f["body"]["to"] == "+8613800000001" and "挂号大厅" in f["body"]["msg"]
    assert g["method"] == "GET" and g["body"] == {"to": "+8613800000001", "msg": URGENT.title}


def test_sms_unknown_placeholder_is_a_config_error() -> None:
    from floorops.config import ConfigError
    with pytest.raises(ConfigError, match="phon"):
        sms.SmsGateway.from_config({"url": "http://127.0.0.1/sms", "body": "$phon"})


def _outbox_db(tmp_path: Path) -> Database:
    return Database(tmp_path / "hub.sqlite")


async def _drain(sender: NotifySender, db: Database, until: Any, timeout_s: float = 20.0) -> None:
    task = asyncio.create_task(sender.run())
    try:
        for _ in range(int(timeout_s / 0.05)):
            if until(db):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the outbox did not get there in time")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_outbox_retries_with_backoff_then_delivers_and_stops_at_a_final_refusal(tmp_path: Path) -> None:
    db = _outbox_db(tmp_path)
    now = SystemClock().now()

    async def run() -> RobotServer:
        async with robots() as (server, _):
            server.answers["sms"] += [503, 500]  # the gateway fails twice, then takes it
            channels: dict[str, Any] = {
                "sms": sms.SmsGateway(server.url("/sms"), '{"to": "$phone", "text": "$text"}'),
                "wecom": wecom.WeComRobot(server.url("/cgi-bin/webhook/send?key=abc")),
            }
            outbox.enqueue(db, "alarm:1:s0:r0:p-mt:sms", "sms", "p-mt", "alarm", "1", 0, to("13800000001"), now, now)
            server.answers["wecom"].append(93000)  # invalid webhook key: final
            outbox.enqueue(db, "alarm:1:s0:r0:p-mt:wecom", "wecom", "p-mt", "alarm", "1", 0, URGENT, now, now)
            sender = NotifySender(db, SystemClock(), channels, OutboxSettings(retries=5, backoff_s=0.05,
                                                                                backoff_max_s=0.1))
            await _drain(sender, db, lambda d: d.one(
                "SELECT COUNT(*) FROM notify_outbox WHERE state='pending'")[0] == 0)
            return server
    server = asyncio.run(run())
    got = {r["channel"]: (r["state"], r["attempts"]) for r in db.all("SELECT * FROM notify_outbox")}
    assert got == {"sms": ("delivered", 3), "wecom": ("failed", 1)}
    assert len(server.accepted["sms"]) == 1
    db.close()


def test_the_same_key_is_written_once(tmp_path: Path) -> None:
    db = _outbox_db(tmp_path)
    now = SystemClock().now()
    assert outbox.enqueue(db, "k", "sms", "p", "alarm", "1", 0, URGENT, now, now)
    assert not outbox.enqueue(db, "k", "sms", "p", "alarm", "1", 0, URGENT, now, now)
    assert db.one("SELECT COUNT(*) FROM notify_outbox")[0] == 1
    db.close()


def test_a_delivery_made_while_another_process_holds_the_lock_is_not_sent_again(tmp_path: Path) -> None:
    import sqlite3
    db = _outbox_db(tmp_path)
    db.fail_fast()  # as on the hub's event loop
    now = SystemClock().now()
    outbox.enqueue(db, "alarm:1:s0:r0:p-mt:sms", "sms", "p-mt", "alarm", "1", 0, to("13800000001"), now, now)
    other = sqlite3.connect(str(tmp_path / "hub.sqlite"), isolation_level=None)  # a backup, the CLI

    async def run() -> RobotServer:
        async with robots() as (server, _):
            sender = NotifySender(db, SystemClock(), {"sms": sms.SmsGateway(server.url("/sms"),
                                                                             '{"to": "$phone", "text": "$text"}')},
                                  OutboxSettings(backoff_s=0.05, backoff_max_s=0.1))
            task = asyncio.create_task(sender.run())
            try:
                for _ in range(200):
                    if db.one("SELECT 1 FROM notify_outbox WHERE state='pending' AND id=1") and not server.accepted["sms"]:
                        other.execute("BEGIN IMMEDIATE") if not other.in_transaction else None
                    if server.accepted["sms"]:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.5)  # the outcome waits for the lock meanwhile
                other.execute("ROLLBACK")
                for _ in range(200):
                    if db.one("SELECT state FROM notify_outbox WHERE id=1")[0] != "pending":
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)  # a second copy, if any, would come now
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return server
    server = asyncio.run(run())
    other.close()
    assert len(server.accepted["sms"]) == 1
    assert tuple(db.one("SELECT state, attempts FROM notify_outbox WHERE id=1")) == ("delivered", 1)
    db.close()


def test_a_hung_robot_costs_its_workers_a_timeout_not_the_other_pages(tmp_path: Path) -> None:
    """A robot that never answers: each try ends at the outbox's timeout and is retried later, and pages on
    other channels behind it are delivered meanwhile (a fixed pool of workers, no task per page)."""
    from aiohttp import web
    db = _outbox_db(tmp_path)
    now = SystemClock().now()
    for n in range(6):  # the hung robot's rows come first
        outbox.enqueue(db, f"alarm:{n}:s0:r0:p-dm:wecom", "wecom", "p-dm", "alarm", str(n), 0, URGENT, now, now)
    outbox.enqueue(db, "alarm:9:s0:r0:p-mt:sms", "sms", "p-mt", "alarm", "9", 0, to("13800000001"), now, now)

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.json_response({"errcode": 0})

    async def run() -> RobotServer:
        hung = web.Application()
        hung.router.add_post("/cgi-bin/webhook/send", hang)
        runner = web.AppRunner(hung, shutdown_timeout=0.1)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with robots() as (server, _):
                channels: dict[str, Any] = {
                    "wecom": wecom.WeComRobot(f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k"),
                    "sms": sms.SmsGateway(server.url("/sms"), '{"to": "$phone", "text": "$text"}')}
                sender = NotifySender(db, SystemClock(), channels, OutboxSettings(
                    workers=2, timeout_s=0.3, retries=50, backoff_s=0.05, backoff_max_s=0.2))
                workers_seen: list[int] = []

                def sms_delivered(d: Database) -> bool:
                    workers_seen.append(sum(t.get_name().startswith("notify-") for t in asyncio.all_tasks()))
                    return d.one("SELECT state FROM notify_outbox WHERE channel='sms'")[0] == "delivered"
                await _drain(sender, db, sms_delivered)
                assert max(workers_seen) == 2  # the fixed pool, however many pages wait
                return server
        finally:
            await runner.cleanup()
    server = asyncio.run(run())
    assert len(server.accepted["sms"]) == 1
    hung_rows = db.all("SELECT state, attempts, last_error FROM notify_outbox WHERE channel='wecom'")
    assert all(r["state"] == "pending" for r in hung_rows)
    assert any(r["attempts"] >= 1 and "Timeout" in r["last_error"] for r in hung_rows)
    db.close()


def test_a_robot_answering_html_is_a_final_failure() -> None:
    from aiohttp import web

    async def run() -> bool:
        app = web.Application()

        async def html(request: web.Request) -> web.Response:
            return web.Response(text="<html>captive portal</html>", content_type="text/html")
        app.router.add_post("/robot/send", html)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                with pytest.raises(DeliveryError) as exc:
                    await dingtalk.DingTalkRobot(f"http://127.0.0.1:{port}/robot/send?access_token=t").send(URGENT,
                                                                                                         session)
                return exc.value.final
        finally:
            await runner.cleanup()
    assert asyncio.run(run())
