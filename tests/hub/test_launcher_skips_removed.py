"""``make run`` (centre.launcher.ControlCentre.provision) provisions the site's inventory, but not the
devices removed with ``python -m hub devices remove``: a real broker, the hub database in a tmp folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from floorops.dynsec import DynsecClient, NotFound, device_role
from centre.launcher import ControlCentre
from centre.services import MosquittoServer
from hub import provisioning
from hub.db import Database
from tests.hub.conftest import make_cfg

pytestmark = pytest.mark.integration


def test_provisioning_again_does_not_bring_back_a_removed_device(
        tmp_path: Path, make_broker: Callable[..., MosquittoServer]) -> None:
    broker = make_broker()  # its own: the removal leaves retained registry changes behind
    cfg = make_cfg(tmp_path, broker)
    assert provisioning.removed_device_ids(cfg) == set()  # no hub database yet: nothing removed
    centre = ControlCentre(cfg, with_simulator=False, bootstrap_models=False)
    centre.provision()
    cred_path = cfg.path(cfg.hub.credentials_file)
    assert "kiosk-01" in json.loads(cred_path.read_text())

    removed = provisioning.remove_device(cfg, "kiosk-01")
    assert provisioning.removed_device_ids(cfg) == {"kiosk-01"}
    # The launcher's record of provisioned devices no longer lists it; the others keep their credentials.
    assert removed["credentials_file"] == "removed"
    after = json.loads(cred_path.read_text())
    assert "kiosk-01" not in after and len(after) == len(centre.site.devices) - 1
    assert after["kiosk-02"]["mqtt_password"]
    assert cred_path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in cred_path.parent.iterdir() if p.name.startswith(f".{cred_path.name}")] == []
    # Provisioning again as the file stands: the removed device is not brought back, the others not re-issued.
    centre.provision()
    assert json.loads(cred_path.read_text()) == after
    # Every device's credentials are asked for again (devices.json deleted to rotate them): the launcher
    # provisions the whole inventory anew, except the removed device.
    cred_path.unlink()
    centre.provision()

    creds = json.loads(cred_path.read_text())
    assert "kiosk-01" not in creds and "kiosk-02" in creds
    assert len(creds) == len(centre.site.devices) - 1
    db = Database(cfg.path(cfg.hub.db_path))
    try:
        assert db.one("SELECT removed_at FROM devices WHERE id='kiosk-01'")["removed_at"] is not None
    finally:
        db.close()
    with DynsecClient(cfg.mqtt.host, cfg.mqtt.port, cfg.broker.admin_username, cfg.broker.admin_password) as ds:
        assert device_role("kiosk-01") not in ds.role_names() and device_role("kiosk-02") in ds.role_names()
        with pytest.raises(NotFound):
            ds.command("getClient", username="kiosk-01")
