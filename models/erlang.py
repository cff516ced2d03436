"""Erlang C queueing formulas, exact and numerically stable at any load.

Why the Erlang B recursion: the textbook Erlang C formula divides A^N by N!, which overflows a float past
~170 servers. The recursion B(0) = 1, B(n) = A*B(n-1) / (n + A*B(n-1)) stays in [0, 1] at every step, and
Erlang C follows from B exactly: C = N*B / (N - A*(1 - B)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of an M/M/N/N system with ``load`` Erlangs offered to ``servers`` servers."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be non-negative")
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return b


def _c_from_b(servers: int, load: float, b: float) -> float:
    if servers <= load:
        return 1.0  # the queue grows without bound: everybody waits
    return servers * b / (servers - load * (1.0 - b))


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival has to wait (M/M/N), 1.0 when the servers cannot keep up."""
    if load == 0:
        return 0.0
    return _c_from_b(servers, load, erlang_b(servers, load))


def service_level(servers: int, load: float, aht_s: float, target_s: float) -> float:
    """Share of arrivals answered within ``target_s`` seconds."""
    if load == 0:
        return 1.0
    return _service_level_from_c(servers, load, aht_s, target_s, erlang_c(servers, load))


def _service_level_from_c(servers: int, load: float, aht_s: float, target_s: float, c: float) -> float:
    if servers <= load:
        return 0.0
    return max(0.0, 1.0 - c * math.exp(-(servers - load) * target_s / aht_s))


def average_speed_of_answer(servers: int, load: float, aht_s: float) -> float:
    """Mean wait in seconds over all arrivals (infinite when the servers cannot keep up)."""
    if servers <= load:
        return math.inf
    return erlang_c(servers, load) * aht_s / (servers - load)


@dataclass(frozen=True)
class StaffingResult:
    """What ``python -m models staffing`` prints."""

    raw_positions: int  # servers needed on the floor (Erlang C, service level and occupancy cap)
    positions: int  # raw positions grossed up for shrinkage (breaks, training, absence)
    service_level: float  # achieved with raw_positions
    occupancy: float  # load / raw_positions
    waiting_probability: float  # Erlang C with raw_positions

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def required_positions(arrivals: float, interval_min: float, aht_min: float, target_answer_s: float,
                       service_level_target: float, max_occupancy: float = 1.0,
                       shrinkage: float = 0.0) -> StaffingResult:
    """Smallest number of servers meeting the service level and the occupancy cap, then shrinkage.

    The search walks n upward carrying Erlang B along, so hundreds of servers cost one pass.
    """
    if arrivals < 0 or interval_min <= 0 or aht_min <= 0 or target_answer_s < 0:
        raise ValueError("arrivals >= 0, interval_min > 0, aht_min > 0 and target_answer_s >= 0 are required")
    if not 0 < service_level_target < 1:
        raise ValueError("the service level must be between 0 and 1 (exclusive)")
    if not 0 < max_occupancy <= 1:
        raise ValueError("the maximum occupancy must be in (0, 1]")
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    load = arrivals * aht_min / interval_min
    if load == 0:
        return StaffingResult(0, 0, 1.0, 0.0, 0.0)
    aht_s = aht_min * 60.0
    # Below ceil(load / max_occupancy) servers the occupancy cap alone rules n out.
    n_min = max(1, math.ceil(load / max_occupancy - 1e-9))
    n = 0
    b = 1.0
    while True:
        n += 1
        b = load * b / (n + load * b)
        if n < n_min:
            continue
        c = _c_from_b(n, load, b)
        sl = _service_level_from_c(n, load, aht_s, target_answer_s, c)
        if sl >= service_level_target:
            positions = math.ceil(n / (1.0 - shrinkage) - 1e-9)
            return StaffingResult(n, positions, sl, load / n, c)
