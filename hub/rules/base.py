"""What a rule family is: its declared settings (with their defaults), and one ``evaluate(ctx)`` that says
which conditions are now true (raise) or no longer true (clear).

A family is one module under hub/rules/ with a ``FAMILY = RuleFamily(...)`` declaration, registered once in
hub/rules/registry.py. The validation of hub/rules.toml and ``PUT /api/rules``, the JSON Schema of the
OpenAPI document and the defaults all come from these declarations (hub.rules.config), so a setting and its
default are written in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Container, Iterable, cast

if TYPE_CHECKING:
    from floorops.site import Site
    from floorops.topics import EdgeRecord
    from hub.state import AgentState, DeviceState, ZoneState

SEVERITIES = ("critical", "major", "minor", "warning")

# What a setting holds. The tables' keys are free, but checked: a severity, a device kind, any queue id, a
# zone kind (floorops.site.ZONE_KINDS); ``periods`` is a list of time-of-day tables (hub.rules.config).
SETTING_TYPES = ("number", "integer", "bool", "severity", "per_severity", "per_kind", "per_queue",
                 "per_zone_kind", "periods")


@dataclass(frozen=True)
class Setting:
    """One configurable value of a rule (or of the alarms/tickets/dispatch sections).

    ``number``: a float >= ``minimum`` (0 unless said); ``integer``: an int >= ``minimum`` (1 unless said);
    ``per_severity``: a number per severity; ``per_kind``: a number per device kind, whose default is
    ``default(kind)`` (a callable); ``per_queue``: per queue id, a table of the numbers named in ``fields``;
    ``per_zone_kind``: the same per zone kind; ``periods``: a list of tables ``from``, ``to`` ("HH:MM", the
    site's local time), optional ``queues`` and ``zone_kinds`` (lists of names) and the numbers in ``fields``.
    """

    name: str
    default: Any
    help: str
    type: str = "number"
    minimum: float | None = None
    fields: tuple[str, ...] = ()  # per_queue, per_zone_kind, periods: the numbers each table may hold

    def __post_init__(self) -> None:
        if self.type not in SETTING_TYPES:
            raise ValueError(f"setting {self.name}: type {self.type!r} is not one of {', '.join(SETTING_TYPES)}")

    @property
    def lowest(self) -> float:
        if self.minimum is not None:
            return self.minimum
        return 1 if self.type == "integer" else 0


@dataclass(frozen=True)
class Rule:
    """One alarm type: its name is the alarm's type, and its [rules.<name>] table in hub/rules.toml.

    Every rule also has ``enabled``, ``severity``, ``ticket`` (open a maintenance ticket per fault
    episode) and ``dispatch`` (offer staff to the zone); ``settings`` are its own. ``check`` refuses a
    combination of values a single setting cannot (e.g. a hysteresis the wrong way round): it gets the
    rule's merged settings and returns the reason, or None."""

    name: str
    severity: str
    help: str = ""
    ticket: bool = False
    dispatch: bool = False
    settings: tuple[Setting, ...] = ()
    check: Callable[[dict[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.name}: severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")


class RuleSet:
    """The settings in force (validated, defaults filled in), with shortcuts the rules and managers use."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def rule(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.settings["rules"][name])

    def enabled(self, name: str) -> bool:
        return bool(self.settings["rules"][name]["enabled"])

    @property
    def alarms(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.settings["alarms"])

    @property
    def tickets(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.settings["tickets"])

    @property
    def dispatch(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.settings["dispatch"])


@dataclass
class RuleContext:
    """Everything a family may look at, for one evaluation. The hub fills what the occasion has (a record,
    a zone's new occupancy, an agent's status, a launcher notice, the ticker...); each family reads only
    the fields its docstring names, and is called only on the occasions that fill them."""

    rules: RuleSet
    now: float
    open: Container[tuple[str, str]] = ()  # (source, type) of the open alarms
    # an edge record (the per-kind families, and device_offline): the record, its device, its queue
    rec: EdgeRecord | None = None
    device: DeviceState | None = None
    queue: str = ""
    zone: ZoneState | None = None  # zone_crowded
    agent: AgentState | None = None  # agent_offline
    notice: Any = None  # component_crashloop: a hub.rules.supervisor.Notice
    # the ticker (device_offline's silence check)
    devices: Iterable[DeviceState] = ()
    agents: Iterable[AgentState] = ()
    started_at: float = 0.0
    # crowding_forecast
    forecasts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    site: Site | None = None  # crowding_forecast, and with a record (long_wait: zone kinds, local time)
    # ingest_stalled: seconds the ingest has been failing (0: healthy), and the last error
    stalled_s: float = 0.0
    error: str = ""
    # broker_dropping: the broker's dropped-messages counter seen (a hub.rules.broker.DropWatch), new drops
    drop_watch: Any = None
    dropped_new: int = 0
    # service_level_low, on a ticket call: the queue's day (hub.service_levels.queue_counts) with its
    # target_wait_s; ``zone`` is the queue's zone
    service_day: dict[str, Any] = field(default_factory=dict)
    # system_slow / system_down: one check of a hospital system (a hub.rules.systems.Check), after each check
    system_check: Any = None
    # fault_rate_high (once a minute): device kind -> (its devices with an equipment fault today, its devices)
    fault_rates: dict[str, tuple[int, int]] = field(default_factory=dict)
    # screen_command_unacked (hub.screens' flush): hub.rules.screens.Unacked, one per screen with commands
    # sent and not acknowledged
    unacked: Iterable[Any] = ()
    # satisfaction_low (hub.satisfaction, once a minute): a hub.rules.satisfaction.ZoneDays per zone
    satisfaction: Iterable[Any] = ()
    # wandering_high (a flow interval came in): zone -> its back-and-forth figures over the rule's window
    wandering: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleFamily:
    """A rule module: the rules (alarm types) it raises, and its one ``evaluate``.

    ``name`` is what a device kind's declaration lists in ``DeviceKind.rules`` (floorops/kinds/) for the
    hub to run the family on each record of that kind; the families a kind cannot name (``per_kind=False``)
    are run by the hub on their own occasion (a zone reading, an agent status, the ticker...)."""

    name: str
    rules: tuple[Rule, ...]
    evaluate: Callable[[RuleContext], list[Signal]]
    per_kind: bool = False


@dataclass
class Signal:
    type: str  # the rule's name, which is also the alarm type
    source: str  # a device id, "<device>:slot<n>", a queue id or a zone id
    active: bool
    device_id: str = ""
    kind: str = ""
    zone: str = ""
    # An event (a fresh occurrence) counts as a repeat of an open alarm; a reading that still shows the
    # same state does not.
    repeat: bool = False
    device_ts: int = 0  # device time (ms) of the message: an older reading never clears a newer fault
    detail: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the rule's severity (rarely)


def device_signal(rec: Any, type_: str, active: bool, repeat: bool = False, source: str = "",
                  **detail: Any) -> Signal:
    """A signal about the device that sent ``rec`` (an EdgeRecord)."""
    return Signal(type=type_, source=source or rec.device_id, active=active, device_id=rec.device_id,
                  kind=rec.kind, zone=rec.zone, repeat=repeat, device_ts=int(rec.ts or 0), detail=detail)


def record_of(ctx: RuleContext) -> EdgeRecord:
    """The record of a per-kind family's context (the hub always sets it on that occasion)."""
    if ctx.rec is None:
        raise ValueError("this rule family needs a record in its context")
    return ctx.rec
