"""The chaos suite's eyes and hands on a running control centre (centre.launcher.ControlCentre).

Hands: kill -9 / SIGSTOP a component, hold the hub database's write lock from another process, stop
InfluxDB, fill the disk under the edge buffer. Eyes: is each component back (its own health surface, as an
operator would check it), the hub's alarms, tickets and dispatches over its API, and a ledger of the readings: every
seq each queue screen and kiosk sent, as InfluxDB holds it (a gap is a loss, a seq twice a duplicate).

Measurements go to ``chaos.json`` in the suite's tmp dir (and to ``$CHAOS_REPORT`` when set), from
which ``python bench/chaos_report.py FILE`` prints the table of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from firmware_sim.control import get_status
from prometheus_client.parser import text_string_to_metric_families
from floorops.influx import query_sync
from centre.launcher import ControlCentre
from centre.services import ManagedProcess, tcp_open

# Readings with a seq, one point each (docs/architecture.md, InfluxDB schema): the ledger's measurements.
LEDGER_KINDS = ("queue_screen", "kiosk")
LEDGER_MEASUREMENTS = ("queue_screen", "kiosk", "device_event")


def http(url: str, method: str = "GET", body: Any = None, token: str | None = None,
         timeout_s: float = 5.0) -> tuple[int, Any]:
    """One request; (0, error) when nothing answers (a killed or stopped hub)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw and r.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def poll(check: Callable[[], Any], timeout_s: float, every_s: float = 0.25) -> float | None:
    """Seconds until ``check()`` is truthy, or None at the deadline (a check that raises counts as no)."""
    t0 = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - t0
        except Exception:  # noqa: BLE001 - a component that is down answers with errors
            pass
        if time.monotonic() - t0 > timeout_s:
            return None
        time.sleep(every_s)


