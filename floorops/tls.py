"""The private CA and the server certificate every FloorOps hop is encrypted with.

On first start (``make run``, the launcher, docker-compose's ``tls-files`` step) ``ensure`` writes under
``<var_dir>/<tls.dir>``: ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key`` (keys mode 600, folder 700).
The server certificate names localhost, 127.0.0.1, ::1 and ``tls.extra_names`` (the broker's and the
console's host names on the hospital LAN). Files that are present and valid are never regenerated: a
device keeps trusting the CA it was given. A hospital with its own PKI puts its CA as ``ca.crt`` (no
``ca.key``) and its server certificate and key beside it; they are checked and used, never replaced.

Valid means: readable, not expired, the key matches, signed by ``ca.crt``, and (when FloorOps holds the
CA key) naming every configured name. Expiry within ``tls.warn_days`` is logged as a warning at every
start; an expired certificate FloorOps can re-issue is re-issued (and logged).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import logging
import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from floorops.config import Config
from floorops.varperms import write_private

log = logging.getLogger("floorops.tls")

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


class TlsError(RuntimeError):
    """The certificates are unusable and FloorOps cannot issue new ones (no CA key)."""


@dataclass(frozen=True)
class TlsFiles:
    """Where the four files live."""

    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_crt(self) -> Path:
        return self.dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"


def tls_files(cfg: Config) -> TlsFiles:
    return TlsFiles(cfg.path(cfg.tls.dir))


def ca_file(cfg: Config) -> Path:
    """The CA FloorOps' clients trust: ``mqtt.cafile`` when set, else the private CA."""
    return cfg.path(cfg.mqtt.cafile) if cfg.mqtt.cafile else tls_files(cfg).ca_crt


