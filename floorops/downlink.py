"""Commands down to devices (today: queue screens), as code: the payload the hub sends on a device's
command topic (floorops.topics.command_topic) and the checks a screen applies to it.

The hub builds every command here and the simulated screen parses it here, so both sides agree on one
definition (docs/device-contract.md, "Commands to queue screens"). A screen answers a command with a
``cmd_ack`` event on its ordinary event channel (floorops.kinds.queue_screen), so the answer travels
device -> edge -> hub like every other device message, with the same validation, buffering and dedup.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Final

from floorops.contract import CONTRACT_VERSION, ContractError, integer, text

COMMAND_TYPES: Final = ("guide", "reroute", "notice")
MAX_COMMAND_BYTES: Final = 4096  # a screen's firmware buffer; the hub never sends more
TEXT_MAX: Final = 280  # characters of each of text / text_zh


@dataclass(frozen=True, slots=True)
class ScreenCommand:
    """What a screen is told to show. ``room``/``floor`` say where the patient goes (the screen's own room
    for a guide, the other room for a reroute); ``waiting``/``expected_wait_s`` are that room's queue.
    ``ts``/``expires_at`` are epoch milliseconds: a screen stops showing the command at ``expires_at``."""

    id: str
    ts: int
    type: str
    text: str
    text_zh: str
    room: str = ""
    floor: int = 0
    waiting: int = 0
    expected_wait_s: int = 0
    expires_at: int = 0
    v: int = CONTRACT_VERSION

    def to_json(self) -> bytes:
        data = json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")).encode()
        if len(data) > MAX_COMMAND_BYTES:
            raise ValueError(f"a command of {len(data)} bytes is over {MAX_COMMAND_BYTES}")
        return data


def new_command_id() -> str:
    return uuid.uuid4().hex


def clip(value: str) -> str:
    """Text cut to what a command may carry (an operator's notice may be longer than a screen shows)."""
    return value[:TEXT_MAX]


def parse_command(payload: bytes) -> ScreenCommand:
    """A received command, checked; raises ContractError (bad_json, wrong_type, ...) like uplink checks."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise ContractError("too_large", f"a command may be at most {MAX_COMMAND_BYTES} bytes")
    try:
        p = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise ContractError("bad_json", "a command must be a UTF-8 JSON object") from None
    if not isinstance(p, dict):
        raise ContractError("bad_json", "a command must be a JSON object")
    if integer(p, "v") != CONTRACT_VERSION:
        raise ContractError("bad_version", f"command version {p['v']} is not {CONTRACT_VERSION}")
    texts: dict[str, str] = {}
    for name in ("text", "text_zh", "room"):
        v = p.get(name, "")
        if not isinstance(v, str) or len(v) > TEXT_MAX:
            raise ContractError("wrong_type", f"field {name!r} must be a string of at most {TEXT_MAX} characters")
        texts[name] = v
    return ScreenCommand(
        id=text(p, "id"), ts=integer(p, "ts", 0), type=text(p, "type", frozenset(COMMAND_TYPES)),
        text=texts["text"], text_zh=texts["text_zh"], room=texts["room"],
        floor=integer(p, "floor", -20, 200) if "floor" in p else 0,
        waiting=integer(p, "waiting", 0, 100_000) if "waiting" in p else 0,
        expected_wait_s=integer(p, "expected_wait_s", 0, 7 * 86400) if "expected_wait_s" in p else 0,
        expires_at=integer(p, "expires_at", 0) if "expires_at" in p else 0,
    )


def command_fields(cmd: ScreenCommand) -> dict[str, Any]:
    """The command as a plain dict (what a screen shows, what the API returns)."""
    return asdict(cmd)
