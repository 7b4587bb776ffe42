"""Shared fixtures (helpers are in ``tests/fakes.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakes import fabricate_run


@pytest.fixture()
def runs_dir_with_two(tmp_path) -> tuple[Path, list[str]]:
    a = fabricate_run(tmp_path, factor=0.25, seed=1, accuracy=0.75)
    time.sleep(0.01)
    b = fabricate_run(tmp_path, factor=0.5, seed=2, accuracy=0.78)
    return tmp_path, [a, b]
