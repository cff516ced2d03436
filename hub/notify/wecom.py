"""企业微信 (WeCom) group robot: POST ``{"msgtype": "text"|"markdown", ...}`` to
``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>``; the answer is ``{"errcode": 0, ...}``.
Text content is at most 2048 bytes and may @-mention by phone (``mentioned_mobile_list``); markdown at
most 4096 bytes (no mentions). The robot posts to a group, so every person is reachable on it."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from floorops.config import ConfigError
from hub.notify import Message, json_robot_post, truncate_utf8
from hub.roster import Person

NAME = "wecom"
TEXT_MAX = 2048
MARKDOWN_MAX = 4096
RETRY_CODES = frozenset({-1, 45009})  # system busy; over the robot's 20 messages a minute


class WeComRobot:
    name = NAME

    def __init__(self, url: str, msgtype: str = "markdown") -> None:
        self.url = url
        self.msgtype = msgtype

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "WeComRobot":
        url, msgtype = section.get("url"), section.get("msgtype", "markdown")
        if not isinstance(url, str) or URL(url).scheme not in ("http", "https") or not URL(url).host:
            raise ConfigError("channels.wecom.url: expected the robot's https URL (…/webhook/send?key=…)")
        if msgtype not in ("text", "markdown"):
            raise ConfigError("channels.wecom.msgtype: text or markdown")
        return cls(url, msgtype)

    def address(self, person: Person) -> str | None:
        return ""

    def body(self, m: Message) -> dict[str, Any]:
        if self.msgtype == "text":
            text: dict[str, Any] = {"content": truncate_utf8(f"{m.title}\n{m.text}", TEXT_MAX)}
            if m.mobile:
                text["mentioned_mobile_list"] = [m.mobile]
            return {"msgtype": "text", "text": text}
        return {"msgtype": "markdown", "markdown": {"content": truncate_utf8(m.markdown, MARKDOWN_MAX)}}

    async def send(self, message: Message, session: aiohttp.ClientSession) -> None:
        await json_robot_post(session, self.url, self.body(message), RETRY_CODES)


from_config = WeComRobot.from_config  # the registry builds the channel from its section with this
