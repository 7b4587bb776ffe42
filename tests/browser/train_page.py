"""Driving the Train page in Chromium (shared by the browser tests, the reliability tests and bench/soak.py)."""

from __future__ import annotations

import re

from browser_kit import wait_app_idle
from fakes import wait_until  # noqa: F401  (re-exported for the browser tests and bench/soak.py)

RUN_ID = re.compile(r"Run\s+(\d{8}-\d{6}-[A-Za-z0-9_.-]+)")
BUSY = re.compile(r"Run \S+ is (queued|running)")


def epochs_done(page) -> int:
    metric = page.locator('[data-testid="stMetric"]', has_text="Epochs done")
    if not metric.count():
        return -1
    text = metric.first.locator('[data-testid="stMetricValue"]').inner_text()
    return int(text.split("/")[0])


def shown_run_id(page) -> str | None:
    heads = page.locator("h4", has_text="Run")
    if not heads.count():
        return None
    m = RUN_ID.search(heads.first.inner_text())
    return m.group(1) if m else None


def set_number(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_app_idle(page)


def open_train_form(page, url: str, epochs: int, subset: int | None = None) -> None:
    """Open /train and fill the form (digits, ``epochs``, optional subset); ready to Launch."""
    page.goto(url.rstrip("/") + "/train")
    wait_app_idle(page)
    button = page.get_by_role("button", name="Launch training")
    button.wait_for(state="attached")
    if not button.is_visible():  # collapsed while a run is shown
        page.get_by_text("New run", exact=True).click()
        button.wait_for(state="visible")
    if subset is not None:
        toggle = page.get_by_role("switch", name="Subset")
        if not toggle.is_checked():
            page.get_by_text("Subset", exact=True).click()
            wait_app_idle(page)
            wait_until(toggle.is_checked, 10, "the Subset toggle")
        set_number(page, "Training images", subset)
    set_number(page, "Epochs", epochs)
