"""Live state of every device, queue and zone, as the edge's stream describes it.

Held in memory for speed, snapshotted to SQLite in the same transaction as the records that changed it,
and rebuilt from that snapshot (plus the alarms still open) when the hub starts again.

The state records its own changes: assigning a stored field of a device, queue, zone or agent it holds
(``recorded``) notes that object, so no caller can change a field and forget to say so. ``commit`` writes
those rows and returns what the consoles must be shown again (``Shown``: a device whose state differs from
the one last shown, a zone whose view changed, an agent), so the hub derives both persistence and its
``*.updated`` events from one record of the changes. Fields are replaced, never mutated in place
(``faults`` is a frozenset); ``show_*`` is only for a view that changed with no field (an alarm, a
maintenance window).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, TypeVar

from floorops.site import Site
from hub.db import Database


_UNSET = object()
Recorder = Callable[[Any, str], None]


class _Declares(Protocol):
    RECORDED: ClassVar[frozenset[str]]


T = TypeVar("T", bound=_Declares)


class _Stored:
    """A field whose assignment, when the value differs, tells the LiveState holding the object (its
    ``_record``). A data descriptor with no ``__get__``: reading stays a plain attribute read (from the
    instance's ``__dict__``), and the fields not recorded are plain attributes; only a recorded write pays."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __set__(self, obj: Any, value: Any) -> None:
        d = obj.__dict__
        if d.get(self.name, _UNSET) != value:
            d[self.name] = value
            record = d.get("_record")
            if record is not None:
                record(obj, self.name)


def recorded(cls: type[T]) -> type[T]:
    """Make the ``RECORDED`` fields of a dataclass recorded (``_Stored``); applied after ``@dataclass``,
    which keeps the defaults it read from the class."""
    for name in cls.RECORDED:
        setattr(cls, name, _Stored(name))
    return cls


def hold(obj: Any, record: Recorder | None) -> None:
    """From now on ``obj``'s recorded fields tell ``record`` (None: nobody) of their changes."""
    obj.__dict__["_record"] = record


@recorded
@dataclass
class DeviceState:
    RECORDED: ClassVar[frozenset[str]] = frozenset({"kind", "zone", "queue", "last_seen", "readings", "faults"})
    # Changes its state does not tell: the device is shown again whatever its state.
    SHOWN: ClassVar[frozenset[str]] = frozenset({"kind", "zone", "queue"})

    id: str
    kind: str
    zone: str
    queue: str = ""
    last_seen: float | None = None
    readings: dict[str, Any] = field(default_factory=dict)
    faults: frozenset[str] = frozenset()  # types of the device's open alarms
    # The edge agent that last relayed its records ('' unknown): whose outage its silence is. Not stored:
    # after a restart it is learnt again from the next record.
    agent: str = ""
    # The readings before the last telemetry (not stored: the stored readings are the previous ones after a
    # restart), for rules that count changes between readings (hub.wheelchairs).
    previous_readings: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """offline / fault / online (unknown until the first message)."""
        if "device_offline" in self.faults:
            return "offline"
        if self.faults:
            return "fault"
        return "online" if self.last_seen is not None else "unknown"


@recorded
@dataclass
class AgentState:
    """An edge agent as its retained status topic says (Last Will ``offline``)."""

    RECORDED: ClassVar[frozenset[str]] = frozenset({"state", "ts", "since", "seen_at"})

    id: str
    state: str  # online | offline
    ts: int  # the agent's time of that status (epoch ms)
    since: float  # hub time of the last change of state
    seen_at: float  # hub time of the last status message


@recorded
@dataclass
class QueueState:
    RECORDED: ClassVar[frozenset[str]] = frozenset({"device_id", "waiting", "avg_wait_s", "at"})

    id: str
    zone: str
    device_id: str = ""
    waiting: int = 0
    avg_wait_s: float = 0.0
    at: float | None = None


@recorded
@dataclass
class ZoneState:
    RECORDED: ClassVar[frozenset[str]] = frozenset({"occupancy", "occupancy_at", "crowd_since"})
    SHOWN: ClassVar[frozenset[str]] = frozenset({"occupancy", "occupancy_at"})  # crowd_since: stored, not seen

    id: str
    capacity: int
    occupancy: float | None = None
    occupancy_at: float | None = None
    crowd_since: float | None = None


@dataclass
class Shown:
    """What changed in a way the consoles see: the ids to send again (``device.updated``...), in order."""

    devices: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)


