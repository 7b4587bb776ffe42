"""The explorer in a real browser: it loads, and moving the F slider changes readout and chart."""

from __future__ import annotations

import re
from urllib.parse import unquote

from browser_kit import shot, wait_app_idle


def _step_readout(page) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text="Step decay")
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def _step_trace_ys(page) -> list:
    return page.evaluate(
        """() => { const gd = document.querySelector('.js-plotly-plot');
                   const t = gd._fullData.find(d => d.name === 'Step decay'); return Array.from(t.y); }"""
    )


def test_explorer_loads_and_slider_updates(app_server, page):
    page.goto(app_server.url)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    wait_app_idle(page)
    assert _step_readout(page) == "0.00125"  # F=0.5, D=5: 0.01 * 0.5**3 at epoch 15
    ys_before = _step_trace_ys(page)
    assert abs(ys_before[14] - 0.00125) < 1e-12
    shot(page, "explorer-default")

    # Move the F slider from 0.5 down to 0.25 with the keyboard (5 steps of 0.05).
    slider = page.get_by_role("slider", name=re.compile("factor"))
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                 .some(e => e.innerText.trim() === '0.00015625')""",
        timeout=30_000,
    )
    wait_app_idle(page)
    assert _step_readout(page) == "0.00015625"  # 0.01 * 0.25**3
    # The readout is painted before Plotly's redraw: wait for the chart too.
    page.wait_for_function(
        """() => { const gd = document.querySelector('.js-plotly-plot');
                   const t = gd && gd._fullData.find(d => d.name === 'Step decay');
                   return t && Math.abs(t.y[14] - 0.00015625) < 1e-12; }""",
        timeout=30_000,
    )
    ys_after = _step_trace_ys(page)
    assert abs(ys_after[14] - 0.00015625) < 1e-12
    assert "step;factor=0.25" in unquote(page.url)  # the URL carries the view
    shot(page, "explorer-factor-0.25")


def test_shared_link_reproduces_view_and_garbage_warns(app_server, page):
    page.goto(app_server.url + "/?c=step;factor=0.25&c=nonsense&epochs=abc")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    wait_app_idle(page)
    assert _step_readout(page) == "0.00015625"
    alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
    assert any("nonsense" in a for a in alerts)
    assert any("epochs" in a for a in alerts)
    assert page.locator('[data-testid="stException"]').count() == 0
    shot(page, "explorer-shared-link")
