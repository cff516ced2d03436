"""What a device kind is, and the set of kinds one installation knows.

A kind is declared once, in a module of its own that exports ``KIND`` (floorops.kinds.kiosk and its
neighbours for the built-in kinds; a site's own kinds are plugin modules named in the config,
``[site] kind_plugins``). Every process (edge, hub, simulator, launcher) reads the same declarations
through a :class:`KindRegistry`, so adding a kind touches no list anywhere else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from floorops.messages import DeviceMessage
from floorops.contract import CHANNELS, ContractError, decode_json, header, status_fields
from floorops.topics import DeviceTopic, parse_device_topic

TRANSPORTS = ("mqtt", "serial", "modbus")
# The transports whose wire format is one kind's own (the probe's serial line, the charger's register map): the
# edge has one decoder for each, so at most one kind of an installation may declare each of them.
OWN_FORMAT_TRANSPORTS = ("serial", "modbus")
# The payload's own fields, checked and normalised (the header is checked for every kind).
Validator = Callable[[dict[str, Any]], dict[str, Any]]
# A valid telemetry message -> InfluxDB line protocol lines, given the point's tags and time (ns).
TelemetryLines = Callable[[DeviceMessage, dict[str, str], int], list[str]]


class DeviceFields(Protocol):
    """The fields of a site file's device entry (floorops.site.Device) a kind's check may read."""

    @property
    def id(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def unit_id(self) -> int: ...
    @property
    def slots(self) -> int: ...
    @property
    def port(self) -> str: ...


# The kind's own checks of a device entry, given the ids of the site's queues: what is wrong, or None.
DeviceCheck = Callable[[DeviceFields, frozenset[str]], "str | None"]


class KindError(ValueError):
    """A kind declaration or a plugin that cannot be used (named in the message)."""


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device: how it connects, what it says, how that is stored, and what watches it."""

    name: str
    transports: tuple[str, ...]  # how a device of the kind may connect (TRANSPORTS)
    # Telemetry -> InfluxDB (floorops.measurements uses it; status and events are stored alike for all kinds).
    telemetry_lines: TelemetryLines
    history_measurement: str  # the InfluxDB measurement of the device's history (GET /api/devices/{id}/history)
    offline_after_s: float  # default silence timeout (rule device_offline; hub/rules.toml may override it)
    # Channel -> check of the payload's own fields, for the channels the kind publishes besides status.
    validators: Mapping[str, Validator] = field(default_factory=dict)
    readings: tuple[str, ...] = ()  # telemetry fields the console shows on the device's tile
    rules: tuple[str, ...] = ()  # the hub's per-kind rule families that apply (hub.rules.registry); offline always
    device_seq: bool = True  # messages carry the device's own seq (False: the edge polls it, Modbus)
    # The edge's subscription QoS for the kind's telemetry. 0 for personal data (a probe's raw MACs): the
    # broker then never queues it for an offline edge (docs/privacy.md). Events and status are always QoS 1.
    telemetry_qos: int = 1
    # Points that show a device gone silent on dashboards, given its tags and the time (ns); none by default.
    offline_lines: Callable[[dict[str, str], int], list[str]] | None = None
    # Reads commands from the hub (floorops.downlink): the device may subscribe to its own command topic.
    commanded: bool = False
    # Checks of a device entry's kind-specific fields when the site file is loaded (floorops.site).
    check_device: DeviceCheck | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.islower():
            raise KindError(f"kind name {self.name!r} must be a lower-case identifier")
        bad = [t for t in self.transports if t not in TRANSPORTS] or ([] if self.transports else ["none"])
        if bad:
            raise KindError(f"kind {self.name}: transports {bad} are not among {', '.join(TRANSPORTS)}")
        if unknown := [c for c in self.validators if c not in CHANNELS or c == "status"]:
            raise KindError(f"kind {self.name}: validators for {unknown}; channels are telemetry and event")
        if self.telemetry_qos not in (0, 1):
            raise KindError(f"kind {self.name}: telemetry_qos is 0 or 1")
        object.__setattr__(self, "validators", MappingProxyType(dict(self.validators)))

    def validate(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Check one decoded payload; return only the contract's fields, typed and normalised."""
        if channel == "status":
            return status_fields(payload)
        check = self.validators.get(channel)
        if check is None:
            raise ContractError("bad_topic", f"{self.name} devices do not publish on {channel!r}")
        out = header(payload)
        out.update(check(payload))
        return out

    def json(self) -> dict[str, Any]:
        """What the console is told of the kind (GET /api/site ``device_kinds``)."""
        return {"name": self.name, "transports": list(self.transports), "readings": list(self.readings),
                "offline_after_s": self.offline_after_s}


class KindRegistry:
    """The kinds one installation knows, in declaration order (the built-in kinds, then plugins)."""

    def __init__(self, kinds: Iterable[DeviceKind], modules: Mapping[str, str] | None = None) -> None:
        self._by_name: dict[str, DeviceKind] = {}
        for k in kinds:
            if k.name in self._by_name:
                raise KindError(f"kind {k.name!r} is declared twice")
            self._by_name[k.name] = k
        self.names: tuple[str, ...] = tuple(self._by_name)
        self.mqtt_names: tuple[str, ...] = tuple(k.name for k in self if "mqtt" in k.transports)
        self.commanded_names: tuple[str, ...] = tuple(k.name for k in self if k.commanded)
        self._reader: dict[str, str] = {}
        for k in self:
            for t in k.transports:
                if t in OWN_FORMAT_TRANSPORTS and self._reader.setdefault(t, k.name) != k.name:
                    raise KindError(f"kind {k.name}: {t} is already {self._reader[t]}'s (the edge reads one "
                                    f"kind over {t})")
        # The module that declared each plugin kind (a plugin may declare the kind's other parts beside it).
        self.modules: Mapping[str, str] = MappingProxyType(dict(modules or {}))

    def __iter__(self) -> Iterator[DeviceKind]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> DeviceKind:
        """The kind called ``name``; KeyError if there is none."""
        return self._by_name[name]

    def reader(self, transport: str) -> str | None:
        """The kind read over ``transport`` when its wire format is one kind's own (serial, Modbus); None
        if no kind is."""
        if transport not in OWN_FORMAT_TRANSPORTS:
            raise KindError(f"{transport!r} is not one of {', '.join(OWN_FORMAT_TRANSPORTS)}")
        return self._reader.get(transport)

    def with_plugins(self, modules: Iterable[str]) -> KindRegistry:
        """These kinds plus each plugin module's ``KIND`` (imported by its dotted name)."""
        plugins = {m: plugin_kind(m) for m in modules}
        return KindRegistry([*self, *plugins.values()],
                            {**self.modules, **{k.name: m for m, k in plugins.items()}})

    def validate_message(self, topic: str, payload: bytes) -> tuple[DeviceTopic, dict[str, Any]]:
        """Topic and raw bytes of a device message in; parsed topic and validated payload out."""
        t = parse_device_topic(topic, self.mqtt_names)
        return t, self.get(t.kind).validate(t.channel, decode_json(payload))


def plugin_kind(module: str) -> DeviceKind:
    """The ``KIND`` a plugin module declares; KindError naming the module when it cannot be used."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure of the plugin's import is the plugin's
        raise KindError(f"device kind plugin {module!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    kind = getattr(mod, "KIND", None)
    if not isinstance(kind, DeviceKind):
        raise KindError(f"device kind plugin {module!r} has no KIND = DeviceKind(...)")
    return kind
