"""The LR range test from the browser on digits, and applying its suggestion to the schedule."""

from __future__ import annotations

import json
import re

from browser_kit import shot, wait_app_idle


def test_lr_find_and_apply_a_suggestion(app_server, page, runs_dir):
    page.goto(app_server.url + "/train")
    wait_app_idle(page)
    page.get_by_text("Find a starting LR (LR range test)").click()
    page.get_by_role("button", name="Find LR").click()
    # Finished: suggestions with their rules, on a loss-vs-LR chart.
    page.get_by_role("button", name="Use as lr").first.wait_for(timeout=120_000)
    wait_app_idle(page)
    assert page.get_by_text(re.compile(r"^steepest descent: [0-9.e-]+$")).count() >= 1
    finder = [p for p in runs_dir.iterdir() if (p / "suggestions.json").exists()]
    assert len(finder) == 1
    sugg = json.loads((finder[0] / "suggestions.json").read_text())
    steepest = sugg["steepest"]["lr"]
    assert steepest and 1e-7 < steepest < 10
    shot(page, "lr-finder-result")

    page.get_by_role("button", name="Use as lr").first.click()
    page.get_by_text("Applied: lr =").wait_for(timeout=30_000)
    wait_app_idle(page)
    value = float(page.get_by_label("lr", exact=True).input_value())
    assert value == float(f"{steepest:.3g}")
    shot(page, "lr-finder-applied")
