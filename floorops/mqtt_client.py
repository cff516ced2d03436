"""The one place a paho client gets its broker address, credentials and TLS.

Every FloorOps MQTT client (edge, hub, launcher, dynsec CLI, simulated devices) goes through ``endpoint``
and ``configure``, so TLS has one home: a client either talks plain MQTT to the broker's loopback
listener (``mqtt.port``, same host only) or TLS to ``mqtt.tls_port``, verifying the broker's certificate
chain against ``mqtt.cafile`` (default: the private CA, floorops/tls.py) and its host name.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from floorops.config import Config


@dataclass(frozen=True)
class Endpoint:
    """Where a client connects; ``cafile`` empty means plain TCP (loopback only)."""

    host: str
    port: int
    cafile: str = ""

    @property
    def tls(self) -> bool:
        return bool(self.cafile)


def endpoint(cfg: Config, tls: bool | None = None) -> Endpoint:
    """``cfg.mqtt.tls`` (or ``tls`` when given) chooses the TLS listener; otherwise the plain one."""
    if cfg.mqtt.tls if tls is None else tls:
        from floorops.tls import ca_file  # cryptography only where TLS is used

        return Endpoint(cfg.mqtt.host, cfg.mqtt.tls_port, str(ca_file(cfg)))
    return Endpoint(cfg.mqtt.host, cfg.mqtt.port)


def client_context(cafile: str) -> ssl.SSLContext:
    """TLS 1.2 or newer, the chain checked against ``cafile`` and the broker's name against its certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def configure(client: mqtt.Client, ep: Endpoint, username: str, password: str | None) -> None:
    """Credentials, and TLS when the endpoint has a CA. Call before ``connect``/``connect_async``."""
    if username:
        client.username_pw_set(username, password)
    if ep.cafile:
        client.tls_set_context(client_context(ep.cafile))
