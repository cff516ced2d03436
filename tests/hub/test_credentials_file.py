"""Removing a device drops it from the device credentials file (hub.provisioning.forget_credentials): atomically,
and a missing, corrupt or unwritable file is a logged outcome, never an exception."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from floorops import varperms
from hub.provisioning import forget_credentials

CREDS = {"kiosk-01": {"id": "kiosk-01", "mqtt_username": "kiosk-01", "mqtt_password": "p1", "topic_prefix": "x"},
         "kiosk-02": {"id": "kiosk-02", "mqtt_username": "kiosk-02", "mqtt_password": "p2", "topic_prefix": "y"}}


def write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_drops_only_that_device_and_keeps_the_file_private(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    write_private(path, json.dumps(CREDS, indent=2))
    assert forget_credentials(path, "kiosk-01") == "removed"
    assert json.loads(path.read_text()) == {"kiosk-02": CREDS["kiosk-02"]}
    assert path.stat().st_mode & 0o777 == 0o600 and leftovers(path) == []
    assert forget_credentials(path, "kiosk-01") == "not_listed"  # a second removal changes nothing
    assert json.loads(path.read_text()) == {"kiosk-02": CREDS["kiosk-02"]}


def test_missing_file_is_nothing_to_do(tmp_path: Path) -> None:
    assert forget_credentials(tmp_path / "devices.json", "kiosk-01") == "no_file"
    assert forget_credentials(tmp_path / "no-such-folder" / "devices.json", "kiosk-01") == "no_file"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ['{"kiosk-01": {"id": "kio', '["kiosk-01"]', "", "\xff\xfe"])
def test_corrupt_file_is_logged_and_left_as_it_was(tmp_path: Path, text: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "devices.json"
    path.write_bytes(text.encode("latin-1"))
    with caplog.at_level(logging.ERROR, logger="hub.provisioning"):
        assert forget_credentials(path, "kiosk-01") == "unreadable"
    assert path.read_bytes() == text.encode("latin-1") and leftovers(path) == []
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "unreadable" in record.getMessage() and record.file == str(path) and record.error  # type: ignore[attr-defined]  # - set by the log call's extra=


def test_failed_rename_leaves_the_old_file_whole_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "devices.json"
    write_private(path, json.dumps(CREDS, indent=2))

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(varperms.os, "replace", refuse)  # the one writer of private files
    with caplog.at_level(logging.ERROR, logger="hub.provisioning"):
        assert forget_credentials(path, "kiosk-01") == "unwritable"
    assert json.loads(path.read_text()) == CREDS and leftovers(path) == []
    assert any("No space left" in r.error for r in caplog.records if r.levelno == logging.ERROR)  # type: ignore[attr-defined]  # - set by the log call's extra=


def test_a_folder_where_the_file_should_be_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.mkdir()
    assert forget_credentials(path, "kiosk-01") == "unreadable"
    assert path.is_dir()
