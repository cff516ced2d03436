"""A satisfaction terminal: patients leaving the zone press one of five buttons; the mix worsens as the
zone grows crowded and its queues long. The fault ``bad_mood`` (by hand: ``inject sat-03 bad_mood``)
makes nearly every press a dissatisfied one, to see the zone's score fall and the satisfaction_low rule act."""

from __future__ import annotations

from typing import Final

import numpy as np

from firmware_sim.devices.base import Emitter, MqttDeviceSim, SimModel, plain
from firmware_sim.faults import FaultSpec
from floorops.kinds.satisfaction_terminal import BUTTONS, KIND, POINTS, PRESS
from floorops.site import Device

PRESS_SHARE = 0.12  # of the people entering the zone, those who press a button on their way out
BAD_MOOD_SCORE = 15.0  # the expected score of a press while ``bad_mood`` is on
SPREAD = 22.0  # how far (points) presses scatter around the expected score


def expected_score(crowding: float, waiting_share: float) -> float:
    """The mean score (0-100) patients give: high in a calm zone, lower as it fills (occupancy /
    capacity) and as more of its capacity is people waiting in a queue."""
    return float(np.clip(95.0 - 40.0 * max(0.0, crowding - 0.2) - 60.0 * waiting_share, 10.0, 95.0))


def button_weights(score: float) -> np.ndarray:
    """The probability of each button (BUTTONS order) for presses whose expected score is ``score``."""
    values = np.array([POINTS[b] for b in BUTTONS], dtype=float)
    w = np.exp(-(((values - score) / SPREAD) ** 2))
    return np.asarray(w / w.sum())


class SatisfactionTerminalSim(MqttDeviceSim):
    period_ms = 60_000

    def __init__(self, device: Device, site_id: str, rng: np.random.Generator, emitter: Emitter) -> None:
        super().__init__(device, site_id, rng, emitter)
        self.presses = 0
        self.battery_pct = float(rng.uniform(60, 100))

    def visitors(self, entries: int, crowding: float, waiting_share: float, now_ms: int) -> int:
        """People who entered the zone this minute; some press a button (each press its own event)."""
        if not self.powered or entries <= 0:
            return 0
        n = int(self.rng.binomial(entries, PRESS_SHARE))
        score = BAD_MOOD_SCORE if self.has("bad_mood") else expected_score(crowding, waiting_share)
        p = button_weights(score)
        for _ in range(n):  # the minute's presses, each its own event (its own seq)
            button = BUTTONS[int(self.rng.choice(len(BUTTONS), p=p))]
            self.presses += 1
            self.send_event(now_ms, {"event": PRESS, "button": button})
        return n

    def tick(self, now_ms: int) -> None:
        self.battery_pct = max(5.0, self.battery_pct - 0.001)
        self.send_telemetry(now_ms, {"presses": self.presses, "battery_pct": round(self.battery_pct, 1)})


SIM: Final = SimModel(KIND.name, {"mqtt": plain(SatisfactionTerminalSim)}, faults=(
    FaultSpec("bad_mood", True, 0,
              "patients at the terminal are unhappy: nearly every press is dissatisfied (low scores)",
              repaired=False),
))
