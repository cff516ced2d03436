"""Supervision under ``make run``: restart a crashed child with backoff, and tell the hub.

One crashed component must not take the control centre down. The launcher (centre.launcher) watches
each long-running child and starts it again after a delay that starts small (``restart_initial_s``),
doubles with each crash to ``restart_max_s``, and goes back to the start once the child has run
``steady_s`` without crashing: a process killed once is back within a second, one that crashes at once
does not spin the CPU.

The hub learns of restarts through the broker (``floorops.topics.supervisor_topic``, QoS 1), not through
its HTTP API: the hub may be the one that crashed, and the broker keeps the notice for the hub's
persistent session until it is back. If the broker is the one restarting, paho keeps the notice in its
outgoing queue and sends it once it has reconnected; but a broker killed with -9 has also lost the hub's
session, and the notice can arrive before the hub has subscribed again. So each notice is also retained,
one per component: the latest (``restarted`` or ``steady``) is what the hub gets whenever it subscribes,
and it ignores one it has applied before (hub.core, ``seen_records``). The launcher clears a previous
run's retained notices before the hub starts, so a new centre never reports an old run's restarts.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from floorops.mqtt_client import Endpoint, configure
from floorops.dynsec import supervisor_client_id
from floorops.topics import SUPERVISOR_EVENTS, supervisor_topic

log = logging.getLogger("centre.supervision")

RECENT_KEPT = 20  # restart times sent with each notice: the hub counts a crash loop from them
NOTICES_QUEUED = 1000  # notices paho holds while the broker is away (restarts are rare)
CLEAR_TIMEOUT_S = 10.0  # clearing the previous run's notices waits for the broker this long


@dataclass
class Backoff:
    """The delay before the next restart, from how long the child ran this time."""

    initial_s: float = 0.5
    max_s: float = 30.0
    steady_s: float = 60.0
    _last: float | None = None

    def after_exit(self, ran_s: float) -> float:
        """A child that ran ``steady_s`` or more starts again from ``initial_s``; otherwise the delay doubles."""
        if self._last is None or ran_s >= self.steady_s:
            self._last = self.initial_s
        else:
            self._last = min(self._last * 2, self.max_s)
        return self._last


def describe_exit(returncode: int | None) -> dict[str, Any]:
    """``{"exit_code": n, "signal": None}`` or ``{"exit_code": None, "signal": "SIGKILL"}``."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return {"exit_code": None, "signal": name}
    return {"exit_code": returncode, "signal": None}


@dataclass
class RestartHistory:
    """One component's restarts: the count since the launcher started and the latest times (epoch ms)."""

    restarts: int = 0
    recent_ms: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))

    def record(self, at_ms: int) -> None:
        self.restarts += 1
        self.recent_ms.append(at_ms)


class Notices:
    """The launcher's own MQTT client: publishes supervision notices, QoS 1 and retained, queued while disconnected."""

    def __init__(self, host: str, port: int, username: str, password: str, site: str, cafile: str = "") -> None:
        self.site = site
        self.run_id = uuid.uuid4().hex[:12]  # tells one launcher run's notices from the next one's
        self._seq = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=supervisor_client_id(username, site))
        configure(self._client, Endpoint(host, port, cafile), username, password)
        self._client.max_queued_messages_set(NOTICES_QUEUED)
        self._client.reconnect_delay_set(0.2, 2)  # type: ignore[arg-type]  # - paho takes float seconds; its hint says int
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def send(self, component: str, event: str, **data: Any) -> None:
        """Queue one notice; paho sends it now, or after it has reconnected to a restarted broker.

        It replaces the component's retained notice: the other event's retained copy is deleted first, so
        a hub that subscribes later never gets a ``restarted`` after the ``steady`` that followed it."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            payload = {"v": 1, "ts": int(time.time() * 1000), "component": component, "event": event,
                       "run": self.run_id, "seq": seq, **data}
            for other in SUPERVISOR_EVENTS:
                if other != event:
                    self._publish(supervisor_topic(self.site, component, other), b"")
            self._publish(supervisor_topic(self.site, component, event), json.dumps(payload).encode())

    def clear(self, components: list[str], timeout_s: float = CLEAR_TIMEOUT_S) -> bool:
        """Delete every retained notice of ``components`` (a previous run's) and wait until the broker has
        them all. False if it did not answer in time: the hub may then show an old run's last notice."""
        deadline = time.monotonic() + timeout_s
        while not self._client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            infos = [self._publish(supervisor_topic(self.site, c, e), b"")
                     for c in components for e in SUPERVISOR_EVENTS]
        try:
            for info in infos:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if all(info.is_published() for info in infos):
                return True
        except (RuntimeError, ValueError):  # not connected, or not queued
            pass
        log.warning("previous run's supervision notices not cleared", extra={"timeout_s": timeout_s})
        return False

    def _publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos=1, retain=True)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("supervision notice not queued", extra={"topic": topic, "error": mqtt.error_string(info.rc)})
        return info

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
