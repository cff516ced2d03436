"""Shared pieces of the simulator's tests: the demo site and an emitter that records device output."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from floorops.config import load_config
from floorops.site import Site, load_site


@dataclass
class Recorder:
    """An Emitter that keeps everything a device sends, in order."""

    mqtt_msgs: list[tuple[str, str, bytes]] = field(default_factory=list)
    serial_data: list[tuple[str, bytes]] = field(default_factory=list)
    power_events: list[tuple[str, bool, int]] = field(default_factory=list)

    def mqtt(self, device_id: str, topic: str, payload: bytes, retain: bool, qos: int) -> None:
        self.mqtt_msgs.append((device_id, topic, payload))

    def serial(self, device_id: str, data: bytes) -> None:
        self.serial_data.append((device_id, data))

    def power(self, device_id: str, on: bool, ts_ms: int) -> None:
        self.power_events.append((device_id, on, ts_ms))

    def of(self, device_id: str) -> list[tuple[str, bytes]]:
        return [(t, p) for d, t, p in self.mqtt_msgs if d == device_id]


@pytest.fixture(scope="session")
def demo_site() -> Site:
    return load_site(load_config(env={}).site.file)


def local_ms(site: Site, *args: int) -> int:
    return int(dt.datetime(*args, tzinfo=site.tz).timestamp() * 1000)
