"""deploy/systemd/: the units a non-Docker install uses (docs/operations.md, "Install with systemd").

What a hospital's admin checks: every FloorOps service restarts after a crash with a bounded start rate,
runs as its own user in a sandbox that can write only FloorOps' state folder; and ``systemd-analyze
verify`` (Debian package systemd; it reads unit files, no running systemd needed) finds nothing to say.
The units name the install folder /opt/floorops; the verify tests point them at this checkout and its
Python, because verify also checks that each command exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from floorops.config import REPO_ROOT

UNITS = REPO_ROOT / "deploy" / "systemd"
SERVICES = ("floorops-hub.service", "floorops-edge.service", "floorops-simulator.service")
DROP_INS = {"mosquitto.service": "mosquitto.service.d/floorops.conf",
            "influxdb.service": "influxdb.service.d/floorops.conf"}
DEBIAN_UNITS = Path("/lib/systemd/system")


def settings(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given (systemd keys may repeat)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


@pytest.mark.parametrize("unit", SERVICES)
def test_each_service_restarts_on_failure_as_its_own_user_in_a_sandbox(unit: str) -> None:
    s = settings(UNITS / unit)
    assert s["Service.Restart"] == ["on-failure"]
    assert s["Service.RestartSec"] and s["Unit.StartLimitIntervalSec"] and s["Unit.StartLimitBurst"]
    assert s["Service.User"] == ["floorops"] and s["Service.Group"] == ["floorops"]
    assert s["Service.WorkingDirectory"] == ["/opt/floorops"]
    assert s["Service.EnvironmentFile"] == ["/etc/floorops/floorops.env"]
    assert "FLOOROPS_VAR_DIR=/var/lib/floorops" in " ".join(s["Service.Environment"])
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("UMask", "0077"), ("ProtectHome", "yes"), ("CapabilityBoundingSet", "")):
        assert s[f"Service.{key}"] == [value], key
    assert s["Service.ReadWritePaths"] == ["/var/lib/floorops"]
    assert s["Install.WantedBy"] == ["floorops.target"]


@pytest.mark.parametrize("unit", list(DROP_INS))
def test_the_broker_and_influxdb_drop_ins_restart_them_in_a_sandbox(unit: str) -> None:
    s = settings(UNITS / DROP_INS[unit])
    assert s["Service.Restart"] == ["on-failure"] and s["Service.RestartSec"]
    assert s["Unit.StartLimitIntervalSec"] and s["Unit.StartLimitBurst"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("UMask", "0077")):
        assert s[f"Service.{key}"] == [value], key
    if unit == "mosquitto.service":  # FloorOps' generated configuration, not Debian's
        assert s["Service.ExecStart"] == ["", "/usr/sbin/mosquitto -c /var/lib/mosquitto/floorops/mosquitto.conf"]


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; make test installs it)")
    return found


def install_for_verify(dest: Path) -> list[Path]:
    """The units as installed for this checkout: /opt/floorops is this repository, its Python this one."""
    shutil.copytree(UNITS, dest, dirs_exist_ok=True)
    paths = []
    for unit in sorted(dest.glob("*.service")) + sorted(dest.glob("*.target")):
        text = unit.read_text().replace("/opt/floorops/.venv/bin/python", sys.executable)
        unit.write_text(text.replace("/opt/floorops", str(REPO_ROOT)))
        paths.append(unit)
    for unit in DROP_INS:  # Debian's own unit beside the drop-in, which verify then reads with it
        if (DEBIAN_UNITS / unit).exists():
            shutil.copy(DEBIAN_UNITS / unit, dest / unit)
            paths.append(dest / unit)
    return paths


def verify(paths: list[Path]) -> tuple[int, str]:
    out = subprocess.run([analyze(), "verify", "--man=no", *map(str, paths)], capture_output=True, text=True,
                         timeout=120)
    return out.returncode, (out.stdout + out.stderr).strip()


@pytest.mark.slow
def test_systemd_analyze_verify_finds_nothing_to_say_about_the_units(tmp_path: Path) -> None:
    paths = install_for_verify(tmp_path)
    assert {p.name for p in paths} >= {*SERVICES, "floorops-accounts.service", "floorops.target"}
    rc, said = verify(paths)
    assert (rc, said) == (0, "")


@pytest.mark.slow
def test_verify_does_catch_a_broken_unit_and_a_broken_drop_in(tmp_path: Path) -> None:
    """The check above can fail: a wrong value in a unit or in a drop-in is reported."""
    paths = install_for_verify(tmp_path)
    hub = tmp_path / "floorops-hub.service"
    hub.write_text(hub.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    drop_in = tmp_path / DROP_INS["mosquitto.service"]
    drop_in.write_text(drop_in.read_text().replace("RestartSec=1s", "RestartSec=soon"))
    rc, said = verify(paths)
    assert "sometimes" in said
    if (DEBIAN_UNITS / "mosquitto.service").exists():
        assert "soon" in said
