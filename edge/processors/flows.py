"""Patient flow between zones, and back-and-forth wandering, from keyed-hash sightings: aggregates only.

What leaves this module is, per interval (``interval_s``, 15 min by default), a count per zone pair (origin,
destination, how many walked it, their median transit time) and per zone the "back and forth" figures
(visitors, how many of them walked A -> B -> A within ``wander_window_s`` without staying in B long enough
to be served there, and the median time that detour cost). Nothing per phone ever leaves it.

Privacy by construction (docs/privacy.md, "Patient flow"):

- the only per-phone state is a ``_Track`` in memory: the phone's keyed hash (already HMAC'd by
  edge.processors.privacy), its current zone visit and at most the two visits before it, each visit a zone,
  the zone before it, two instants and how many times it was heard. Tracks idle longer than ``track_idle_s`` are forgotten, and :meth:`FlowTracker.forget`
  drops all of them when the hashing key rotates at midnight (the pipeline calls it);
- tracks are never written anywhere (no InfluxDB point, no SQLite row, no log line names a hash);
- an aggregate under ``k`` phones is never published: a pair's count (or a zone's back-and-forth count)
  under ``k`` is *carried* into the next interval, and published once it reaches ``k``; a pair's count
  after ``carry_max`` intervals goes into the site-wide ``other`` count (itself published only at >= k),
  a zone's visitors and back-and-forths wait (apart) as long as it takes: late, never lost.

Some detours are not heard at all: a lost patient who looks around a zone for a minute may pass unseen
(a phone probes about once or twice a minute), and then A -> B -> A reads as a plain walk to B. The flow
calibration (edge/flow_calibration.py, fitted on the simulator's truth) says, per zone, which share of the
detours the edge sees (``detection``); each published zone carries it, and its ``rate`` is the estimate
``back_and_forth / detection / visitors``. ``back_and_forth`` stays the count of phones seen (the k rule
applies to it). A zone without a fitted share has ``detection`` 1.0: what was seen, uncorrected. (Transitions are not
corrected so: a per-pair ratio fitted the same way moved the busy pairs' mean error from -3 % to +5 % on a
held-out day and no closer to 15 %, docs/benchmarks.md "Patient flow".)

Walks through the entrance hall are often unheard too: people cross it in a minute and their phone is first
heard further in. A track that starts in a zone the site says is reached through another (``entered_via``,
floorops.site.Zone) counts that walk: in ``tracked``, not in the transit times (nobody heard it), and a pair
with no heard transit waits, as under k, until it has one. Not in the first ``track_idle_s`` after a start or
a key rotation: a phone first heard then may have been there all along.

Randomised MACs break tracks: a phone that picks a new address every few minutes looks like one phone
leaving and a new one arriving. Such hashes are not followed at all (counted only, to scale up): flows
come from phones with their burnt-in address, and ``count`` is scaled by the share of people those phones
stand for (``scale``: the occupancy estimate over the followed phones heard, pooled over the past
intervals with ``scale_halflife_s``; the pipeline supplies it), and by the walks that visits no probe heard
broke (edge/processors/unheard_visits.py: estimated from the visits heard once and twice). ``tracked`` is the
unscaled count the k rule applies to. The wandering *rate* is
a ratio among tracked phones and needs no scale. docs/benchmarks.md measures what this costs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from edge.processors.unheard_visits import UnheardVisits
from floorops.config import EdgeConfig

OTHER = "other"


@dataclass(frozen=True)
class FlowSettings:
    """The flow tracker's settings; the defaults are the edge configuration's (floorops/config.py, where
    each one says why)."""

    interval_s: float = EdgeConfig.flows_interval_s  # one aggregate per interval
    k: int = EdgeConfig.flows_k  # fewest phones behind a published count
    rssi_min: int = EdgeConfig.occupancy_rssi_min  # weaker sightings are the corridor next door
    track_idle_s: float = EdgeConfig.flows_track_idle_s  # a phone unheard this long has left: track forgotten
    wander_window_s: float = EdgeConfig.flows_wander_window_s  # A -> B -> A within this long is back and forth ...
    service_min_s: float = EdgeConfig.flows_service_min_s  # ... unless the phone stayed in B this long (served)
    carry_max: int = 8  # intervals (2 hours) a pair's count under k may wait for more before it goes to "other"
    lateness_s: float = EdgeConfig.flows_lateness_s  # closed once sightings this much later have come in
    scale_halflife_s: float = EdgeConfig.flows_scale_halflife_s  # people per followed phone, pooled
    unheard_halflife_s: float = EdgeConfig.flows_unheard_halflife_s  # visits no probe heard, estimated

    @classmethod
    def of(cls, e: EdgeConfig) -> FlowSettings:
        """The settings of the edge's configuration (``[edge]`` flows_*, occupancy_rssi_min)."""
        return cls(interval_s=e.flows_interval_s, k=e.flows_k, rssi_min=e.occupancy_rssi_min,
                   track_idle_s=e.flows_track_idle_s, wander_window_s=e.flows_wander_window_s,
                   service_min_s=e.flows_service_min_s, lateness_s=e.flows_lateness_s,
                   scale_halflife_s=e.flows_scale_halflife_s, unheard_halflife_s=e.flows_unheard_halflife_s)

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.k < 1 or self.track_idle_s <= 0 or self.wander_window_s <= 0:
            raise ValueError("flows: interval_s, track_idle_s, wander_window_s must be > 0 and k >= 1")
        if min(self.service_min_s, self.carry_max, self.lateness_s, self.scale_halflife_s,
               self.unheard_halflife_s) < 0:
            raise ValueError("flows: service_min_s, carry_max, lateness_s and the half-lives must be >= 0")


