"""Secrets, keys and device credentials are written one way (floorops.varperms.write_private): private to
their owner from the first byte, and whole or not at all."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from floorops.varperms import write_private


def test_a_private_file_is_its_owners_only_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "secrets.json"
    write_private(path, '{"a": 1}')
    write_private(path, b'{"a": 2}')
    assert json.loads(path.read_text()) == {"a": 2}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secrets.json"]  # no temporary file left


def test_a_write_that_fails_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    write_private(path, '{"kiosk-01": {}}')
    with pytest.raises(UnicodeEncodeError):
        write_private(path, "\udcff")  # cannot be encoded: fails before anything replaces the file
    assert path.read_text() == '{"kiosk-01": {}}'
    assert [p.name for p in tmp_path.iterdir()] == ["devices.json"]

