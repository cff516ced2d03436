"""floorops.tls: the private CA and server certificate, checked as a device or tool would check them."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509

from floorops import tls
from floorops.config import Config, load_config


def _cfg(tmp_path: Path, **tls_settings: object) -> Config:
    cfg = load_config(env={})
    cfg.var_dir = str(tmp_path)
    for k, v in tls_settings.items():
        setattr(cfg.tls, k, v)
    return cfg


def _handshake(files: tls.TlsFiles, server_name: str, cafile: Path) -> None:
    """A real TLS handshake against a server using the generated certificate, verifying ``server_name``."""
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(files.server_crt, files.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with srv_ctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        cli_ctx = ssl.create_default_context(cafile=str(cafile))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with cli_ctx.wrap_socket(raw, server_hostname=server_name) as s:
                s.sendall(b"x")
    finally:
        t.join(5)
        listener.close()


def test_first_start_issues_ca_and_server_cert_that_verify(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _cfg(tmp_path, extra_names=["broker.ward-3.example", "10.20.30.40"])
    with caplog.at_level(logging.INFO, logger="floorops.tls"):
        files = tls.ensure(cfg)
    assert files.dir == tmp_path / "tls"
    for p in (files.ca_crt, files.ca_key, files.server_crt, files.server_key):
        assert p.is_file()
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.dir.stat().st_mode) == 0o700
    cert = x509.load_pem_x509_certificate(files.server_crt.read_bytes())
    assert tls.cert_names(cert) == {"localhost", "127.0.0.1", "::1", "broker.ward-3.example", "10.20.30.40"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("certificate authority" in m for m in messages) and any("server certificate" in m for m in messages)
    # What a device does: trust ca.crt, check the host name.
    for name in ("localhost", "127.0.0.1", "broker.ward-3.example"):
        _handshake(files, name, files.ca_crt)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(files, "elsewhere.example", files.ca_crt)


def test_present_and_valid_files_are_never_regenerated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _cfg(tmp_path)
    files = tls.ensure(cfg)
    before = {p: p.read_bytes() for p in (files.ca_crt, files.ca_key, files.server_crt, files.server_key)}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="floorops.tls"):
        tls.ensure(cfg)
    assert {p: p.read_bytes() for p in before} == before
    assert not [r for r in caplog.records if "created" in r.getMessage()]


def test_a_new_extra_name_reissues_only_the_server_certificate(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    files = tls.ensure(cfg)
    ca_before = files.ca_crt.read_bytes()
    cfg.tls.extra_names = ["mosquitto"]
    tls.ensure(cfg)
    assert files.ca_crt.read_bytes() == ca_before  # devices keep trusting the same CA
    assert "mosquitto" in tls.cert_names(x509.load_pem_x509_certificate(files.server_crt.read_bytes()))
    _handshake(files, "mosquitto", files.ca_crt)


def test_expired_server_certificate_is_reissued_and_near_expiry_warned(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _cfg(tmp_path, server_days=10, warn_days=30)
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=20)
    files = tls.ensure(cfg, now=then)
    old = files.server_crt.read_bytes()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="floorops.tls"):
        tls.ensure(cfg)
    assert files.server_crt.read_bytes() != old
    created = [r for r in caplog.records if "created the TLS server certificate" in r.getMessage()]
    assert created and created[0].reason == "expired"  # type: ignore[attr-defined]  # - set by the log call's extra=
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "expires soon" in r.getMessage()]
    assert warned and warned[0].certificate == "server"  # type: ignore[attr-defined]  # - set by extra=; 10 days < warn_days


def test_a_corrupt_key_is_replaced_not_trusted(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    files = tls.ensure(cfg)
    files.server_key.write_text("not a key")
    tls.ensure(cfg)
    _handshake(files, "localhost", files.ca_crt)


def test_hospital_ca_without_key_is_used_and_never_overwritten(tmp_path: Path) -> None:
    """A hospital PKI: ca.crt and a server certificate it signed, no ca.key. Kept; a bad one is an error."""
    cfg = _cfg(tmp_path)
    files = tls.ensure(cfg)
    files.ca_key.unlink()
    before = files.server_crt.read_bytes()
    tls.ensure(cfg)
    assert files.server_crt.read_bytes() == before and not files.ca_key.exists()
    other = _cfg(tmp_path / "other")
    other_files = tls.ensure(other)
    files.server_crt.write_bytes(other_files.server_crt.read_bytes())
    files.server_key.write_bytes(other_files.server_key.read_bytes())
    with pytest.raises(tls.TlsError, match="not signed by ca.crt"):
        tls.ensure(cfg)


def test_extra_names_from_the_environment(tmp_path: Path) -> None:
    cfg = load_config(env={"FLOOROPS_TLS__EXTRA_NAMES": "mosquitto, ops.example.org"})
    assert cfg.tls.extra_names == ["mosquitto", "ops.example.org"]
    cfg = load_config(env={"FLOOROPS_TLS__EXTRA_NAMES": '["10.0.0.5"]', "FLOOROPS_MQTT__TLS_PORT": "9883"})
    assert cfg.tls.extra_names == ["10.0.0.5"] and cfg.mqtt.tls_port == 9883
