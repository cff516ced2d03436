"""Each fault makes a device send what a real one would, persists until repaired, then clears."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from firmware_sim.engine import SimOptions, Simulation
from firmware_sim.devices import simulated
from firmware_sim.faults import UnknownFault
from floorops.config import load_config
from floorops.kinds import BUILTIN
from floorops import contract
from floorops.site import Site

from .conftest import Recorder, local_ms

MIN = 60_000
SIMULATED = simulated(BUILTIN)


def sim_for(site: Site, device: str, **kw) -> tuple[Simulation, Recorder]:
    rec = Recorder()
    sim = Simulation(site, local_ms(site, 2026, 11, 24, 10, 0), rec,
                     SimOptions(**{"seed": 2, "only_devices": {device}, "repair_min": 0, **kw}))
    sim.start()
    sim.advance_to(sim.start_ms + MIN)
    return sim, rec


def decoded(rec: Recorder, device: str, channel: str) -> list[dict]:
    return [BUILTIN.validate_message(t, p)[1] for t, p in rec.of(device) if t.endswith("/" + channel)]


def advance(sim: Simulation, minutes: float) -> None:
    sim.advance_to(sim.now_ms + int(minutes * MIN))


@pytest.mark.parametrize("fault,field,value", [
    ("card_jam", "card_reader", "jammed"), ("app_hang", "app", "hung"), ("app_crash", "app", "crashed"),
    ("paper_out", "printer", "paper_out"), ("printer_jam", "printer", "jam"),
])
def test_kiosk_fault_persists_until_cleared(demo_site: Site, fault: str, field: str, value: str) -> None:
    sim, rec = sim_for(demo_site, "kiosk-01")
    sim.inject("kiosk-01", fault)
    advance(sim, 3)
    events = [e["event"] for e in decoded(rec, "kiosk-01", "event")]
    assert events == [fault]
    tele = decoded(rec, "kiosk-01", "telemetry")
    after = [t for t in tele if t["ts"] > sim.devices["kiosk-01"].faults[fault].since_ms]
    assert len(after) >= 3 and all(t[field] == value for t in after)
    if fault == "app_hang":
        assert all(t["resp_ms"] >= 30_000 for t in after)
        assert all(t["txn_ok"] == 0 for t in after[1:])  # the first interval began before the hang
    sim.inject("kiosk-01", "clear")
    advance(sim, 2)
    events = decoded(rec, "kiosk-01", "event")
    assert events[-1] == {"v": 1, "ts": events[-1]["ts"], "seq": events[-1]["seq"], "event": "fault_cleared",
                          "fault": fault}
    if fault in ("app_hang", "app_crash"):
        assert events[-2]["event"] == "reboot"
    assert decoded(rec, "kiosk-01", "telemetry")[-1][field] in ("ok", "paper_low")


def test_technician_repairs_after_a_while(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "kiosk-02")
    out = sim.inject("kiosk-02", "card_jam", repair_min=10)
    assert out["active"] == ["card_jam"]
    advance(sim, 9)
    assert sim.devices["kiosk-02"].has("card_jam")
    advance(sim, 2)
    assert not sim.devices["kiosk-02"].has("card_jam")
    assert decoded(rec, "kiosk-02", "event")[-1]["event"] == "fault_cleared"


@pytest.mark.parametrize("device, fault", [("sat-03", "bad_mood"), ("charger-01", "take_all"),
                                           ("qs-im-1", "no_ack")])
def test_conditions_injected_by_hand_are_not_repaired_by_the_technician(demo_site: Site, device: str,
                                                                        fault: str) -> None:
    """A demo's ``inject sat-03 bad_mood`` must last the three days satisfaction_low needs: the technician
    (here due within minutes) repairs device faults, not unhappy patients or a rush on the chairs."""
    sim, _ = sim_for(demo_site, device, repair_min=5)
    out = sim.inject(device, fault)
    assert out["repair_at_ms"] is None
    advance(sim, 24 * 60)
    assert sim.devices[device].has(fault)
    sim.inject(device, "clear")
    assert not sim.devices[device].has(fault)
    # A fault of the device itself is still repaired at the technician's usual delay.
    dev = sim.devices[device]
    assert sim.inject(device, next(f.name for f in sim.kinds.faults.for_device(dev.device.kind, dev.transport)
                                   if f.persistent and f.repaired))["repair_at_ms"] is not None


def test_the_demo_fault_rate_meets_the_hospitals_target_on_most_days(demo_site: Site) -> None:
    """The hospital: "3 of 15 kiosks a day" today, the goal under 5 %. make run's simulated hospital is one
    meeting it: for each kind of the demo site, a day whose share of devices with a random fault stays
    within 5 % (0 of 15 kiosks, 1 of 20 screens) comes on at least four days in five (faults per device
    and day are Poisson at ``sim.faults_per_device_day``). At the former 0.5, fault_rate_high fired daily."""
    rate = load_config(env={}).sim.faults_per_device_day
    assert rate > 0  # random faults still happen in the demo
    kinds = Counter(d.kind for d in demo_site.devices)
    for kind, n in kinds.items():
        allowed = math.floor(0.05 * n + 1e-9)
        lam = n * rate
        meets = sum(math.exp(-lam) * lam ** k / math.factorial(k) for k in range(allowed + 1))
        assert meets >= 0.8, (kind, n, round(meets, 3))


def test_paper_runs_out_by_itself(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "kiosk-03")
    kiosk = sim.devices["kiosk-03"]
    kiosk.paper_pct = 1.0
    advance(sim, 30)
    assert "paper_out" in [e["event"] for e in decoded(rec, "kiosk-03", "event")]
    assert decoded(rec, "kiosk-03", "telemetry")[-1]["printer"] == "paper_out"


def test_desk_staff_change_a_low_roll_before_it_runs_out(demo_site: Site) -> None:
    """paper_low is what the desk staff act on: with the technician's usual delay they change the roll, so
    a busy kiosk does not count a paper_out fault every other day (it made 7 of 15 kiosks "faulted" a day
    and fault_rate_high fire daily in the demo). With nobody to act (repair_min 0) it still runs out."""
    sim, rec = sim_for(demo_site, "kiosk-03", repair_min=20)
    kiosk = sim.devices["kiosk-03"]
    kiosk.paper_pct = 12.0
    kiosk.transactions(20, sim.now_ms)  # receipts take it under paper_low
    assert kiosk.paper_pct <= 10.0
    advance(sim, 60)
    paper = [t["paper_pct"] for t in decoded(rec, "kiosk-03", "telemetry")]
    assert any(b > a for a, b in zip(paper, paper[1:])), paper  # a new roll
    assert "paper_out" not in [e["event"] for e in decoded(rec, "kiosk-03", "event")]


def test_display_fault_and_recovery(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "qs-im-1")
    sim.inject("qs-im-1", "display_fault")
    sim.inject("qs-im-1", "clear")
    ev = [e for e in decoded(rec, "qs-im-1", "event") if not e["event"].startswith("ticket_")]
    assert ev[0]["event"] == "display_fault" and ev[0]["code"] in ("panel", "network", "power")
    assert ev[1]["event"] == "display_recovered"


def test_power_loss_goes_silent_and_comes_back(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "probe-05")
    sim.inject("probe-05", "power_loss")
    n = len(rec.of("probe-05"))
    advance(sim, 5)
    assert len(rec.of("probe-05")) == n
    assert rec.power_events[-1][:2] == ("probe-05", False)
    sim.inject("probe-05", "clear")
    advance(sim, 1)
    assert rec.power_events[-1][:2] == ("probe-05", True)
    assert len(rec.of("probe-05")) > n


def test_kiosk_reboots_after_power_loss(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "kiosk-06")
    sim.inject("kiosk-06", "power_loss")
    advance(sim, 3)
    sim.inject("kiosk-06", "clear")
    advance(sim, 1)
    assert [e["event"] for e in decoded(rec, "kiosk-06", "event")] == ["reboot"]


def test_bad_input_is_rejected_by_the_contract_for_its_reason(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "qs-reg-1")
    expected = {"malformed_json": "bad_json", "wrong_type": "wrong_type", "out_of_range": "out_of_range"}
    for fault, reason in expected.items():
        before = len(rec.of("qs-reg-1"))
        sim.inject("qs-reg-1", fault)
        advance(sim, 1)
        reasons = []
        for t, p in rec.of("qs-reg-1")[before:]:
            try:
                BUILTIN.validate_message(t, p)
            except contract.ContractError as exc:
                reasons.append(exc.reason)
        assert reasons == [reason], fault


def test_duplicate_and_out_of_order_seq(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "kiosk-04")
    before = len(rec.of("kiosk-04"))
    sim.inject("kiosk-04", "duplicate_seq")
    advance(sim, 1.5)
    seqs = [json.loads(p)["seq"] for t, p in rec.of("kiosk-04")[before:] if t.endswith("telemetry")]
    assert len(seqs) != len(set(seqs))
    before = len(rec.of("kiosk-04"))
    sim.inject("kiosk-04", "out_of_order_seq")
    advance(sim, 2)
    seqs = [json.loads(p)["seq"] for t, p in rec.of("kiosk-04")[before:] if t.endswith("telemetry")]
    assert any(b < a for a, b in zip(seqs, seqs[1:]))


def test_clock_skew(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "kiosk-05")
    sim.inject("kiosk-05", "clock_skew")
    advance(sim, 1)
    last = decoded(rec, "kiosk-05", "telemetry")[-1]
    assert last["ts"] - sim.now_ms > 5 * MIN


@pytest.mark.parametrize("fault,reason", [
    ("bad_checksum", "bad_checksum"), ("long_line", "too_long"), ("bad_fields", "field_count"),
    ("out_of_range", "out_of_range"),
])
def test_serial_probe_bad_lines(demo_site: Site, fault: str, reason: str) -> None:
    sim, rec = sim_for(demo_site, "probe-11")
    rec.serial_data.clear()
    sim.inject("probe-11", fault)
    advance(sim, 0.5)
    reasons = []
    good = 0
    for _, data in rec.serial_data:
        for line in data.split(b"\r\n"):
            if not line:
                continue
            try:
                contract.parse_probe_line(line)
                good += 1
            except contract.ContractError as exc:
                reasons.append(exc.reason)
    assert reasons == [reason] and good > 0


def test_line_noise_then_resync(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "probe-12")
    rec.serial_data.clear()
    sim.inject("probe-12", "line_noise")
    advance(sim, 0.2)
    stream = b"".join(d for _, d in rec.serial_data)
    first = stream.index(b"$")
    assert first > 0  # garbage before the first sentence
    # A reader that resynchronises on '$' recovers every complete line after the noise.
    lines = [b"$" + chunk.split(b"\r\n")[0] for chunk in stream[first:].split(b"$")[1:]]
    ok = 0
    for line in lines:
        try:
            contract.parse_probe_line(line)
            ok += 1
        except contract.ContractError:
            pass
    assert ok >= 1


def test_probe_offline_silences_the_serial_line(demo_site: Site) -> None:
    sim, rec = sim_for(demo_site, "probe-13")
    sim.inject("probe-13", "probe_offline")
    rec.serial_data.clear()
    advance(sim, 1)
    assert rec.serial_data == []
    sim.inject("probe-13", "clear")
    advance(sim, 0.5)
    assert any(b"$HBT" in d for _, d in rec.serial_data)


def test_charger_faults_in_registers(demo_site: Site) -> None:
    sim, _ = sim_for(demo_site, "charger-02")
    ch = sim.devices["charger-02"]
    sim.inject("charger-02", "over_temperature")
    advance(sim, 5)
    regs = ch.registers()
    assert regs[contract.REG_STATUS] & contract.STATUS_OVER_TEMPERATURE
    assert contract.signed16(regs[contract.REG_TEMPERATURE]) >= 600
    assert all(regs[contract.slot_address(k)] != 2 for k in range(6))  # nothing charges
    sim.inject("charger-02", "clear")
    sim.inject("charger-02", "over_current")
    regs = ch.registers()
    slots = [regs[contract.slot_address(k):contract.slot_address(k) + 8] for k in range(6)]
    tripped = [s for s in slots if s[0] == 4]
    assert len(tripped) == 1 and tripped[0][5] == 2 and tripped[0][2] == 0
    sim.inject("charger-02", "ground_fault")
    regs = ch.registers()
    assert regs[contract.REG_STATUS] & contract.STATUS_GROUND_FAULT
    sim.inject("charger-02", "clear")
    regs = ch.registers()
    assert regs[contract.REG_STATUS] == contract.STATUS_MAINS_OK
    assert all(regs[contract.slot_address(k)] != 4 for k in range(6))


def test_take_all_empties_a_station_until_cleared(demo_site: Site) -> None:
    sim, _ = sim_for(demo_site, "charger-02")
    ch = sim.devices["charger-02"]
    ch.dock(90.0)  # at least one chair there to take
    sim.inject("charger-02", "take_all")
    advance(sim, 5)
    regs = ch.registers()
    assert [regs[contract.slot_address(k)] for k in range(6)] == [0] * 6
    assert not ch.dock(60.0)  # returned chairs go elsewhere while it lasts
    sim.inject("charger-02", "clear")
    assert ch.dock(60.0) and regs[contract.REG_STATUS] == contract.STATUS_MAINS_OK


def test_take_all_is_never_a_random_fault() -> None:
    take_all = SIMULATED.faults.specs["take_all"]
    assert take_all.weight == 0 and take_all.persistent


def test_unknown_or_inapplicable_fault_is_refused(demo_site: Site) -> None:
    sim, _ = sim_for(demo_site, "kiosk-01")
    with pytest.raises(UnknownFault):
        sim.inject("kiosk-01", "ground_fault")
    with pytest.raises(UnknownFault):
        sim.inject("kiosk-01", "meltdown")
    with pytest.raises(KeyError):
        sim.inject("nope", "clear")


def test_every_fault_applies_to_some_device() -> None:
    assert set(SIMULATED.models) == set(BUILTIN.names)  # every built-in kind is simulated
    covered = {f.name for kind, model in SIMULATED.models.items() for transport in model.models
               for f in SIMULATED.faults.for_device(kind, transport)}
    assert covered == set(SIMULATED.faults.specs)


def test_the_imaging_area_takes_signage_unclear_as_a_whole(demo_site: Site) -> None:
    """``inject imaging signage_unclear``: every imaging zone's signs at once (the issue's "imaging area");
    a zone or area without signs to spoil is refused and changes nothing."""
    sim, _ = sim_for(demo_site, "kiosk-01")
    imaging = sorted(z.id for z in demo_site.zones if z.kind == "imaging")
    assert sim.inject("imaging", "signage_unclear") == {"zones": imaging, "fault": "signage_unclear",
                                                       "signage_unclear": imaging}
    assert sim.inject("imaging_ct", "clear")["signage_unclear"] == [z for z in imaging if z != "imaging_ct"]
    assert sim.inject("imaging", "clear")["signage_unclear"] == []
    with pytest.raises(UnknownFault, match="no signage to spoil"):
        sim.inject("clinic", "signage_unclear")
    with pytest.raises(UnknownFault, match="signage_unclear or clear"):
        sim.inject("imaging", "card_jam")
    assert sim.tracker.signage_unclear == set()
