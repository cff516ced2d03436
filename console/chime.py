"""Generate the dispatch-offer chime (console/static/sounds/offer.wav).

A soft two-note chime synthesised here, so the sound file has a known origin and licence and can be
regenerated: ``python -m console.chime``. Short (0.7 s), mono 16-bit 22.05 kHz, about 30 kB.
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


def chime_samples(rate_hz: int = RATE_HZ) -> list[int]:
    """16-bit samples: each note a sine with a few harmonics and an exponential decay."""
    length = max(start + dur for _, start, dur in NOTES)
    out = [0.0] * (int(length * rate_hz) + 1)
    for freq, start, dur in NOTES:
        first = int(start * rate_hz)
        for i in range(int(dur * rate_hz)):
            t = i / rate_hz
            attack = min(1.0, t / 0.008)
            env = attack * math.exp(-t * 6.5)
            s = math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(4 * math.pi * freq * t)
            out[first + i] += 0.38 * env * s
    return [max(-32767, min(32767, int(v * 32767))) for v in out]


def write_chime(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = chime_samples()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.chime", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC_DIR / "sounds" / "offer.wav")
    args = parser.parse_args(argv)
    print(write_chime(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
