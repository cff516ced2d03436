"""Paging people (issue #15 item 4): channels as small plugins (one module each, registered in
``hub.notify.registry``), one rendered ``Message`` per event, person, step and channel, and a durable
outbox (``hub.notify.outbox``) that delivers them with retries and backoff, off the hub's transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import aiohttp

from hub.roster import Person


class DeliveryError(Exception):
    """A channel could not deliver; ``final``: asking again cannot help (bad address, refused format)."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


@dataclass(frozen=True)
class Message:
    """What one person receives about one event on one channel (stored as JSON in the outbox row)."""

    title: str
    text: str  # plain text, a few lines
    markdown: str  # the same as Markdown (WeCom / DingTalk markdown messages)
    severity: str
    urgent: bool  # an emergency: never held back by quiet hours
    address: str  # the person's address on this channel (e-mail, phone; "" for a group robot)
    mobile: str  # the person's phone, for @-mentions in group robots
    person_id: str
    person_name: str
    link: str = ""
    key: str = ""  # the outbox row's idempotency key, set when delivered: receivers may drop repeats by it
    # Files for the channels that carry them (e-mail): (file name, MIME type, text), e.g. the daily report's
    # CSV and printable page (hub.report_schedule); the robots and SMS send the text and the link only.
    attachments: tuple[tuple[str, str, str], ...] = ()

    def json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Message":
        fields: dict[str, Any] = {k: data.get(k, "") for k in cls.__dataclass_fields__}
        fields["urgent"] = bool(data.get("urgent", False))
        fields["attachments"] = tuple((str(n), str(t), str(c)) for n, t, c in data.get("attachments") or ())
        return cls(**fields)


class Channel(Protocol):
    """A way to reach people. ``address`` says whether (and where) a person can be reached on it."""

    name: str

    def address(self, person: Person) -> str | None:
        ...

    async def send(self, message: Message, session: aiohttp.ClientSession) -> None:
        """Deliver or raise DeliveryError."""
        ...


def truncate_utf8(text: str, max_bytes: int) -> str:
    """At most ``max_bytes`` of UTF-8 (robot APIs count bytes), cut at a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 3].decode("utf-8", "ignore") + "..."


async def json_robot_post(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                          retry_codes: frozenset[int]) -> None:
    """POST a robot message and read its ``{"errcode": 0, "errmsg": "ok"}`` answer (WeCom and DingTalk
    answer HTTP 200 with an errcode on failure). ``retry_codes``: errcodes worth asking again (rate limits)."""
    try:
        async with session.post(url, json=body, allow_redirects=False) as r:
            status = r.status
            try:
                answer = await r.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                answer = None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}", final=400 <= status < 500 and status not in (408, 429))
    if not isinstance(answer, dict) or "errcode" not in answer:
        raise DeliveryError("the robot's answer is not {errcode, errmsg}", final=True)
    code = answer.get("errcode")
    if code != 0:
        raise DeliveryError(f"errcode {code}: {str(answer.get('errmsg', ''))[:200]}",
                            final=not (isinstance(code, int) and code in retry_codes))