def wanted_names(cfg: Config) -> list[str]:
    names = list(DEFAULT_NAMES)
    for n in cfg.tls.extra_names:
        n = str(n).strip()
        if n and n not in names:
            names.append(n)
    return names


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def cert_names(cert: x509.Certificate) -> set[str]:
    """DNS names and IP addresses (as text) a certificate is valid for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(san.get_values_for_type(x509.DNSName)) | {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load(files: TlsFiles) -> tuple[x509.Certificate | None, object | None, x509.Certificate | None, object | None]:
    def cert(p: Path) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate(p.read_bytes())
        except (OSError, ValueError):
            return None

    def key(p: Path) -> object | None:
        try:
            return serialization.load_pem_private_key(p.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            return None

    return cert(files.ca_crt), key(files.ca_key), cert(files.server_crt), key(files.server_key)


def _same_key(cert: x509.Certificate, key: object | None) -> bool:
    if key is None or not hasattr(key, "public_key"):
        return False
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    theirs: bytes = key.public_key().public_bytes(serialization.Encoding.PEM, pub)
    return cert.public_key().public_bytes(serialization.Encoding.PEM, pub) == theirs


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _problem(cert: x509.Certificate | None, key: object | None, now: dt.datetime) -> str:
    if cert is None:
        return "missing or unreadable"
    if not _same_key(cert, key):
        return "its key is missing or does not match"
    if cert.not_valid_after_utc <= now:
        return "expired"
    if cert.not_valid_before_utc > now:
        return "not valid yet"
    return ""


def _new_ca(cfg: Config, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FloorOps"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"FloorOps private CA ({cfg.site.id})")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=cfg.tls.ca_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server(cfg: Config, ca: x509.Certificate, ca_key: object, names: list[str],
                now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FloorOps"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=cfg.tls.server_days), ca.not_valid_after_utc))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)  # type: ignore[arg-type]  # - an EC key, which the union includes
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]  # - an EC key, which the union includes
    )
    return cert, key


def _warn_expiry(what: str, cert: x509.Certificate, path: Path, cfg: Config, now: dt.datetime) -> None:
    days = (cert.not_valid_after_utc - now).total_seconds() / 86400
    if days <= cfg.tls.warn_days:
        log.warning("TLS certificate expires soon: renew it (delete it and restart, or install the new one)",
                    extra={"certificate": what, "path": str(path), "days_left": round(days, 1),
                           "not_after": cert.not_valid_after_utc.isoformat()})


def ensure(cfg: Config, now: dt.datetime | None = None) -> TlsFiles:
    """The CA and server certificate, issued if missing or invalid; kept as they are otherwise."""
    now = now or dt.datetime.now(dt.timezone.utc)
    files = tls_files(cfg)
    files.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(files.dir, 0o700)
    ca, ca_key, server, server_key = _load(files)
    names = wanted_names(cfg)

    own_ca = ca_key is not None
    if ca is not None and not own_ca:  # the hospital's CA: FloorOps has no key for it and needs none
        ca_problem = "expired" if ca.not_valid_after_utc <= now else ""
        if ca_problem:
            raise TlsError(f"{files.ca_crt}: {ca_problem}, and there is no {files.ca_key.name} to issue a new one")
    else:
        ca_problem = _problem(ca, ca_key, now)
    if ca_problem:
        ca, ca_key = _new_ca(cfg, now)
        write_private(files.ca_key, _key_pem(ca_key))
        write_private(files.ca_crt, ca.public_bytes(serialization.Encoding.PEM))
        own_ca = True
        server = None  # a new CA: the old server certificate is no longer signed by it
        log.info("created a private TLS certificate authority; give its ca.crt to devices and tools",
                 extra={"path": str(files.ca_crt), "reason": ca_problem,
                        "not_after": ca.not_valid_after_utc.isoformat()})
    assert ca is not None

    server_problem = _problem(server, server_key, now)
    if not server_problem and server is not None:
        if not _signed_by(server, ca):
            server_problem = f"not signed by {files.ca_crt.name}"
        elif own_ca and not set(names) <= cert_names(server):
            server_problem = f"does not name {sorted(set(names) - cert_names(server))}"
    if server_problem:
        if not own_ca:
            raise TlsError(f"{files.server_crt}: {server_problem}; install a valid server certificate signed by "
                           f"{files.ca_crt} (FloorOps has no {files.ca_key.name} to issue one)")
        server, key = _new_server(cfg, ca, ca_key, names, now)
        write_private(files.server_key, _key_pem(key))
        write_private(files.server_crt, server.public_bytes(serialization.Encoding.PEM))
        log.info("created the TLS server certificate", extra={
            "path": str(files.server_crt), "names": names, "reason": server_problem,
            "not_after": server.not_valid_after_utc.isoformat()})
    assert server is not None
    for p in (files.ca_key, files.server_key):
        if p.exists() and p.stat().st_mode & 0o077:
            os.chmod(p, 0o600)
    _warn_expiry("ca", ca, files.ca_crt, cfg, now)
    _warn_expiry("server", server, files.server_crt, cfg, now)
    return files


def server_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """What an HTTPS server (the hub) serves with: TLS 1.2 or newer, this certificate chain and key."""
    if not certfile.is_file() or not keyfile.is_file():
        raise TlsError(f"HTTPS: certificate {certfile} or key {keyfile} is missing")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(certfile), str(keyfile))
    return ctx


def main(argv: list[str] | None = None) -> int:
    """``python -m floorops.tls``: issue the files (docker-compose's ``tls-files`` step), print where."""
    from floorops.config import load_config
    from floorops.logs import setup_logging

    parser = argparse.ArgumentParser(prog="python -m floorops.tls", description=__doc__.split("\n")[0])
    parser.add_argument("--config")
    parser.add_argument("--owner", default="", help="uid:gid to own the files (the broker container's user)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    setup_logging(cfg.log_level, cfg.log_format, "tls")
    try:
        files = ensure(cfg)
    except TlsError as exc:
        print(f"TLS: {exc}", file=sys.stderr)
        return 1
    if args.owner:
        uid, gid = (int(x) for x in args.owner.split(":"))
        for p in (files.dir, *files.dir.iterdir()):
            os.chown(p, uid, gid)
    print(f"TLS files in {files.dir}: ca.crt, server.crt, server.key")
    return 0


if __name__ == "__main__":
    sys.exit(main())
