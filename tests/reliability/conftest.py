"""The reliability tests (issue 6) use helpers from ``rel_cases`` and the shared ``browser_kit``,
``train_page`` and ``fakes`` modules; this file makes tests/browser importable. The Chromium
fixture is the session's one, in tests/conftest.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

