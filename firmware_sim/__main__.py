"""``python -m firmware_sim``: run the simulated hospital, inject faults, export or load its history."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import sys
import time
from typing import Any

from floorops.clock import clock_of
from floorops.config import Config, ConfigError, load_config
from floorops.logs import setup_logging
from floorops.site import SiteError, site_of

log = logging.getLogger("firmware_sim")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m firmware_sim",
        description="The simulated hospital: every device on its real protocol, patient flow, faults on demand.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the live simulation (MQTT devices, serial probes, Modbus chargers)",
                         description="Run the live simulation until SIGTERM/SIGINT. Devices connect to the broker "
                                     "with the credentials in hub.credentials_file; serial lines appear under "
                                     "sim.serial_dir; faults are injected through 127.0.0.1:sim.control_port, where "
                                     "the hospital's robots also listen (its mail server: sim.smtp_port).")
    run.add_argument("--config", help="floorops TOML configuration (default: floorops.toml / FLOOROPS_CONFIG)")
    run.add_argument("--speed", type=float, help="virtual seconds per wall second (default sim.speed, 1 = real time)")
    run.add_argument("--seed", type=int, help="random seed (default sim.seed); same seed, same hospital")
    run.add_argument("--start", help="virtual start, ISO 8601 (site-local if no offset); default sim.start or now")
    run.add_argument("--no-faults", action="store_true", help="no random faults or bad input (injection still works)")

    inj = sub.add_parser("inject", help="trigger a fault in the running simulation",
                         description="Trigger FAULT on DEVICE now (or 'clear' to repair it). "
                                     "See GET /faults on the control server or docs/simulator.md for the list. "
                                     "An imaging zone takes 'signage_unclear' (more patients get lost there); "
                                     "'imaging' names the whole imaging area.")
    inj.add_argument("device")
    inj.add_argument("fault")
    inj.add_argument("--repair-min", type=float, help="virtual minutes until the technician clears it (0: never)")
    inj.add_argument("--config")

    slow = sub.add_parser("slow", help="slow down one of the hospital's simulated systems (his, pacs, queue, app)",
                          description="The simulator's /systems/NAME answers after SECONDS (real seconds; 0 restores "
                                      "it). The hub's system check sees it: above 10 s, the system_slow alarm.")
    slow.add_argument("name")
    slow.add_argument("seconds", type=float)
    slow.add_argument("--config")
    fail = sub.add_parser("fail", help="make one of the hospital's simulated systems fail (503) or answer again",
                          description="on: /systems/NAME answers 503 (the hub's system_down alarm after "
                                      "rules.system_down.failures checks); off: it answers 200 again.")
    fail.add_argument("name")
    fail.add_argument("state", choices=("on", "off"))
    fail.add_argument("--config")

    fl = sub.add_parser("faults", help="list the faults each kind of device can be given (JSON)")
    fl.add_argument("--config")

    st = sub.add_parser("status", help="print the running simulation's state (virtual time, ground truth, faults)")
    st.add_argument("--config")

    ib = sub.add_parser("inbox", help="print what the hospital's mail server, WeCom/DingTalk robots and SMS "
                                      "gateway received (the hub's pages)",
                        description="One block per message, oldest first: when (site time), channel, to whom, "
                                    "subject, then the text. The simulator keeps the newest 500 per channel.")
    ib.add_argument("--channel", choices=("smtp", "wecom", "dingtalk", "sms"), help="only this channel")
    ib.add_argument("--last", type=int, metavar="N", help="only the newest N messages")
    ib.add_argument("--json", action="store_true", help="the messages and counts as JSON")
    ib.add_argument("--config")

    hist = sub.add_parser("history", help="write W weeks of ground truth as CSV (ts,zone,arrivals,occupancy,waiting)")
    hist.add_argument("--weeks", type=int, required=True)
    hist.add_argument("--seed", type=int, default=1)
    hist.add_argument("--out", required=True, help="CSV file to write")
    hist.add_argument("--end", help="last day (YYYY-MM-DD, default yesterday, site-local)")
    hist.add_argument("--config")

    load = sub.add_parser("load-history", help="write W weeks of ground truth into InfluxDB (zones, queue screens, "
                          "wheelchair stations)",
                          description="Simulate W weeks ending at now and write them to InfluxDB (1.x API) as "
                                      "zone_stats and zone_occupancy points, and every queue screen's queue_screen "
                                      "readings and ticket_issued events (device_event) in the edge's schema, as if "
                                      "the devices had reported them, and each charging station's wheelchair_hour (chairs "
                                      "taken, returned, fewest charged).")
    load.add_argument("--weeks", type=int, required=True)
    load.add_argument("--seed", type=int, default=None, help="default sim.seed")
    load.add_argument("--config")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        setup_logging(cfg.log_level, cfg.log_format, "firmware_sim")
        logging.getLogger("pymodbus").setLevel(logging.WARNING)
        if args.command == "run":
            return _run(cfg, args)
        if args.command == "inject":
            from firmware_sim.control import ControlError, send_inject

            try:
                out = send_inject(cfg.sim.control_port, args.device, args.fault, args.repair_min)
            except ControlError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(out))
            return 0
        if args.command in ("slow", "fail"):
            from firmware_sim.control import ControlError, set_system

            settings = {"delay_s": args.seconds} if args.command == "slow" else {"fail": args.state == "on"}
            try:
                print(json.dumps(set_system(cfg.sim.control_port, args.name, **settings)))
            except ControlError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            return 0
        if args.command == "faults":
            from firmware_sim.devices import simulated

            print(json.dumps(simulated(site_of(cfg).kinds).faults.json("devices"), indent=2))
            return 0
        if args.command == "status":
            from firmware_sim.control import ControlError, get_status

            try:
                print(json.dumps(get_status(cfg.sim.control_port), indent=2, ensure_ascii=False))
            except ControlError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            return 0
        if args.command == "inbox":
            from firmware_sim.control import ControlError, get_inbox

            try:
                inbox = get_inbox(cfg.sim.control_port)
            except ControlError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            messages = [m for m in inbox["messages"] if args.channel in (None, m["channel"])]
            if args.last is not None:
                messages = messages[-args.last:] if args.last > 0 else []
            if args.json:
                print(json.dumps({"messages": messages, "counts": inbox["counts"]}, indent=2, ensure_ascii=False))
            else:
                print(format_inbox(messages, inbox["counts"], site_of(cfg).tz))
            return 0
        site = site_of(cfg)
        if args.command == "history":
            from firmware_sim.history import simulate_weeks

            if args.weeks <= 0:
                print("error: --weeks must be positive", file=sys.stderr)
                return 2
            end = dt.date.fromisoformat(args.end) if args.end else None
            t0 = time.monotonic()
            hist = simulate_weeks(site, args.weeks, args.seed, end)
            n = hist.write_csv(args.out)
            log.info("history written", extra={"rows": n, "out": args.out, "seconds": round(time.monotonic() - t0, 2)})
            return 0
        if args.command == "load-history":
            from firmware_sim.load import load_history
            from floorops.influx import InfluxWriteError

            if args.weeks <= 0:
                print("error: --weeks must be positive", file=sys.stderr)
                return 2
            seed = cfg.sim.seed if args.seed is None else args.seed
            try:
                # up to now on the centre's clock ([clock]): a demo day has its history behind it
                n = load_history(cfg, site, args.weeks, seed, now=clock_of(cfg.clock, site.tz).local())
            except InfluxWriteError as exc:
                log.error("history not loaded", extra={"error": str(exc), "url": cfg.influx.url})
                print(f"error: {exc}", file=sys.stderr)
                return 3
            print(json.dumps({"points": n, "weeks": args.weeks, "seed": seed}))
            return 0
    except (ConfigError, SiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


def format_inbox(messages: list[dict[str, Any]], counts: dict[str, dict[str, int]], tz: dt.tzinfo) -> str:
    """What ``inbox`` prints: a block per message (site time, channel, to, subject, indented text)."""
    out = []
    for m in messages:
        at = dt.datetime.fromtimestamp(m["at_ms"] / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")
        out.append(f"{at}  {m['channel']:<8}  to {m['to']}" + (f"\n    {m['subject']}" if m["subject"] else ""))
        lines = str(m["text"]).splitlines()
        if lines and m["subject"] and lines[0].lstrip("#* ") == m["subject"]:
            lines = lines[1:]  # a robot's text starts with the title, shown above
        out.extend(f"    | {line}" for line in lines[:12])
    totals = ", ".join(f"{c} {n['accepted']}" + (f" (+{n['refused']} refused)" if n["refused"] else "")
                       for c, n in counts.items())
    out.append(f"{len(messages)} message(s) shown; received: {totals}" if messages else f"no messages; received: {totals}")
    return "\n".join(out)


def _run(cfg: Config, args: argparse.Namespace) -> int:
    from firmware_sim.links.modbus_bus import BusError
    from firmware_sim.links.mqtt_link import CredentialsError
    from firmware_sim.links.pty import PtyError
    from firmware_sim.clock import SimClock, VirtualClock
    from firmware_sim.runner import options_from, parse_start, run_live

    site = site_of(cfg)
    options = options_from(cfg, speed=args.speed, seed=args.seed)
    if args.no_faults:
        options.faults_per_device_day = 0.0
        options.bad_input_per_device_hour = 0.0
    if not options.speed > 0:
        print("error: --speed must be positive", file=sys.stderr)
        return 2
    clock: SimClock
    if args.start or args.speed or cfg.sim.start or cfg.sim.speed != 1.0:  # the simulator's own clock
        try:
            start_ms = parse_start(args.start or cfg.sim.start, site)
        except ValueError as exc:
            print(f"error: --start: {exc}", file=sys.stderr)
            return 2
        clock = VirtualClock(start_ms, options.speed)
    else:  # the centre's clock: the same site time as the edge and the hub (floorops/clock.py)
        centre = clock_of(cfg.clock, site.tz)
        options.speed = centre.speed
        start_ms = centre.now_ms()
        clock = centre
    try:
        asyncio.run(run_live(cfg, site, options, start_ms, clock))
    except (CredentialsError, PtyError, BusError, OSError) as exc:
        log.error("simulator cannot start", extra={"error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # `inbox | head`: the reader went away. As the Python docs advise, point stdout at devnull so the
        # interpreter's own flush at exit does not raise again, and exit as a pipe's writer does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
