"""Generate the dispatch-offer chime (console/static/sounds/offer.wav) and the emergency alert
(sounds/emergency.wav).

Synthesised here, so the sound files have a known origin and licence and can be regenerated:
``python -m console.chime``. The chime is a soft two-note rise (0.7 s); the emergency alert a hard
high-low alternation (1.2 s) that no one mistakes for a routine offer. Mono 16-bit 22.05 kHz.
"""

from __future__ import annotations

import argparse
import math
import struct
import wave
from pathlib import Path

from console import STATIC_DIR

RATE_HZ = 22_050
# (frequency Hz, start s, duration s): E5 then A5, a calm rising interval that cuts through room noise.
NOTES: tuple[tuple[float, float, float], ...] = ((659.25, 0.0, 0.45), (880.0, 0.18, 0.52))
# B5 / F#5 alternating every 0.2 s, three times: the emergency alert.
EMERGENCY: tuple[tuple[float, float, float], ...] = tuple(
    (987.77 if i % 2 == 0 else 739.99, i * 0.2, 0.19) for i in range(6))
SOUNDS = {"offer": NOTES, "emergency": EMERGENCY}


def chime_samples(rate_hz: int = RATE_HZ, notes: tuple[tuple[float, float, float], ...] = NOTES) -> list[int]:
    """16-bit samples: each note a sine with a few harmonics and an exponential decay."""
    length = max(start + dur for _, start, dur in notes)
    out = [0.0] * (int(length * rate_hz) + 1)
    for freq, start, dur in notes:
        first = int(start * rate_hz)
        for i in range(int(dur * rate_hz)):
            t = i / rate_hz
            attack = min(1.0, t / 0.008)
            env = attack * math.exp(-t * 6.5)
            s = math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(4 * math.pi * freq * t)
            out[first + i] += 0.38 * env * s
    return [max(-32767, min(32767, int(v * 32767))) for v in out]


def write_chime(path: Path, sound: str = "offer") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = chime_samples(notes=SOUNDS[sound])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.chime", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC_DIR / "sounds", help="directory of the sound files")
    args = parser.parse_args(argv)
    for sound in SOUNDS:
        print(write_chime(args.out / f"{sound}.wav", sound))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
