"""The fault catalogue: what can go wrong with a simulated device, and how it is cleared.

Each simulated kind declares its own faults beside its model (``SIM`` in firmware_sim/devices/<kind>.py);
the faults of a connection rather than of a device (power loss, a skewed clock, bad MQTT input) are
:data:`GENERIC`, and apply to every simulated device on their transports. :class:`FaultCatalog` puts the
two together for one installation's kinds.

Persistent faults stay in the device's readings until repaired (the simulated technician, after a
random delay of mean ``sim.repair_min`` virtual minutes, or ``inject DEVICE clear``; conditions that are not
the device's fault, ``repaired=False``, only by hand); one-shot faults
spoil the device's next message only (bad input for the edge to reject).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping


class UnknownFault(ValueError):
    """The fault does not exist, or does not apply to that device."""


@dataclass(frozen=True)
class FaultSpec:
    name: str
    persistent: bool
    weight: float  # how often, relative to the others, random faults pick it
    description: str
    transports: tuple[str, ...] = ()  # where it can happen; () on every transport the kind is simulated on
    # A fault of the device itself, which the simulated technician repairs. False for a condition injected
    # by hand that no technician would "repair" (a rush on a station's chairs, unhappy patients, a screen
    # that ignores commands): it lasts until ``inject DEVICE clear`` (or an explicit ``--repair-min``).
    repaired: bool = True


CLEAR = "clear"
POWER_LOSS = FaultSpec("power_loss", True, 1,
                       "device loses power: MQTT drops without DISCONNECT (Last Will), serial goes silent",
                       ("mqtt", "serial", "modbus"))
# Faults of every simulated device on their transports (firmware_sim.devices.base implements them).
GENERIC: tuple[FaultSpec, ...] = (
    POWER_LOSS,
    FaultSpec("clock_skew", True, 1, "device clock 10 minutes off until resynced", ("mqtt", "serial")),
    FaultSpec("malformed_json", False, 1, "next telemetry is not valid JSON", ("mqtt",)),
    FaultSpec("wrong_type", False, 1, "next telemetry has a number sent as a string", ("mqtt",)),
    FaultSpec("out_of_range", False, 1, "next reading is out of range", ("mqtt", "serial")),
    FaultSpec("duplicate_seq", False, 1, "next telemetry is sent twice with the same seq", ("mqtt",)),
    FaultSpec("out_of_order_seq", False, 1, "next two telemetry messages are sent in reverse order", ("mqtt",)),
)


class FaultCatalog:
    """The faults of the simulated kinds: ``kinds`` maps each kind to the transports it is simulated on
    and its own faults.

    A device's faults are its kind's own, then the generic ones (one-shot faults: the generic ones first).
    A kind may name a generic fault among its own to place it: random faults draw by position, so the
    order keeps seeded runs drawing the same faults.
    """

    def __init__(self, kinds: Mapping[str, tuple[Iterable[str], Iterable[FaultSpec]]]) -> None:
        self._kinds = {k: (tuple(transports), tuple(own)) for k, (transports, own) in kinds.items()}
        self.specs: dict[str, FaultSpec] = {}
        for spec in [f for _, own in self._kinds.values() for f in own] + list(GENERIC):
            if self.specs.setdefault(spec.name, spec) != spec:
                raise ValueError(f"fault {spec.name!r} is declared twice, differently")
        self.specs = dict(sorted(self.specs.items(), key=lambda kv: kv[1] in GENERIC))  # kinds' own first

    def for_device(self, kind: str, transport: str) -> list[FaultSpec]:
        """Every fault a device of ``kind`` on ``transport`` can be given, in the order random faults draw."""
        if kind not in self._kinds or transport not in self._kinds[kind][0]:
            return []
        own = [f for f in self._kinds[kind][1] if not f.transports or transport in f.transports]
        generic = [f for f in GENERIC if transport in f.transports and f not in own]
        return ([f for f in own if f.persistent] + [f for f in generic if f.persistent]
                + [f for f in generic if not f.persistent] + [f for f in own if not f.persistent])

    def devices(self, name: str) -> list[str]:
        """Where fault ``name`` applies: kinds, with the transport after a colon when not on all of them."""
        out = []
        for kind, (transports, _) in self._kinds.items():
            on = [t for t in transports if any(f.name == name for f in self.for_device(kind, t))]
            out += [kind] if on and len(on) == len(transports) else [f"{kind}:{t}" for t in on]
        return out

    def json(self, devices_key: str) -> dict[str, dict[str, Any]]:
        """The catalogue as the CLI (``devices``) and the control server (``kinds``) list it."""
        return {n: {devices_key: self.devices(n), "persistent": f.persistent, "description": f.description}
                for n, f in self.specs.items()}

    def check(self, name: str, kind: str, transport: str) -> FaultSpec | None:
        """The spec of ``name`` for this device (None for ``clear``); raises :class:`UnknownFault`."""
        if name == CLEAR:
            return None
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownFault(f"unknown fault {name!r}; known: {', '.join(sorted(self.specs))}, clear")
        if spec not in self.for_device(kind, transport):
            allowed = ", ".join(f.name for f in self.for_device(kind, transport))
            raise UnknownFault(f"fault {name!r} does not apply to a {kind} ({transport}); it takes: {allowed}, clear")
        return spec


NO_FAULTS = FaultCatalog({})