class LiveState:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.devices: dict[str, DeviceState] = {}
        # Devices taken out of service (registry's empty payload): off the live lists, their history kept.
        self.removed: dict[str, DeviceState] = {}
        self.agents: dict[str, AgentState] = {}
        self.queues: dict[str, QueueState] = {q.id: QueueState(q.id, q.zone) for q in site.queues}
        self.zones: dict[str, ZoneState] = {z.id: ZoneState(z.id, z.capacity) for z in site.zones}
        # What changed since the last commit (dicts: ordered sets, so events keep the order of the changes).
        self._devices: dict[str, None] = {}
        self._queues: dict[str, None] = {}
        self._zones: dict[str, None] = {}
        self._zones_shown: dict[str, None] = {}
        self._agents: dict[str, None] = {}
        # Each live device's state as the consoles were last shown it (absent: show it at the next commit).
        self._shown_state: dict[str, str] = {}
        self._hold_all()

    # -- loading --------------------------------------------------------------------------------

    def load(self, db: Database) -> None:
        """Site inventory, then the devices table (registered devices and their snapshot), then alarms.
        A device of the site with no row yet is a change: its row is written at the next commit."""
        stored = {r["id"] for r in db.all("SELECT id FROM devices")}
        for d in self.site.devices:
            self.devices[d.id] = DeviceState(d.id, d.kind, d.zone, d.queue)
        for r in db.all("SELECT id, kind, zone, queue, last_seen, readings, removed_at FROM devices"):
            dev = self.devices.get(r["id"]) or DeviceState(r["id"], r["kind"], r["zone"])
            dev.kind, dev.zone = r["kind"], r["zone"]
            dev.queue = r["queue"] or dev.queue
            dev.last_seen = r["last_seen"]
            dev.readings = json.loads(r["readings"] or "{}")
            if r["removed_at"] is not None:
                self.devices.pop(dev.id, None)
                self.removed[dev.id] = dev
            else:
                self.devices[dev.id] = dev
        for r in db.all("SELECT device_id, type FROM alarms WHERE state != 'cleared' AND device_id != ''"):
            if r["device_id"] in self.devices:
                self.devices[r["device_id"]].faults |= {r["type"]}
        for r in db.all("SELECT * FROM queue_state"):
            if r["queue"] in self.queues:
                self.queues[r["queue"]] = QueueState(r["queue"], r["zone"], r["device_id"], r["waiting"],
                                                     r["avg_wait_s"], r["at"])
        for r in db.all("SELECT * FROM zone_state"):
            z = self.zones.get(r["zone"])
            if z:
                z.occupancy, z.occupancy_at, z.crowd_since = r["occupancy"], r["occupancy_at"], r["crowd_since"]

        for r in db.all("SELECT id, state, ts, since, seen_at FROM agents"):
            self.agents[r["id"]] = AgentState(r["id"], r["state"], r["ts"], r["since"], r["seen_at"])
        self._shown_state = {d.id: d.state for d in self.devices.values()}
        for c in (self._devices, self._queues, self._zones, self._zones_shown, self._agents):
            c.clear()
        self._hold_all()
        self._devices.update(dict.fromkeys(d.id for d in self.site.devices
                                           if d.id in self.devices and d.id not in stored))

    def _hold_all(self) -> None:
        """From now on, assigning a field of what this state holds records the change (``recorded``)."""
        for d in self.devices.values():
            hold(d, self._device_changed)
        for q in self.queues.values():
            hold(q, self._queue_changed)
        for z in self.zones.values():
            hold(z, self._zone_changed)
        for a in self.agents.values():
            hold(a, self._agent_changed)

    # -- recording changes ----------------------------------------------------------------------------

    def _device_changed(self, dev: DeviceState, name: str) -> None:
        """Its row is written at commit; it is shown again if its state (online, fault, offline...) is no
        longer the one last shown, or whatever its state if it moved (``DeviceState.SHOWN``)."""
        if name in DeviceState.SHOWN:
            self._shown_state.pop(dev.id, None)
        self._devices[dev.id] = None

    def _queue_changed(self, q: QueueState, name: str) -> None:
        """Its row is written, and its zone (waiting, average wait) shown."""
        self._queues[q.id] = None
        self._zones_shown[q.zone] = None

    def _zone_changed(self, z: ZoneState, name: str) -> None:
        self._zones[z.id] = None
        if name in ZoneState.SHOWN:
            self._zones_shown[z.id] = None

    def _agent_changed(self, a: AgentState, name: str) -> None:
        self._agents[a.id] = None

    def show_device(self, device_id: str) -> None:
        """Its view changed with no field of it (a maintenance window): shown again at commit whatever its
        state."""
        self._shown_state.pop(device_id, None)
        self._devices[device_id] = None

    def show_zone(self, zone_id: str) -> None:
        """What the consoles see of a zone changed (its crowding alarm) without a change of its row."""
        self._zones_shown[zone_id] = None

    # -- changes ----------------------------------------------------------------------------------

    def device(self, device_id: str, kind: str, zone: str) -> DeviceState:
        """The live device, created if new; a removed one comes back (registered again) with its history."""
        dev = self.devices.get(device_id)
        if dev is None:
            dev = self.removed.pop(device_id, None) or DeviceState(device_id, kind, zone)
            self.devices[device_id] = dev
            hold(dev, self._device_changed)
            self.show_device(device_id)
        return dev

    def remove(self, device_id: str) -> DeviceState | None:
        """Take a device off the live lists (the caller marks its row removed); None if it was not live.
        What is then assigned to it is no change of the live state."""
        dev = self.devices.pop(device_id, None)
        self._devices.pop(device_id, None)
        self._shown_state.pop(device_id, None)
        if dev is not None:
            hold(dev, None)
            self.removed[device_id] = dev
        return dev

    def add_agent(self, agent: AgentState) -> AgentState:
        """A new agent: held (its changes recorded from now on), and its row written at commit."""
        self.agents[agent.id] = agent
        hold(agent, self._agent_changed)
        self._agents[agent.id] = None
        return agent

    def forget_agent(self, agent_id: str) -> AgentState | None:
        """A decommissioned agent: off the state (the caller deletes its row)."""
        self._agents.pop(agent_id, None)
        agent = self.agents.pop(agent_id, None)
        if agent is not None:
            hold(agent, None)
        return agent

    def known(self, device_id: str) -> DeviceState | None:
        """A live or a removed device (whose history is still served)."""
        return self.devices.get(device_id) or self.removed.get(device_id)

    def commit(self, db: Database) -> Shown:
        """Write what changed since the last commit (called inside the batch's transaction), and return
        what the consoles must be shown again."""
        shown = Shown(agents=[a for a in self._agents if a in self.agents], zones=sorted(self._zones_shown))
        for device_id in self._devices:
            state = self.devices[device_id].state
            if self._shown_state.get(device_id) != state:
                self._shown_state[device_id] = state
                shown.devices.append(device_id)
        self._save(db)
        self._zones_shown.clear()
        return shown

    def _save(self, db: Database) -> None:
        now_rows = []
        for device_id in self._devices:
            d = self.devices[device_id]
            now_rows.append((d.id, d.kind, d.zone, d.queue, d.state, d.last_seen, json.dumps(d.readings)))
        db.conn.executemany(
            "INSERT INTO devices(id, kind, zone, queue, created_at, state, last_seen, readings) "
            "VALUES (?1,?2,?3,?4,COALESCE(?6, 0),?5,?6,?7) ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, "
            "zone=excluded.zone, queue=excluded.queue, state=excluded.state, last_seen=excluded.last_seen, "
            "readings=excluded.readings, removed_at=NULL", now_rows,
        )
        db.conn.executemany(
            "INSERT OR REPLACE INTO agents VALUES (?,?,?,?,?)",
            [(a.id, a.state, a.ts, a.since, a.seen_at) for a in (self.agents[i] for i in self._agents)],
        )
        db.conn.executemany(
            "INSERT OR REPLACE INTO queue_state VALUES (?,?,?,?,?,?)",
            [(q.id, q.zone, q.device_id, q.waiting, q.avg_wait_s, q.at or 0)
             for q in (self.queues[i] for i in self._queues)],
        )
        db.conn.executemany(
            "INSERT OR REPLACE INTO zone_state VALUES (?,?,?,?)",
            [(z.id, z.occupancy, z.occupancy_at, z.crowd_since) for z in (self.zones[i] for i in self._zones)],
        )
        self._devices.clear()
        self._queues.clear()
        self._zones.clear()
        self._agents.clear()

    # -- views --------------------------------------------------------------------------------------

    def zone_waiting(self, zone_id: str) -> int:
        return sum(q.waiting for q in self.queues.values() if q.zone == zone_id)

    def zone_avg_wait(self, zone_id: str) -> float:
        qs = [q for q in self.queues.values() if q.zone == zone_id and q.at is not None]
        total = sum(q.waiting for q in qs)
        if not qs:
            return 0.0
        if total == 0:
            return sum(q.avg_wait_s for q in qs) / len(qs)
        return sum(q.avg_wait_s * q.waiting for q in qs) / total
