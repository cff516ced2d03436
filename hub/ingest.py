"""MQTT -> hub: persistent QoS 1 sessions on the site's internal topics, applied in batches, acknowledged
after the batch's transaction commits (paho manual ack), so a ``kill -9`` loses nothing: the broker
redelivers what was not acknowledged, and the hub's dedup drops what was already applied.

Two sessions cover ``floorops/<site>/#`` between them, so that a fault never queues behind a flood of
readings: ``priority`` takes the devices' events and status records (faults, Last Wills, edge liveness),
``stream`` takes readings, zone occupancy, the registry and agent status. The edge sends its records in
batches, one message per stream (``floorops.topics.expand``); a batch is unpacked here, so the core sees
records exactly as if they had come one by one. The priority queue is always drained first, and it
preempts bulk work already under way: a transaction of readings commits what it has applied as soon as a
priority message is waiting (``Hub.apply_until``, checked between records), the priority records are
applied, committed and broadcast in their own transaction, then the readings resume where they stopped.
So a fault waits for at most one record and one commit, not for a whole batch of readings; each stream's
records are still applied in the order they came, and a message is acknowledged once all of its records
are committed. Ordering between the two streams is not needed: a reading older (device time) than the
event that raised an alarm never clears it (hub.alarms).

A batch that cannot be applied (the database locked by another process, a full disk, an I/O error) is
retried, the same batch, after an exponential back-off capped at ``RETRY_MAX_S``, and acknowledged only
once it commits: nothing is lost and nothing jumps the queue. The MQTT sessions are never touched for
that: paho's own network thread (``loop_start``) keeps them alive and reconnects them after a broker
outage (``reconnect_delay_set``). While a batch is failing, ``health()`` says ``stalled`` (/healthz 503)
and the hub raises ``ingest_stalled`` after 30 s (hub.rules.ingest)."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from floorops.config import Config
from floorops.mqtt_client import configure, endpoint
from floorops.dynsec import SYS_DROPPED_TOPIC, hub_client_id, hub_session_username
from floorops.topics import (edge_record_filter, expand, records_filter, relaying_agent, section_filter,
                             supervisor_filter)

log = logging.getLogger("hub.ingest")

SESSION_EXPIRY_S = 7 * 86400
# Records taken from a session's inbox at once (a message may carry many; its records are never split
# between takes): one transaction unless priority work preempts it, so large enough that the commit's
# fsync is shared (bench/db_synchronous.py). A fault does not wait for it (see above).
BATCH_MAX = 200
# Back-off between attempts at a batch that failed: doubles from the first to the cap.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
RETRY_LOG_EVERY_S = 10.0


def stream_filters(site: str) -> dict[str, list[str]]:
    """Topic filters of each session; together exactly ``floorops/<site>/#`` as the hub uses it."""
    return {
        "priority": [edge_record_filter(site, "event"), edge_record_filter(site, "status"),
                     records_filter(site, "priority"), supervisor_filter(site)],
        "stream": [edge_record_filter(site, "telemetry"), section_filter(site, "zone"), section_filter(site, "flows"),
                   section_filter(site, "registry"),
                   section_filter(site, "agent"), records_filter(site, "stream")],
    }


@dataclass
class _Session:
    name: str
    client: mqtt.Client
    filters: list[str]
    # Filled by paho's network thread, emptied by the event loop (deque append/popleft are thread-safe).
    inbox: collections.deque[mqtt.MQTTMessage] = field(default_factory=collections.deque)
    connected: threading.Event = field(default_factory=threading.Event)


Record = tuple[str, bytes, str]  # (topic, payload, relaying agent) as hub.core.Hub.apply_until takes it
# Applies records in order in one transaction until the callable says more urgent work waits; returns how
# many of them, from the start, were applied and committed (hub.core.Hub.apply_until).
Apply = Callable[[list[Record], Callable[[], bool] | None], int]


def _waiting(sessions: list[_Session]) -> Callable[[], bool]:
    """True while any of ``sessions`` has messages waiting (asked between records: a deque's truth is cheap)."""
    return lambda: any(s.inbox for s in sessions)


