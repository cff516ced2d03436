"""Individual patients on top of the flow model's counts (live simulation only).

The flow model says *how many* patients finished, moved and were called at each node in a minute;
:class:`PatientTracker` decides *who*, so that devices can show real tickets (issued, called at a
counter, served), phones can be seen by the Wi-Fi probes in the zone a patient is in, and wheelchairs
can be borrowed and returned. The tracker follows the counts exactly, so the ground truth of the live
simulation is the flow model's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from firmware_sim.faults import UnknownFault
from firmware_sim.flow import FlowModel, StepResult

PHONE_SHARE = 0.80  # patients carrying a phone with Wi-Fi on
RANDOMISING_SHARE = 0.30  # of phones, those that randomise their MAC address
MAC_ROTATE_MIN = (3.0, 10.0)  # a randomising phone picks a new MAC this often (minutes)
NO_SHOW_SHARE = 0.03  # called tickets whose patient never comes to the counter
WHEELCHAIR_SHARE = 0.008  # patients who borrow a wheelchair at the entrance: 40 of 5,000 a day (「日均需求量达40次」)
WHEELCHAIR_FIRST_ZONE_KINDS = ("entrance", "registration")  # chairs are taken from stations there first
WHEELCHAIR_RETURN_SOC_PCT = (25.0, 85.0)  # a returned chair's battery, uniformly drawn
# Patients who get lost on their way to imaging (「引导标识不清晰」): they reach the imaging zone, look around
# for LOOK_MIN minutes, walk into a neighbouring zone for AWAY_MIN minutes, and come back (A -> B -> A).
LOST_SHARE = 0.05  # of arrivals at an imaging zone, with clear signs
LOST_SHARE_UNCLEAR = 0.30  # ... when the zone's signage is "unclear" (a fault: inject <zone> signage_unclear)
LOOK_MIN = (1, 2)  # whole minutes, inclusive
AWAY_MIN = (2, 4)
LOST_ZONE_KINDS = ("imaging",)
# Vendor prefixes (OUIs) for phones with their burnt-in, globally administered address.
OUIS = ("3c:22:fb", "f0:18:98", "a4:83:e7", "dc:a6:32", "64:9a:be", "88:66:5a", "ac:bc:32", "40:4e:36")


TICKETS_PER_ROUND = 999  # ticket numbers run 001..999, then start again


def ticket_label(node: int, nth_of_day: int) -> str:
    """The ticket a calling system prints for the ``nth_of_day`` ticket (from 1) of the queue that is flow node
    ``node``: a letter per node, three digits that start again at 1 each morning and after 999."""
    return f"{chr(ord('A') + node % 26)}{(nth_of_day - 1) % TICKETS_PER_ROUND + 1:03d}"


@dataclass
class Patient:
    pid: int
    node: int
    mac: str | None = None
    randomises: bool = False
    next_rotation_min: float = 0.0
    ticket: str = ""
    issued_ms: int = 0
    counter: str = ""
    wheelchair: bool = False
    # Lost on the way: (the zone walked into, minute it leaves its node's zone, minute it is back); None if not.
    detour: tuple[str, float, float] | None = None
    detour_started: bool = False


@dataclass
class FlowTruth:
    """Ground truth of the patients' movements between zones, per hour (start, epoch ms): transitions per
    zone pair, arrivals per zone (from another zone, or from outside), and back-and-forths per zone (a lost
    patient who came back). A detour's own two transitions (A -> B, B -> A) are transitions too."""

    transitions: dict[tuple[int, str, str], int] = field(default_factory=dict)
    arrivals: dict[tuple[int, str], int] = field(default_factory=dict)
    back_and_forth: dict[tuple[int, str], int] = field(default_factory=dict)
    detour_min: list[float] = field(default_factory=list)
    # The same, made by patients whose phone keeps its burnt-in address (what the edge can follow): the
    # oracle of the benchmark (docs/benchmarks.md, "Patient flow")
    followable: dict[tuple[int, str, str], int] = field(default_factory=dict)
    followable_arrivals: dict[tuple[int, str], int] = field(default_factory=dict)
    followable_back_and_forth: dict[tuple[int, str], int] = field(default_factory=dict)

    def move(self, t_ms: int, origin: str | None, dest: str | None, followable: bool = False) -> None:
        hour = t_ms - t_ms % 3_600_000
        if origin is not None and dest is not None and origin != dest:
            key = (hour, origin, dest)
            self.transitions[key] = self.transitions.get(key, 0) + 1
            if followable:
                self.followable[key] = self.followable.get(key, 0) + 1
        if dest is not None and origin != dest and followable:
            self.followable_arrivals[(hour, dest)] = self.followable_arrivals.get((hour, dest), 0) + 1
        if dest is not None and origin != dest:
            self.arrivals[(hour, dest)] = self.arrivals.get((hour, dest), 0) + 1