@dataclass
class _Visit:
    zone: str
    first_ms: int
    last_ms: int
    origin: str = ""  # the zone the phone was in before ("" not known: first heard here)
    heard: int = 1  # sightings in this visit


@dataclass
class _Track:
    """One phone, in memory only: where it is, and the two visits before (for A -> B -> A)."""

    now: _Visit
    before: list[_Visit] = field(default_factory=list)  # oldest first, at most 2


@dataclass
class _PairCount:
    tracked: int = 0
    transits_ms: list[int] = field(default_factory=list)
    age: int = 0  # intervals carried so far


@dataclass
class _ZoneWander:
    visitors: int = 0
    back_and_forth: int = 0
    detours_ms: list[int] = field(default_factory=list)
    via: dict[str, int] = field(default_factory=dict)
    visitors_age: int = 0  # intervals the visitors (and, apart, the back-and-forths) have been carried
    bnf_age: int = 0


class FlowTracker:
    """Feed it sightings (``observe``); ``close(now_ms)`` returns the finished intervals' aggregates."""

    def __init__(self, settings: FlowSettings | None = None, detection: dict[str, float] | None = None,
                 entered_via: dict[str, str] | None = None) -> None:
        self.s = settings or FlowSettings()
        self.detection = dict(detection or {})  # zone -> share of its detours the edge sees (calibrated)
        # zone -> the zone a phone first heard there walked in through unheard (floorops.site.Zone.entered_via)
        self.entered_via = dict(entered_via or {})
        # First sighting since start (or since forget()): for track_idle_s after it, a phone first heard may have
        # been there all along (the edge restarted, the key rotated), so no walk in is inferred for it.
        self.listening_since: int | None = None
        if any(not 0.0 < d <= 1.0 for d in self.detection.values()):
            raise ValueError("flows: a zone's detection share must be in (0, 1]")
        self.interval_ms = int(self.s.interval_s * 1000)
        self.tracks: dict[str, _Track] = {}
        self.pairs: dict[int, dict[tuple[str, str], _PairCount]] = {}  # interval start -> pair -> count
        self.zones: dict[int, dict[str, _ZoneWander]] = {}
        self.carried_pairs: dict[tuple[str, str], _PairCount] = {}
        self.carried_zones: dict[str, _ZoneWander] = {}
        self.other = 0  # tracked transitions dropped after carry_max, waiting to reach k
        self.randomised_ignored = 0  # sightings of randomised addresses (not followed), since the last close
        self.closed_until = 0  # start of the first interval still open
        self.late = 0  # sightings older than the closed intervals (counted, not used)
        self.unheard = UnheardVisits(self.entered_via)  # visits no probe heard, estimated

    # -- input ----------------------------------------------------------------------------------------

    def observe(self, zone: str, mac_hash: str, ts_ms: int, rssi: int, randomised: bool) -> None:
        if not zone or rssi < self.s.rssi_min:
            return
        if randomised:
            self.randomised_ignored += 1
            return
        if ts_ms < self.closed_until:
            self.late += 1
            return
        if self.listening_since is None:
            self.listening_since = ts_ms
        t = self.tracks.get(mac_hash)
        if t is None or ts_ms - t.now.last_ms > self.s.track_idle_s * 1000:
            if t is not None:
                self._visit_over(t.now, "")
            visit = _Visit(zone, ts_ms, ts_ms)
            self.tracks[mac_hash] = _Track(visit)
            self._zone(ts_ms, zone).visitors += 1
            entry = self.entered_via.get(zone)
            if entry and entry != zone and ts_ms - self.listening_since > self.s.track_idle_s * 1000:
                # First heard further in: it crossed the entry unheard (not just unheard since a restart).
                self._pairs(ts_ms).setdefault((entry, zone), _PairCount()).tracked += 1
                visit.origin = entry
            return
        if ts_ms < t.now.first_ms:
            return  # out of order across a zone change: too old to place; the next sighting will do
        if zone == t.now.zone:
            t.now.last_ms = max(t.now.last_ms, ts_ms)
            t.now.heard += 1
            return
        # The phone has moved: from t.now.zone to zone.
        prev = t.now
        transit = max(0, ts_ms - prev.last_ms)
        pc = self._pairs(ts_ms).setdefault((prev.zone, zone), _PairCount())
        pc.tracked += 1
        pc.transits_ms.append(transit)
        self._visit_over(prev, zone)
        t.before.append(prev)
        del t.before[:-2]
        t.now = _Visit(zone, ts_ms, ts_ms, prev.zone)
        zw = self._zone(ts_ms, zone)
        if len(t.before) == 2:
            a, b = t.before
            away_ms = ts_ms - a.last_ms
            if (a.zone == zone and b.zone != zone and away_ms <= self.s.wander_window_s * 1000
                    and b.last_ms - b.first_ms < self.s.service_min_s * 1000):
                # Back where it was, after a detour that served nothing: not a new visitor, a back and forth.
                zw.back_and_forth += 1
                zw.detours_ms.append(away_ms)
                zw.via[b.zone] = zw.via.get(b.zone, 0) + 1
                t.before.clear()  # A -> B -> A -> B -> A counts twice, not three times
                return
        zw.visitors += 1

    def _visit_over(self, visit: _Visit, dest: str) -> None:
        self.unheard.visit(visit.origin, visit.zone, dest, visit.heard)

    def present(self, now_ms: int, window_ms: int) -> int:
        """Followed phones heard within ``window_ms`` before ``now_ms``, each once, in the zone it is in now:
        unlike the occupancy windows, a phone that moved on is not also counted where it was."""
        return sum(1 for t in self.tracks.values() if 0 <= now_ms - t.now.last_ms <= window_ms)

    def forget(self) -> None:
        """Drop every track (the hashing key rotated: today's hashes will not match yesterday's anyway)."""
        self.tracks.clear()
        self.listening_since = None

    def due(self, now_ms: int) -> int:
        """How many intervals ``close(now_ms)`` would close."""
        first, limit = self._closable(now_ms)
        return max(0, (limit - first) // self.interval_ms)

    def _closable(self, now_ms: int) -> tuple[int, int]:
        """The first interval still open, and the start of the first one not over at ``now_ms``."""
        limit = self._start(now_ms - int(self.s.lateness_s * 1000))  # intervals starting before it are over
        if self.closed_until:
            return self.closed_until, limit
        starts = sorted(set(self.pairs) | set(self.zones))
        return (starts[0] if starts else limit), limit

    def _start(self, ts_ms: int) -> int:
        return ts_ms - ts_ms % self.interval_ms

    def _pairs(self, ts_ms: int) -> dict[tuple[str, str], _PairCount]:
        return self.pairs.setdefault(self._start(ts_ms), {})

    def _zone(self, ts_ms: int, zone: str) -> _ZoneWander:
        return self.zones.setdefault(self._start(ts_ms), {}).setdefault(zone, _ZoneWander())

    # -- output ---------------------------------------------------------------------------------------

    def close(self, now_ms: int, scale: float = 1.0) -> list[dict[str, Any]]:
        """Aggregates of every interval that ended at least ``lateness_s`` before ``now_ms`` (device time),
        oldest first; forgets idle tracks. Each is a JSON-ready dict (docs/edge.md, "Patient flow")."""
        idle_ms = self.s.track_idle_s * 1000
        for h in [h for h, t in self.tracks.items() if now_ms - t.now.last_ms > idle_ms]:
            self._visit_over(self.tracks.pop(h).now, "")
        out: list[dict[str, Any]] = []
        first, limit = self._closable(now_ms)
        self.closed_until = first
        if limit > first and self.s.unheard_halflife_s:
            self.unheard.pool(0.5 ** ((limit - first) / 1000.0 / self.s.unheard_halflife_s))
        while self.closed_until < limit:
            start = self.closed_until
            out.append(self._close_one(start, scale))
            self.closed_until = start + self.interval_ms
        return out

    def _close_one(self, start: int, scale: float) -> dict[str, Any]:
        k = self.s.k
        pairs = self.carried_pairs
        for key, pc in self.pairs.pop(start, {}).items():
            c = pairs.setdefault(key, _PairCount())
            c.tracked += pc.tracked
            c.transits_ms.extend(pc.transits_ms)
        flows: list[dict[str, Any]] = []
        self.carried_pairs = {}
        for (origin, dest), pc in sorted(pairs.items()):
            if pc.tracked >= k and pc.transits_ms:  # (walks inferred at the entry have no transit time)
                unheard = self.unheard.factor(origin, dest) if self.s.unheard_halflife_s else 1.0
                flows.append({"origin": origin, "dest": dest, "count": round(pc.tracked * unheard * scale),
                              "tracked": pc.tracked,
                              "median_transit_s": round(statistics.median(pc.transits_ms) / 1000.0, 1)})
            elif pc.age + 1 > self.s.carry_max:
                self.other += pc.tracked
            else:
                pc.age += 1
                self.carried_pairs[(origin, dest)] = pc
        other = 0
        if self.other >= k:
            other, self.other = self.other, 0
        zones = self.carried_zones
        for zone, new in self.zones.pop(start, {}).items():
            acc = zones.setdefault(zone, _ZoneWander())
            acc.visitors += new.visitors
            acc.back_and_forth += new.back_and_forth
            acc.detours_ms.extend(new.detours_ms)
            for b_zone, n in new.via.items():
                acc.via[b_zone] = acc.via.get(b_zone, 0) + n
        wandering: list[dict[str, Any]] = []
        self.carried_zones = {}
        for zone, zw in sorted(zones.items()):
            # Visitors and back-and-forths are published apart, each once it reaches k, so that a quiet
            # zone's detours are delayed, never lost: summed over the day the rate is unbiased.
            detection = self.detection.get(zone, 1.0)
            entry: dict[str, Any] = {"zone": zone, "visitors": 0, "back_and_forth": 0, "rate": None,
                                     "detection": detection, "extra_walk_s": 0.0, "via": {}}
            keep = _ZoneWander()
            if zw.visitors >= k:
                entry["visitors"] = zw.visitors
            elif zw.visitors:  # a zone's figures wait as long as needed: a quiet zone's are late, not lost
                keep.visitors, keep.visitors_age = zw.visitors, zw.visitors_age + 1
            if zw.back_and_forth >= k:
                via_k = {v: n for v, n in sorted(zw.via.items()) if n >= k}
                rest = zw.back_and_forth - sum(via_k.values())
                if rest:
                    via_k[OTHER] = rest
                entry.update(back_and_forth=zw.back_and_forth, via=via_k,
                             extra_walk_s=round(statistics.median(zw.detours_ms) / 1000.0, 1))
            elif zw.back_and_forth:
                keep.back_and_forth, keep.detours_ms, keep.via = zw.back_and_forth, zw.detours_ms, zw.via
                keep.bnf_age = zw.bnf_age + 1
            if entry["visitors"]:
                entry["rate"] = round(entry["back_and_forth"] / detection / entry["visitors"], 4)
            if entry["visitors"] or entry["back_and_forth"]:
                wandering.append(entry)
            if keep.visitors or keep.back_and_forth:
                self.carried_zones[zone] = keep
        ignored, self.randomised_ignored = self.randomised_ignored, 0
        return {"v": 1, "start": start, "end": start + self.interval_ms, "interval_s": self.s.interval_s, "k": k,
                "scale": round(scale, 3), "flows": flows, "other": round(other * scale), "wandering": wandering,
                "randomised_ignored": ignored}

