"""``python -m hub``: run the hub, or manage its users and devices.

    python -m hub [--config FILE]                                   run the hub (HTTP + WebSocket + MQTT)
    python -m hub users add NAME --role ROLE [--config FILE]        password read from standard input
    python -m hub users list
    python -m hub devices add ID --kind KIND --zone ZONE            prints {"id","mqtt_username","mqtt_password","topic_prefix"}
    python -m hub devices remove ID                                 empty retained registry entry, broker account deleted
    python -m hub devices list
    python -m hub migrate                                           create or upgrade the database
    python -m hub backup DEST                                       consistent copy of the database (hub may run)
    python -m hub qr [ZONE] [--base URL]                            each zone's patient request page address (QR)

Exit codes: 0 done, 1 error (message on stderr), 2 bad usage or configuration, 3 the hub database is corrupt
(fails PRAGMA quick_check or is not a database: restore a backup, docs/operations.md).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sqlite3
import sys

from floorops.config import ConfigError, load_config
from floorops.dynsec import DynsecError
from floorops.logs import setup_logging
from floorops.site import SiteError, site_of
from hub.auth import ROLES

log = logging.getLogger("hub")

EXIT_CORRUPT = 3


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="configuration file (floorops.toml format)")
    p = argparse.ArgumentParser(prog="python -m hub", parents=[common],
                                description="FloorOps hub: live state, rules, alarms, tickets, dispatch, HTTP/WS API.")
    sub = p.add_subparsers(dest="command")
    users = sub.add_parser("users", help="console users").add_subparsers(dest="action", required=True)
    ua = users.add_parser("add", parents=[common], help="create a user or reset their role and password (stdin)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=list(ROLES))
    users.add_parser("list", parents=[common], help="list users")
    devices = sub.add_parser("devices", help="devices").add_subparsers(dest="action", required=True)
    da = devices.add_parser("add", parents=[common], help="register a device and print its MQTT credentials")
    da.add_argument("id")
    da.add_argument("--kind", required=True, help="a device kind of the site (GET /api/site: device_kinds)")
    da.add_argument("--zone", required=True)
    dr = devices.add_parser("remove", parents=[common],
                            help="take a device out of service: registry entry removed, broker account deleted")
    dr.add_argument("id")
    devices.add_parser("list", parents=[common], help="list registered devices (not the removed ones)")
    sub.add_parser("migrate", parents=[common], help="create or upgrade the hub database")
    bk = sub.add_parser("backup", parents=[common],
                        help="copy the hub database to DEST with SQLite's online backup (safe while the hub runs)")
    bk.add_argument("dest")
    qr = sub.add_parser("qr", parents=[common], help="print a zone's patient request page address (for its QR code)")
    qr.add_argument("zone", nargs="?", help="a zone of the site; every zone when left out")
    qr.add_argument("--base", default="", help="the address patients reach the hub at (default: the hub's own)")
    return p


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_level, cfg.log_format, "hub")
    from hub import provisioning
    from hub.auth import AuthError, UserStore
    from hub.db import Database, DatabaseCorrupt, backup

    try:
        if args.command is None:
            from hub.server import serve
            return serve(cfg)
        if args.command == "qr":
            site = site_of(cfg)
            base = args.base.rstrip("/") or (f"{'https' if cfg.hub.tls_cert else 'http'}://"
                                             f"{cfg.hub.http_host}:{cfg.hub.http_port}")
            zones = [z for z in site.zones if args.zone in (None, z.id)]
            if not zones:
                print(f"error: no such zone: {args.zone}", file=sys.stderr)
                return 1
            for z in zones:
                print(json.dumps({"zone": z.id, "name": z.name, "name_zh": z.name_zh, "url": f"{base}/r/{z.id}"},
                                 ensure_ascii=False))
            return 0
        if args.command == "migrate":
            db = Database(cfg.path(cfg.hub.db_path))
            print(json.dumps({"schema_version": db.version}))
            db.close()
            return 0
        if args.command == "backup":
            print(json.dumps(backup(cfg.path(cfg.hub.db_path), args.dest)))
            return 0
        if args.command == "users" and args.action == "add":
            provisioning.ensure_user(cfg, args.name, args.role, _read_password())
            print(json.dumps({"username": args.name, "role": args.role}))
            return 0
        if args.command == "users" and args.action == "list":
            db = Database(cfg.path(cfg.hub.db_path))
            for u in UserStore(db).list():
                print(json.dumps({"username": u.username, "role": u.role, "person": u.person}))
            db.close()
            return 0
        if args.command == "devices" and args.action == "add":
            print(json.dumps(provisioning.add_device(cfg, args.id, args.kind, args.zone)))
            return 0
        if args.command == "devices" and args.action == "remove":
            print(json.dumps(provisioning.remove_device(cfg, args.id)))
            return 0
        if args.command == "devices" and args.action == "list":
            db = Database(cfg.path(cfg.hub.db_path))
            for r in db.all("SELECT id, kind, zone, state, last_seen FROM devices WHERE removed_at IS NULL ORDER BY id"):
                print(json.dumps(dict(r)))
            db.close()
            return 0
    except DatabaseCorrupt as exc:
        print(f"error: the hub database is corrupt ({exc}); restore a backup (docs/operations.md)", file=sys.stderr)
        return EXIT_CORRUPT
    except (provisioning.ProvisioningError, AuthError, SiteError, DynsecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2
