"""Chaos: the whole control centre under load while its parts fail, one fault after another.

For each fault (kill -9 of the edge, the hub, the broker, influxd; the hub frozen by SIGSTOP for 20 s; the hub
database's write lock held by another process for 15 s; InfluxDB down for 60 s; the edge buffer's disk full) a
kiosk card jam is injected while the fault lasts. Then, as an operator would check:
- the component is back, brought back by the supervisor (nobody restarted it by hand);
- the hub caught up: the jam's alarm is in GET /api/alarms within 30 s of the component being back;
- the jam raised exactly one alarm, opened at most one ticket and sent exactly one person (the suite's rules
  dispatch on a card jam), each once although records are replayed and redelivered;
- every reading of every queue screen and kiosk that the simulator had sent by then is in InfluxDB exactly
  once (by seq: a gap is a loss, a repeated seq a duplicate).
Recovery times go to chaos.json (see chaos_harness) and docs/benchmarks.md (bench/chaos_report.py).

The tests run in file order on one stack (module fixture); each leaves the stack healthy for the next.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from typing import Callable

import pytest

from chaos_harness import Chaos, Measurement, fill_disk, hold_write_lock, kill9, poll

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

SUPERVISOR_S = 40.0  # a crashed child must be back (and healthy) within this time
HUB_CATCH_UP_S = 30.0


def run_fault(chaos: Chaos, name: str, device: str, component: str, healthy: Callable[[], bool],
              begin: Callable[[], None], end: Callable[[], None] | None = None, hold_s: float = 0.0,
              supervised: bool = True) -> Measurement:
    """Begin the fault, inject the device's card jam while it lasts, end it; measure the way back."""
    assert poll(chaos.all_ok, 60) is not None, "the stack was not healthy before the fault"
    m = Measurement(name, device)
    begin()
    over = time.monotonic()  # a kill: recovery counts from the kill; a timed fault: from its end (below)
    chaos.inject(device, "card_jam")
    if hold_s:
        time.sleep(hold_s)
    if end is not None:
        end()
        over = time.monotonic()
    back = poll(healthy, SUPERVISOR_S)
    if back is None and supervised:
        m.by_supervisor = False
        m.notes.append(f"{component} not back within {SUPERVISOR_S:.0f} s; the harness restarted it")
        chaos.revive(component)
        back = poll(healthy, 90)
    if back is None:
        m.notes.append(f"{component} still not healthy")
    m.back_s = None if back is None else round(time.monotonic() - over, 1)
    chaos.settle(m, time.monotonic())
    chaos.record(m)
    return m


def check(m: Measurement) -> None:
    """Every expectation at once, so that the report shows all that went wrong with one fault."""
    problems = []
    if not m.by_supervisor:
        problems.append("the supervisor did not bring the component back")
    if m.back_s is None:
        problems.append("the component never came back")
    if m.hub_caught_up_s is None or m.hub_caught_up_s > HUB_CATCH_UP_S:
        problems.append(f"the hub did not show the fault's alarm within {HUB_CATCH_UP_S:.0f} s ({m.hub_caught_up_s})")
    if m.alarms != 1:
        problems.append(f"{m.alarms} card_jam alarms for {m.device}, expected exactly 1")
    if m.tickets > 1:
        problems.append(f"{m.tickets} tickets for {m.device}, expected at most 1")
    if m.dispatches != 1 or m.open_offers > 1:
        problems.append(f"{m.dispatches} dispatch requests ({m.open_offers} open) for {m.device}'s alarm, "
                        "expected exactly 1 (at most 1 open)")
    if m.lost:
        problems.append(f"{m.lost} readings lost")
    if m.duplicated:
        problems.append(f"{m.duplicated} readings stored twice")
    assert not problems, f"{m.fault}: " + "; ".join(problems + m.notes)


def test_the_stack_carries_a_few_hundred_messages_a_second(chaos: Chaos) -> None:
    # The edge may be up before the first device message: wait for the intake to start, then measure it.
    assert poll(lambda: (chaos.edge_metric("edge_messages_in_total") or 0) > 0, 60) is not None, \
        "no device message reached the edge"
    before, t0 = chaos.edge_metric("edge_messages_in_total"), time.monotonic()
    assert before is not None
    time.sleep(10)
    after = chaos.edge_metric("edge_messages_in_total")
    assert after is not None
    chaos.rate_per_s = round((after - before) / (time.monotonic() - t0), 1)
    print(f"\nedge intake: {chaos.rate_per_s} messages/s at sim.speed {chaos.centre.cfg.sim.speed}", flush=True)
    assert chaos.rate_per_s >= 100, "too little load for the chaos scenarios to mean anything"
    # Nothing lost or doubled before any fault: the ledger itself is right.
    sent = chaos.sent()
    assert poll(lambda: chaos.ledger(sent)[0] == 0, 60, 1.0) is not None, "InfluxDB did not catch up"
    short, lost, dup = chaos.ledger(sent)
    assert (short, lost, dup) == (0, 0, 0)


