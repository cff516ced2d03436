"""The patient-flow model: where patients go, how long they wait, and the ground truth it produces.

A patient's visit is a walk through *nodes*: a queue served by the site's counters (registration,
clinic, lab, imaging, payment, pharmacy, emergency triage) or a *dwell* in a zone without a queue
(the entrance hall, a self-service kiosk). The model advances in one-minute steps and is vectorised
over a batch of independent days, so the same :meth:`FlowModel.step` drives the live simulation
(batch of one, with individual patients tracked on top by :mod:`firmware_sim.patients`) and the fast
history (batch of hundreds of days). Service is memoryless with the queue's mean ``service_min``;
routing after each node follows fixed probabilities derived from the zones' kinds, so any site file
with the usual zone kinds gets a plausible flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from floorops.site import Site

# A day of flow starts empty this long before local midnight (an outpatient hospital at 22:00).
WARMUP_MIN = 120

# Where outpatients go first, after the entrance hall (shares of arrivals).
FIRST_STOP = {
    "registration": 0.10,  # registration counter (REG-1)
    "kiosk_registration": 0.14,  # self-service registration kiosk
    "clinic": 0.10,  # registered by app, straight to the clinic
    "lab": 0.22,  # ordered tests, blood draw
    "imaging": 0.04,
    "pharmacy": 0.05,  # prescription refills paid by app
    "payment": 0.08,  # payment counter (REG-2)
    "kiosk_payment": 0.10,  # payment or report printing at a kiosk
    "exit": 0.17,  # companions, visitors, enquiries: through the hall and out
}
AFTER_REGISTRATION = {"clinic": 0.80, "lab": 0.12, "imaging": 0.08}
AFTER_CLINIC = {"lab": 0.25, "imaging": 0.12, "payment": 0.25, "kiosk_payment": 0.20, "exit": 0.18}
AFTER_LAB = {"payment": 0.10, "kiosk_payment": 0.10, "exit": 0.80}
AFTER_IMAGING = {"payment": 0.15, "kiosk_payment": 0.15, "exit": 0.70}
AFTER_PAYMENT = {"pharmacy": 0.40, "exit": 0.60}
AFTER_TRIAGE = {"emergency_care": 1.0}
AFTER_EMERGENCY = {"lab": 0.20, "imaging": 0.15, "pharmacy": 0.25, "exit": 0.40}
DWELL_MIN = {"entrance": 3.0, "kiosk_registration": 3.0, "kiosk_payment": 2.0, "emergency_care": 90.0}

# Opening hours (local, minutes from midnight) per zone kind: full counters inside, one outside.
OPEN_HOURS = {
    "registration": (7 * 60, 18 * 60),
    "clinic": (8 * 60, 17 * 60 + 30),
    "paediatrics": (8 * 60, 17 * 60 + 30),
    "lab": (7 * 60, 17 * 60),
    "imaging": (8 * 60, 18 * 60),
    "pharmacy": (7 * 60 + 30, 20 * 60),
    "emergency": (0, 24 * 60),
}
LUNCH = (12 * 60, 13 * 60)  # clinics run half their rooms over lunch


@dataclass(frozen=True)
class Node:
    """One place a patient can be: a queue with counters, or a dwell without one."""

    name: str
    zone: str
    zone_index: int
    kind: str  # "queue" or "dwell"
    counters: int = 0
    service_min: float = 1.0
    zone_kind: str = ""


@dataclass
class FlowState:
    """Counts per node for a batch of days: waiting, in service (queues) or present (dwells)."""

    waiting: np.ndarray  # (batch, nodes)
    serving: np.ndarray  # (batch, nodes)

    @classmethod
    def empty(cls, batch: int, nodes: int) -> "FlowState":
        return cls(np.zeros((batch, nodes), dtype=np.int64), np.zeros((batch, nodes), dtype=np.int64))


@dataclass
class StepResult:
    """What happened in one minute, per node (batch, nodes) and per route (batch, nodes, nodes+1)."""

    entered: np.ndarray  # joined the node (tickets issued, or entered the dwell)
    started: np.ndarray  # called to a counter (queues only)
    finished: np.ndarray  # left the node
    routed: np.ndarray  # finished at i and went to j (last column: left the hospital)
    new_outpatients: np.ndarray  # (batch,)
    new_emergencies: np.ndarray  # (batch,)
    new_emergency_split: np.ndarray  # (batch, nodes): where the new emergencies went


@dataclass
class FlowModel:
    """Nodes, routing and opening hours of one site; :meth:`step` advances a batch by one minute."""

    site: Site
    nodes: list[Node] = field(init=False)
    routing: np.ndarray = field(init=False)  # (nodes, nodes + 1), rows sum to 1
    entry_outpatient: int = field(init=False)
    entry_emergency: np.ndarray = field(init=False)  # probabilities over nodes
    zone_ids: list[str] = field(init=False)

    def __post_init__(self) -> None:
        site = self.site
        self.zone_ids = [z.id for z in site.zones]
        zkind = {z.id: z.kind for z in site.zones}
        zidx = {z.id: i for i, z in enumerate(site.zones)}
        nodes: list[Node] = []
        for q in site.queues:
            nodes.append(Node(q.id, q.zone, zidx[q.zone], "queue", q.counters, q.service_min, zkind[q.zone]))
        entrance = next((z.id for z in site.zones if z.kind == "entrance"), None)
        reg_zone = next((z.id for z in site.zones if z.kind == "registration"), entrance or site.zones[0].id)
        entrance = entrance or reg_zone
        dwell = {
            "entrance": entrance, "kiosk_registration": reg_zone, "kiosk_payment": reg_zone,
        }
        er_zone = next((z.id for z in site.zones if z.kind == "emergency"), None)
        if er_zone is not None:
            dwell["emergency_care"] = er_zone  # after triage: treatment and observation
        for name, zone in dwell.items():
            nodes.append(Node(f"dwell:{name}", zone, zidx[zone], "dwell", 0, DWELL_MIN[name], zkind[zone]))
        self.nodes = nodes
        index = {n.name: i for i, n in enumerate(nodes)}

        def queues_of(*kinds: str) -> list[int]:
            return [i for i, n in enumerate(nodes) if n.kind == "queue" and n.zone_kind in kinds]

        reg_queues = queues_of("registration")
        groups: dict[str, dict[int, float]] = {
            "registration": _by_capacity(nodes, reg_queues[:1]),
            "payment": _by_capacity(nodes, reg_queues[1:] or reg_queues[:1]),
            "clinic": _by_capacity(nodes, queues_of("clinic", "paediatrics")),
            "lab": _by_capacity(nodes, queues_of("lab")),
            "imaging": _by_capacity(nodes, queues_of("imaging")),
            "pharmacy": _by_capacity(nodes, queues_of("pharmacy")),
            "emergency": _by_capacity(nodes, queues_of("emergency")),
            "kiosk_registration": {index["dwell:kiosk_registration"]: 1.0},
            "kiosk_payment": {index["dwell:kiosk_payment"]: 1.0},
            "emergency_care": {index["dwell:emergency_care"]: 1.0} if "dwell:emergency_care" in index else {},
        }
        n = len(nodes)
        routing = np.zeros((n, n + 1))

        def spread(row: int, shares: dict[str, float]) -> None:
            for target, share in shares.items():
                members = groups.get(target, {}) if target != "exit" else {}
                if target == "exit" or not members:
                    routing[row, n] += share  # nowhere to go on this site: leave
                    continue
                for j, w in members.items():
                    routing[row, j] += share * w

        for i, node in enumerate(nodes):
            if node.name == "dwell:entrance":
                spread(i, FIRST_STOP)
            elif node.name == "dwell:kiosk_registration" or i in reg_queues[:1]:
                spread(i, AFTER_REGISTRATION)
            elif node.name == "dwell:kiosk_payment" or (i in reg_queues[1:]):
                spread(i, AFTER_PAYMENT)
            elif node.zone_kind in ("clinic", "paediatrics"):
                spread(i, AFTER_CLINIC)
            elif node.zone_kind == "lab":
                spread(i, AFTER_LAB)
            elif node.zone_kind == "imaging":
                spread(i, AFTER_IMAGING)
            elif node.name == "dwell:emergency_care":
                spread(i, AFTER_EMERGENCY)
            elif node.zone_kind == "emergency":
                spread(i, AFTER_TRIAGE if "dwell:emergency_care" in index else AFTER_EMERGENCY)
            else:
                routing[i, n] = 1.0
        routing /= routing.sum(axis=1, keepdims=True)
        self.routing = routing
        self.entry_outpatient = index["dwell:entrance"]
        er = np.zeros(n)
        for j, w in groups["emergency"].items():
            er[j] = w
        if er.sum() == 0:
            er[self.entry_outpatient] = 1.0
        self.entry_emergency = er / er.sum()
        self._queue_mask = np.array([nd.kind == "queue" for nd in nodes])
        self._p_finish = np.array([min(1.0, 1.0 / max(nd.service_min, 1e-9)) for nd in nodes])
        self._zone_matrix = np.zeros((n, len(self.zone_ids)))
        for i, nd in enumerate(nodes):
            self._zone_matrix[i, nd.zone_index] = 1.0

    # -----------------------------------------------------------------------------------------

    def counters_open(self, minute_of_day: int) -> np.ndarray:
        """Counters staffed at a local minute of the day, per node (dwells: unlimited, shown as 0)."""
        m = minute_of_day % (24 * 60)
        out = np.zeros(len(self.nodes), dtype=np.int64)
        for i, nd in enumerate(self.nodes):
            if nd.kind != "queue":
                continue
            lo, hi = OPEN_HOURS.get(nd.zone_kind, (8 * 60, 18 * 60))
            if lo <= m < hi:
                full = nd.counters
                if nd.zone_kind in ("clinic", "paediatrics") and LUNCH[0] <= m < LUNCH[1]:
                    full = max(1, nd.counters // 2)
                out[i] = full
            else:
                out[i] = 1
        return out

    def step(
        self, state: FlowState, minute_of_day: int, out_rate: np.ndarray, er_rate: np.ndarray,
        rng: np.random.Generator,
    ) -> StepResult:
        """Advance every day of the batch by one minute; ``*_rate`` are expected arrivals (batch,)."""
        b, n = state.waiting.shape
        counters = self.counters_open(minute_of_day)
        # Leave: service completions at queues, end of dwell elsewhere (memoryless, mean service_min).
        finished = rng.binomial(state.serving, self._p_finish[None, :])
        state.serving -= finished
        routed = rng.multinomial(finished, self.routing[None, :, :])  # (batch, nodes, nodes + 1)
        moved_in = routed[:, :, :n].sum(axis=1)
        new_out = rng.poisson(out_rate)
        new_er = rng.poisson(er_rate)
        er_split = rng.multinomial(new_er, self.entry_emergency) if n else np.zeros((b, n), dtype=np.int64)
        entered = moved_in + er_split
        entered[:, self.entry_outpatient] += new_out
        # Join: queues add to waiting, dwells start at once.
        q = self._queue_mask[None, :]
        state.waiting += np.where(q, entered, 0)
        state.serving += np.where(q, 0, entered)
        # Call: free counters take the head of each queue.
        free = np.maximum(counters[None, :] - state.serving, 0)
        started = np.where(q, np.minimum(state.waiting, free), 0)
        state.waiting -= started
        state.serving += started
        return StepResult(entered, started, finished, routed, new_out, new_er, er_split)

    def zone_population(self, state: FlowState) -> np.ndarray:
        """People present per zone, (batch, zones): waiting + at a counter + dwelling."""
        return (state.waiting + state.serving) @ self._zone_matrix

    def zone_waiting(self, state: FlowState) -> np.ndarray:
        """Tickets issued and not yet called per zone, (batch, zones)."""
        return state.waiting @ self._zone_matrix

    def zone_arrivals(self, result: StepResult) -> np.ndarray:
        """Arrivals per zone in the step: tickets issued at its queues (what the hub counts from the queue
        screens' ``ticket_issued`` events for ``zone_stats``; zones without a queue have none)."""
        per_node = result.entered.astype(float) * self._queue_mask[None, :]
        return per_node @ self._zone_matrix


def _by_capacity(nodes: list[Node], members: list[int]) -> dict[int, float]:
    """Split a stream over queues in proportion to their service capacity (counters / service time)."""
    if not members:
        return {}
    cap = np.array([nodes[i].counters / max(nodes[i].service_min, 1e-9) for i in members])
    cap = cap / cap.sum()
    return {i: float(c) for i, c in zip(members, cap)}
