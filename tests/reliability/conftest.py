"""Fixtures of the reliability tests (issue 6). Helpers live in ``rel_cases`` and in the shared
``browser_kit`` / ``fakes`` modules; this file only makes ``browser_kit`` importable and provides
the Chromium fixture for the browser tests here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

from browser_kit import browser  # noqa: E402,F401  (the session's Chromium, as a fixture)
