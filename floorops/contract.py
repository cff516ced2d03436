"""The device contract, version 1 (docs/device-contract.md), as code.

One place for every rule a device message's payload must follow whatever its kind (the header, status
messages, the field checks, the serial and Modbus framings; its topic is in floorops.topics), used by the edge (to accept or reject what
arrives), by the simulator (to build what it sends) and by the tests (to check both). What each kind's
telemetry and events contain is declared with the kind (floorops.kinds), from these field checks. A rule that is
broken raises :class:`ContractError` with a short machine ``reason`` (what the counters and the
dead-letter store are keyed by) and a sentence for people.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

CONTRACT_VERSION: Final = 1
SEQ_MODULUS: Final = 2**32
ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHANNELS: Final = ("telemetry", "event", "status")

STATUS_STATES: Final = frozenset({"online", "offline"})

# Plausible device clock range: 2020-01-01 .. 2100-01-01 (ms). Outside it the clock is broken, not skewed.
TS_MIN_MS: Final = 1_577_836_800_000
TS_MAX_MS: Final = 4_102_444_800_000

MAC_RE: Final = re.compile(r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$")


class ContractError(ValueError):
    """A device message that breaks the contract; ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------------------------------------
# Field checks


def require(payload: dict[str, Any], name: str) -> Any:
    if name not in payload:
        raise ContractError("missing_field", f"field {name!r} is missing")
    return payload[name]


