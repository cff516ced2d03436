"""Zone visits no probe heard, estimated from the visits heard once and twice (Chao's estimator).

A phone probes about every 40 s, so a one-minute visit goes unheard about one time in five. An unheard visit
to B turns the walk A -> B -> C into A -> C: A -> B and B -> C read low, A -> C high. This is worst off-peak,
when queues are short and visits quick (docs/benchmarks.md, "Patient flow": the edge counted 7-9 % fewer
entrance -> lab and reg_hall -> pharmacy walks than the phones it follows made, and as many as them at peak).

Chao (1984) estimates the classes never seen from those seen once (f1) and twice (f2): f1^2 / (2 f2), here in
its bias-corrected form f1 (f1 - 1) / (2 (f2 + 1)), per zone. The estimate needs only what the edge observes
(how many sightings each visit had), nothing fitted to the simulator. With phones that probe at different
rates it is, in expectation, a lower bound: it corrects too little rather than too much.

The unheard visits are taken to be like the visits heard once: from the same zones, to the same zones. So
each pair gets, on top of the walks seen, its share of the unheard visits that would have started or ended
it, less those that would have broken a walk into it (A -> C seen for A -> B -> C).

Privacy: what is kept is counts per (origin, zone, next zone) of visits and of visits heard once and twice,
pooled over intervals (halving every ``FlowSettings.unheard_halflife_s``); nothing per phone.
"""

from __future__ import annotations

# A zone's estimate needs this many visits (pooled) behind it: with a handful, f1^2 / 2 f2 is noise.
MIN_VISITS = 20.0
# A pair's count is never scaled beyond these, whatever the estimate: a guard against a pair seen a few times.
FACTOR_BOUNDS = (0.5, 2.0)

_Row = list[float]  # [visits, heard once, heard twice]


class UnheardVisits:
    """Feed it each visit when it ends (``visit``); ``pool`` at each close; ``factor`` per published pair."""

    def __init__(self, entered_via: dict[str, str] | None = None) -> None:
        # zone -> the zone a phone first heard there is counted as having walked in through (the tracker
        # counts that walk itself, so it is not estimated again here)
        self.entered_via = dict(entered_via or {})
        self.new: dict[tuple[str, str, str], _Row] = {}  # (origin, zone, dest) -> row, since the last pool
        self.pooled: dict[tuple[str, str, str], _Row] = {}
        self._missed: dict[tuple[str, str], float] = {}  # pair -> walks estimated unheard (may be < 0)
        self._seen: dict[tuple[str, str], float] = {}  # pair -> walks seen (pooled)

    def visit(self, origin: str, zone: str, dest: str, heard: int) -> None:
        """A visit to ``zone`` is over: it came from ``origin`` and went on to ``dest`` ("" not known) and
        was heard ``heard`` times."""
        row = self.new.setdefault((origin, zone, dest), [0.0, 0.0, 0.0])
        row[0] += 1
        if 1 <= heard <= 2:
            row[heard] += 1

    def pool(self, decay: float) -> None:
        """Add the visits since the last call to the earlier ones, weighted by ``decay``; re-estimate."""
        for key in set(self.pooled) | set(self.new):
            old = self.pooled.get(key, [0.0, 0.0, 0.0])
            add = self.new.get(key, [0.0, 0.0, 0.0])
            self.pooled[key] = [o * decay + a for o, a in zip(old, add)]
        self.new = {}
        totals: dict[str, _Row] = {}
        for (_, zone, _), row in self.pooled.items():
            acc = totals.setdefault(zone, [0.0, 0.0, 0.0])
            for i, v in enumerate(row):
                acc[i] += v
        missed: dict[tuple[str, str], float] = {}
        seen: dict[tuple[str, str], float] = {}
        for (origin, zone, dest), (visits, once, _) in self.pooled.items():
            if origin:
                seen[(origin, zone)] = seen.get((origin, zone), 0.0) + visits
            n, f1, f2 = totals[zone]
            if not once or n < MIN_VISITS:
                continue
            unheard = f1 * (f1 - 1) / (2 * (f2 + 1))  # in the zone, bias-corrected Chao1
            like_this = unheard * once / f1  # ... from origin and on to dest, as the visits heard once
            if origin:
                missed[(origin, zone)] = missed.get((origin, zone), 0.0) + like_this
            if dest and (origin or self.entered_via.get(dest) != zone):
                missed[(zone, dest)] = missed.get((zone, dest), 0.0) + like_this
            if origin and dest and origin != dest:
                missed[(origin, dest)] = missed.get((origin, dest), 0.0) - like_this  # read as A -> C
        self._missed, self._seen = missed, seen

    def factor(self, origin: str, dest: str) -> float:
        """Walks from ``origin`` to ``dest`` per walk seen, by the last estimate (1.0 without one)."""
        seen = self._seen.get((origin, dest), 0.0)
        if seen < 1:
            return 1.0
        lo, hi = FACTOR_BOUNDS
        return max(lo, min(hi, 1.0 + self._missed.get((origin, dest), 0.0) / seen))
