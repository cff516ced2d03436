"""One-shot setup steps for a hospital's server (docker-compose.yml's ``floorops-init`` services).

``broker-files``: write the broker's configuration and dynamic-security file (admin cut down to
administering accounts) into the broker's data volume, once; the same configuration as ``make run``
(centre.services.MosquittoServer), with the broker container's paths: TLS on 8883 for every client,
plain 1883 on the container's loopback only (its healthcheck).

``accounts``: once the broker is up, give the edge agent and the hub their broker accounts and roles.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from floorops.config import load_config
from floorops.dynsec import DynsecClient, DynsecError, service_accounts
from centre.services import MosquittoServer


def broker_files(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if not cfg.broker.admin_password:
        print("set FLOOROPS_BROKER__ADMIN_PASSWORD", file=sys.stderr)
        return 2
    server = MosquittoServer(
        data_dir=Path(args.dir), port=args.port, host="127.0.0.1",  # plain: the container's own loopback only
        admin_username=cfg.broker.admin_username, admin_password=cfg.broker.admin_password,
        max_queued_messages=cfg.broker.max_queued_messages, max_inflight_messages=cfg.broker.max_inflight_messages,
        max_queued_bytes=cfg.broker.max_queued_bytes, max_packet_size=cfg.broker.max_packet_size,
        sys_interval_s=cfg.broker.sys_interval_s,
        autosave_interval_s=cfg.broker.autosave_interval_s, plugin_path=args.plugin, run_as=args.user,
        data_dir_in_broker=args.broker_dir,
        # Every client (devices, edge, hub) comes over TLS; certificates from the tls volume (floorops.tls).
        tls_port=args.tls_port, certfile=f"{args.tls_dir}/server.crt", keyfile=f"{args.tls_dir}/server.key",
    )
    server.write_config()
    if args.owner:
        uid, gid = (int(x) for x in args.owner.split(":"))
        for path in [Path(args.dir), *Path(args.dir).iterdir()]:
            os.chown(path, uid, gid)
    print(f"broker files written to {args.dir}")
    return 0


def accounts(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    deadline = time.monotonic() + args.wait_s
    while True:
        try:
            with DynsecClient.for_config(cfg) as ds:  # TLS to the broker container (mqtt.tls)
                # The edge's and the hub's accounts, each bound to its client id; older accounts upgraded.
                ds.harden(service_accounts(cfg, cfg.site.id, supervisor=False))
            print("broker accounts for the edge and the hub are in place")
            return 0
        except (OSError, DynsecError) as exc:
            if time.monotonic() > deadline:
                print(f"could not provision broker accounts: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m centre.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("broker-files", help="write mosquitto.conf and the dynamic-security file")
    b.add_argument("--dir", required=True, help="the broker's data volume, as mounted here")
    b.add_argument("--broker-dir", default="/mosquitto/data", help="the same volume inside the broker container")
    b.add_argument("--port", type=int, default=1883, help="plain listener, bound to the broker's loopback")
    b.add_argument("--tls-port", type=int, default=8883, help="TLS listener, every address")
    b.add_argument("--tls-dir", default="/mosquitto/tls", help="server.crt and server.key, as the broker sees them")
    b.add_argument("--plugin", default="/usr/lib/mosquitto_dynamic_security.so")
    b.add_argument("--user", default="mosquitto")
    b.add_argument("--owner", default="1883:1883", help="uid:gid of the broker's user (eclipse-mosquitto: 1883)")
    b.set_defaults(func=broker_files)
    a = sub.add_parser("accounts", help="broker accounts for the edge and the hub")
    a.add_argument("--wait-s", type=float, default=60)
    a.set_defaults(func=accounts)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
