"""DingTalk custom robot: POST ``{"msgtype": "text"|"markdown", ..., "at": {"atMobiles": [...]}}`` to
``https://oapi.dingtalk.com/robot/send?access_token=<token>``. With the robot's "加签" secret (``SEC…``)
each request carries ``timestamp`` (ms) and ``sign`` = URL-encoded base64 of HMAC-SHA256, keyed with the
secret, of ``"<timestamp>\\n<secret>"``; DingTalk refuses a timestamp more than an hour off."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import aiohttp
from yarl import URL

from floorops.config import ConfigError
from hub.notify import Message, json_robot_post, truncate_utf8
from hub.roster import Person

NAME = "dingtalk"
TEXT_MAX = 4000
RETRY_CODES = frozenset({-1, 130101})  # system busy; sending too fast


def sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value (base64, before URL encoding)."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


class DingTalkRobot:
    name = NAME

    def __init__(self, url: str, secret: str = "", msgtype: str = "markdown") -> None:
        self.url = url
        self.secret = secret
        self.msgtype = msgtype

    def __repr__(self) -> str:  # the secret and token stay out of logs
        return "DingTalkRobot()"

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "DingTalkRobot":
        url, secret, msgtype = section.get("url"), section.get("secret", ""), section.get("msgtype", "markdown")
        if not isinstance(url, str) or URL(url).scheme not in ("http", "https") or not URL(url).host:
            raise ConfigError("channels.dingtalk.url: expected the robot's https URL (…/robot/send?access_token=…)")
        if not isinstance(secret, str):
            raise ConfigError("channels.dingtalk.secret: the robot's SEC… string, or leave it out")
        if msgtype not in ("text", "markdown"):
            raise ConfigError("channels.dingtalk.msgtype: text or markdown")
        return cls(url, secret, msgtype)

    def address(self, person: Person) -> str | None:
        return ""

    def signed_url(self, now_ms: int | None = None) -> str:
        if not self.secret:
            return self.url
        ts = int(time.time() * 1000) if now_ms is None else now_ms
        return str(URL(self.url).update_query(timestamp=str(ts), sign=sign(self.secret, ts)))

    def body(self, m: Message) -> dict[str, Any]:
        at = {"atMobiles": [m.mobile] if m.mobile else [], "isAtAll": False}
        if self.msgtype == "text":
            return {"msgtype": "text", "text": {"content": truncate_utf8(f"{m.title}\n{m.text}", TEXT_MAX)}, "at": at}
        # DingTalk shows an @-mention in markdown only when the number is also in the text.
        mention = f"\n\n@{m.mobile}" if m.mobile else ""
        return {"msgtype": "markdown", "markdown": {"title": m.title[:64],
                                                   "text": truncate_utf8(m.markdown + mention, TEXT_MAX)}, "at": at}

    async def send(self, message: Message, session: aiohttp.ClientSession) -> None:
        await json_robot_post(session, self.signed_url(), self.body(message), RETRY_CODES)


from_config = DingTalkRobot.from_config  # the registry builds the channel from its section with this
