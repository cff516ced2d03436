"""Real local receivers for the hub's pages: an aiosmtpd SMTP server, and aiohttp servers that check each
robot's documented message format (WeCom group robot, DingTalk custom robot with its signature, a JSON SMS
gateway) and answer the way the real services do (HTTP 200 with ``errcode``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from centre.services import free_port


class MailBox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def smtp_server() -> tuple[Controller, MailBox]:
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, box


def _bytes(s: Any) -> int:
    return len(str(s).encode("utf-8"))


def wecom_errors(path: str, query: Any, body: Any) -> list[str]:
    """What is wrong with a WeCom group-robot request (empty: it follows the documented format)."""
    errors = []
    if path != "/cgi-bin/webhook/send" or not query.get("key"):
        errors.append("POST /cgi-bin/webhook/send?key=<key>")
    if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown"):
        return errors + ["msgtype text|markdown"]
    part = body.get(body["msgtype"])
    if not isinstance(part, dict) or not isinstance(part.get("content"), str) or not part["content"]:
        errors.append(f"{body['msgtype']}.content")
    elif body["msgtype"] == "text" and _bytes(part["content"]) > 2048:
        errors.append("text.content over 2048 bytes")
    elif body["msgtype"] == "markdown" and _bytes(part["content"]) > 4096:
        errors.append("markdown.content over 4096 bytes")
    for k in ("mentioned_list", "mentioned_mobile_list"):
        if k in (part or {}) and not (isinstance(part[k], list) and all(isinstance(v, str) for v in part[k])):
            errors.append(f"{k} must be a list of strings")
    if set(body) - {"msgtype", body["msgtype"]}:
        errors.append(f"unknown keys {sorted(set(body) - {'msgtype', body['msgtype']})}")
    return errors


def dingtalk_errors(path: str, query: Any, body: Any, secret: str, now_ms: int) -> tuple[int, list[str]]:
    """(errcode, problems) of a DingTalk custom-robot request: 310000 for a bad signature, 300001 for a bad
    body, as DingTalk answers."""
    if path != "/robot/send" or not query.get("access_token"):
        return 300001, ["POST /robot/send?access_token=<token>"]
    if secret:
        ts, sign = query.get("timestamp", ""), query.get("sign", "")
        if not ts.isdigit() or abs(int(ts) - now_ms) > 3600_000:
            return 310000, ["timestamp missing or more than an hour off"]
        mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), sign):
            return 310000, ["sign does not match"]
    if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown"):
        return 300001, ["msgtype text|markdown"]
    if body["msgtype"] == "text" and not isinstance((body.get("text") or {}).get("content"), str):
        return 300001, ["text.content"]
    if body["msgtype"] == "markdown":
        md = body.get("markdown") or {}
        if not isinstance(md.get("title"), str) or not isinstance(md.get("text"), str):
            return 300001, ["markdown.title and markdown.text"]
    at = body.get("at", {})
    if not isinstance(at, dict) or not isinstance(at.get("atMobiles", []), list) \
            or not isinstance(at.get("isAtAll", False), bool):
        return 300001, ["at.atMobiles list, at.isAtAll bool"]
    return 0, []


class RobotServer:
    """WeCom (``/cgi-bin/webhook/send``), DingTalk (``/robot/send``) and SMS (``/sms``) receivers on one
    loopback port. ``answers`` queues errcodes (or HTTP statuses for SMS) to answer before the normal ones."""

    def __init__(self, dingtalk_secret: str = "") -> None:
        self.port = free_port()
        self.dingtalk_secret = dingtalk_secret
        self.accepted: dict[str, list[Any]] = {"wecom": [], "dingtalk": [], "sms": []}
        self.refused: list[tuple[str, list[str]]] = []
        self.answers: dict[str, list[int]] = {"wecom": [], "dingtalk": [], "sms": []}
        self.runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self.wecom)
        app.router.add_post("/robot/send", self.dingtalk)
        app.router.add_route("*", "/sms", self.sms)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except ValueError:
            return None

    async def wecom(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if self.answers["wecom"]:
            return web.json_response({"errcode": self.answers["wecom"].pop(0), "errmsg": "queued answer"})
        if errors := wecom_errors(request.path, request.query, body):
            self.refused.append(("wecom", errors))
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type: " + "; ".join(errors)})
        self.accepted["wecom"].append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def dingtalk(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if self.answers["dingtalk"]:
            return web.json_response({"errcode": self.answers["dingtalk"].pop(0), "errmsg": "queued answer"})
        code, errors = dingtalk_errors(request.path, request.query, body, self.dingtalk_secret,
                                       int(time.time() * 1000))
        if code:
            self.refused.append(("dingtalk", errors))
            return web.json_response({"errcode": code, "errmsg": "; ".join(errors)})
        self.accepted["dingtalk"].append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def sms(self, request: web.Request) -> web.Response:
        if self.answers["sms"]:
            return web.json_response({"error": "queued answer"}, status=self.answers["sms"].pop(0))
        raw = await request.text()
        if request.content_type == "application/json":
            body = await self._body(request)
            if not isinstance(body, dict) or not isinstance(body.get("to"), str) or not isinstance(body.get("text"), str):
                self.refused.append(("sms", ["JSON {to, text}"]))
                return web.json_response({"error": "expected {to, text}"}, status=400)
        else:
            body = dict((await request.post()) if raw else request.query)
        self.accepted["sms"].append({"method": request.method, "body": body, "key": request.headers.get("X-Api-Key")})
        return web.json_response({"status": "queued"})
