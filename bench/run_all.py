"""Every benchmark in one command, and one table of ratios against baselines measured in the
same run (issue 6, "Performance report").

    python bench/run_all.py            # full: about 10 minutes on 2 cores
    python bench/run_all.py --quick    # quick modes of every benchmark: about 3-4 minutes
    python bench/run_all.py --table    # only print the table from the last results

Runs, as subprocesses (their own output streams through):

* ``bench/bench_explorer.py`` -- explorer cold start and slider latency vs a bare Streamlit page
  (Chromium), writes bench/results/explorer.json;
* ``bench/bench_engine.py``   -- worker throughput vs plain ``model.fit``, peak memory vs the
  tutorial's float64 arrays, a full digits run end to end; writes bench/results/engine.json;

then prints ONE table (benchmark, measured, baseline, ratio, goal, PASS/FAIL) from those JSON
files and writes it to bench/results/run_all.json and bench/results/run_all.md. The soak
(``bench/soak.py``) is separate: it takes several minutes by itself.

Exit status: 0 when every benchmark ran and every goal is met, 1 when a goal is missed, 2 when a
benchmark failed to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
EXPLORER_JSON = RESULTS / "explorer.json"
ENGINE_JSON = RESULTS / "engine.json"
DIGITS_BUDGET_S = 30.0  # README: a 40-epoch digits run in about 30 s on 2 cores


def run_bench(name: str, argv: list[str]) -> tuple[int, float]:
    print(f"\n=== {name}: {' '.join(argv)}", flush=True)
    t0 = time.monotonic()
    code = subprocess.run([sys.executable, *argv], cwd=ROOT).returncode
    took = time.monotonic() - t0
    print(f"=== {name}: exit {code} after {took:.0f} s", flush=True)
    return code, took


def _load(path: Path, since: float | None) -> dict | None:
    if not path.exists() or (since is not None and path.stat().st_mtime < since):
        return None
    return json.loads(path.read_text())


def rows_from(explorer: dict | None, engine: dict | None) -> list[dict]:
    rows = []
    if explorer:
        for m in explorer["metrics"]:
            rows.append({
                "benchmark": f"explorer: {m['label']}",
                "measured": f"{m['explorer']['median']:.0f} {m.get('unit', 'ms')}",
                "baseline": f"{m['bare']['median']:.0f} {m.get('unit', 'ms')} (bare)",
                "ratio": m["ratio_median"], "goal": f"<= {m['goal']:g}x" if m["goal"] else "(info)",
                "pass": m["pass"],
            })
    if engine:
        t = engine.get("throughput")
        if t:
            best = max(t["worker_img_s"])
            base = max(t["baseline_img_s"])
            rows.append({"benchmark": f"engine: worker throughput ({t['epochs']} epochs, best of "
                                      f"{len(t['worker_img_s'])})",
                         "measured": f"{best:.0f} img/s", "baseline": f"{base:.0f} img/s (model.fit)",
                         "ratio": t["ratio_best"], "goal": t["goal"], "pass": t["ratio_best"] >= 0.97})
            if "ratio_pairs_median" in t:
                rows.append({"benchmark": "engine: (info) throughput, median of paired ratios", "measured": "-",
                             "baseline": "-", "ratio": t["ratio_pairs_median"], "goal": "(info)", "pass": None})
        m = engine.get("memory")
        if m:
            rows.append({"benchmark": f"engine: peak memory ({m['train_images']}+{m['test_images']} CIFAR images)",
                         "measured": f"{m['worker_maxrss_mib']:.0f} MiB",
                         "baseline": f"{m['tutorial_float64_maxrss_mib']:.0f} MiB (float64)",
                         "ratio": m["ratio"], "goal": m["goal"], "pass": m["ratio"] <= 0.5})
        d = engine.get("full_digits_run")
        if d:
            full = d["epochs"] == 40
            rows.append({"benchmark": f"engine: digits {d['epochs']} epochs end to end",
                         "measured": f"{d['wall_s']:.1f} s", "baseline": f"{DIGITS_BUDGET_S:.0f} s (budget)",
                         "ratio": d["wall_s"] / DIGITS_BUDGET_S, "goal": "<= 1x (40 epochs)" if full else "(info)",
                         "pass": (d["wall_s"] <= DIGITS_BUDGET_S) if full else None})
    return rows


def table(rows: list[dict]) -> str:
    head = ["benchmark", "measured", "baseline", "ratio", "goal", "result"]
    body = [[r["benchmark"], r["measured"], r["baseline"], f"{r['ratio']:.2f}x", r["goal"],
             "-" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), "  ".join("-" * w for w in widths)] + [fmt.format(*b) for b in body]
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    lines = ["| benchmark | measured | baseline | ratio | goal | result |", "|---|---:|---:|---:|---|---|"]
    for r in rows:
        verdict = "-" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        lines.append(f"| {r['benchmark']} | {r['measured']} | {r['baseline']} | {r['ratio']:.2f}x | {r['goal']} | "
                     f"{verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="quick mode of every benchmark")
    ap.add_argument("--table", action="store_true", help="do not run anything; print the table of the last results")
    args = ap.parse_args(argv)
    started = time.time()
    failed = []
    durations = {}
    if not args.table:
        quick = ["--quick"] if args.quick else []
        code, durations["explorer"] = run_bench("explorer", ["bench/bench_explorer.py", *quick,
                                                             "--json", str(EXPLORER_JSON)])
        if code != 0:
            failed.append("bench_explorer.py")
        code, durations["engine"] = run_bench("engine", ["bench/bench_engine.py", *quick])
        if code != 0:
            failed.append("bench_engine.py")
    since = None if args.table else started
    explorer, engine = _load(EXPLORER_JSON, since), _load(ENGINE_JSON, since)
    if explorer is None and "bench_explorer.py" not in failed and not args.table:
        failed.append("bench_explorer.py (no fresh results)")
    if engine is None and "bench_engine.py" not in failed and not args.table:
        failed.append("bench_engine.py (no fresh results)")
    rows = rows_from(explorer, engine)
    mode = "quick" if args.quick else "full"
    if args.table:
        quick_flags = {bool(engine and engine.get("quick")), bool(explorer and explorer["meta"].get("moves", 20) < 20)}
        mode = "quick" if quick_flags == {True} else ("full" if quick_flags == {False} else "mixed")
    print(f"\nlrviz benchmarks ({mode}; ratios against baselines measured in the same run)\n")
    print(table(rows))
    ok = all(r["pass"] is not False for r in rows)
    verdict = "FAIL (a benchmark did not run: " + ", ".join(failed) + ")" if failed else ("PASS" if ok else "FAIL")
    print(f"\noverall: {verdict}")
    if not args.table:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "mode": mode, "durations_s": durations,
               "failed": failed, "rows": rows, "pass": ok and not failed}
        (RESULTS / "run_all.json").write_text(json.dumps(out, indent=2) + "\n")
        (RESULTS / "run_all.md").write_text(markdown(rows) + "\n")
        print(f"results: {RESULTS / 'run_all.json'}, {RESULTS / 'run_all.md'}")
    if failed:
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
