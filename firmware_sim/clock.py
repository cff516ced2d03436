"""The simulation's virtual clock: real time at ``speed=1``, faster otherwise.

Device timestamps come from this clock, never from the machine's, so that ``--speed 60`` runs an hour
of hospital a minute and a test can step time without sleeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol


class SimClock(Protocol):
    """What the live simulator reads: this module's VirtualClock, or the centre's (floorops.clock.CentreClock)."""

    def now_ms(self) -> int: ...

    def wall_delay_s(self, virtual_ms: int) -> float: ...


@dataclass
class VirtualClock:
    """Virtual epoch milliseconds = ``start_ms`` + (wall seconds since start) * ``speed`` * 1000."""

    start_ms: int
    speed: float = 1.0
    wall: Callable[[], float] = time.monotonic
    _wall0: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be positive")
        self._wall0 = self.wall()

    def now_ms(self) -> int:
        return self.start_ms + int((self.wall() - self._wall0) * self.speed * 1000)

    def wall_delay_s(self, virtual_ms: int) -> float:
        """Wall seconds until the clock shows ``virtual_ms`` (0 if it already has)."""
        return max(0.0, (virtual_ms - self.now_ms()) / 1000.0 / self.speed)
