"""MAC addresses become keyed hashes the moment they are parsed (docs/privacy.md).

A raw MAC is personal data. The edge replaces it with HMAC-SHA256 under a secret key of the day: the
same phone maps to the same hash within a day (so occupancy can count distinct phones), and cannot be
followed from one day to the next because yesterday's key is deleted. Keys live in files of mode 600.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

KEY_BYTES = 32
HASH_HEX_CHARS = 32  # 128 bits of the HMAC: collisions are negligible for a hospital's phones
KEEP_DAYS = 2  # today's key and yesterday's (a sliding window spans midnight); older ones are deleted

# Anything that looks like a MAC or a piece of one: 4 to 8 hex octets separated by ':' '-' '.' (a clock
# time has 3 groups and survives), Cisco dotted form, or 12 hex digits in a row.
_MAC_LIKE = re.compile(
    rb"(?i)(?<![0-9a-f])(?:[0-9a-f]{2}[:\-. ]){3,7}[0-9a-f]{2}(?![0-9a-f])"
    rb"|(?<![0-9a-fA-F])[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}(?![0-9a-fA-F])"
    rb"|(?<![0-9a-fA-F])[0-9a-fA-F]{12}(?![0-9a-fA-F])"
)
REDACTED = b"<mac-redacted>"


# A JSON string escape: \uXXXX or a one-character escape (\" \\ \/ \b \f \n \r \t).
_JSON_ESCAPE = re.compile(rb'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SHORT_ESCAPES = {b'"': b'"', b"\\": b"\\", b"/": b"/", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r",
                  b"t": b"\t"}


def _unescaped(data: bytes) -> tuple[bytes, list[int], list[int]]:
    """``data`` with its JSON escapes decoded, and for each byte of it the raw span it came from, so a MAC
    found in the decoded form (``aa\\u003abb\\u003a...``) is cut out of the raw bytes."""
    out = bytearray()
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _JSON_ESCAPE.finditer(data):
        for i in range(pos, m.start()):
            out.append(data[i])
            starts.append(i)
            ends.append(i + 1)
        if m.group(1) is not None:
            piece = chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass")
        else:
            piece = _SHORT_ESCAPES[m.group(2)]
        out += piece
        starts.extend([m.start()] * len(piece))
        ends.extend([m.end()] * len(piece))
        pos = m.end()
    for i in range(pos, len(data)):
        out.append(data[i])
        starts.append(i)
        ends.append(i + 1)
    return bytes(out), starts, ends


def redact(data: bytes) -> bytes:
    """Remove anything MAC-shaped from bytes that will be stored or shown (dead letters, errors): as they
    are, and as they read once JSON-unescaped (a device may send ``\\u003a`` for ``:``). Redact the whole
    input before cutting it: a cut may split a MAC into pieces too short to be recognised."""
    if b"\\" in data:
        decoded, starts, ends = _unescaped(data)
        out = bytearray()
        pos = 0
        for m in _MAC_LIKE.finditer(decoded):
            out += data[pos:starts[m.start()]] + REDACTED
            pos = ends[m.end() - 1]
        data = bytes(out + data[pos:])
    return _MAC_LIKE.sub(REDACTED, data)


def redact_text(text: str) -> str:
    return redact(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")


class MacHasher:
    """HMAC-SHA256 of normalised MACs with a key that rotates at the site's local midnight."""

    def __init__(self, key_dir: Path, tz: ZoneInfo | None = None) -> None:
        self.key_dir = Path(key_dir)
        self.tz = tz or ZoneInfo("UTC")
        self._day: dt.date | None = None
        self._key = b""

    @property
    def day(self) -> dt.date | None:
        """The day of the key in use (None before the first); the pipeline drops flow tracks when it changes."""
        return self._day

    def _today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.tz).date()

    def _load_or_create(self, day: dt.date) -> bytes:
        self.key_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.key_dir, 0o700)
        path = self.key_dir / f"{day.isoformat()}.key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
            if len(key) != KEY_BYTES:
                raise RuntimeError(f"MAC key file {path} is damaged ({len(key)} bytes)") from None
            return key
        key = secrets.token_bytes(KEY_BYTES)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        log.info("new MAC hashing key", extra={"day": day.isoformat()})
        return key

    def delete_old_keys(self, today: dt.date) -> list[str]:
        """Delete keys older than KEEP_DAYS days: yesterday's phones can no longer be linked to today's."""
        removed = []
        for p in self.key_dir.glob("*.key"):
            try:
                day = dt.date.fromisoformat(p.stem)
            except ValueError:
                continue
            if (today - day).days >= KEEP_DAYS or day > today + dt.timedelta(days=1):
                p.unlink(missing_ok=True)
                removed.append(p.name)
        if removed:
            log.info("deleted old MAC hashing keys", extra={"count": len(removed)})
        return removed

    def rotate_if_needed(self, now: dt.datetime | None = None) -> None:
        day = self._today(now)
        if day != self._day:
            self._key = self._load_or_create(day)
            self._day = day
            self.delete_old_keys(day)

    def hash(self, mac: str) -> str:
        """``mac`` normalised (lower case, ':'); returns 32 hex characters. Call rotate_if_needed() first."""
        if not self._key:
            self.rotate_if_needed()
        # No cache on purpose: a cache would keep raw MACs in memory for the whole day.
        return hmac.new(self._key, mac.encode("ascii"), hashlib.sha256).hexdigest()[:HASH_HEX_CHARS]