def integer(payload: dict[str, Any], name: str, lo: int | None = None, hi: int | None = None) -> int:
    v = require(payload, name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ContractError("wrong_type", f"field {name!r} must be an integer, got {type(v).__name__}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ContractError("out_of_range", f"field {name!r}={v} is outside {lo}..{hi}")
    return v


def number(payload: dict[str, Any], name: str, lo: float | None = None, hi: float | None = None) -> float:
    v = require(payload, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ContractError("wrong_type", f"field {name!r} must be a finite number, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ContractError("out_of_range", f"field {name!r}={v} is outside {lo}..{hi}")
    return float(v)


def text(payload: dict[str, Any], name: str, allowed: frozenset[str] | None = None, max_len: int = 64) -> str:
    v = require(payload, name)
    if not isinstance(v, str):
        raise ContractError("wrong_type", f"field {name!r} must be a string, got {type(v).__name__}")
    if not v or len(v) > max_len:
        raise ContractError("out_of_range", f"field {name!r} must be 1..{max_len} characters")
    if allowed is not None and v not in allowed:
        raise ContractError("bad_enum", f"field {name!r}={v!r} is not one of {', '.join(sorted(allowed))}")
    return v


def header(payload: dict[str, Any], with_seq: bool = True) -> dict[str, Any]:
    v = integer(payload, "v")
    if v != CONTRACT_VERSION:
        raise ContractError("bad_version", f"contract version {v} is not supported (expected {CONTRACT_VERSION})")
    out: dict[str, Any] = {"v": v, "ts": integer(payload, "ts", TS_MIN_MS, TS_MAX_MS)}
    if with_seq:
        out["seq"] = integer(payload, "seq", 0, SEQ_MODULUS - 1)
    return out


def normalise_mac(mac: str) -> str:
    """``3C-22-FB-12-9A-01`` -> ``3c:22:fb:12:9a:01``; raises on anything that is not 6 hex octets."""
    if not isinstance(mac, str) or not MAC_RE.match(mac):
        raise ContractError("bad_mac", "mac is not 6 hex octets separated by ':' or '-'")
    return mac.lower().replace("-", ":")


def is_locally_administered(mac: str) -> bool:
    """True for randomised (locally administered) MACs: bit 1 of the first octet."""
    return bool(int(mac[0:2], 16) & 0x02)


MAX_PAYLOAD_BYTES: Final = 256 * 1024


def decode_json(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("too_large", f"payload of {len(payload)} bytes (at most {MAX_PAYLOAD_BYTES})")
    try:
        data = orjson.loads(payload)  # strict RFC 8259: no NaN, UTF-8 only, integers within 64 bits
    except orjson.JSONDecodeError as exc:
        raise ContractError("bad_json", f"payload is not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ContractError("bad_json", "payload must be a JSON object")
    return data


def status_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """A status message, the same for every kind: header without seq, state, optional firmware."""
    out = header(payload, with_seq=False)
    out["state"] = text(payload, "state", STATUS_STATES)
    if "fw" in payload:
        out["fw"] = text(payload, "fw", max_len=32)
    return out


# ---------------------------------------------------------------------------------------------
# USB Wi-Fi probe: NMEA-style line protocol

MAX_LINE_BYTES: Final = 256


def nmea_checksum(body: bytes) -> str:
    """XOR of every byte between ``$`` and ``*``, as two upper-case hex digits."""
    c = 0
    for b in body:
        c ^= b
    return f"{c:02X}"


def format_probe_line(fields: list[str]) -> bytes:
    body = ",".join(fields).encode("ascii")
    return b"$" + body + b"*" + nmea_checksum(body).encode("ascii") + b"\r\n"


@dataclass(frozen=True, slots=True)
class ProbeSighting:
    probe_id: str
    ts: int
    mac: str
    rssi: int
    channel: int


@dataclass(frozen=True, slots=True)
class ProbeHeartbeat:
    probe_id: str
    ts: int
    uptime_s: int


def _int_field(text: str, name: str, lo: int, hi: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ContractError("wrong_type", f"{name} is not an integer") from None
    if not lo <= v <= hi:
        raise ContractError("out_of_range", f"{name}={v} is outside {lo}..{hi}")
    return v


def parse_probe_line(line: bytes) -> ProbeSighting | ProbeHeartbeat:
    """One line, ``$`` to checksum, without CR LF."""
    if len(line) > MAX_LINE_BYTES:
        raise ContractError("too_long", f"line of {len(line)} bytes (at most {MAX_LINE_BYTES})")
    if not line.startswith(b"$") or len(line) < 4 or line[-3:-2] != b"*":
        raise ContractError("bad_frame", "line is not $...*hh")
    body, given = line[1:-3], line[-2:]
    try:
        given_s = given.decode("ascii").upper()
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ContractError("bad_frame", "line is not ASCII") from None
    if nmea_checksum(body) != given_s:
        raise ContractError("bad_checksum", "checksum does not match")
    fields = text.split(",")
    if fields[0] == "PRB":
        if len(fields) != 6:
            raise ContractError("field_count", f"PRB has {len(fields)} fields (expected 6)")
        _, probe_id, ts, mac, rssi, channel = fields
        if not ID_RE.match(probe_id):
            raise ContractError("out_of_range", "probe id is not [A-Za-z0-9_-]{1,64}")
        return ProbeSighting(
            probe_id,
            _int_field(ts, "epoch_ms", TS_MIN_MS, TS_MAX_MS),
            normalise_mac(mac),
            _int_field(rssi, "rssi", -120, 0),
            _int_field(channel, "channel", 1, 196),
        )
    if fields[0] == "HBT":
        if len(fields) != 4:
            raise ContractError("field_count", f"HBT has {len(fields)} fields (expected 4)")
        _, probe_id, ts, uptime = fields
        if not ID_RE.match(probe_id):
            raise ContractError("out_of_range", "probe id is not [A-Za-z0-9_-]{1,64}")
        return ProbeHeartbeat(
            probe_id, _int_field(ts, "epoch_ms", TS_MIN_MS, TS_MAX_MS), _int_field(uptime, "uptime_s", 0, 2**31)
        )
    raise ContractError("bad_sentence", "sentence is neither PRB nor HBT")


# ---------------------------------------------------------------------------------------------
# Wheelchair charging station: Modbus RTU holding registers

REG_FIRMWARE: Final = 0
REG_SLOT_COUNT: Final = 1
REG_STATUS: Final = 2
REG_TEMPERATURE: Final = 3
SLOT_BASE: Final = 10
SLOT_STRIDE: Final = 10
SLOT_REGS: Final = 8
MAX_SLOTS: Final = 8
STATUS_MAINS_OK: Final = 1 << 0
STATUS_OVER_TEMPERATURE: Final = 1 << 1
STATUS_GROUND_FAULT: Final = 1 << 2
STATUS_FAN_FAULT: Final = 1 << 3
SLOT_STATES: Final = {0: "empty", 1: "docked", 2: "charging", 3: "full", 4: "fault"}
SLOT_FAULTS: Final = {
    0: "none", 1: "over_temperature", 2: "over_current", 3: "ground_fault", 4: "battery_fault", 5: "communication"
}
OFFLINE_AFTER_FAILED_POLLS: Final = 3


def signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def slot_address(slot: int) -> int:
    return SLOT_BASE + SLOT_STRIDE * slot
