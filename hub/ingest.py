"""MQTT -> hub: a persistent QoS 1 session on ``floorops/<site>/#``, applied in batches, acknowledged after
the batch's transaction commits (paho manual ack), so a ``kill -9`` loses nothing: the broker redelivers
what was not acknowledged, and the dedup table drops what was already applied."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from floorops.config import Config
from floorops.topics import site_filter

log = logging.getLogger("hub.ingest")

SESSION_EXPIRY_S = 7 * 86400
BATCH_MAX = 500  # bounds how long a fault waits behind other traffic in one transaction


class MqttIngest:
    def __init__(self, cfg: Config, site_id: str, apply: Callable[[list[tuple[str, bytes]]], Any],
                 client_id: str | None = None) -> None:
        self.cfg = cfg
        self.site_id = site_id
        self.apply = apply
        self.connected = threading.Event()
        self._queue: asyncio.Queue[mqtt.MQTTMessage] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"floorops-hub-{site_id}",
            protocol=mqtt.MQTTv5, manual_ack=True,
        )
        self.client.username_pw_set(cfg.hub.mqtt_username, cfg.hub.mqtt_password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.5, 10)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.batches = 0

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if getattr(rc, "is_failure", False):
            log.error("broker refused the hub", extra={"reason": str(rc)})
            return
        client.subscribe(site_filter(self.site_id), qos=1)
        self.connected.set()
        log.info("connected to the broker", extra={"session_present": getattr(flags, "session_present", None)})

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker", extra={"reason": str(rc)})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, msg)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=self.cfg.mqtt.keepalive_s,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    async def run(self) -> None:
        """Drain the queue in batches forever (until cancelled)."""
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                self.apply([(m.topic, m.payload) for m in batch])
            except Exception:  # noqa: BLE001 - the database failed: do not ack, the broker redelivers
                log.exception("batch not applied; it will be redelivered after a reconnect")
                self.client.disconnect()
                await asyncio.sleep(1)
                self.client.reconnect()
                continue
            self.batches += 1
            for m in batch:
                if m.qos > 0:
                    self.client.ack(m.mid, m.qos)
            # Queue.get() does not yield while items are waiting: give the HTTP server, the WebSocket
            # writers and the ticker their turn between batches, or a busy stream starves them.
            await asyncio.sleep(0)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
