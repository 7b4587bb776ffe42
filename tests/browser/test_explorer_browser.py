"""The explorer in a real browser: it loads, and moving the F slider changes readout and chart."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
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
    # The readout and chart are the slider preview's, drawn before the server's rerun that writes the
    # URL: the URL may still hold a step on the way (factor=0.3, seen once in a full run). Wait for it.
    page.wait_for_function("() => decodeURIComponent(location.href).includes('step;factor=0.25')", timeout=30_000)
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


def _hold_server_messages(page) -> dict:
    """Route the app's websocket through the test: while ``gate["hold"]`` is true, what the
    server sends waits in ``gate["held"]``; ``release(gate)`` delivers it in order."""
    gate: dict = {"hold": False, "held": []}

    def handler(ws):
        server = ws.connect_to_server()
        gate["ws"] = ws

        def from_server(message):
            if gate["hold"]:
                gate["held"].append(message)
            else:
                ws.send(message)

        server.on_message(from_server)
        ws.on_message(server.send)

    page.route_web_socket(re.compile(r"/_stcore/stream"), handler)
    return gate


def _release(gate: dict) -> None:
    gate["hold"] = False
    while gate["held"]:
        gate["ws"].send(gate["held"].pop(0))


def _step_card(page) -> tuple[str, str]:
    card = page.locator('[class*="st-key-ex_rcard_"]', has_text="Step decay")
    return (card.locator('[data-testid="stMetricValue"]').inner_text().strip(),
            card.locator('[data-testid="stCaptionContainer"]').first.inner_text().strip())


def test_a_slider_move_is_drawn_before_python_answers_with_pythons_numbers(app_server, page):
    """The slider preview: with every message from the server held back, a keyboard step on the F
    slider already shows F=0.45 in the chart (the tutorial's formula at every epoch) and in the
    readout card; once the server's rerun is let through, the page shows exactly the same numbers."""
    gate = _hold_server_messages(page)
    page.goto(app_server.url)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    wait_app_idle(page)
    assert _step_card(page) == ("0.00125", "LR ≤ 0.001 from epoch 20 on")  # 0.01 * 0.5**4
    page.evaluate("() => { window.__before = document.querySelector('.js-plotly-plot').data.length; }")

    gate["hold"] = True
    slider = page.get_by_role("slider", name=re.compile("factor"))
    slider.focus()
    page.keyboard.press("ArrowLeft")  # F 0.5 -> 0.45
    page.wait_for_function(
        """() => { const gd = document.querySelector('.js-plotly-plot');
                   const t = gd && gd._fullData.find(d => d.name === 'Step decay');
                   return t && Math.abs(t.y[14] - 0.00091125) < 1e-15; }""", timeout=10_000)
    page.wait_for_function("() => document.querySelector('.st-key-ex_rcard_1 [data-testid=\"stMetricValue\"]')"
                           ".textContent.trim() === '0.00091125'", timeout=10_000)
    for _ in range(200):  # the server's answer to the move arrives and is held (the preview may come first)
        if gate["held"]:
            break
        page.wait_for_timeout(50)
    assert gate["held"], "the server did not answer the move within 10 s"
    preview_ys = _step_trace_ys(page)
    tutorial = [0.01 * 0.45 ** ((1 + e) // 5) for e in range(40)]
    assert preview_ys == pytest.approx(tutorial + tutorial[-1:], rel=1e-12, abs=0)
    preview_card = _step_card(page)
    assert preview_card[0] == "0.00091125"
    assert preview_card[1] == "LR ≤ 0.001 from epoch 15 on"  # 0.01 * 0.45**3 = 0.00091125
    assert page.evaluate("() => document.querySelector('.js-plotly-plot').data.length") == \
        page.evaluate("() => window.__before")  # the same traces, one curve's swapped
    assert page.locator('[data-testid="stException"]').count() == 0

    _release(gate)
    wait_app_idle(page)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=10_000)
    assert _step_card(page) == preview_card  # Python drew what the preview showed
    assert _step_trace_ys(page) == preview_ys
    assert "step;factor=0.45" in unquote(page.url)
