"""Fixtures of the reliability tests (issue 6). Helpers live in ``rel_cases`` and in the shared
``browser_kit`` / ``fakes`` modules; this file only makes ``browser_kit`` importable and provides
the Chromium fixture for the browser tests here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

from browser_kit import CHROMIUM_ARGS, chromium_path  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
