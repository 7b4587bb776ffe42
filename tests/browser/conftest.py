"""Browser-test fixtures: a real `streamlit run app.py` server and Debian's Chromium via Playwright.

A missing browser is a failure, not a skip (CI installs Debian's `chromium`). Helpers live in
``browser_kit`` (a unique module name: ``conftest`` would clash with tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kit import CHROMIUM_ARGS, SHOTS, AppServer, chromium_path, shot, wait_app_idle  # noqa: F401


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("runs")
    yield path
    # A failed test may leave a worker training (they run in their own session): stop it.
    from lrviz import runs as runs_api

    active = runs_api.active_run(path)
    if active:
        runs_api.stop_run(active, path)


@pytest.fixture(scope="session")
def app_server(runs_dir, tmp_path_factory) -> Iterator[AppServer]:
    server = AppServer(runs_dir, tmp_path_factory.mktemp("log") / "streamlit.log").start()
    yield server
    server.stop()


@pytest.fixture()
def page(browser, request):
    context = browser.new_context(viewport={"width": 1440, "height": 1500}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        pg.screenshot(path=str(SHOTS / f"{request.node.name}-final.png"), full_page=True)
    finally:
        context.close()