def test_kill_9_of_the_edge(chaos: Chaos) -> None:
    check(run_fault(chaos, "kill -9 edge", "kiosk-01", "edge", chaos.edge_ok,
                    begin=lambda: kill9(chaos.child("edge"))))


def test_kill_9_of_the_hub(chaos: Chaos) -> None:
    check(run_fault(chaos, "kill -9 hub", "kiosk-02", "hub", chaos.hub_ok,
                    begin=lambda: kill9(chaos.child("hub"))))


def test_kill_9_of_the_broker(chaos: Chaos) -> None:
    check(run_fault(chaos, "kill -9 mosquitto", "kiosk-03", "broker", chaos.broker_ok,
                    begin=lambda: kill9(chaos.centre.broker and chaos.centre.broker.process)))


def test_kill_9_of_influxd(chaos: Chaos) -> None:
    check(run_fault(chaos, "kill -9 influxd", "kiosk-04", "influxd", chaos.influx_ok,
                    begin=lambda: kill9(chaos.centre.influx and chaos.centre.influx.process)))


def test_hub_frozen_by_sigstop_for_20_s(chaos: Chaos) -> None:
    hub = chaos.child("hub")
    check(run_fault(chaos, "SIGSTOP hub 20 s", "kiosk-05", "hub", chaos.hub_ok,
                    begin=lambda: hub.signal(signal.SIGSTOP), hold_s=20.0,
                    end=lambda: hub.signal(signal.SIGCONT), supervised=False))
    assert chaos.child("hub") is hub and hub.running, "a frozen hub must be waited for, not replaced"


def test_hub_database_write_lock_held_for_15_s(chaos: Chaos) -> None:
    hub = chaos.child("hub")
    holder: list = []
    db = chaos.centre.cfg.path(chaos.centre.cfg.hub.db_path)
    check(run_fault(chaos, "hub database locked 15 s", "kiosk-06", "hub", chaos.hub_ok,
                    begin=lambda: holder.append(hold_write_lock(db, 15.0)),
                    end=lambda: holder[0].wait(30), supervised=False))
    assert hub.running, "the hub exited on a locked database"


def influxd_signal(chaos: Chaos, sig: int) -> None:
    influx = chaos.centre.influx
    assert influx is not None and influx.process is not None
    influx.process.signal(sig)


def test_influxdb_down_for_60_s(chaos: Chaos) -> None:
    # Down, not crashed: a stopped influxd would be restarted by the supervisor at once, so it is frozen
    # (SIGSTOP): it takes connections and answers nothing, like a hung or unreachable server.
    m = run_fault(chaos, "InfluxDB unresponsive 60 s (SIGSTOP)", "kiosk-07", "influxd", chaos.influx_ok,
                  begin=lambda: influxd_signal(chaos, signal.SIGSTOP), hold_s=60.0,
                  end=lambda: influxd_signal(chaos, signal.SIGCONT), supervised=False)
    check(m)


def test_edge_buffer_disk_full(chaos: Chaos) -> None:
    if chaos.small_disk is None:
        pytest.skip("no tmpfs of its own for the edge buffer (mounting one needs root)")
    disk = chaos.small_disk
    filler: list = []

    def begin() -> None:
        # The buffer's WAL keeps the room it once took: hand it back first (a checkpoint from another
        # connection, as SQLite allows in WAL mode), so that the next commits need new space.
        db = sqlite3.connect(chaos.centre.cfg.path(chaos.centre.cfg.edge.buffer_path), timeout=10)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        filler.append(fill_disk(disk))
        influxd_signal(chaos, signal.SIGSTOP)  # nothing drains: the buffer has to grow on the full disk
        full = poll(lambda: chaos.edge_metric("edge_buffer_full") == 1.0, 60)
        assert full is not None, "the edge never reported its buffer full"

    def end() -> None:
        filler[0].unlink()
        influxd_signal(chaos, signal.SIGCONT)

    def drained() -> bool:
        return chaos.edge_metric("edge_buffer_full") == 0.0 and chaos.edge_ok()

    m = run_fault(chaos, "edge buffer disk full", "kiosk-08", "edge", drained, begin=begin, hold_s=5.0, end=end,
                  supervised=False)
    assert chaos.child("edge").running
    check(m)