@dataclass
class _Work:
    """Messages taken from one session's inbox and the records they carry, applied from ``done`` on."""
    session: _Session
    messages: list[mqtt.MQTTMessage]
    records: list[Record]
    ends: list[int]  # for each message, the number of records up to and including its own
    done: int = 0  # records applied and committed
    acked: int = 0  # messages acknowledged

    def ack_committed(self) -> None:
        """Acknowledge every message all of whose records are committed (in order, each once)."""
        while self.acked < len(self.messages) and self.ends[self.acked] <= self.done:
            m = self.messages[self.acked]
            if m.qos > 0:
                self.session.client.ack(m.mid, m.qos)
            self.acked += 1

    @property
    def finished(self) -> bool:
        return self.done >= len(self.records)


class MqttIngest:
    def __init__(self, cfg: Config, site_id: str, apply: Apply) -> None:
        self.cfg = cfg
        self.site_id = site_id
        self.apply = apply
        self.endpoint = endpoint(cfg)  # plain loopback, or TLS when mqtt.tls (floorops.mqtt_client)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._wake_pending = False  # True exactly while a wake-up callback is queued on the loop
        # Each session is its own broker account, bound to its own client id (floorops.dynsec).
        self.sessions = [self._session(name, hub_session_username(cfg.hub.mqtt_username, name),
                                       hub_client_id(cfg.hub.mqtt_username, site_id, name), filters)
                         for name, filters in stream_filters(site_id).items()]
        self.batches = 0  # transactions committed
        self.preemptions = 0  # bulk transactions committed early because priority work was waiting (/metrics)
        self._held: dict[str, _Work] = {}  # a session's work that priority work preempted, resumed later
        # The broker's count of messages it dropped from full session queues (SYS_DROPPED_TOPIC), as last
        # published; None until the first one arrives. Read by the ticker (hub.rules.broker).
        self.broker_dropped: int | None = None
        self.retries = 0  # failed attempts at batches, all time (/metrics)
        self._failing_since: float | None = None  # time.monotonic() of the current batch's first failure
        self._last_error = ""

    def health(self) -> dict[str, Any]:
        """``up``, or ``stalled`` while a batch keeps failing (since how long, why)."""
        if self._failing_since is None:
            return {"state": "up"}
        return {"state": "stalled", "stalled_s": round(self.stalled_for(), 1), "error": self._last_error}

    def stalled_for(self) -> float:
        """Seconds the current batch has been failing (0 when ingest is healthy)."""
        return 0.0 if self._failing_since is None else time.monotonic() - self._failing_since

    def is_connected(self) -> bool:
        """Every session connected (what /healthz reports)."""
        return all(s.connected.is_set() for s in self.sessions)

    def _session(self, name: str, username: str, client_id: str, filters: list[str]) -> _Session:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        configure(client, self.endpoint, username, self.cfg.hub.mqtt_password)
        client.reconnect_delay_set(0.5, 10)  # type: ignore[arg-type]  # - paho takes float seconds; its hint says int
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        session = _Session(name, client, filters)

        def on_connect(c: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            if getattr(rc, "is_failure", False):
                log.error("broker refused the hub", extra={"session": name, "reason": str(rc)})
                return
            c.subscribe([(f, 1) for f in filters] + ([(SYS_DROPPED_TOPIC, 0)] if name == "priority" else []))
            session.connected.set()
            log.info("connected to the broker", extra={"session": name,
                                                       "session_present": getattr(flags, "session_present", None)})

        def on_disconnect(c: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            session.connected.clear()
            log.warning("disconnected from the broker", extra={"session": name, "reason": str(rc)})

        def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            if msg.topic == SYS_DROPPED_TOPIC:  # QoS 0, retained: nothing to acknowledge or apply
                self._broker_counter(bytes(msg.payload))
                return
            session.inbox.append(msg)
            # One wake-up for a burst, not one cross-thread call (and self-pipe write) per message.
            if not self._wake_pending and self._loop is not None:
                self._wake_pending = True
                self._loop.call_soon_threadsafe(self._wake_up)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return session

    def _broker_counter(self, payload: bytes) -> None:
        try:
            value = int(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            log.warning("unreadable broker counter", extra={"topic": SYS_DROPPED_TOPIC, "payload": payload[:40].hex()})
            return
        if value != self.broker_dropped and value > 0:
            log.error("the broker dropped messages from a full session queue",
                      extra={"dropped_total": value, "previous": self.broker_dropped})
        self.broker_dropped = value

    def _wake_up(self) -> None:
        assert self._wake is not None
        self._wake_pending = False
        self._wake.set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        for s in self.sessions:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            s.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=self.cfg.mqtt.keepalive_s,
                                   clean_start=False, properties=props)
            s.client.loop_start()

    def _next_work(self) -> tuple[_Work, Callable[[], bool] | None] | None:
        """The work to apply next: the first session's (in priority order) that has any, its preempted work
        resumed before new messages; with what preempts it (messages waiting in an earlier session)."""
        for i, s in enumerate(self.sessions):
            work = self._held.pop(s.name, None) or (self._take(s) if s.inbox else None)
            if work is None:
                continue
            return work, (_waiting(self.sessions[:i]) if i else None)
        return None

    @staticmethod
    def _take(s: _Session) -> _Work:
        """Messages from ``s``'s inbox, up to BATCH_MAX records (at least one message), with the records
        they carry and the edge agent that relayed them ('' when the topic does not say)."""
        work = _Work(s, [], [], [])
        while len(work.records) < BATCH_MAX and s.inbox:
            m = s.inbox.popleft()
            work.messages.append(m)
            agent = relaying_agent(m.topic)
            work.records.extend((t, p, agent) for t, p in expand(m.topic, bytes(m.payload)))
            work.ends.append(len(work.records))
        return work

    async def run(self) -> None:
        """Apply work forever (until cancelled), the priority session's first, preempting the others'."""
        assert self._wake is not None
        while True:
            found = self._next_work()
            if found is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            work, preempt = found
            before = work.done
            if not work.finished:  # a batch message may carry no record at all
                await self._apply_until_done(work, preempt)
                self.batches += 1
            work.ack_committed()
            if not work.finished:
                self.preemptions += 1
                self._held[work.session.name] = work
                log.debug("bulk work preempted by priority work",
                          extra={"session": work.session.name, "applied": work.done - before,
                                 "left": len(work.records) - work.done})
            # Give the HTTP server, the WebSocket writers and the ticker their turn between batches:
            # a busy stream must not starve them.
            await asyncio.sleep(0)

    async def _apply_until_done(self, work: _Work, preempt: Callable[[], bool] | None) -> None:
        """Apply ``work``'s records from ``done`` on, until a transaction commits (all of them, or the part
        before ``preempt`` said stop), retrying with back-off (hub.core.Hub.apply_until has rolled back and
        reloaded memory after each failure)."""
        delay = RETRY_FIRST_S
        logged_at = 0.0
        while True:
            try:
                work.done += self.apply(work.records[work.done:], preempt)
            except Exception as exc:  # noqa: BLE001 - the database failed: not acked, retried
                self.retries += 1
                self._last_error = f"{type(exc).__name__}: {exc}"[:300]
                now = time.monotonic()
                if self._failing_since is None:
                    self._failing_since = now
                if now - logged_at >= RETRY_LOG_EVERY_S:
                    logged_at = now
                    log.error("batch not applied; retrying the same batch",
                              extra={"error": self._last_error, "records": len(work.records) - work.done,
                                     "stalled_s": round(now - self._failing_since, 1), "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if self._failing_since is not None:
                log.info("ingest recovered", extra={"stalled_s": round(self.stalled_for(), 1)})
                self._failing_since = None
                self._last_error = ""
            return

    def publish(self, topic: str, payload: bytes) -> bool:
        """A command down to a device (hub.screens), QoS 1, on the priority session's connection (the hub's
        own account, which alone may write command topics). False when not connected: the caller keeps
        the command and tries again at the next flush."""
        s = self.sessions[0]
        if not s.connected.is_set():
            return False
        return s.client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def stop(self) -> None:
        for s in self.sessions:
            s.client.disconnect()
            s.client.loop_stop()
