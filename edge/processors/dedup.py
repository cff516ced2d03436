"""Per-device sequence tracking: repeats are duplicates, jumps are loss (device contract: ``seq``).

QoS 1 delivers at least once, so the same message can arrive twice (a redelivery after the edge or the
broker restarted). A device's ``seq`` grows by one per message and wraps at 2^32; the tracker remembers
the highest seq and which of the RECENT seqs below it were seen (a bit mask), so a late message is
accepted once and a repeat is dropped.

A device that reboots starts counting again. A seq at or below the highest seen is then not a repeat when
the message is newer (device time) than the one that carried the highest seq: a redelivered or late
message is older than that, a rebooted device's is not. Without that test a device restarted after a
few hundred messages had its next few hundred dropped as duplicates.

The state is a few hundred bytes per device, so the agent stores it with the buffer in the same
transaction (a redelivery after ``kill -9`` is still recognised).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from floorops.contract import SEQ_MODULUS

HALF = SEQ_MODULUS // 2
RECENT = 1024  # how far back a late message is still recognised
_MASK = (1 << RECENT) - 1


class SeqVerdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    LATE = "late"  # below the highest seen, not seen before: fills a gap counted earlier
    RESET = "reset"  # far behind: the device restarted its counter


@dataclass
class DeviceSeq:
    last: int
    seen: int = 1  # bit i set: seq ``last - i`` was seen (bit 0 is ``last`` itself)
    ts: int = 0  # device time (ms) of the message that carried ``last``; 0: unknown


@dataclass
class SeqResult:
    verdict: SeqVerdict
    gap: int = 0  # messages missing between the previous highest seq and this one


class SeqTracker:
    """Duplicate and gap detection for every device; not thread-safe (one ingest thread owns it)."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceSeq] = {}
        self.dirty: set[str] = set()

    def check(self, device_id: str, seq: int, ts: int = 0) -> SeqResult:
        """``ts``: the message's device time (ms), 0 if unknown."""
        d = self.devices.get(device_id)
        if d is None:
            self.devices[device_id] = DeviceSeq(seq, ts=ts)
            self.dirty.add(device_id)
            return SeqResult(SeqVerdict.NEW)
        ahead = (seq - d.last) % SEQ_MODULUS
        if ahead < HALF and ahead != 0:
            self.dirty.add(device_id)
            d.last = seq
            d.seen = ((d.seen << ahead) | 1) & _MASK if ahead < RECENT else 1
            d.ts = ts
            return SeqResult(SeqVerdict.NEW, gap=ahead - 1)
        if ts and d.ts and ts > d.ts:
            # At or behind the highest seq, yet newer than it: the device restarted its counter.
            self.devices[device_id] = DeviceSeq(seq, ts=ts)
            self.dirty.add(device_id)
            return SeqResult(SeqVerdict.RESET)
        if ahead == 0:
            return SeqResult(SeqVerdict.DUPLICATE)
        self.dirty.add(device_id)
        behind = SEQ_MODULUS - ahead
        if behind < RECENT:
            bit = 1 << behind
            if d.seen & bit:
                return SeqResult(SeqVerdict.DUPLICATE)
            d.seen |= bit
            return SeqResult(SeqVerdict.LATE)
        # Far behind: the device restarted (seq back to 0). Start over from here.
        self.devices[device_id] = DeviceSeq(seq, ts=ts)
        return SeqResult(SeqVerdict.RESET)

    # -- persistence -------------------------------------------------------------------------------

    def dump(self, device_id: str) -> str:
        d = self.devices[device_id]
        return f"{d.last}:{d.seen:x}:{d.ts}"

    def load(self, device_id: str, text: str, loaded_at_ms: int) -> None:
        """``last:mask:ts``, or ``last:mask`` as stored before device time was kept.

        Without a stored time (or with 0: a state loaded without one and saved again), the time of loading
        (the agent's start) stands in for it. A redelivery was stored before the agent stopped, so it is
        older and still a duplicate, while a device that rebooted since counts from 1 again with newer
        times and is not muted until it passes its old seq (seen in ``make run`` after an upgrade: probes
        silenced for their first hundreds of messages, then "offline")."""
        last, _, rest = text.partition(":")
        mask, _, ts = rest.partition(":")
        try:
            seen = int(mask or "1", 16) & _MASK
        except ValueError:  # unreadable: keep the highest seq, forget which recent ones were seen
            seen = 1
        stored_ts = int(ts) if ts.isdigit() else 0  # 0 was stored for "unknown" too
        self.devices[device_id] = DeviceSeq(int(last), seen, stored_ts or loaded_at_ms)

    def take_dirty(self) -> list[tuple[str, str]]:
        out = [(dev, self.dump(dev)) for dev in self.dirty if dev in self.devices]
        self.dirty.clear()
        return out
