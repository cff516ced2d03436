"""What a rule says: a condition that is now true (raise) or no longer true (clear) for one source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Signal:
    type: str  # the rule's name, which is also the alarm type
    source: str  # a device id, "<device>:slot<n>", a queue id or a zone id
    active: bool
    device_id: str = ""
    kind: str = ""
    zone: str = ""
    # An event (a fresh occurrence) counts as a repeat of an open alarm; a reading that still shows the
    # same state does not.
    repeat: bool = False
    device_ts: int = 0  # device time (ms) of the message: an older reading never clears a newer fault
    detail: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the rule's severity (rarely)


def device_signal(rec: Any, type_: str, active: bool, repeat: bool = False, source: str = "",
                  **detail: Any) -> Signal:
    """A signal about the device that sent ``rec`` (an EdgeRecord)."""
    return Signal(type=type_, source=source or rec.device_id, active=active, device_id=rec.device_id,
                  kind=rec.kind, zone=rec.zone, repeat=repeat, device_ts=int(rec.ts or 0), detail=detail)
