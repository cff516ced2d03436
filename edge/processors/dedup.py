"""Per-device sequence tracking: repeats are duplicates, jumps are loss (device contract: ``seq``).

QoS 1 delivers at least once, so the same message can arrive twice (a redelivery after the edge or the
broker restarted). A device's ``seq`` grows by one per message and wraps at 2^32; the tracker remembers
the highest seq and the recent ones below it, so a late message is accepted once and a repeat is dropped.
The state is small and serialisable, so the agent stores it with the buffer in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from floorops.contract import SEQ_MODULUS

HALF = SEQ_MODULUS // 2
RECENT = 1024  # how far back a late message is still recognised


class SeqVerdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    LATE = "late"  # below the highest seen, not seen before: fills a gap counted earlier
    RESET = "reset"  # far behind: the device restarted its counter


@dataclass
class DeviceSeq:
    last: int
    seen: set[int] = field(default_factory=set)  # recent seqs at or below ``last``


@dataclass
class SeqResult:
    verdict: SeqVerdict
    gap: int = 0  # messages missing between the previous highest seq and this one


class SeqTracker:
    """Duplicate and gap detection for every device; not thread-safe (one ingest thread owns it)."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceSeq] = {}
        self.dirty: set[str] = set()

    def check(self, device_id: str, seq: int) -> SeqResult:
        d = self.devices.get(device_id)
        if d is None:
            self.devices[device_id] = DeviceSeq(seq, {seq})
            self.dirty.add(device_id)
            return SeqResult(SeqVerdict.NEW)
        ahead = (seq - d.last) % SEQ_MODULUS
        if ahead == 0:
            return SeqResult(SeqVerdict.DUPLICATE)
        self.dirty.add(device_id)
        if ahead < HALF:
            d.last = seq
            d.seen.add(seq)
            if len(d.seen) > 2 * RECENT:
                floor = (seq - RECENT) % SEQ_MODULUS
                d.seen = {s for s in d.seen if (seq - s) % SEQ_MODULUS < RECENT or s == floor}
            return SeqResult(SeqVerdict.NEW, gap=ahead - 1)
        behind = SEQ_MODULUS - ahead
        if seq in d.seen:
            return SeqResult(SeqVerdict.DUPLICATE)
        if behind < RECENT:
            d.seen.add(seq)
            return SeqResult(SeqVerdict.LATE)
        # Far behind and unknown: the device restarted (seq back to 0). Start over from here.
        self.devices[device_id] = DeviceSeq(seq, {seq})
        return SeqResult(SeqVerdict.RESET)

    # -- persistence -------------------------------------------------------------------------------

    def dump(self, device_id: str) -> str:
        d = self.devices[device_id]
        recent = sorted(s for s in d.seen if (d.last - s) % SEQ_MODULUS < RECENT)
        return f"{d.last}:" + ",".join(map(str, recent))

    def load(self, device_id: str, text: str) -> None:
        last, _, rest = text.partition(":")
        self.devices[device_id] = DeviceSeq(int(last), {int(s) for s in rest.split(",") if s})

    def take_dirty(self) -> list[tuple[str, str]]:
        out = [(dev, self.dump(dev)) for dev in self.dirty if dev in self.devices]
        self.dirty.clear()
        return out
