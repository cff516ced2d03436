"""A generic HTTP SMS gateway: each site's provider has its own API, so the request is a template.

``url`` and ``body`` may hold ``$phone``, ``$text``, ``$title``, ``$severity`` and ``$person`` (Python
``string.Template``); each value is escaped for where it goes: JSON-string escaped when ``content_type`` is
``application/json``, form-encoded for ``application/x-www-form-urlencoded``, and URL-encoded inside ``url``.
``method`` is POST (default), PUT or GET; ``headers`` are sent as they are (an API key header). Any 2xx is
success; 4xx other than 408/429 is final."""

from __future__ import annotations

import json
import string
import urllib.parse
from typing import Any

import aiohttp
from yarl import URL

from floorops.config import ConfigError
from hub.notify import DeliveryError, Message
from hub.roster import Person

NAME = "sms"
PLACEHOLDERS = ("phone", "text", "title", "severity", "person")
TEXT_MAX = 300  # characters: a long SMS is several, billed each


def _escape(value: str, content_type: str) -> str:
    if content_type == "application/json":
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if content_type == "application/x-www-form-urlencoded":
        return urllib.parse.quote_plus(value)
    return value


class SmsGateway:
    name = NAME

    def __init__(self, url: str, body: str = "", method: str = "POST", content_type: str = "application/json",
                 headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.body_template = string.Template(body)
        self.url_template = string.Template(url)
        self.method = method
        self.content_type = content_type
        self.headers = dict(headers or {})

    def __repr__(self) -> str:  # the URL and headers may carry the provider's key
        return "SmsGateway()"

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "SmsGateway":
        unknown = set(section) - {"url", "body", "method", "content_type", "headers"}
        if unknown:
            raise ConfigError(f"channels.sms: unknown keys {sorted(unknown)}")
        url, body = section.get("url"), section.get("body", "")
        method, ctype = str(section.get("method", "POST")).upper(), section.get("content_type", "application/json")
        headers = section.get("headers", {})
        if not isinstance(url, str) or URL(url.replace("$", "")).scheme not in ("http", "https"):
            raise ConfigError("channels.sms.url: expected an http(s) URL template")
        if method not in ("POST", "PUT", "GET") or not isinstance(body, str):
            raise ConfigError("channels.sms: method is POST, PUT or GET; body is a string template")
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError("channels.sms.headers: a table of strings")
        for where, tmpl in (("url", url), ("body", body)):
            try:
                names = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(tmpl)
                         if m.group("named") or m.group("braced")}
            except ValueError:
                names = set()
            if bad := names - set(PLACEHOLDERS):
                raise ConfigError(f"channels.sms.{where}: unknown placeholders {sorted(bad)} "
                                  f"(use {', '.join('$' + p for p in PLACEHOLDERS)})")
        return cls(url, body, method, str(ctype), headers)

    def address(self, person: Person) -> str | None:
        return person.phone or None

    def values(self, m: Message) -> dict[str, str]:
        text = f"{m.title}: {m.text}".replace("\n", " ")
        return {"phone": m.address, "text": text[:TEXT_MAX], "title": m.title, "severity": m.severity,
                "person": m.person_name}

    def request(self, m: Message) -> tuple[str, str]:
        """(url, body) of the request for one message."""
        values = self.values(m)
        url = self.url_template.safe_substitute({k: urllib.parse.quote(v, safe="") for k, v in values.items()})
        body = self.body_template.safe_substitute({k: _escape(v, self.content_type) for k, v in values.items()})
        return url, body

    async def send(self, message: Message, session: aiohttp.ClientSession) -> None:
        url, body = self.request(message)
        headers = {**self.headers}
        if message.key:
            headers["Idempotency-Key"] = message.key
        if self.method != "GET":
            headers["Content-Type"] = self.content_type
        try:
            async with session.request(self.method, URL(url, encoded=True), data=body.encode() if self.method != "GET"
                                       else None, headers=headers, allow_redirects=False) as r:
                status = r.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}", final=300 <= status < 500 and status not in (408, 429))


from_config = SmsGateway.from_config  # the registry builds the channel from its section with this
