"""The simulated hospital's message services: its mail server (SMTP, aiosmtpd), the WeCom and DingTalk group
robots and its SMS gateway, so that the hub's pages have somewhere real to arrive (``make run``).

Each receiver checks what it is sent against the service's documented format and refuses the rest the way
the real service answers (HTTP 200 with an ``errcode`` for the robots, a 5xx reply for SMTP, HTTP 400 for
the SMS gateway). What arrived is kept, bounded (:data:`KEEP`), for ``python -m firmware_sim inbox``.

One home for the receiving logic: the control server (firmware_sim/control.py) serves the robot routes,
and the hub's tests (tests/hub/notify_receivers.py) use the same checks and handlers.

- WeCom group robot: ``POST /cgi-bin/webhook/send?key=<key>`` with ``{"msgtype": "text"|"markdown", ...}``;
  text at most 2048 bytes (``mentioned_list``/``mentioned_mobile_list`` optional), markdown at most 4096.
  Errcodes: 93000 bad webhook key, 40008 unknown msgtype, 44004 empty content, 40058 a bad or too long
  parameter.
- DingTalk custom robot: ``POST /robot/send?access_token=<token>[&timestamp=<ms>&sign=<b64>]``; with the
  robot's secret the signature is base64 HMAC-SHA256 of ``"<timestamp>\\n<secret>"`` keyed with the secret,
  the timestamp within an hour. Errcodes: 300001 no such token, 310000 signature refused, 40035 a missing
  or bad parameter.
- SMS gateway: ``/sms`` with JSON ``{"to", "text"}`` (or a form / query); anything else is HTTP 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

KEEP = 500  # messages kept per receiver (the newest): a long demo run does not grow without bound
CHANNELS = ("smtp", "wecom", "dingtalk", "sms")
WECOM_TEXT_MAX = 2048
WECOM_MARKDOWN_MAX = 4096
DINGTALK_SKEW_MS = 3600_000


def _bytes(s: Any) -> int:
    return len(str(s).encode("utf-8"))


def wecom_errors(path: str, query: Any, body: Any) -> list[str]:
    """What is wrong with a WeCom group-robot request (empty: it follows the documented format)."""
    return [e for _, e in _wecom_problems(path, query, body)]


def _wecom_problems(path: str, query: Any, body: Any) -> list[tuple[int, str]]:
    """(errcode, problem) pairs, the first one's errcode being what WeCom answers."""
    errors: list[tuple[int, str]] = []
    if path != "/cgi-bin/webhook/send" or not query.get("key"):
        errors.append((93000, "POST /cgi-bin/webhook/send?key=<key>"))
    if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown"):
        return errors + [(40008, "msgtype text|markdown")]
    part: Any = body.get(body["msgtype"])
    if not isinstance(part, dict) or not isinstance(part.get("content"), str) or not part["content"]:
        errors.append((44004, f"{body['msgtype']}.content"))
    elif body["msgtype"] == "text" and _bytes(part["content"]) > WECOM_TEXT_MAX:
        errors.append((40058, f"text.content over {WECOM_TEXT_MAX} bytes"))
    elif body["msgtype"] == "markdown" and _bytes(part["content"]) > WECOM_MARKDOWN_MAX:
        errors.append((40058, f"markdown.content over {WECOM_MARKDOWN_MAX} bytes"))
    for k in ("mentioned_list", "mentioned_mobile_list"):
        if k in (part or {}) and not (isinstance(part[k], list) and all(isinstance(v, str) for v in part[k])):
            errors.append((40058, f"{k} must be a list of strings"))
    if set(body) - {"msgtype", body["msgtype"]}:
        errors.append((40058, f"unknown keys {sorted(set(body) - {'msgtype', body['msgtype']})}"))
    return errors


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """DingTalk's ``sign``: base64 of HMAC-SHA256 of ``"<timestamp>\\n<secret>"`` keyed with the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def dingtalk_errors(path: str, query: Any, body: Any, secret: str, now_ms: int) -> tuple[int, list[str]]:
    """(errcode, problems) of a DingTalk custom-robot request; (0, []) when DingTalk would accept it."""
    if path != "/robot/send" or not query.get("access_token"):
        return 300001, ["POST /robot/send?access_token=<token>"]
    if secret:
        ts, sign = query.get("timestamp", ""), query.get("sign", "")
        if not ts.isdigit() or abs(int(ts) - now_ms) > DINGTALK_SKEW_MS:
            return 310000, ["timestamp missing or more than an hour off"]
        if not hmac.compare_digest(dingtalk_sign(secret, ts), sign):
            return 310000, ["sign does not match"]
    if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown"):
        return 40035, ["msgtype text|markdown"]
    if body["msgtype"] == "text" and not isinstance((body.get("text") or {}).get("content"), str):
        return 40035, ["text.content"]
    if body["msgtype"] == "markdown":
        md = body.get("markdown") or {}
        if not isinstance(md, dict) or not isinstance(md.get("title"), str) or not isinstance(md.get("text"), str):
            return 40035, ["markdown.title and markdown.text"]
    at = body.get("at", {})
    if not isinstance(at, dict) or not isinstance(at.get("atMobiles", []), list) \
            or not isinstance(at.get("isAtAll", False), bool):
        return 40035, ["at.atMobiles list, at.isAtAll bool"]
    return 0, []


def sms_errors(content_type: str, body: Any) -> list[str]:
    """What is wrong with a JSON SMS request (a form or a query is taken as it is)."""
    if content_type != "application/json":
        return []
    if not isinstance(body, dict) or not isinstance(body.get("to"), str) or not body["to"] \
            or not isinstance(body.get("text"), str) or not body["text"]:
        return ["JSON {to, text}"]
    return []


def mail_errors(msg: Message) -> list[str]:
    """A message a mail server refuses: RFC 5322 requires one From address (what the hub sets)."""
    if not [a for _, a in getaddresses(msg.get_all("From", [])) if "@" in a]:
        return ["no valid From header (RFC 5322)"]
    return []


class Inbox:
    """What the hospital's message services received, bounded: per message the channel, the recipient,
    subject and text, and when (``now_ms``: the simulator's clock). ``answers`` queues errcodes (HTTP
    statuses for SMS) to give before the normal answers: a busy robot, by hand or in a test."""

    def __init__(self, now_ms: Callable[[], int] | None = None, dingtalk_secret: str = "", keep: int = KEEP) -> None:
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.dingtalk_secret = dingtalk_secret
        self.keep = keep
        self.received: list[dict[str, Any]] = []
        self.accepted: dict[str, list[Any]] = {c: [] for c in CHANNELS}
        self.refused: list[tuple[str, list[str]]] = []
        self.counts: dict[str, dict[str, int]] = {c: {"accepted": 0, "refused": 0} for c in CHANNELS}
        self.answers: dict[str, list[int]] = {c: [] for c in CHANNELS}
        self.smtp_server: Any = None

    # -- what arrived ------------------------------------------------------------------------------

    def _accept(self, channel: str, raw: Any, to: str, subject: str, text: str) -> None:
        self.accepted[channel].append(raw)
        self.counts[channel]["accepted"] += 1
        self.received.append({"channel": channel, "to": to, "subject": subject, "text": text, "at_ms": self.now_ms()})
        for kept in (self.accepted[channel], self.received):
            del kept[:-self.keep]
        log.info("message received", extra={"channel": channel, "to": to, "subject": subject[:80]})

    def _refuse(self, channel: str, errors: list[str]) -> None:
        self.refused.append((channel, errors))
        del self.refused[:-self.keep]
        self.counts[channel]["refused"] += 1
        log.warning("message refused", extra={"channel": channel, "errors": errors})

    def snapshot(self) -> dict[str, Any]:
        """``GET /inbox``: the kept messages (oldest first) and the counts since start."""
        return {"messages": list(self.received), "counts": self.counts}

    # -- SMTP ---------------------------------------------------------------------------------------

    def mail(self, rcpt_tos: list[str], content: bytes) -> str:
        """One message through SMTP DATA: the reply the mail server gives."""
        msg = BytesParser(policy=policy.default).parsebytes(content)
        if errors := mail_errors(msg):
            self._refuse("smtp", errors)
            return "550 5.7.1 " + "; ".join(errors)
        body = msg.get_body(preferencelist=("plain",)) if isinstance(msg, EmailMessage) else None
        text = str(body.get_content()).replace("\r\n", "\n") if body is not None else ""
        self._accept("smtp", (list(rcpt_tos), message_from_bytes(content)), ", ".join(rcpt_tos),
                     str(msg.get("Subject", "")), text.strip())
        return "250 Message accepted for delivery"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        return self.mail(list(envelope.rcpt_tos), bytes(envelope.content))

    async def start_smtp(self, host: str, port: int) -> None:
        """The mail server on ``host:port``, in the running event loop."""
        import asyncio

        from aiosmtpd.smtp import SMTP

        loop = asyncio.get_running_loop()
        self.smtp_server = await loop.create_server(lambda: SMTP(self, hostname="hospital.example"), host, port)
        log.info("mail server listening", extra={"host": host, "port": port})

    async def stop_smtp(self) -> None:
        if self.smtp_server is not None:
            self.smtp_server.close()
            await self.smtp_server.wait_closed()
            self.smtp_server = None

    # -- HTTP: the robots and the SMS gateway ----------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/cgi-bin/webhook/send", self.wecom)
        app.router.add_post("/robot/send", self.dingtalk)
        app.router.add_route("*", "/sms", self.sms)
        app.router.add_get("/inbox", self.list_inbox)

    async def list_inbox(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    @staticmethod
    async def _json(request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except (ValueError, UnicodeDecodeError):
            return None

    async def wecom(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if self.answers["wecom"]:
            return web.json_response({"errcode": self.answers["wecom"].pop(0), "errmsg": "queued answer"})
        if problems := _wecom_problems(request.path, request.query, body):
            errors = [e for _, e in problems]
            self._refuse("wecom", errors)
            return web.json_response({"errcode": problems[0][0], "errmsg": "; ".join(errors)})
        part = body[body["msgtype"]]
        mentions = part.get("mentioned_mobile_list", []) + part.get("mentioned_list", [])
        content = part["content"]
        self._accept("wecom", body, " ".join(f"@{m}" for m in mentions) or "(group)",
                     content.split("\n", 1)[0].lstrip("#* "), content)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def dingtalk(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if self.answers["dingtalk"]:
            return web.json_response({"errcode": self.answers["dingtalk"].pop(0), "errmsg": "queued answer"})
        code, errors = dingtalk_errors(request.path, request.query, body, self.dingtalk_secret, self.wall_ms())
        if code:
            self._refuse("dingtalk", errors)
            return web.json_response({"errcode": code, "errmsg": "; ".join(errors)})
        mentions = (body.get("at") or {}).get("atMobiles", [])
        if body["msgtype"] == "markdown":
            subject, text = body["markdown"]["title"], body["markdown"]["text"]
        else:
            text = body["text"]["content"]
            subject = text.split("\n", 1)[0]
        self._accept("dingtalk", body, " ".join(f"@{m}" for m in mentions) or "(group)", subject, text)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def wall_ms() -> int:
        """DingTalk checks the signature's timestamp against real time, whatever the demo clock says."""
        return int(time.time() * 1000)

    async def sms(self, request: web.Request) -> web.Response:
        if self.answers["sms"]:
            return web.json_response({"error": "queued answer"}, status=self.answers["sms"].pop(0))
        raw = await request.text()
        if request.content_type == "application/json":
            body = await self._json(request)
        else:
            body = dict((await request.post()) if raw else request.query)
        if errors := sms_errors(request.content_type, body):
            self._refuse("sms", errors)
            return web.json_response({"error": "expected JSON {\"to\": phone, \"text\": message}"}, status=400)
        self._accept("sms", {"method": request.method, "body": body, "key": request.headers.get("X-Api-Key")},
                     str(body.get("to", "")), "", str(body.get("text", "")))
        return web.json_response({"status": "queued"})