@dataclass(frozen=True)
class QueueEvent:
    """A ticket event at one queue, at ``ts`` ms."""

    ts: int
    queue: str
    event: str  # ticket_issued | ticket_called | ticket_served | ticket_no_show
    ticket: str
    counter: str = ""
    wait_s: float | None = None  # on ticket_called: issue-to-call time


@dataclass
class StepEvents:
    """What the devices need from one minute of flow."""

    queue_events: list[QueueEvent] = field(default_factory=list)
    kiosk_txns: dict[str, int] = field(default_factory=dict)  # zone -> transactions at kiosks
    zone_entries: dict[str, int] = field(default_factory=dict)  # zone -> people who entered
    borrowed: int = 0  # wheelchairs taken at the entrance
    returned: int = 0  # wheelchairs brought back


class PatientTracker:
    """Who is where, per node: FIFO of waiting tickets, set of patients at counters or dwelling."""

    def __init__(self, model: FlowModel, rng: np.random.Generator, lost_rng: np.random.Generator | None = None) -> None:
        self.model = model
        self.rng = rng
        # Its own stream, so that seeded runs draw the same flow, tickets and MACs as before it existed.
        self.lost_rng = lost_rng or np.random.default_rng(0)
        self.truth = FlowTruth()
        self.t_ms = 0
        self.signage_unclear: set[str] = set()
        floors = {z.id: z.floor for z in model.site.zones}
        kinds = {z.id: z.kind for z in model.site.zones}
        self.lost_zones = {z for z, k in kinds.items() if k in LOST_ZONE_KINDS}
        # Where a lost patient wanders: another zone of the same kind on the floor, else any on the floor.
        self.detour_zones: dict[str, list[str]] = {}
        for z in self.lost_zones:
            same = [o for o in kinds if o != z and floors[o] == floors[z] and kinds[o] == kinds[z]]
            self.detour_zones[z] = same or [o for o in kinds if o != z and floors[o] == floors[z]]
        self._away: dict[str, set[int]] = {}  # zone -> patients physically there on a detour
        n = len(model.nodes)
        self.waiting: list[deque[int]] = [deque() for _ in range(n)]
        self.present: list[list[int]] = [[] for _ in range(n)]
        self.patients: dict[int, Patient] = {}
        self._next_pid = 1
        self._ticket_no = [0] * n
        self._free_counters: list[list[int]] = [list(range(1, nd.counters + 1)) for nd in model.nodes]
        self._zone_nodes: dict[str, list[int]] = {}
        for i, nd in enumerate(model.nodes):
            self._zone_nodes.setdefault(nd.zone, []).append(i)
        self._kiosk_nodes = {i for i, nd in enumerate(model.nodes) if nd.name.startswith("dwell:kiosk_")}
        self.minute = 0.0

    # -----------------------------------------------------------------------------------------

    def _new_mac(self, randomised: bool) -> str:
        octets = self.rng.integers(0, 256, size=6)
        if randomised:
            octets[0] = (int(octets[0]) | 0x02) & 0xFE
            return ":".join(f"{int(o):02x}" for o in octets)
        oui = OUIS[int(self.rng.integers(0, len(OUIS)))]
        return oui + ":" + ":".join(f"{int(o):02x}" for o in octets[3:])

    def _admit(self, node: int) -> Patient:
        p = Patient(self._next_pid, node)
        self._next_pid += 1
        if self.rng.random() < PHONE_SHARE:
            p.randomises = bool(self.rng.random() < RANDOMISING_SHARE)
            p.mac = self._new_mac(p.randomises)
            if p.randomises:
                p.next_rotation_min = self.minute + float(self.rng.uniform(*MAC_ROTATE_MIN))
        self.patients[p.pid] = p
        return p

    def new_day(self) -> None:
        """Ticket numbers start again at 1 each morning, as on real calling systems."""
        self._ticket_no = [0] * len(self._ticket_no)

    def _ts(self, t0_ms: int) -> int:
        return t0_ms + int(self.rng.integers(0, 60_000))

    def apply(self, res: StepResult, t0_ms: int, minute: float) -> StepEvents:
        """Move identities to match one step of counts (batch index 0); return the device-level events."""
        self.minute = minute
        self.t_ms = t0_ms
        model = self.model
        nodes = model.nodes
        n = len(nodes)
        out = StepEvents()
        arriving: list[list[int]] = [[] for _ in range(n)]
        came_from: dict[int, str] = {}
        self._detours(t0_ms, minute)
        # 1. Leave: finished patients, chosen at random among those present (memoryless service).
        for i in range(n):
            f = int(res.finished[0, i])
            if not f:
                continue
            here = self.present[i]
            picks = self.rng.choice(len(here), size=f, replace=False)
            chosen = [here[k] for k in picks]
            keep = set(chosen)
            self.present[i] = [pid for pid in here if pid not in keep]
            dests: list[int] = []
            for j in range(n + 1):
                dests.extend([j] * int(res.routed[0, i, j]))
            order = self.rng.permutation(len(dests))
            for pid, k in zip(chosen, order):
                p = self.patients[pid]
                if nodes[i].kind == "queue":
                    ev = "ticket_no_show" if self.rng.random() < NO_SHOW_SHARE else "ticket_served"
                    out.queue_events.append(QueueEvent(self._ts(t0_ms), nodes[i].name, ev, p.ticket, p.counter))
                    if p.counter:
                        self._free_counters[i].append(int(p.counter))
                        p.counter = ""
                if i in self._kiosk_nodes:
                    out.kiosk_txns[nodes[i].zone] = out.kiosk_txns.get(nodes[i].zone, 0) + 1
                j = dests[k]
                came_from[pid] = self._leave_detour(p, nodes[i].zone)
                if j == n:
                    if p.wheelchair:
                        out.returned += 1
                    del self.patients[pid]
                else:
                    arriving[j].append(pid)
        # 2. Arrive: new outpatients at the entrance, emergencies at triage.
        for _ in range(int(res.new_outpatients[0])):
            p = self._admit(model.entry_outpatient)
            if self.rng.random() < WHEELCHAIR_SHARE:
                p.wheelchair = True
                out.borrowed += 1
            arriving[model.entry_outpatient].append(p.pid)
        for j in range(n):
            for _ in range(int(res.new_emergency_split[0, j])):
                arriving[j].append(self._admit(j).pid)
        # 3. Join: a ticket at a queue, or a dwell.
        for j in range(n):
            if not arriving[j]:
                continue
            zone = nodes[j].zone
            out.zone_entries[zone] = out.zone_entries.get(zone, 0) + len(arriving[j])
            for pid in arriving[j]:
                p = self.patients[pid]
                p.node = j
                self._arrive(p, came_from.get(pid), zone, t0_ms, minute)
                if nodes[j].kind == "queue":
                    self._ticket_no[j] = self._ticket_no[j] % TICKETS_PER_ROUND + 1
                    p.ticket = ticket_label(j, self._ticket_no[j])
                    p.issued_ms = self._ts(t0_ms)
                    out.queue_events.append(QueueEvent(p.issued_ms, nodes[j].name, "ticket_issued", p.ticket))
                    self.waiting[j].append(pid)
                else:
                    self.present[j].append(pid)
        # 4. Call: the head of each queue goes to a free counter.
        for j in range(n):
            s = int(res.started[0, j])
            for _ in range(s):
                pid = self.waiting[j].popleft()
                p = self.patients[pid]
                free = self._free_counters[j]
                p.counter = str(free.pop(0) if free else 1)
                ts = max(self._ts(t0_ms), p.issued_ms + 1)
                out.queue_events.append(
                    QueueEvent(ts, nodes[j].name, "ticket_called", p.ticket, p.counter, (ts - p.issued_ms) / 1000.0)
                )
                self.present[j].append(pid)
        # 5. Randomising phones pick new addresses.
        for p in self.patients.values():
            if p.randomises and minute >= p.next_rotation_min:
                p.mac = self._new_mac(True)
                p.next_rotation_min = minute + float(self.rng.uniform(*MAC_ROTATE_MIN))
        out.queue_events.sort(key=lambda e: e.ts)
        return out

    # -- lost patients ---------------------------------------------------------------------------

    def _arrive(self, p: Patient, origin: str | None, zone: str, t_ms: int, minute: float) -> None:
        """``p`` joins a node in ``zone`` coming from ``origin`` (None: from outside): the truth, and whether
        it gets lost first (imaging zones)."""
        self.truth.move(t_ms, origin, zone, bool(p.mac) and not p.randomises)
        if zone not in self.lost_zones or origin == zone or not self.detour_zones.get(zone):
            return
        share = LOST_SHARE_UNCLEAR if zone in self.signage_unclear else LOST_SHARE
        if self.lost_rng.random() >= share:
            return
        look = int(self.lost_rng.integers(LOOK_MIN[0], LOOK_MIN[1] + 1))
        away = int(self.lost_rng.integers(AWAY_MIN[0], AWAY_MIN[1] + 1))
        where = self.detour_zones[zone][int(self.lost_rng.integers(0, len(self.detour_zones[zone])))]
        p.detour = (where, minute + look, minute + look + away)
        p.detour_started = False

    def _detours(self, t_ms: int, minute: float) -> None:
        """Lost patients walk off into the neighbouring zone, and come back, on the minute."""
        for p in self.patients.values():
            if p.detour is None:
                continue
            where, start, end = p.detour
            home = self.model.nodes[p.node].zone
            if not p.detour_started and minute >= start:
                p.detour_started = True
                self._away.setdefault(where, set()).add(p.pid)
                self.truth.move(t_ms, home, where, bool(p.mac) and not p.randomises)
            if p.detour_started and minute >= end:
                self._away[where].discard(p.pid)
                hour = t_ms - t_ms % 3_600_000
                t = self.truth
                t.transitions[(hour, where, home)] = t.transitions.get((hour, where, home), 0) + 1
                t.back_and_forth[(hour, home)] = t.back_and_forth.get((hour, home), 0) + 1
                if p.mac and not p.randomises:
                    t.followable[(hour, where, home)] = t.followable.get((hour, where, home), 0) + 1
                    t.followable_back_and_forth[(hour, home)] = t.followable_back_and_forth.get((hour, home), 0) + 1
                self.truth.detour_min.append(end - start)
                p.detour = None
                p.detour_started = False

    def _leave_detour(self, p: Patient, home: str) -> str:
        """The zone ``p`` really leaves from: the detour's zone if it was served while away (it ends there)."""
        if p.detour is None:
            return home
        where = p.detour[0] if p.detour_started else home
        if p.detour_started:
            self._away[p.detour[0]].discard(p.pid)
        p.detour = None
        p.detour_started = False
        return where

    def set_signage(self, zone: str, unclear: bool) -> None:
        """The fault ``signage_unclear`` on an imaging zone (``clear`` puts the signs right)."""
        self.check_signage(zone)
        (self.signage_unclear.add if unclear else self.signage_unclear.discard)(zone)

    # -----------------------------------------------------------------------------------------

    def check_signage(self, zone: str) -> None:
        """UnknownFault unless ``zone`` has signs patients get lost by (an imaging zone)."""
        if zone not in self.lost_zones:
            raise UnknownFault(f"zone {zone!r} has no signage to spoil; imaging zones: "
                               f"{', '.join(sorted(self.lost_zones))}")

    def phones_in(self, zone: str) -> list[str]:
        """MAC addresses of the phones of everyone in ``zone`` right now (lost patients where they walked)."""
        macs: list[str] = []
        for i in self._zone_nodes.get(zone, []):
            for pid in list(self.waiting[i]) + self.present[i]:
                p = self.patients[pid]
                if p.mac and not p.detour_started:
                    macs.append(p.mac)
        for pid in self._away.get(zone, ()):
            mac = self.patients[pid].mac
            if mac:
                macs.append(mac)
        return macs

    def check(self, waiting: np.ndarray, serving: np.ndarray) -> None:
        """Identities and counts must agree (a bug otherwise)."""
        for i in range(len(self.model.nodes)):
            if len(self.waiting[i]) != int(waiting[0, i]) or len(self.present[i]) != int(serving[0, i]):
                raise AssertionError(f"tracker out of step at {self.model.nodes[i].name}")
