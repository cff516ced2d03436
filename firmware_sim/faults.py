"""The fault catalogue: what can go wrong with each kind of device, and how it is cleared.

Persistent faults stay in the device's readings until repaired (the simulated technician, after a
random delay of mean ``sim.repair_min`` virtual minutes, or ``inject DEVICE clear``; conditions that are not
the device's fault, ``repaired=False``, only by hand); one-shot faults
spoil the device's next message only (bad input for the edge to reject).
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownFault(ValueError):
    """The fault does not exist, or does not apply to that device."""


@dataclass(frozen=True)
class FaultSpec:
    name: str
    kinds: tuple[str, ...]  # device kinds, with the transport after a colon where it matters
    persistent: bool
    weight: float  # how often, relative to the others, random faults pick it
    description: str
    # A fault of the device itself, which the simulated technician repairs. False for a condition injected
    # by hand that no technician would "repair" (a rush on a station's chairs, unhappy patients, a screen
    # that ignores commands): it lasts until ``inject DEVICE clear`` (or an explicit ``--repair-min``).
    repaired: bool = True


MQTT = ("queue_screen", "kiosk", "wifi_probe:mqtt", "satisfaction_terminal")
_SPECS = [
    # Hardware and software faults that persist until repaired.
    FaultSpec("card_jam", ("kiosk",), True, 3, "card reader jammed; card payments fail"),
    FaultSpec("app_hang", ("kiosk",), True, 2, "kiosk application hung: slow, every transaction fails"),
    FaultSpec("app_crash", ("kiosk",), True, 1, "kiosk application crashed; no transactions"),
    FaultSpec("paper_out", ("kiosk",), True, 2, "receipt printer out of paper"),
    FaultSpec("printer_jam", ("kiosk",), True, 2, "receipt printer jammed"),
    FaultSpec("display_fault", ("queue_screen",), True, 2, "calling display panel fault"),
    FaultSpec("over_temperature", ("charger",), True, 1, "station over-temperature; charging stops"),
    FaultSpec("over_current", ("charger",), True, 1, "a slot draws too much current and trips"),
    FaultSpec("ground_fault", ("charger",), True, 1, "station ground fault; charging stops"),
    FaultSpec("fan_fault", ("charger",), True, 1, "station fan failed; temperature creeps up"),
    # Not a fault of the device but a rush on its stock: only by hand (weight 0), to see the low-stock alarm.
    FaultSpec("take_all", ("charger",), True, 0, "every chair is taken at once; none is returned here until cleared",
              repaired=False),
    FaultSpec("power_loss", MQTT + ("wifi_probe:serial", "charger"), True, 1,
              "device loses power: MQTT drops without DISCONNECT (Last Will), serial goes silent"),
    FaultSpec("probe_offline", ("wifi_probe:mqtt", "wifi_probe:serial"), True, 1, "probe stops reporting"),
    FaultSpec("clock_skew", MQTT + ("wifi_probe:serial",), True, 1, "device clock 10 minutes off until resynced"),
    # Weight 0: only by hand (inject). Last of the lasting faults, so seeded runs draw as before.
    FaultSpec("no_ack", ("queue_screen",), True, 0, "screen shows the hub's commands but never acknowledges them",
              repaired=False),
    FaultSpec("bad_mood", ("satisfaction_terminal",), True, 0,
              "patients at the terminal are unhappy: nearly every press is dissatisfied (low scores)", repaired=False),
    # Bad input: the next message is spoiled.
    FaultSpec("malformed_json", MQTT, False, 1, "next telemetry is not valid JSON"),
    FaultSpec("wrong_type", MQTT, False, 1, "next telemetry has a number sent as a string"),
    FaultSpec("out_of_range", MQTT + ("wifi_probe:serial",), False, 1, "next reading is out of range"),
    FaultSpec("duplicate_seq", MQTT, False, 1, "next telemetry is sent twice with the same seq"),
    FaultSpec("out_of_order_seq", MQTT, False, 1, "next two telemetry messages are sent in reverse order"),
    FaultSpec("bad_checksum", ("wifi_probe:serial",), False, 1, "next line has a wrong checksum"),
    FaultSpec("line_noise", ("wifi_probe:serial",), False, 1, "garbage bytes on the line"),
    FaultSpec("long_line", ("wifi_probe:serial",), False, 1, "a line longer than 256 bytes"),
    FaultSpec("bad_fields", ("wifi_probe:serial",), False, 1, "next line has a wrong field count"),
    FaultSpec("bad_crc", ("charger",), False, 1, "next Modbus answer has a CRC error"),
    FaultSpec("truncated_frame", ("charger",), False, 1, "next Modbus answer is cut short"),
]
CATALOG: dict[str, FaultSpec] = {f.name: f for f in _SPECS}
CLEAR = "clear"


def applies(spec: FaultSpec, kind: str, transport: str) -> bool:
    """Whether ``spec`` can happen to a device of ``kind`` on ``transport``: the spec names the kind, or
    the kind and transport (``wifi_probe:serial``) where the fault depends on the transport."""
    return kind in spec.kinds or f"{kind}:{transport}" in spec.kinds


def faults_for(kind: str, transport: str) -> list[FaultSpec]:
    return [f for f in _SPECS if applies(f, kind, transport)]


def check_fault(name: str, kind: str, transport: str) -> FaultSpec | None:
    """The spec of ``name`` for this device (None for ``clear``); raises :class:`UnknownFault`."""
    if name == CLEAR:
        return None
    spec = CATALOG.get(name)
    if spec is None:
        raise UnknownFault(f"unknown fault {name!r}; known: {', '.join(sorted(CATALOG))}, clear")
    if not applies(spec, kind, transport):
        allowed = ", ".join(f.name for f in faults_for(kind, transport))
        raise UnknownFault(f"fault {name!r} does not apply to a {kind} ({transport}); it takes: {allowed}, clear")
    return spec
