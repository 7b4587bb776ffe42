"""The Runs page in Chromium (issue 13): what only a browser shows.

* Screenshots at 1440 px and 800 px of the page empty, with runs, one run open and two
  compared; at 800 px (sidebar open, ~500 px of content) nothing is cut: every button shows
  its whole label (the five download buttons read "Re… Hi… M…" in equal columns), and no
  table cell reads "None".
* The side-by-side report has no empty last row.
* "Copy link" puts the absolute URL of a run, and of a comparison, on the clipboard.
* The table refreshes by itself while a run is running (no reload).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from browser_kit import CELLS, CHART_OVERLAPS, CUT, TABLES_SCROLL, AppServer, shot, wait_drawn
from fakes import fabricate_lr_find, fabricate_run

from lrviz import runs as runs_api
from lrviz.schedules import Schedule


@pytest.fixture(scope="module")
def runs_server(tmp_path_factory):
    """A server of its own: these runs must not meet the Train page tests' runs."""
    runs = tmp_path_factory.mktemp("runs_page")
    server = AppServer(runs, tmp_path_factory.mktemp("log") / "streamlit.log").start()
    yield server
    server.stop()


def _open(page, url: str, selector: str = '[data-testid="stMain"]') -> None:
    page.goto(url)
    page.wait_for_selector(selector, timeout=60_000, state="attached")  # Glide's cells live inside a canvas
    wait_drawn(page)  # Plotly and Glide draw after the script run ends


def _fabricate(runs: Path) -> tuple[str, str]:
    # the pair: a time-based decay (no factor, no drop_every) against a step decay
    time_based = Schedule.create("time_keras2", {"decay": 0.00025}).to_config()
    a = fabricate_run(runs, seed=1, accuracy=0.75, schedule=time_based)
    for name in ("model.keras", "training.png"):  # all five downloads, as a real run has them
        (runs / a / name).write_bytes(b"not really")
    time.sleep(0.01)
    b = fabricate_run(runs, factor=0.5, seed=2, accuracy=0.85, batch_size=32)
    time.sleep(0.01)
    fabricate_run(runs, factor=0.5, seed=3, diverged=True)
    fabricate_lr_find(runs)
    return a, b


@pytest.mark.parametrize("width", [1440, 800])
def test_runs_page_fits_the_window(runs_server, browser, width):
    runs = runs_server.runs_dir
    for child in runs.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        _open(page, runs_server.url + "/runs", '[data-testid="stAlert"]')
        shot(page, f"runs-empty-{width}px")
        assert page.get_by_text("No runs yet").count() == 1

        a, b = _fabricate(runs)
        _open(page, runs_server.url + "/runs", '[data-testid="glide-cell-1-0"]')
        shot(page, f"runs-table-{width}px")
        (table,) = page.evaluate(CELLS)
        assert "None" not in table, table
        headers = page.evaluate("""() => [...document.querySelectorAll(
            '[data-testid="stDataFrame"] [role="columnheader"]')].map(h => h.innerText)""")
        # Glide draws only the columns in view: the final accuracy is among them at 800 px too
        assert "final validation accuracy" in headers, headers
        if width == 1440:  # Glide exposes only the columns in view; at 800 px these are off to the right
            assert "finished · diverged" in table and "40/40 batches" in table and "5/5 epochs" in table, table
            # "final validation accuracy" whole: the column after it is in view too (it was cut at the edge)
            assert headers.index("final validation accuracy") < len(headers) - 1, headers

        _open(page, runs_server.url + f"/runs?run={a}", '[data-testid="stDownloadButton"]')
        shot(page, f"runs-one-run-{width}px")
        assert page.evaluate(CUT) == []

        _open(page, runs_server.url + f"/runs?compare={a},{b}", '[data-testid="stDataFrame"] >> nth=1')
        page.locator('[data-testid="stDataFrame"]').nth(1).scroll_into_view_if_needed()
        wait_drawn(page)
        shot(page, f"runs-compare-{width}px")
        assert page.evaluate(CUT) == []
        cells = page.evaluate(CELLS)
        assert all("None" not in t for t in cells), cells
        report = page.locator('[data-testid="stDataFrame"]').nth(1)
        rows = 13  # 10 digits + accuracy, macro avg, weighted avg
        assert report.bounding_box()["height"] <= 35 * (rows + 1) + 3 + 2  # header + rows, no empty row
        # Issue 19: the differences read at a glance: every report table whole, no sideways scroll (the
        # headers were whole labels, ~500 px each), the f1-score's differences among the cells drawn
        # (Glide exposes only the columns in view); the Δ chart's y title and bars inside it.
        assert page.evaluate(TABLES_SCROLL, 1) == []
        f1 = cells[1]
        assert len(f1) == 13 * 4 and sum(c[:1] in "+-" and c[1:2] == "0" for c in f1) >= 10, f1
        assert page.evaluate(CHART_OVERLAPS) == []
    finally:
        context.close()


def test_copy_link_puts_the_absolute_url_on_the_clipboard(runs_server, browser):
    runs = runs_server.runs_dir
    if not any(runs.iterdir()):
        _fabricate(runs)
    ids = [s.id for s in runs_api.list_runs(runs) if s.kind == "train"]
    context = browser.new_context(viewport={"width": 1440, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        for query in (f"run={ids[0]}", f"compare={ids[1]},{ids[2]}"):
            _open(page, runs_server.url + "/runs?" + query, '[data-testid="stCode"]')
            url = f"{runs_server.url}/runs?{query}"
            code = page.locator('[data-testid="stCode"]').last
            assert code.inner_text().strip() == url  # shown, whole
            code.scroll_into_view_if_needed()
            code.hover()
            code.get_by_role("button", name="Copy to clipboard").click()
            page.wait_for_function("u => navigator.clipboard.readText().then(t => t === u)", arg=url, timeout=5_000)
    finally:
        context.close()


def test_table_refreshes_while_a_run_is_running(browser, tmp_path):
    rid = fabricate_run(tmp_path, epochs=6, state="running")  # 3 of 6 epochs, no worker: live for 120 s
    server = AppServer(tmp_path, tmp_path / "streamlit.log").start()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        _open(page, server.url + "/runs", '[data-testid="glide-cell-1-0"]')
        assert "3/6 epochs" in page.evaluate(CELLS)[0]
        status = runs_api.read_json(tmp_path / rid / "status.json")
        runs_api.atomic_write_json(tmp_path / rid / "status.json", {**status, "epoch": 4, "updated_at": time.time()})
        page.wait_for_function(
            "() => [...document.querySelectorAll('[role=\"gridcell\"]')].some(c => c.innerText === '4/6 epochs')",
            timeout=15_000)
        runs_api.atomic_write_json(tmp_path / rid / "status.json",
                                {**status, "state": "finished", "epoch": 6, "updated_at": time.time()})
        page.wait_for_function(
            "() => [...document.querySelectorAll('[role=\"gridcell\"]')].some(c => c.innerText === 'finished')",
            timeout=15_000)
        shot(page, "runs-refreshed")
    finally:
        context.close()
        server.stop()