@dataclass
class Measurement:
    """What one fault did: how long until the component was back, and until the hub and InfluxDB caught up."""

    fault: str
    device: str  # the kiosk whose card_jam was injected during the fault
    back_s: float | None = None  # fault over (kill, or the end of a timed fault) -> component healthy again
    by_supervisor: bool = True  # False: the harness had to restart it (no supervisor brought it back)
    hub_caught_up_s: float | None = None  # component back -> the fault's alarm is in GET /api/alarms
    influx_caught_up_s: float | None = None  # component back -> every reading sent until then is in InfluxDB
    alarms: int = 0
    tickets: int = 0
    dispatches: int = 0  # dispatch requests for the jam's alarm (a request's offers share its request_id)
    open_offers: int = 0  # of those, offered or accepted at once (never more than one per request)
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Chaos:
    centre: ControlCentre
    out_dir: Path
    small_disk: Path | None = None  # a tmpfs of its own under the edge buffer (None: could not mount one)
    rate_per_s: float | None = None  # device messages a second the edge took, measured by the first test
    results: list[Measurement] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)

    # -- components ------------------------------------------------------------------------------------

    def child(self, name: str) -> ManagedProcess:
        """The current process of a child (a supervisor may have replaced it)."""
        found = [p for p in self.centre.processes if p.name == name]
        assert found, f"no {name} process in the control centre"
        return found[-1]

    def hub_ok(self) -> bool:
        return http(self.centre.hub_url + "/healthz", timeout_s=2)[0] == 200

    def edge_metric(self, name: str) -> float | None:
        """The edge's metric, summed over all its label sets (a labelled counter with no sample yet is 0);
        None when the edge does not answer or does not expose the metric at all."""
        cfg = self.centre.cfg.edge
        status, body = http(f"http://{cfg.metrics_host}:{cfg.metrics_port}/metrics", timeout_s=2)
        if status != 200:
            return None
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        family = families.get(name.removesuffix("_total"))
        if family is None:
            return None
        return sum(s.value for s in family.samples if s.name == name)

    def edge_ok(self) -> bool:
        return self.edge_metric("edge_mqtt_connected") == 1.0

    def broker_ok(self) -> bool:
        b = self.centre.broker
        return b is not None and tcp_open(b.host, b.port) and self.edge_ok() and self.hub_ok()

    def influx_ok(self) -> bool:
        return self.centre.influx is not None and self.centre.influx.ping()

    def all_ok(self) -> bool:
        return self.influx_ok() and self.broker_ok() and self.sim_running()

    def sim_running(self) -> bool:
        return self.child("simulator").running

    def revive(self, component: str) -> None:
        """The harness's own restart, used only when no supervisor brought the component back in time, so
        that the next scenarios still test something. Counted against the scenario (``by_supervisor``)."""
        if component in ("hub", "edge"):
            p = self.child(component)
            if not p.running:
                p.start()
        elif component == "broker":
            assert self.centre.broker is not None
            if not (self.centre.broker.process and self.centre.broker.process.running):
                self.centre.broker.start()
        elif component == "influxd":
            assert self.centre.influx is not None
            if not self.influx_ok():
                if self.centre.influx.process and self.centre.influx.process.running:
                    self.centre.influx.process.kill()
                self.centre.influx.start()

    # -- the hub's view ----------------------------------------------------------------------------------

    def token(self, user: str) -> str:
        if user not in self._tokens:
            status, body = http(self.centre.hub_url + "/api/login", "POST",
                                {"username": user, "password": self.centre.passwords[user]})
            assert status == 200, body
            self._tokens[user] = body["token"]
        return self._tokens[user]

    def api(self, path: str, user: str = "admin") -> Any:
        status, body = http(self.centre.hub_url + path, token=self.token(user))
        if status == 401:  # a restarted hub may not know the old session
            self._tokens.pop(user, None)
            status, body = http(self.centre.hub_url + path, token=self.token(user))
        assert status == 200, (path, status, body)
        return body

    def alarms(self, device: str, type_: str) -> list[dict[str, Any]]:
        return [a for a in self.api("/api/alarms", "monitor") if a.get("device_id") == device and a["type"] == type_]

    def tickets(self, device: str) -> list[dict[str, Any]]:
        return [t for t in self.api("/api/tickets", "admin") if t.get("device_id") == device]

    def dispatches(self, alarm_ids: set[int]) -> list[dict[str, Any]]:
        return [d for d in self.api("/api/dispatches?all=1", "admin") if d.get("alarm_id") in alarm_ids]

    def close_dispatches(self, dispatches: list[dict[str, Any]]) -> None:
        """The floor manager who was offered the job takes it and reports it done, as on the phone: the
        people are free again for the next fault's dispatch."""
        for d in dispatches:
            if d["state"] not in ("offered", "accepted") or d["assignee"] not in self.centre.passwords:
                continue
            for action in (["accept"] if d["state"] == "offered" else []) + ["complete"]:
                url = f"{self.centre.hub_url}/api/dispatches/{d['id']}/{action}"
                status, body = http(url, "POST", {}, self.token(d["assignee"]))
                if status == 401:  # a restarted hub may not know the old session
                    self._tokens.pop(d["assignee"], None)
                    status, body = http(url, "POST", {}, self.token(d["assignee"]))
                assert status == 200, (action, d, status, body)

    # -- the ledger ------------------------------------------------------------------------------------

    def sent(self) -> dict[str, tuple[int, int, int]]:
        """Per ledger device: (messages with a seq handed to its broker connection so far, messages it lost
        itself for want of a connection, each using up a seq: a gap that is not FloorOps', the last seq it
        used), the simulator's own counts."""
        devices = get_status(self.centre.cfg.sim.control_port)["devices"]
        kinds = {d.id: d.kind for d in self.centre.site.devices}
        return {d: (int(v["sent"]), int(v.get("unsent", 0)), int(v["seq"])) for d, v in devices.items()
                if kinds.get(d) in LEDGER_KINDS}

    def stored_seqs(self) -> dict[str, list[int]]:
        """Every seq InfluxDB holds per ledger device, one entry per point."""
        cfg = self.centre.cfg.influx
        out: dict[str, list[int]] = {}
        for m in LEDGER_MEASUREMENTS:
            for s in query_sync(cfg.url, cfg.database, f'SELECT "seq" FROM "{m}" GROUP BY "device_id"',
                                timeout_s=60):
                dev = s.get("tags", {}).get("device_id", "")
                out.setdefault(dev, []).extend(int(v[1]) for v in s["values"] if v[1] is not None)
        return out

    def ledger(self, sent: dict[str, tuple[int, int, int]]) -> tuple[int, int, int]:
        """(stored short of ``sent``, lost inside the stored range, duplicated) over the ledger devices.

        A point overwrites itself when the same message is written again (same time, docs/architecture.md),
        so a duplicate here is one message stored under two timestamps; a gap in a device's seqs that its
        own losses do not explain is a message FloorOps lost. Only the seqs of ``sent`` count: readings
        sent since may be stored out of order (a client's retry after a reconnect), which is late, not a gap."""
        stored = self.stored_seqs()
        short = lost = dup = 0
        for dev, (n, unsent, last_seq) in sent.items():
            seqs = [q for q in stored.get(dev, []) if q <= last_seq]
            distinct = set(seqs)
            dup += len(seqs) - len(distinct)
            if distinct:
                lost += max(0, (max(distinct) - min(distinct) + 1) - len(distinct) - unsent)
            short += max(0, n - len(distinct))
        return short, lost, dup

    # -- one fault -------------------------------------------------------------------------------------

    def inject(self, device: str, fault: str) -> None:
        self.centre.inject(device, fault)

    def settle(self, m: Measurement, back_at: float, alarm_type: str = "card_jam") -> None:
        """After the fault: the hub shows the fault's alarm (<= 30 s), InfluxDB holds every reading sent up to
        the moment the component was back, exactly once; one alarm, at most one ticket."""
        sent = self.sent()
        hub = poll(lambda: self.alarms(m.device, alarm_type), 60, 0.5)
        m.hub_caught_up_s = None if hub is None else round(time.monotonic() - back_at, 1)
        # Complete means no reading missing, at the end or in a gap: a reading still on its way (held by a
        # restarted client, a retried batch) lands after newer ones, and is late, not lost.
        influx = poll(lambda: self.ledger(sent)[:2] == (0, 0), 90, 1.0)
        m.influx_caught_up_s = None if influx is None else round(time.monotonic() - back_at, 1)
        short, m.lost, m.duplicated = self.ledger(sent)
        if short:
            m.notes.append(f"{short} readings sent before recovery never reached InfluxDB")
            m.lost += short
        time.sleep(2.0)  # a second alarm, ticket or dispatch from a replay would show up now
        alarms = self.alarms(m.device, alarm_type)
        m.alarms = len(alarms)
        m.tickets = len(self.tickets(m.device))
        dispatches = self.dispatches({a["id"] for a in alarms})
        m.dispatches = len({d["request_id"] for d in dispatches})
        m.open_offers = sum(1 for d in dispatches if d["state"] in ("offered", "accepted"))
        self.close_dispatches(dispatches)
        self.inject(m.device, "clear")

    def record(self, m: Measurement) -> None:
        self.results.append(m)
        doc = {"machine": machine(), "speed": self.centre.cfg.sim.speed, "messages_per_s": self.rate_per_s,
               "results": [asdict(r) for r in self.results]}
        text = json.dumps(doc, indent=2)
        (self.out_dir / "chaos.json").write_text(text)
        if os.environ.get("CHAOS_REPORT"):
            Path(os.environ["CHAOS_REPORT"]).write_text(text)
        print(f"\nchaos {m.fault}: {json.dumps(asdict(m))}", flush=True)


def machine() -> dict[str, Any]:
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "platform": platform.platform()}


def kill9(proc: ManagedProcess | None) -> int:
    """``kill -9`` the process (not its children: a supervisor must notice by itself); its pid."""
    assert proc is not None and proc.proc is not None and proc.running
    pid = proc.proc.pid
    os.kill(pid, signal.SIGKILL)
    proc.proc.wait()
    return pid


def hold_write_lock(db_path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holds the database's write lock (``BEGIN IMMEDIATE``) for ``seconds``; returns once it
    has the lock."""
    code = ("import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "db.execute('ROLLBACK')\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(db_path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def fill_disk(directory: Path) -> Path:
    """Take every free byte of the filesystem under ``directory`` (a file of zeros until ENOSPC).

    Only on the small filesystem the suite mounted there: if it is gone (unmounted, even lazily, by an
    interrupted run), the filler would fill the machine's own disk instead, as it once did (78 GB)."""
    if not os.path.ismount(directory):
        raise RuntimeError(f"{directory} is not the suite's own small filesystem: not filling it")
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 64):
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler
