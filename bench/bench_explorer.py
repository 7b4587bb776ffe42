#!/usr/bin/env python
"""Benchmark: the Schedule Explorer against a bare one-slider Streamlit page, in headless Chromium.

Measured in the same run, interleaved so that drift (thermal, page cache, other load) hits both:

* **cold start** -- from launching ``streamlit run <app>`` to the Plotly chart being visible
  (``.js-plotly-plot .main-svg``) and the script run finished (status widget gone, script state
  ``notRunning``). A fresh server process and a fresh browser context every time; the browser
  itself is launched once, before, and is not counted.
* **slider -> readout** -- from the ``keydown`` of one keyboard step on the focused slider to the
  readout text changing in the DOM (timed inside the page with ``performance.now()``, so the
  Playwright round trips are not counted). Explorer: the "factor" slider of the Step decay card and
  the Step decay metric (0.00125 at F=0.5 -> 0.00091125 at F=0.45). Bare page
  (``bench/bare_app.py``): its one slider and one metric, same formula. Moves alternate ArrowLeft /
  ArrowRight (0.5 -> 0.45 -> 0.5 ...), so every move has a known expected readout; two unmeasured
  warm-up moves per page come first.
* **slider -> chart updated** -- from the same ``keydown`` to the Plotly chart showing the new
  curve: the "Step decay" trace's LR at epoch 15 (``gd._fullData[..].y[14]``) equals the new
  readout *and* the drawn lines (the ``d`` of every ``path.js-line``) differ from before the key.
  The bare page's one trace is also named "Step decay" and also changes with its slider.
  On the explorer both are drawn by its slider preview (``ui/slider_preview.py``) from numbers
  Python sent with the previous render, before the move's rerun comes back; the rerun's own
  cost shows in "slider key -> last DOM change" (the page settled), recorded below.

Also recorded, for information (no goal), per move and per page -- the profile of a slider move:
slider key -> the rerun request sent on the websocket (``ws.send``), -> first and last forward
message handled by the page, bytes received on the websocket for the move, and slider key -> last
DOM change (the page settled: run finished and nothing changed for QUIET_MS); and launch -> server
healthy. Websocket timestamps are taken when the page's main thread dispatches the message event,
so a busy main thread (React/Plotly rendering) delays them too.

Goal (issue 2, section 6; issue 12 for the chart): explorer within 1.3x of the bare page (median) on
cold start, readout and chart.
Exit status 0 when the measurement worked, goal met or not (this is a report); non-zero when it
could not be measured.

    python bench/bench_explorer.py            # 5 cold starts + 20 slider moves per page
    python bench/bench_explorer.py --quick    # 2 cold starts + 5 moves per page
    python bench/bench_explorer.py --repeats 10 --moves 40 --json /tmp/explorer.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser_kit import CHROMIUM_ARGS, AppServer, chromium_path, wait_app_idle  # noqa: E402

PAGES = {"explorer": "app.py", "bare": "bench/bare_app.py"}
GOAL = 1.3
DEFAULT_JSON = ROOT / "bench" / "results" / "explorer.json"
SHOTS = ROOT / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1500}
CHART = ".js-plotly-plot .main-svg"
TIMEOUT_MS = 90_000
WARMUP_MOVES = 2
QUIET_MS = 300  # a move is over when the run has finished and the DOM has not changed for this long
SLIDER_NAME = re.compile("factor")
# F = 0.5 <-> 0.45 on both pages: LR at epoch 15 = 0.01 * F**3, shown with 6 significant digits.
EXPECTED = {"ArrowLeft": "0.00091125", "ArrowRight": "0.00125"}

# (key in the per-page samples, label in the table, goal applies)
METRICS = [
    ("cold_start_ms", "cold start: launch -> chart visible", True),
    ("readout_ms", "slider key -> readout updated", True),
    ("chart_ms", "slider key -> chart updated", True),
    ("server_ready_ms", "(info) launch -> server healthy", False),
    ("send_ms", "(info) slider key -> rerun request sent", False),
    ("first_msg_ms", "(info) slider key -> first message", False),
    ("last_msg_ms", "(info) slider key -> last message", False),
    ("ws_bytes", "(info) websocket bytes per move", False),
    ("ws_msgs", "(info) websocket messages per move", False),
    ("settled_ms", "(info) slider key -> last DOM change", False),
]
SAMPLE_KEYS = [k for k, _, _ in METRICS]
UNITS = {"ws_bytes": "B", "ws_msgs": "msgs"}  # the others are ms
MOVE_KEYS = [k for k in SAMPLE_KEYS if k not in ("cold_start_ms", "server_ready_ms")]

# Installed before any page script (context init script): every websocket the page opens records
# when each message was dispatched to the page and its size, and when the page sent something.
# Our listener is added at construction, so it runs before Streamlit's own onmessage handler.
WS_JS = """(() => {
  const Orig = window.WebSocket;
  const log = window.__lrws = {recv: [], sent: []};
  class Recording extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => {
        const d = e.data;
        const n = typeof d === 'string' ? d.length : (d.byteLength !== undefined ? d.byteLength : d.size);
        log.recv.push([performance.now(), n]);
      });
    }
    send(data) { log.sent.push(performance.now()); return super.send(data); }
  }
  window.WebSocket = Recording;
})();"""

# Installed once per page (after load): timestamps, inside the page, of the slider keydown, of the
# Step decay readout text changing, of the chart showing the new curve, and of the last DOM change
# after it ("settled"). The stApp script-state attribute can't time the end of the run: on a fast
# page React batches running -> notRunning into one render and the attribute never changes.
# textContent, not innerText: no forced layout inside the observer.
OBSERVER_JS = """() => {
  if (window.__lrb) return;
  const readout = () => {
    const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
      .find(e => e.textContent.includes('Step decay'));
    const v = m && m.querySelector('[data-testid="stMetricValue"]');
    return v ? v.textContent.trim() : null;
  };
  // The Step decay trace's LR at epoch 15 (index 14) as Plotly holds it, and the drawn lines.
  const chartY = () => {
    const gd = document.querySelector('.js-plotly-plot');
    const t = gd && gd._fullData && gd._fullData.find(d => d.name === 'Step decay');
    return t && t.y ? Number(t.y[14]) : null;
  };
  const lines = () => [...document.querySelectorAll('.js-plotly-plot path.js-line')]
    .map(p => p.getAttribute('d')).join('|');
  const s = window.__lrb = {t0: null, before: null, readout: null, text: null, last: null,
                            chartBefore: null, linesBefore: null, chart: null, chartY: null, nRecv: 0, nSent: 0};
  document.addEventListener('keydown', e => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    Object.assign(s, {t0: performance.now(), before: readout(), readout: null, text: null, last: null,
                      chartBefore: chartY(), linesBefore: lines(), chart: null, chartY: null,
                      nRecv: window.__lrws.recv.length, nSent: window.__lrws.sent.length});
  }, true);
  new MutationObserver(() => {
    if (s.t0 === null) return;
    const now = performance.now();
    s.last = now;
    if (s.readout === null) {
      const t = readout();
      if (t !== null && t !== s.before) { s.readout = now; s.text = t; }
    }
    if (s.chart === null) {
      const y = chartY();
      if (y !== null && y !== s.chartBefore && lines() !== s.linesBefore) { s.chart = now; s.chartY = y; }
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""

# What the page's websocket did for the current move (after the last keydown).
MOVE_WS_JS = """() => {
  const s = window.__lrb, w = window.__lrws;
  const recv = w.recv.slice(s.nRecv), sent = w.sent.slice(s.nSent);
  return {sent: sent.length ? sent[0] - s.t0 : null,
          first: recv.length ? recv[0][0] - s.t0 : null, last: recv.length ? recv[recv.length - 1][0] - s.t0 : null,
          bytes: recv.reduce((a, r) => a + r[1], 0), msgs: recv.length};
}"""


class BenchError(RuntimeError):
    """The measurement itself failed (as opposed to a missed goal)."""


# --------------------------------------------------------------------------- helpers


def wait_idle(page, timeout: float = TIMEOUT_MS) -> None:
    """Status widget gone (the tests' helper) and the script state back to notRunning."""
    wait_app_idle(page, timeout)
    page.wait_for_function(
        """() => { const a = document.querySelector('[data-testid="stApp"]');
                   return a && a.getAttribute('data-test-script-state') === 'notRunning'; }""",
        timeout=timeout,
    )


def stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"n": int(a.size), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "min": float(a.min()), "max": float(a.max())}


def check_no_exception(page, what: str) -> None:
    if page.locator('[data-testid="stException"]').count():
        raise BenchError(f"{what}: the page shows a Python exception")


class Session:
    """One running server of a page with a browser tab on it."""

    def __init__(self, name: str, server: AppServer, context, page):
        self.name, self.server, self.context, self.page = name, server, context, page

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self.server.stop()


def cold_start(browser, name: str, tmp: Path, sample: dict) -> Session:
    """Launch a fresh server for page ``name``, load it in a fresh context; record the timings."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(WS_JS)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    server = AppServer(tmp / "runs", tmp / f"streamlit-{name.replace('/', '_')}.log", app=PAGES[name])
    session = Session(name, server, context, page)
    try:
        t0 = time.perf_counter()
        server.start(timeout=TIMEOUT_MS / 1000)
        t_ready = time.perf_counter()
        page.goto(server.url)
        page.wait_for_selector(CHART, state="visible", timeout=TIMEOUT_MS)
        wait_idle(page)
        t_chart = time.perf_counter()
        check_no_exception(page, f"{name} cold start")
        if page.locator(CHART).count() == 0:
            raise BenchError(f"{name}: chart gone after the run finished")
    except BaseException:
        session.close()
        raise
    sample["server_ready_ms"].append((t_ready - t0) * 1000)
    sample["cold_start_ms"].append((t_chart - t0) * 1000)
    return session


def slider_move(session: Session, key: str, sample: dict | None) -> None:
    """One keyboard step on the focused slider; record in-page latencies unless ``sample`` is None."""
    page = session.page
    wait_idle(page)
    slider = page.get_by_role("slider", name=SLIDER_NAME)
    slider.focus()
    page.keyboard.press(key)
    try:
        page.wait_for_function(
            """quiet => { const s = window.__lrb, a = document.querySelector('[data-testid="stApp"]');
                          return s.readout !== null && s.chart !== null
                                 && a.getAttribute('data-test-script-state') === 'notRunning'
                                 && performance.now() - s.last > quiet; }""",
            arg=QUIET_MS, timeout=TIMEOUT_MS)
    except Exception as e:
        state = page.evaluate("""() => ({lrb: window.__lrb, focused: document.activeElement && document.activeElement
            .outerHTML.slice(0, 200), script: document.querySelector('[data-testid="stApp"]')
            .getAttribute('data-test-script-state')})""")
        raise BenchError(f"{session.name}: readout or chart not updated / page not settled after {key}: {e}; "
                         f"page state: {state}") from e
    rec = page.evaluate("() => window.__lrb")
    if rec["text"] != EXPECTED[key]:
        raise BenchError(f"{session.name}: readout {rec['before']!r} -> {rec['text']!r} after {key}, "
                         f"expected {EXPECTED[key]!r}")
    if abs(rec["chartY"] - float(EXPECTED[key])) > 1e-12:
        raise BenchError(f"{session.name}: chart's Step decay LR at epoch 15 is {rec['chartY']!r} after {key}, "
                         f"expected {EXPECTED[key]}")
    check_no_exception(page, f"{session.name} after {key}")
    if sample is not None:
        ws = page.evaluate(MOVE_WS_JS)
        if ws["sent"] is None or ws["first"] is None:
            raise BenchError(f"{session.name}: no websocket traffic recorded for {key}: {ws}")
        t0 = rec["t0"]
        sample["readout_ms"].append(rec["readout"] - t0)
        sample["chart_ms"].append(rec["chart"] - t0)
        sample["settled_ms"].append(rec["last"] - t0)
        sample["send_ms"].append(ws["sent"])
        sample["first_msg_ms"].append(ws["first"])
        sample["last_msg_ms"].append(ws["last"])
        sample["ws_bytes"].append(ws["bytes"])
        sample["ws_msgs"].append(ws["msgs"])


def prepare_interaction(session: Session) -> None:
    page = session.page
    wait_idle(page)
    readout = page.locator('[data-testid="stMetric"]', has_text="Step decay").locator(
        '[data-testid="stMetricValue"]').inner_text().strip()
    if readout != EXPECTED["ArrowRight"]:
        raise BenchError(f"{session.name}: Step decay readout is {readout!r} on load, expected 0.00125")
    page.evaluate(OBSERVER_JS)


# --------------------------------------------------------------------------- run


def run(repeats: int, moves: int, log=print) -> dict:
    from playwright.sync_api import sync_playwright

    samples = {name: {k: [] for k in SAMPLE_KEYS} for name in PAGES}
    kept: dict[str, Session] = {}
    with tempfile.TemporaryDirectory(prefix="lrviz-bench-") as tmp_s, sync_playwright() as pw:
        tmp = Path(tmp_s)
        (tmp / "runs").mkdir()
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            # Cold starts, alternating which page goes first (ABBA...). The last session of each
            # page stays up for the interaction part.
            for r in range(repeats):
                order = list(PAGES) if r % 2 == 0 else list(PAGES)[::-1]
                for name in order:
                    session = cold_start(browser, name, tmp, samples[name])
                    log(f"  cold start {r + 1}/{repeats} {name:8s} {samples[name]['cold_start_ms'][-1]:8.0f} ms")
                    if r == repeats - 1:
                        kept[name] = session
                    else:
                        session.close()
            for session in kept.values():
                prepare_interaction(session)
                for i in range(WARMUP_MOVES):
                    slider_move(session, "ArrowLeft" if i % 2 == 0 else "ArrowRight", None)
            # Slider moves, interleaved between the pages, alternating which goes first.
            for i in range(moves):
                key = "ArrowLeft" if i % 2 == 0 else "ArrowRight"
                order = list(PAGES) if i % 2 == 0 else list(PAGES)[::-1]
                for name in order:
                    slider_move(kept[name], key, samples[name])
                log(f"  move {i + 1}/{moves} {key:10s} " + "  ".join(
                    f"{n} readout {samples[n]['readout_ms'][-1]:5.0f} ms chart {samples[n]['chart_ms'][-1]:5.0f} ms"
                    for n in PAGES))
        except BaseException:
            SHOTS.mkdir(parents=True, exist_ok=True)
            for name, session in kept.items():
                try:
                    session.page.screenshot(path=str(SHOTS / f"bench-failure-{name}.png"), full_page=True)
                except Exception:
                    pass
            for name in PAGES:
                logf = tmp / f"streamlit-{name.replace('/', '_')}.log"
                if logf.exists():
                    tail = logf.read_text(errors="replace")[-2000:]
                    print(f"--- tail of the {name} streamlit log:\n{tail}", file=sys.stderr)
            raise
        finally:
            for session in kept.values():
                session.close()
            chromium_version = browser.version
            browser.close()

    import plotly
    import streamlit

    metrics = []
    for key, label, has_goal in METRICS:
        s = {name: stats(samples[name][key]) for name in PAGES}
        ratio = s["explorer"]["median"] / s["bare"]["median"]
        metrics.append({
            "key": key, "label": label, "unit": UNITS.get(key, "ms"),
            "explorer": s["explorer"], "bare": s["bare"], "ratio_median": ratio,
            "ratio_p90": s["explorer"]["p90"] / s["bare"]["p90"], "goal": GOAL if has_goal else None,
            "pass": (ratio <= GOAL) if has_goal else None,
        })
    return {
        "meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "repeats": repeats, "moves": moves, "warmup_moves": WARMUP_MOVES,
            "pages": PAGES, "python": platform.python_version(), "streamlit": streamlit.__version__,
            "plotly": plotly.__version__, "chromium": chromium_version, "cpus": os.cpu_count(),
            "machine": platform.platform(),
        },
        "goal_ratio": GOAL,
        "pages": samples,
        "metrics": metrics,
        "pass": all(m["pass"] for m in metrics if m["pass"] is not None),
    }


def table(result: dict) -> str:
    head = (f"{'metric':38s} {'n':>3s}  {'explorer med / p90':>22s}  {'bare med / p90':>19s}  "
            f"{'ratio':>6s}  {'goal':>6s}  result")
    lines = [head, "-" * len(head)]
    for m in result["metrics"]:
        e, b = m["explorer"], m["bare"]
        goal = f"<={m['goal']:.1f}x" if m["goal"] else "-"
        verdict = "-" if m["pass"] is None else ("PASS" if m["pass"] else "FAIL")
        unit = m.get("unit", "ms")
        lines.append(f"{m['label']:38s} {e['n']:3d}  {e['median']:10.0f} / {e['p90']:7.0f} {unit:>4s}"
                     f"{b['median']:8.0f} / {b['p90']:7.0f} {unit:>4s} {m['ratio_median']:5.3f}x  {goal:>6s}  "
                     f"{verdict}")
    meta = result["meta"]
    lines.append("")
    lines.append(f"overall: {'PASS' if result['pass'] else 'FAIL'} (explorer within {GOAL}x of the bare page, "
                 f"medians) · streamlit {meta['streamlit']}, plotly {meta['plotly']}, chromium {meta['chromium']}, "
                 f"{meta['cpus']} CPUs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=None, help="cold starts per page (default 5; 2 with --quick)")
    ap.add_argument("--moves", type=int, default=None,
                    help="measured slider moves per page (default 20; 5 with --quick)")
    ap.add_argument("--quick", action="store_true", help="2 cold starts and 5 slider moves per page")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the results (default "
                    f"{DEFAULT_JSON.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    moves = args.moves if args.moves is not None else (5 if args.quick else 20)
    if repeats < 1 or moves < 1:
        ap.error("--repeats and --moves must be >= 1")

    print(f"lrviz bench: explorer ({PAGES['explorer']}) vs bare page ({PAGES['bare']}), "
          f"{repeats} cold starts + {moves} slider moves each", flush=True)
    try:
        result = run(repeats, moves, log=lambda s: print(s, flush=True))
    except BaseException as e:  # pytest.fail (no chromium) raises a BaseException
        if isinstance(e, KeyboardInterrupt):
            raise
        traceback.print_exc()
        print(f"bench: measurement failed: {e}", file=sys.stderr)
        return 2
    result["meta"]["command"] = " ".join(["python", "bench/bench_explorer.py", *(argv if argv is not None
                                                                                    else sys.argv[1:])])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print()
    print(table(result))
    print(f"\nresults: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
