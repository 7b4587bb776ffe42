"""Browser-test helpers (shared by tests/browser and bench/): a real `streamlit run app.py` server,
Debian's Chromium via Playwright, screenshots.

A missing browser is a failure, not a skip (CI installs Debian's `chromium`). Screenshots go
to ``artifacts/screenshots/`` (kept by CI, ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("LRVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian's chromium is required for browser tests: apt-get install -y chromium", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run <app>` (``app.py`` unless told) on a free localhost port, with its own runs folder."""

    def __init__(self, runs_dir: Path, log: Path, app: str = "app.py"):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs_dir = runs_dir
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> AppServer:
        env = dict(os.environ, LRVIZ_RUNS_DIR=str(self.runs_dir), PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "streamlit", "run", self.app, "--server.headless", "true",
               "--server.port", str(self.port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"streamlit not healthy after {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots/ and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_app_idle(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )


# JS: whether the main area has drawn and holds still. Every Plotly chart has its layout and SVG,
# every table its canvas, no CSS animation runs (an expander opening, a fade), and the charts' and
# tables' sizes (Plotly's own, after a resize) and the page height were the same at the last
# ``polls`` checks: Plotly and Glide draw after the script run ends, and redraw a while after a
# resize.
DRAWN = """(polls) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return false;
  const plots = [...main.querySelectorAll('.js-plotly-plot')];
  if (!plots.every(p => p._fullLayout && p.querySelector('.main-svg'))) return false;
  const grids = [...main.querySelectorAll('[data-testid="stDataFrame"]')];
  if (!grids.every(g => g.querySelector('canvas'))) return false;
  if (document.getAnimations().some(a => a.playState === 'running')) return false;
  const size = e => { const r = e.getBoundingClientRect(); return `${Math.round(r.width)}x${Math.round(r.height)}`; };
  const sig = [...plots.map(p => `${size(p)}/${p._fullLayout.width}x${p._fullLayout.height}`),
               ...grids.map(g => size(g.querySelector('canvas'))), main.scrollHeight, innerWidth].join(',');
  const seen = window.__lrvizDrawn || (window.__lrvizDrawn = {sig: null, same: 0});
  seen.same = seen.sig === sig ? seen.same + 1 : 0;
  seen.sig = sig;
  return seen.same >= polls;
}"""


def wait_drawn(page, timeout: float = 30_000, polls: int = 3) -> None:
    """Wait until the script run has ended and the main area has drawn and holds still (see
    :data:`DRAWN`; checked every 100 ms), instead of sleeping a fixed time and hoping."""
    wait_app_idle(page, timeout)
    page.wait_for_function(DRAWN, arg=polls, polling=100, timeout=timeout)


# JS: what is wrong with how a label element shows its text, as readable lines ([] when it shows
# whole): narrower than its widest word (wraps letter by letter), more than two lines, text
# overflowing the element, or the element clipped by an ancestor that hides overflow.
LABEL_PROBLEMS = """(label) => {
  const out = [];
  const text = label.innerText.trim();
  const style = getComputedStyle(label);
  const probe = document.createElement('span');
  probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap';
  probe.style.font = style.font;
  label.appendChild(probe);
  let widest = 0;
  for (const word of text.split(/\\s+/)) {
    probe.textContent = word;
    widest = Math.max(widest, probe.getBoundingClientRect().width);
  }
  probe.textContent = text;
  const full = probe.getBoundingClientRect().width;  // on one line, to the subpixel
  label.removeChild(probe);
  const box = label.getBoundingClientRect();  // inline elements have no clientWidth
  const lines = box.height / (parseFloat(style.lineHeight) || 1.6 * parseFloat(style.fontSize));
  if (box.width + 1 < widest) out.push(`label "${text}": ${Math.round(box.width)}px < word ${Math.round(widest)}px`);
  if (lines > 2.2) out.push(`label "${text}": ${lines.toFixed(1)} lines`);
  if (style.display !== 'inline' && label.scrollWidth > label.clientWidth + 1)
    out.push(`label "${text}": ${label.scrollWidth} > ${label.clientWidth}`);
  // containers that hide overflow, up to the first scroller (beyond it, scrolled-away is not cut)
  const hides = v => v === 'hidden' || v === 'clip';
  for (let a = label; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (['auto', 'scroll'].includes(s.overflowX) || ['auto', 'scroll'].includes(s.overflowY)) break;
    const r = a.getBoundingClientRect();
    // an ellipsis shows as soon as the text is a fraction of a pixel wider than its box
    if (s.textOverflow === 'ellipsis' && hides(s.overflowX) && full > r.width + 0.05)
      out.push(`label "${text}" ends in an ellipsis (${full.toFixed(1)}px of text in ${r.width.toFixed(1)}px)`);
    if (a === label) continue;
    if ((hides(s.overflowX) && (box.right > r.right + 1 || box.left < r.left - 1)) ||
        (hides(s.overflowY) && box.bottom > r.bottom + 1))
      out.push(`label "${text}" clipped by its container (${Math.round(box.width)}x${Math.round(box.height)}px `
               + `in ${Math.round(r.width)}x${Math.round(r.height)}px)`);
  }
  return out;
}"""


def labels_cut(page, texts: list[str]) -> list[str]:
    """What is cut among the labels whose whole text is one of ``texts`` (the innermost element
    with that text, in the main area); a label not on the page counts as cut."""
    return page.evaluate(
        """([texts, problems]) => {
          const check = eval(problems);
          const main = document.querySelector('[data-testid="stMain"]');
          const out = [];
          for (const text of texts) {
            const found = [...main.querySelectorAll('p, span, label, div')].filter(e =>
              e.innerText && e.innerText.trim() === text && e.offsetParent !== null &&
              ![...e.children].some(c => c.innerText && c.innerText.trim() === text));
            if (!found.length) { out.push(`label "${text}" not on the page`); continue; }
            out.push(...check(found[0]));
          }
          return out;
        }""",
        [texts, LABEL_PROBLEMS],
    )


# What is cut in the main area, as readable lines ([] when nothing is): buttons narrower than their
# label, code wider than its box, chart titles and legend entries sticking out of their chart.
CUT = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const cut = [];
  for (const e of main.querySelectorAll('button')) {
    if (!e.innerText.trim()) continue;  // icon-only buttons
    for (const t of [e, ...e.querySelectorAll('p, span, div')]) {
      if (t.scrollWidth > t.clientWidth + 1)
        cut.push(`button "${e.innerText.trim()}": ${t.scrollWidth} > ${t.clientWidth}`);
    }
  }
  for (const e of main.querySelectorAll('[data-testid="stCode"] pre')) {
    if (e.scrollWidth > e.clientWidth + 1)
      cut.push(`code "${e.innerText.trim()}": ${e.scrollWidth} > ${e.clientWidth}`);
  }
  for (const plot of main.querySelectorAll('.js-plotly-plot')) {
    const r = plot.getBoundingClientRect();
    for (const t of plot.querySelectorAll('.gtitle, .legendtext')) {
      const q = t.getBoundingClientRect();
      if (q.right > r.right + 1 || q.left < r.left - 1)
        cut.push(`chart text "${t.textContent}": ${Math.round(q.width)}px in a ${Math.round(r.width)}px chart`);
    }
  }
  return cut;
}"""


# The text of every visible cell of every table (Glide's accessible copy of the canvas).
CELLS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(
  t => [...t.querySelectorAll('[role="gridcell"]')].map(c => c.innerText))"""



# What is cut or overlaps inside the main area's charts, as readable lines ([] when nothing is): a y
# title taller than its chart or over the chart's title, a bar outside its chart or the page.
CHART_OVERLAPS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const m = main.getBoundingClientRect();
  const out = [];
  const meet = (a, b) => a.top < b.bottom && a.bottom > b.top && a.left < b.right && a.right > b.left;
  for (const plot of main.querySelectorAll('.js-plotly-plot')) {
    const r = plot.getBoundingClientRect();
    const frame = (plot.closest('[data-testid="stPlotlyChart"]') || plot).getBoundingClientRect();
    const title = plot.querySelector('.gtitle');
    const name = title ? title.textContent : '(untitled)';
    const t = title && title.getBoundingClientRect();
    for (const y of plot.querySelectorAll('.ytitle')) {
      const q = y.getBoundingClientRect();
      if (q.top < r.top - 1 || q.bottom > r.bottom + 1)
        out.push(`"${name}": y title "${y.textContent}" is ${Math.round(q.height)}px`
                 + ` in a ${Math.round(r.height)}px chart`);
      if (t && meet(q, t)) out.push(`"${name}": y title "${y.textContent}" runs into the title`);
    }
    const right = Math.min(r.right, frame.right, m.right, document.documentElement.clientWidth);
    const left = Math.max(r.left, frame.left, m.left, 0);
    for (const bar of plot.querySelectorAll('.barlayer .point path')) {
      const q = bar.getBoundingClientRect();
      if (q.width && (q.right > right + 1 || q.left < left - 1))
        out.push(`"${name}": a bar at x=${Math.round(q.left)}..${Math.round(q.right)}`
                 + ` outside ${Math.round(left)}..${Math.round(right)}`);
    }
  }
  return out;
}"""


# Tables in the main area (from the ``first``-th on) that do not show whole: wider than the main
# area, or scrolling sideways.
TABLES_SCROLL = """(first) => {
  const main = document.querySelector('[data-testid="stMain"]').getBoundingClientRect();
  const out = [];
  document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"]').forEach((t, i) => {
    if (i < first) return;
    const r = t.getBoundingClientRect();
    if (r.right > main.right + 1)
      out.push(`table ${i}: its right edge ${Math.round(r.right)} > ${Math.round(main.right)}`);
    for (const s of t.querySelectorAll('.dvn-scroller'))
      if (s.scrollWidth > s.clientWidth + 1)
        out.push(`table ${i}: scrolls sideways (${s.scrollWidth} > ${s.clientWidth})`);
  });
  return out;
}"""


# Plotly's toolbar (it shows on hover, at the chart's top right) over the chart's legend or title,
# for the chart ``index`` of the main area: hover it first (see :func:`toolbar_covers`).
TOOLBAR_OVER = """(index) => {
  const plot = document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')[index];
  const bar = plot && plot.querySelector('.modebar');
  if (!bar || !bar.getBoundingClientRect().width) return [];
  const b = bar.getBoundingClientRect();
  const meet = (a, c) => a.top < c.bottom && a.bottom > c.top && a.left < c.right && a.right > c.left;
  const title = plot.querySelector('.gtitle');
  const name = title ? title.textContent : `chart ${index}`;
  return [...plot.querySelectorAll('.legendtext, .legendpoints, .gtitle')]
    .filter(e => !e.closest('.hoverlayer') && meet(e.getBoundingClientRect(), b))  // not the hover label
    .map(e => `"${name}": the toolbar covers "${e.textContent || 'a legend symbol'}"`);
}"""


# JS: the chart ``index``'s toolbar has faded in (or it has none).
TOOLBAR_SHOWN = """(index) => {
  const plot = document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')[index];
  const bar = plot && plot.querySelector('.modebar');
  return !bar || getComputedStyle(bar).opacity === '1';
}"""


def toolbar_covers(page) -> list[str]:
    """Hover every chart of the main area in turn (Plotly shows its toolbar then) and say what
    the toolbar covers of its legend or title ([] when nothing)."""
    out: list[str] = []
    plots = page.locator('[data-testid="stMain"] .js-plotly-plot')
    for i in range(plots.count()):
        plots.nth(i).scroll_into_view_if_needed()
        plots.nth(i).hover()
        page.wait_for_function(TOOLBAR_SHOWN, arg=i)  # Plotly fades its toolbar in
        out += page.evaluate(TOOLBAR_OVER, i)
    return out


# JS: the value of the select box labelled ``label`` cut short ([] when it shows whole). A select
# box shows its value in an <input> (no innerText for TEXT_CUT): the value's width in the input's
# font against the input's room inside its padding. A missing box is a problem too.
SELECT_CUT = """(label) => {
  const box = [...document.querySelectorAll('[data-testid="stSelectbox"]')]
    .find(b => (b.querySelector('label')?.innerText || '').includes(label));
  const input = box && box.querySelector('input');
  if (!input) return [`no select box labelled "${label}"`];
  const cs = getComputedStyle(input);
  const probe = document.createElement('span');
  probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre';
  probe.style.font = cs.font;
  probe.textContent = input.value;
  document.body.appendChild(probe);
  const need = probe.getBoundingClientRect().width;
  probe.remove();
  const room = input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return need > room + 1 ? [`"${input.value}": ${need.toFixed(0)}px of text in ${room.toFixed(0)}px`] : [];
}"""


# Elements matching a CSS selector (in the main area) whose text is wider than what shows of them:
# their own box, or an ancestor that hides overflow (a metric's label, a segmented control's option).
TEXT_CUT = """(selector) => {
  const out = [];
  const main = document.querySelector('[data-testid="stMain"]');
  for (const e of main.querySelectorAll(selector)) {
    const text = e.innerText.trim();
    if (!text || e.offsetParent === null) continue;
    const probe = document.createElement('span');
    probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap';
    probe.style.font = getComputedStyle(e).font;
    probe.textContent = text.split('\\n').sort((a, b) => b.length - a.length)[0];
    document.body.appendChild(probe);
    const need = probe.getBoundingClientRect().width;
    probe.remove();
    const cs = getComputedStyle(e);
    let right = e.getBoundingClientRect().right - parseFloat(cs.paddingRight);
    let left = e.getBoundingClientRect().left + parseFloat(cs.paddingLeft);
    for (let a = e.parentElement; a && a !== main; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'hidden' || s.overflowX === 'clip') {
        const r = a.getBoundingClientRect();
        right = Math.min(right, r.right); left = Math.max(left, r.left);
      }
    }
    if (need > right - left + 1) out.push(`"${text}": ${need.toFixed(0)}px of text in ${(right - left).toFixed(0)}px`);
  }
  return out;
}"""
