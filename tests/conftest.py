"""Shared fixtures (helpers are in ``tests/fakes.py`` and ``tests/browser/browser_kit.py``)."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest
from background import Scheduler
from fakes import fabricate_run

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))


def pytest_configure(config):
    config.addinivalue_line("markers", "background(job): the test reads a tests/background.py child that the "
                                       "session starts before its first test; the test runs last")


def _background_job(item):
    mark = item.get_closest_marker("background")
    if mark is None or any(m.args and m.args[0] is True for m in item.iter_markers("skipif")):
        return None
    return None if item.get_closest_marker("skip") else mark.args[0]


def pytest_collection_modifyitems(session, config, items):
    """The tests that read a background child go last: by then the child has long finished."""
    items[:] = [i for i in items if _background_job(i) is None] + [i for i in items if _background_job(i)]


_frozen_for: list = [None]  # the module whose first test last froze the heap


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """At each test module's first test: collect, then freeze what is left (``gc.freeze``), so the
    cyclic collector stops re-scanning the ~750,000 objects of TensorFlow, Keras, Streamlit and the
    session's fixtures. Measured: a full collection of that heap takes ~0.1 s and AppTest's pages
    trigger dozens a test, which made test_page_tournament 13x slower in the suite (235 s) than on
    its own (17 s). What is frozen is what is still alive between modules; garbage is collected
    first, so nothing that was already garbage stays."""
    module = getattr(item, "module", None)
    if module is not _frozen_for[0]:
        _frozen_for[0] = module
        gc.collect()
        gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def background_jobs(request, tmp_path_factory):
    """The selected tests' children (tests/background.py), started before the first test, one at a
    time in a thread, in the order their tests run; killed at the session's end if still running."""
    jobs = list(dict.fromkeys(j for j in map(_background_job, request.session.items) if j is not None))
    for job in jobs:
        job.prepare(tmp_path_factory.mktemp(job.name))
    scheduler = Scheduler(jobs).start()
    yield jobs
    scheduler.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session: Playwright's sync API allows only one
    instance per process, so the browser and reliability tests share it."""
    from browser_kit import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch) -> Path:
    """An empty runs folder that the pages and the run store use by default."""
    from lrviz import runs as runs_api

    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", tmp_path)
    return tmp_path


@pytest.fixture()
def runs_dir_with_two(tmp_path) -> tuple[Path, list[str]]:
    a = fabricate_run(tmp_path, factor=0.25, seed=1, accuracy=0.75)
    time.sleep(0.01)
    b = fabricate_run(tmp_path, factor=0.5, seed=2, accuracy=0.78)
    return tmp_path, [a, b]


@pytest.fixture()
def silent_server():
    """A TCP server that accepts every connection and never answers (a hung tracking server or
    database). Yields ``(port, accepted)``: ``accepted`` is set once a client is connected."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held, accepted = [], threading.Event()

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:  # closed at teardown
                return
            held.append(conn)
            accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1], accepted
    srv.close()
    for conn in held:
        conn.close()
