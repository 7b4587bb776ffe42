"""Train and Runs pages in a real browser, against the real engine on small digits runs.

Launch from the browser, watch the epoch counter and charts advance, reload mid-run,
read and download the report; Stop and Set LR; a second tab gets the busy answer; the
Runs page compares two runs. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import pandas as pd
from browser_kit import shot, wait_app_idle
from train_page import RUN_ID, epochs_done, set_number, wait_until

from lrviz import runs as runs_api


def current_run_id(page) -> str:
    heading = page.locator("h4", has_text="Run").first.inner_text()
    return RUN_ID.search(heading).group(1)


def launch(page, epochs: int) -> str:
    page.goto(page.url if "/train" in page.url else page.url.rstrip("/") + "/train")
    wait_app_idle(page)
    set_number(page, "Epochs", epochs)
    shown = current_run_id(page) if page.locator("h4", has_text="Run").count() else None  # the latest run, if any
    page.get_by_role("button", name="Launch training").click()
    return wait_until(lambda: page.locator("h4", has_text="Run").count() and current_run_id(page) != shown
                      and current_run_id(page), 30, "the new run's header")


# The schedule preview's epoch tick labels: [text, rotated?, left, right] each.
PREVIEW_TICKS = """() => [...document.querySelectorAll('.st-key-tr_preview .xtick text')].map(t => {
  const r = t.getBoundingClientRect();
  return [t.textContent, /rotate\\((?!0[,)])/.test(t.getAttribute('transform') || ''), r.left, r.right];
})"""


def test_the_schedule_preview_reads_its_epochs_at_800_px(app_server, browser):
    """Issue 19: in the form's right column (~180 px) Plotly turned the preview's epoch ticks
    on their side and crammed them; under the form they read flat and apart."""
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    try:
        page.goto(app_server.url + "/train")
        page.wait_for_selector(".st-key-tr_preview .xtick text", timeout=60_000)
        wait_app_idle(page)
        page.locator(".st-key-tr_preview").scroll_into_view_if_needed()
        shot(page, "train-preview-800px")
        ticks = page.evaluate(PREVIEW_TICKS)
        assert [t[0] for t in ticks] == ["5", "10", "15", "20", "25", "30", "35", "40"]  # 40 epochs, every 5
        assert not [t[0] for t in ticks if t[1]], f"rotated tick labels: {ticks}"
        assert all(a[3] + 4 <= b[2] for a, b in zip(ticks, ticks[1:])), f"tick labels too close: {ticks}"
    finally:
        context.close()


def test_launch_watch_reload_report_download(app_server, page, runs_dir):
    page.goto(app_server.url + "/train")
    wait_app_idle(page)
    shot(page, "train-form")
    before = {p.name for p in runs_dir.iterdir() if p.is_dir()}
    rid = launch(page, 12)
    wait_until(lambda: epochs_done(page) >= 1, 90, "the first epoch")
    first = epochs_done(page)
    shot(page, "train-running")
    wait_until(lambda: epochs_done(page) > first, 60, "the epoch counter to advance")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3",
                           timeout=30_000)  # loss, accuracy, LR

    # A reload mid-run re-attaches to the same run, still advancing; nothing restarts.
    done_before = epochs_done(page)
    page.reload()
    wait_until(lambda: epochs_done(page) >= 0, 30, "the live view after reload")
    assert current_run_id(page) == rid
    if done_before < 12:
        wait_until(lambda: epochs_done(page) > done_before or page.get_by_text("Finished 12 epochs").count(), 60,
                   "progress after the reload")
    assert {p.name for p in runs_dir.iterdir() if p.is_dir()} - before == {rid}  # one run, not restarted or duplicated

    page.get_by_text("Classification report (test set)").wait_for(timeout=120_000)
    assert page.get_by_text("Finished 12 epochs").count() == 1
    shot(page, "train-finished")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Report CSV").click()
    downloaded = pd.read_csv(dl.value.path(), index_col=0)
    on_disk = pd.read_csv(runs_dir / rid / "report.csv", index_col=0)
    pd.testing.assert_frame_equal(downloaded, on_disk)
    assert list(on_disk.columns) == ["precision", "recall", "f1-score", "support"]
    assert on_disk.index[-3:].tolist() == ["accuracy", "macro avg", "weighted avg"]


def test_set_lr_stop_and_busy_second_tab(app_server, page, browser, runs_dir):
    page.goto(app_server.url + "/train")
    rid = launch(page, 400)  # long enough never to finish under a loaded CI; it is stopped below

    # A second tab re-attaches to the same run and gets the busy answer on Launch; done while the
    # worker imports TensorFlow and runs its first epoch (about 20 s that the test used to wait out).
    def state():
        try:
            return runs_api.read_json(runs_dir / rid / "status.json").get("state")
        except (OSError, ValueError):
            return None

    wait_until(lambda: state() == "running", 60, "the worker to start")
    other = browser.new_page(viewport={"width": 1440, "height": 1500})
    other.goto(app_server.url + "/train")
    wait_app_idle(other)
    assert current_run_id(other) == rid
    other.get_by_text("New run").click()
    other.get_by_role("button", name="Launch training").click()
    other.get_by_text(f"Run {rid} is running").wait_for(timeout=30_000)
    shot(other, "train-second-tab-busy")
    other.close()

    wait_until(lambda: epochs_done(page) >= 2, 90, "two epochs")
    page.get_by_label("New LR").fill("0.0005")
    page.get_by_label("New LR").press("Enter")
    page.get_by_role("button", name="Apply").click()

    def override_in_history():
        # `lr_last` is the LR of an epoch's last batch: the override's epoch ends at 0.0005 (a value
        # override rescales the rest of the schedule, so a later epoch may start lower after a drop).
        try:
            hist = pd.read_csv(runs_dir / rid / "history.csv")
        except (OSError, pd.errors.EmptyDataError):
            return False
        return bool((abs(hist[["lr", "lr_last"]] - 0.0005) < 1e-9).any(axis=None))

    try:
        wait_until(override_in_history, 60, "the new LR in history.csv")
    finally:
        shot(page, "train-lr-override")
        page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped after").wait_for(timeout=90_000)
    shot(page, "train-stopped")
    hist = pd.read_csv(runs_dir / rid / "history.csv")
    assert 2 <= len(hist) < 400
    assert (runs_dir / rid / "report.csv").exists()


def test_runs_page_compares_two_runs(app_server, page, runs_dir):
    from lrviz.runs import list_runs

    ids = sorted(p.name for p in runs_dir.iterdir() if (p / "history.csv").exists())  # training runs
    assert len(ids) >= 2

    # Tick two training runs' rows in the table (the grid is a canvas: click the row markers).
    rows = [i for i, r in enumerate(list_runs(runs_dir)) if r.kind == "train"][:2]  # the table's order
    page.goto(app_server.url + "/runs")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=30_000)
    wait_app_idle(page)
    # The grid paints after it is attached: wait for the drawn cells of the rows to be clicked.
    for row in rows:
        grid.locator(f'[data-testid="glide-cell-1-{row}"]').wait_for(state="attached", timeout=30_000)
    box = grid.bounding_box()
    # Header and rows are 35 px high; the marker column is ~30 px wide.
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17 + 35 * rows[0])
    page.locator("h4", has_text="Run").first.wait_for(timeout=30_000)  # one ticked: that run opens
    wait_app_idle(page)
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17 + 35 * rows[1])
    page.get_by_text("Compare 2 runs").wait_for(timeout=30_000)
    shot(page, "runs-ticked")
    page.goto(app_server.url + f"/runs?compare={ids[0]},{ids[1]}")
    page.get_by_text("Compare 2 runs").wait_for(timeout=30_000)
    page.get_by_text("Classification reports side by side").wait_for(timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4",
                           timeout=30_000)
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=30_000)
    shot(page, "runs-compare")
    page.goto(app_server.url + f"/runs?run={ids[0]}")
    page.get_by_role("button", name="Report CSV").wait_for(timeout=30_000)
    shot(page, "runs-open")
