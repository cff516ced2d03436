"""The simulated hospital in virtual time: patient flow, devices, faults, ground truth.

Everything happens in one deterministic order on a queue of timed actions (a flow step every virtual
minute, each device's periodic telemetry, each ticket event at its own millisecond), so the same seed
gives the same ground truth and the same device messages whatever the speed of the wall clock; the
live runner only decides *when* (in wall time) to process what is due. Output goes to an
:class:`~firmware_sim.devices.base.Emitter`.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_sim.devices import simulated
from firmware_sim.devices.base import DeviceSim, Emitter, MqttDeviceSim
from firmware_sim.devices.charger import ChargerSim
from firmware_sim.devices.hearing import Hearing
from firmware_sim.devices.kiosk import KioskSim
from firmware_sim.devices.queue_screen import QueueScreenSim
from firmware_sim.devices.satisfaction_terminal import SatisfactionTerminalSim
from firmware_sim.faults import CLEAR, UnknownFault
from firmware_sim.flow import WARMUP_MIN, FlowModel, FlowState
from firmware_sim.patients import WHEELCHAIR_FIRST_ZONE_KINDS, WHEELCHAIR_RETURN_SOC_PCT, PatientTracker
from firmware_sim.profiles import DemandProfile
from firmware_sim.truth import BUCKET_MS, TruthRecorder
from floorops.site import Site

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
ZONE_FAULT = "signage_unclear"  # inject <imaging zone> signage_unclear: more patients get lost there
REPORT_PRINT_SHARE = 0.15  # people entering a zone with a kiosk but no kiosk stop, who print a report


@dataclass
class SimOptions:
    """Knobs of one simulation run (from floorops.config's [sim] section and the command line)."""

    seed: int = 1
    speed: float = 1.0
    min_wall_period_s: float = 1.0  # at high speed, no device reports more often than this (wall time)
    faults_per_device_day: float = 0.0
    bad_input_per_device_hour: float = 0.0
    repair_min: float = 20.0
    truth_csv: Path | None = None
    only_devices: set[str] | None = None  # simulate just these devices (tests); None: all


@dataclass(order=True)
class _Action:
    t_ms: int
    order: int
    kind: str = field(compare=False)
    arg: Any = field(compare=False, default=None)


class Simulation:
    """One hospital: call :meth:`start` once, then :meth:`advance_to` with increasing virtual times."""

    def __init__(self, site: Site, start_ms: int, emitter: Emitter, options: SimOptions | None = None) -> None:
        self.site = site
        self.opt = options or SimOptions()
        self.emitter = emitter
        self.model = FlowModel(site)
        self.demand = DemandProfile.for_site(site)
        seed = int(self.opt.seed)
        self.flow_rng = np.random.default_rng([seed, 1])
        self.fault_rng = np.random.default_rng([seed, 3])
        self.tracker = PatientTracker(self.model, np.random.default_rng([seed, 2]), np.random.default_rng([seed, 5]))
        self.state = FlowState.empty(1, len(self.model.nodes))
        self.start_ms = (int(start_ms) // MINUTE_MS) * MINUTE_MS
        self.now_ms = self.start_ms
        self.truth = TruthRecorder(self.model.zone_ids, site.tz, self.opt.truth_csv)
        self.devices: dict[str, DeviceSim] = {}
        self._heap: list[_Action] = []
        self._order = 0
        self._day: dt.date | None = None
        self._warm = False
        # Ground truth starts with the first whole 15-minute bucket of the run.
        self._truth_from_ms = -(-self.start_ms // BUCKET_MS) * BUCKET_MS
        self._rates: tuple[np.ndarray, np.ndarray] | None = None
        # The simulator's model of each of the site's kinds (firmware_sim.devices), and their faults.
        self.kinds = simulated(site.kinds)
        self.counts: dict[str, int] = {"steps": 0, "faults": 0, "bad_input": 0, "wheelchairs_borrowed": 0,
                                   "errors": 0}
        self._build_devices(seed)

    # Set-up ------------------------------------------------------------------------------------

    def _build_devices(self, seed: int) -> None:
        floors = {z.id: z.floor for z in self.site.zones}
        for index, d in enumerate(self.site.devices):
            if self.opt.only_devices is not None and d.id not in self.opt.only_devices:
                continue
            rng = np.random.default_rng([seed, 100 + index])
            neighbours = [z.id for z in self.site.zones if z.floor == floors[d.zone] and z.id != d.zone]
            hearing = Hearing(d.zone, neighbours, self.tracker.phones_in)
            model = self.kinds.models.get(d.kind)
            make = model.models.get(d.transport) if model is not None else None
            if make is None:  # a kind (a site's plugin) the simulator has no model of
                continue
            dev = make(d, self.site.id, rng, self.emitter, hearing)
            dev.repair_due = self._repair_due
            dev.declaration = self.site.kinds.get(d.kind)
            dev.catalog = self.kinds.faults
            self.devices[d.id] = dev
        self._screens: dict[str, list[QueueScreenSim]] = {}
        for dev in self.devices.values():
            if isinstance(dev, QueueScreenSim):
                self._screens.setdefault(dev.device.queue, []).append(dev)

    def _repair_due(self, now_ms: int) -> int | None:
        if self.opt.repair_min <= 0:
            return None
        return now_ms + int(self.fault_rng.exponential(self.opt.repair_min) * MINUTE_MS) + MINUTE_MS

    def _push(self, t_ms: int, kind: str, arg: Any = None) -> None:
        self._order += 1
        heapq.heappush(self._heap, _Action(int(t_ms), self._order, kind, arg))

    def device_period_ms(self, dev: DeviceSim) -> int:
        return max(dev.period_ms, int(self.opt.speed * self.opt.min_wall_period_s * 1000))

    def warm_up(self) -> None:
        """Fill the hospital as it is at the start time: the flow from two hours before local midnight,
        silently. Done once; the live runner calls it before opening any port (it takes a moment)."""
        if self._warm:
            return
        self._warm = True
        tz = self.site.tz
        local = dt.datetime.fromtimestamp(self.start_ms / 1000, tz)
        midnight = dt.datetime(local.year, local.month, local.day, tzinfo=tz)
        t = int(midnight.timestamp() * 1000) - WARMUP_MIN * MINUTE_MS
        while t < self.start_ms:
            self._flow_minute(t, emit=False)
            t += MINUTE_MS

    def start(self) -> None:
        """Warm up, then power the devices on and schedule their first reports."""
        self.warm_up()
        local = dt.datetime.fromtimestamp(self.start_ms / 1000, self.site.tz)
        counters = self.model.counters_open(local.hour * 60 + local.minute)
        for dev in self.devices.values():
            if isinstance(dev, QueueScreenSim):
                node = self.model.nodes.index(next(n for n in self.model.nodes if n.name == dev.device.queue))
                dev.waiting = len(self.tracker.waiting[node])
                dev.counters_open = int(counters[node])
            if isinstance(dev, MqttDeviceSim):
                dev.set_power(True, self.start_ms)
            first = self.start_ms + int(dev.rng.integers(0, self.device_period_ms(dev)))
            self._push(first, "tick", dev.id)
        self._push(self.start_ms, "minute")

    # Running -----------------------------------------------------------------------------------

    def next_due_ms(self) -> int:
        return self._heap[0].t_ms if self._heap else self.now_ms + MINUTE_MS

    def advance_to(self, t_ms: int) -> int:
        """Process every action due up to ``t_ms``; returns how many."""
        done = 0
        while self._heap and self._heap[0].t_ms <= t_ms:
            a = heapq.heappop(self._heap)
            self.now_ms = max(self.now_ms, a.t_ms)
            if a.kind == "minute":
                self._push(a.t_ms + MINUTE_MS, "minute")
            elif a.kind == "tick":
                self._push(a.t_ms + self.device_period_ms(self.devices[a.arg]), "tick", a.arg)
            try:
                self._run(a)
            except Exception:  # noqa: BLE001 - a simulator bug must not stop the whole hospital
                self.counts["errors"] += 1
                log.exception("simulation action failed", extra={"action": a.kind, "arg": str(a.arg)})
            done += 1
        self.now_ms = max(self.now_ms, t_ms)
        return done

    def _run(self, a: _Action) -> None:
        if a.kind == "minute":
            self._flow_minute(a.t_ms, emit=True)
        elif a.kind == "tick":
            self.devices[a.arg].tick(a.t_ms)
        elif a.kind == "queue_event":
            for screen in self._screens.get(a.arg.queue, []):
                screen.on_queue_event(a.arg)

    def _rates_for(self, t_ms: int) -> tuple[float, float, int]:
        local = dt.datetime.fromtimestamp(t_ms / 1000, self.site.tz)
        day = local.date()
        if day != self._day:
            self._day = day
            out, er = self.demand.rate_per_min(np.arange(24 * 60), [day])
            noise = self.flow_rng.lognormal(0.0, self.demand.day_sigma)
            self._rates = (out[0] * noise, er[0])
            self.tracker.new_day()
        assert self._rates is not None
        m = local.hour * 60 + local.minute
        return float(self._rates[0][m]), float(self._rates[1][m]), m

    def _flow_minute(self, t_ms: int, emit: bool) -> None:
        out_rate, er_rate, minute_of_day = self._rates_for(t_ms)
        res = self.model.step(self.state, minute_of_day, np.array([out_rate]), np.array([er_rate]), self.flow_rng)
        events = self.tracker.apply(res, t_ms, t_ms / MINUTE_MS)
        self.counts["steps"] += 1
        if not emit:
            return  # warm-up: the hospital fills up silently
        if t_ms >= self._truth_from_ms:
            self.truth.record(
                t_ms, self.model.zone_arrivals(res)[0], self.model.zone_population(self.state)[0],
                self.model.zone_waiting(self.state)[0],
            )
        counters = self.model.counters_open(minute_of_day)
        for i, node in enumerate(self.model.nodes):
            for screen in self._screens.get(node.name, []):
                screen.counters_open = int(counters[i])
        for ev in events.queue_events:
            self._push(ev.ts, "queue_event", ev)
        self._kiosk_use(events.kiosk_txns, events.zone_entries, t_ms)
        self._wheelchairs(events.borrowed, events.returned)
        self._ratings(events.zone_entries, t_ms)
        for dev in self.devices.values():
            dev.repairs_due(t_ms)
            dev.minute(t_ms)
        self._random_faults(t_ms)

    def _kiosk_use(self, txns: dict[str, int], entries: dict[str, int], t_ms: int) -> None:
        by_zone: dict[str, list[KioskSim]] = {}
        for dev in self.devices.values():
            if isinstance(dev, KioskSim):
                by_zone.setdefault(dev.device.zone, []).append(dev)
        for zone, kiosks in by_zone.items():
            n = txns.get(zone, 0) + int(self.flow_rng.binomial(entries.get(zone, 0), REPORT_PRINT_SHARE))
            if n == 0:
                continue
            split = self.flow_rng.multinomial(n, [1.0 / len(kiosks)] * len(kiosks))
            for k, c in zip(kiosks, split):
                k.transactions(int(c), t_ms)

    def _ratings(self, entries: dict[str, int], t_ms: int) -> None:
        """The satisfaction terminals: presses from the people entering their zone, whose mix follows the
        zone's crowding (occupancy / capacity) and the share of its capacity waiting in a queue."""
        terminals = [d for d in self.devices.values() if isinstance(d, SatisfactionTerminalSim)]
        if not terminals:
            return
        population = self.model.zone_population(self.state)[0]
        waiting = self.model.zone_waiting(self.state)[0]
        index = {z: i for i, z in enumerate(self.model.zone_ids)}
        for t in terminals:
            zone, i = self.site.zone(t.device.zone), index[t.device.zone]
            cap = max(1, zone.capacity)
            t.visitors(entries.get(zone.id, 0), float(population[i]) / cap, float(waiting[i]) / cap, t_ms)

    def _wheelchairs(self, borrowed: int, returned: int) -> None:
        chargers = [d for d in self.devices.values() if isinstance(d, ChargerSim)]
        if not chargers:
            return
        entrance = {z.id for z in self.site.zones if z.kind in WHEELCHAIR_FIRST_ZONE_KINDS}
        for _ in range(borrowed):
            near = [c for c in chargers if c.device.zone in entrance] + chargers
            for c in near:
                if c.borrow():
                    self.counts["wheelchairs_borrowed"] += 1
                    break
        for _ in range(returned):
            order = self.flow_rng.permutation(len(chargers))
            for k in order:
                if chargers[int(k)].dock(float(self.flow_rng.uniform(*WHEELCHAIR_RETURN_SOC_PCT))):
                    break

    def _random_faults(self, t_ms: int) -> None:
        p_fault = self.opt.faults_per_device_day / (24 * 60)
        p_bad = self.opt.bad_input_per_device_hour / 60
        if p_fault <= 0 and p_bad <= 0:
            return
        for dev in self.devices.values():
            specs = self.kinds.faults.for_device(dev.device.kind, dev.transport)
            if p_fault > 0 and self.fault_rng.random() < p_fault:
                lasting = [f for f in specs if f.persistent]
                w = np.array([f.weight for f in lasting])
                f = lasting[int(self.fault_rng.choice(len(lasting), p=w / w.sum()))]
                dev.inject(f.name, t_ms, self._repair_due(t_ms))
                self.counts["faults"] += 1
            if p_bad > 0 and self.fault_rng.random() < p_bad:
                once = [f for f in specs if not f.persistent]
                if once:
                    f = once[int(self.fault_rng.integers(0, len(once)))]
                    dev.inject(f.name, t_ms, None)
                    self.counts["bad_input"] += 1

    # Control -----------------------------------------------------------------------------------

    def inject(self, device_id: str, fault: str, now_ms: int | None = None, repair_min: float | None = None) -> dict[str, Any]:
        """Trigger ``fault`` on a device now (``clear`` repairs it); raises KeyError / UnknownFault. A zone
        takes ``signage_unclear`` (more of its arrivals get lost, firmware_sim.patients) and ``clear``; so
        does an area, named by its zones' kind (``imaging``: CT, ultrasound and X-ray at once)."""
        dev = self.devices.get(device_id)
        if dev is None and device_id in {z.id for z in self.site.zones}:
            return self._zone_fault([device_id], fault)
        area = [z.id for z in self.site.zones if z.kind == device_id]
        if dev is None and area:
            return self._zone_fault(area, fault)
        if dev is None:
            raise KeyError(device_id)
        spec = self.kinds.faults.check(fault, dev.device.kind, dev.transport)
        t = max(self.now_ms, now_ms or 0)
        if repair_min is None:
            # No technician "repairs" a condition that is not the device's fault (bad_mood, take_all, no_ack).
            due = self._repair_due(t) if spec is None or spec.repaired else None
        else:
            due = t + int(repair_min * MINUTE_MS) if repair_min > 0 else None
        dev.inject(fault, t, due)
        return {"device": device_id, "fault": fault, "active": sorted(dev.faults), "armed": list(dev.pending),
                "repair_at_ms": due if fault != CLEAR else None}

    def _zone_fault(self, zones: list[str], fault: str) -> dict[str, Any]:
        if fault not in (ZONE_FAULT, CLEAR):
            raise UnknownFault(f"a zone takes {ZONE_FAULT} or {CLEAR}, not {fault!r}")
        for zone in zones:  # all checked before any is changed: an area is spoilt whole or not at all
            self.tracker.check_signage(zone)
        for zone in zones:
            self.tracker.set_signage(zone, fault == ZONE_FAULT)
            log.info("zone signage", extra={"zone": zone, "unclear": fault == ZONE_FAULT})
        return {"zone" if len(zones) == 1 else "zones": zones[0] if len(zones) == 1 else zones, "fault": fault,
                "signage_unclear": sorted(self.tracker.signage_unclear)}

    def command(self, device_id: str, payload: bytes, now_ms: int) -> None:
        """A command the broker delivered to a device (MqttLink's inbox), handled at the virtual ``now_ms``."""
        dev = self.devices.get(device_id)
        handler = getattr(dev, "on_command", None)
        if handler is not None:
            handler(payload, max(self.now_ms, now_ms))

    def status(self) -> dict[str, Any]:
        return {
            "virtual_time_ms": self.now_ms,
            "virtual_time": dt.datetime.fromtimestamp(self.now_ms / 1000, self.site.tz).isoformat(),
            "speed": self.opt.speed,
            "patients": len(self.tracker.patients),
            "zones": self.truth.current,
            "signage_unclear": sorted(self.tracker.signage_unclear),
            "devices": {d.id: {"powered": d.powered, "faults": sorted(d.faults), "sent": d.sent,
                                 "unsent": d.unsent, "seq": getattr(d, "seq", None),
                                 **({"display": d.shown(self.now_ms)} if hasattr(d, "shown") else {})}
                        for d in self.devices.values()},
            "counts": dict(self.counts),
        }

