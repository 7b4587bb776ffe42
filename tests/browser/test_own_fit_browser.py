"""A fit from a user's own code (lrviz.keras.Dashboard) on the Runs page, in Chromium: live while it
trains (the page follows new epochs without a reload), whole at 800 px, and the page's Stop reaches
the fit from its next batch. The fit is driven through Keras' hooks in this test's process, so the
run's process is alive, as a user's script is."""

from __future__ import annotations

import time

from browser_kit import CUT, AppServer, shot, wait_app_idle, wait_drawn
from fit_fakes import drive_epochs, drive_fit

from lrviz import runs


def _text(page) -> str:
    return page.inner_text('[data-testid="stMain"]')


def test_a_fit_from_a_script_is_live_on_the_runs_page_and_its_stop_reaches_the_fit(browser, tmp_path):
    dash, model = drive_fit(tmp_path, 2, name="my notebook fit")
    server = AppServer(tmp_path, tmp_path / "streamlit.log").start()
    context = browser.new_context(viewport={"width": 800, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{server.url}/runs?run={dash.run_id}")
        page.get_by_text("Epoch 3/5").first.wait_for(timeout=60_000)
        wait_app_idle(page)
        text = _text(page)
        assert "my notebook fit" in text and "your fit on your data" in text and "Sequential" in text
        assert "lrviz's own runs go on beside it" in text
        page.get_by_role("button", name="Stop").wait_for()
        wait_drawn(page)  # the charts draw after the script run ends
        assert page.evaluate(CUT) == []
        shot(page, "own-fit-live-800")
        drive_epochs(dash, 2, 1)  # the script finishes another epoch: the page follows by itself
        page.get_by_text("Epoch 4/5").first.wait_for(timeout=15_000)
        page.get_by_role("button", name="Stop").click()
        deadline = time.monotonic() + 15
        while not (dash.runs_dir / dash.run_id / "control" / "stop").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        dash.on_epoch_begin(3)
        dash.on_train_batch_begin(0)
        assert model.stop_training  # the fit ends after this batch, as Keras does
        dash.on_train_end()
        page.get_by_text("Stopped after 3 finished epoch(s)").first.wait_for(timeout=15_000)
        assert runs.load_run(dash.run_id, tmp_path).state == "stopped"
        shot(page, "own-fit-stopped-800")
    finally:
        context.close()
        server.stop()
