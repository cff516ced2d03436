"""The chaos harness's own safety: its disk filler never fills a disk the suite did not mount."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_harness import fill_disk


def test_the_filler_refuses_a_folder_that_is_not_the_suites_own_filesystem(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not the suite's own small filesystem"):
        fill_disk(tmp_path)  # an ordinary folder on the machine's disk (an unmounted tmpfs looks like this)
    assert list(tmp_path.iterdir()) == []
