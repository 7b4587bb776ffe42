"""The explorer's layout at 800 px and 1440 px wide, measured in the DOM (issue 13).

At 800 px the sidebar stays open (Streamlit collapses it only at <= 768 px) and the old
three-column parameter grid squeezed into ~500 px: labels wrapped letter by letter ("d/ec/ay"),
the lr box showed "0" for 0.01, readouts "0.002…", the Add button "A". Only a browser lays text
out, so these checks measure the rendered elements:

* every input shows its whole value (``scrollWidth <= clientWidth + 1``);
* no widget label is narrower than its longest word, nor taller than two lines;
* every button and readout (label and value) shows its whole text, inside its own card;
* each readout carries a colour swatch equal to its curve's colour in the chart;
* the "What happened to decay=?" table shows both LR columns whole (issue 19).
"""

from __future__ import annotations

import pytest
from browser_kit import LABEL_PROBLEMS, shot, wait_app_idle

from lrviz import explorer as ex

# Each entry: what was cut, as a readable line; [] when nothing is.
MEASURE = """(problems) => {
  const labelProblems = eval(problems);
  const main = document.querySelector('[data-testid="stMain"]');
  const cut = [];
  const name = e => (e.getAttribute('aria-label') || e.innerText || e.value || '').trim().slice(0, 40);
  for (const e of main.querySelectorAll('input[type="number"], input[type="text"]')) {
    if (e.scrollWidth > e.clientWidth + 1) cut.push(`input ${name(e)}=${e.value}: ${e.scrollWidth} > ${e.clientWidth}`);
  }
  for (const e of main.querySelectorAll('button')) {
    if (!e.innerText.trim()) continue;  // icon-only buttons
    for (const t of [e, ...e.querySelectorAll('p')]) {
      if (t.scrollWidth > t.clientWidth + 1) cut.push(`button ${name(e)}: ${t.scrollWidth} > ${t.clientWidth}`);
    }
  }
  for (const e of main.querySelectorAll('[data-testid="stMetricLabel"] p, [data-testid="stMetricValue"] > div')) {
    if (e.scrollWidth > e.clientWidth + 1) cut.push(`readout ${name(e)}: ${e.scrollWidth} > ${e.clientWidth}`);
  }
  const cards = [...main.querySelectorAll('[class*="st-key-ex_rcard_"]')].map(c => [c, c.getBoundingClientRect()]);
  for (const [card, r] of cards) {
    for (const e of card.querySelectorAll('p, [data-testid="stMetricValue"] > div')) {
      const q = e.getBoundingClientRect();
      if (q.right > r.right + 1 || q.left < r.left - 1) cut.push(`readout text "${name(e)}" sticks out of its card`);
    }
    for (const [other, o] of cards) {
      const apart = r.right <= o.left + 1 || o.right <= r.left + 1 || r.bottom <= o.top + 1 || o.bottom <= r.top + 1;
      if (other !== card && !apart)
        cut.push(`readout cards overlap: ${name(card).split('\\n')[0]}`);
    }
  }
  for (const label of main.querySelectorAll('[data-testid="stWidgetLabel"] p')) {
    if (label.innerText.trim()) cut.push(...labelProblems(label));
  }
  return cut;
}"""

# readout label -> [swatch colour of its card, colour of its curve in the chart]
SWATCHES = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const out = {};
  for (const card of document.querySelectorAll('[class*="st-key-ex_rcard_"]')) {
    const label = card.querySelector('[data-testid="stMetricLabel"]').innerText.trim();
    const trace = gd._fullData.find(d => d.name === label);
    out[label] = [getComputedStyle(card).borderLeftColor, trace ? trace.line.color : null];
  }
  return out;
}"""


# Each text that is not shown whole inside the main area: missing, cut, or outside the window.
SHOWN_WHOLE = """(texts) => {
  const main = document.querySelector('[data-testid="stMain"]').getBoundingClientRect();
  const all = [...document.querySelectorAll('[data-testid="stMain"] td, [data-testid="stMain"] th, '
                                            + '[data-testid="stMain"] p, [data-testid="stMain"] div')];
  const out = [];
  for (const text of texts) {
    const e = all.find(x => x.innerText && x.innerText.trim() === text && x.offsetParent !== null);
    if (!e) { out.push(`"${text}" is not on the page as text`); continue; }
    const r = e.getBoundingClientRect();
    if (r.left < main.left - 1 || r.right > Math.min(main.right, window.innerWidth) + 1)
      out.push(`"${text}" is outside the window (${Math.round(r.left)}-${Math.round(r.right)} px)`);
    if (e.scrollWidth > e.clientWidth + 1) out.push(`"${text}" is cut: ${e.scrollWidth} > ${e.clientWidth}`);
  }
  return out;
}"""


def _rgb(colour: str) -> tuple[int, int, int]:
    """'#1f77b4' or 'rgb(31, 119, 180)' -> (31, 119, 180)."""
    if colour.startswith("#"):
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])


@pytest.mark.parametrize("width", [800, 1440])
def test_explorer_fits_the_window(app_server, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(app_server.url)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        wait_app_idle(page)
        # a third curve and the warmup inputs, so the longest labels are on the page too
        page.get_by_role("button", name="Add", exact=True).click()
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stMetric\"]').length === 3")
        page.get_by_text("Linear warmup in front").first.click()
        page.wait_for_selector('[data-testid="stNumberInput"] input[aria-label*="warmup start factor"]')
        wait_app_idle(page)
        shot(page, f"explorer-{width}px")
        cut = page.evaluate(MEASURE, LABEL_PROBLEMS)
        assert not cut, "\n".join(cut)
        swatches = page.evaluate(SWATCHES)
        assert len(swatches) == 3
        for label, (swatch, trace) in swatches.items():
            assert trace is not None and _rgb(swatch) == _rgb(trace), (label, swatch, trace)
        # The three readings of Keras 2's decay: both LR columns on screen next to their reading
        # (issue 19: at 800 px a scrolling grid showed the long text column and hid both).
        page.get_by_role("tab", name="What happened to decay=?").click()
        wait_app_idle(page)
        readings = ex.legacy_decay_readings()
        values = [ex.format_lr(v) for c in readings.columns if c.startswith("LR ") for v in readings[c]]
        page.get_by_text(values[0], exact=True).first.wait_for()
        shot(page, f"explorer-decay-{width}px")
        hidden = page.evaluate(SHOWN_WHOLE, values)
        assert not hidden, "\n".join(hidden)
    finally:
        context.close()
