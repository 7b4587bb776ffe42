"""Soak: N short runs back to back from the browser, watching the Streamlit server's memory and
the worker processes (issue 6, "Concurrency and soak").

    python bench/soak.py                 # 20 runs: digits, Subset 200 images, 2 epochs
    python bench/soak.py --runs 5 --bound-mib 150 --json /tmp/soak.json

A real ``streamlit run app.py`` server (its own temporary runs folder) and Debian's Chromium.
Each run: open /train (a fresh page load, so a fresh Streamlit session), switch Subset on with
200 images, Epochs 2, press Launch, wait for "Finished 2 epochs" in the page, then the next.

Measured: the server process's RSS (only the server: each worker is its own session and
process) at start, after the first run (imports and caches warm), after the last run, and its
peak (sampled every 0.2 s); every worker's exit; leftover ``lrviz.worker`` processes at the
end. Exit 1 if a worker is left alive, a run did not finish, or the server's RSS grew by more
than --bound-mib between the end of run 1 and the end of run N. Writes bench/results/soak.json.
Too long for CI (about 4-5 minutes): a separate command whose figures the README records.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "browser"), str(ROOT / "tests" / "reliability")]

from browser_kit import CHROMIUM_ARGS, AppServer, chromium_path, wait_app_idle  # noqa: E402
from train_page import open_train_form, shown_run_id, wait_until  # noqa: E402

from lrviz import runs as runs_api  # noqa: E402

MIB = 1024 * 1024
DEFAULT_JSON = ROOT / "bench" / "results" / "soak.json"


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def rss(self) -> int:
        return self.proc.memory_info().rss

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, self.rss())
                self.samples += 1
            except psutil.Error:
                return
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def _gone(pid) -> bool:
    try:
        return pid is None or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_processes() -> list[psutil.Process]:
    """Live (non-zombie) ``python -m lrviz.worker`` processes on this machine (``.info`` has cmdline)."""
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = p.info.get("cmdline") or []
        if "lrviz.worker" in cmd and p.info.get("status") != psutil.STATUS_ZOMBIE:
            out.append(p)
    return out


def soak(n_runs: int, epochs: int, subset: int, runs_dir: Path, log) -> dict:
    from playwright.sync_api import sync_playwright

    before_workers = {p.pid for p in worker_processes()}
    server = AppServer(runs_dir, runs_dir.parent / "streamlit.log").start()
    sampler = RssSampler(server.proc.pid)
    rss_start = sampler.rss()
    sampler.start()
    per_run: list[dict] = []
    rss_after_first = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1440, "height": 1400})
            page = context.new_page()
            page.set_default_timeout(60_000)
            for i in range(n_runs):
                t0 = time.monotonic()
                open_train_form(page, server.url, epochs=epochs, subset=subset)
                page.get_by_role("button", name="Launch training").click()
                rid = wait_until(lambda: shown_run_id(page), 60, "the run header")
                page.get_by_text(f"Finished {epochs} epochs").wait_for(timeout=180_000)
                wait_app_idle(page)
                status = runs_api.read_json(runs_dir / rid / "status.json")
                pid = status.get("pid")
                exited = wait_until(lambda p=pid: _gone(p), 30, "worker exit")
                rss = sampler.rss()
                if i == 0:
                    rss_after_first = rss
                per_run.append({"run": rid, "state": status.get("state"), "seconds": time.monotonic() - t0,
                                "server_rss_mib": rss / MIB, "worker_exited": bool(exited)})
                log(f"run {i + 1:2d}/{n_runs}  {rid}  {status.get('state'):8s}  {time.monotonic() - t0:5.1f} s  "
                    f"server RSS {rss / MIB:6.1f} MiB")
            context.close()
            browser.close()
        time.sleep(3)  # sessions of the closed page expire; let the server settle
        rss_end = sampler.rss()
    finally:
        sampler.stop()
        server.stop()
    mine = str(runs_dir.resolve())  # other sessions' workers on this machine are not ours
    leftovers = [p for p in worker_processes()
                 if p.pid not in before_workers and any(mine in arg for arg in p.info["cmdline"])]
    on_disk = runs_api.list_runs(runs_dir)
    return {
        "runs": n_runs, "epochs": epochs, "subset": subset,
        "finished": sum(r.state == "finished" for r in on_disk), "run_folders": len(on_disk),
        "server_rss_mib": {"start": rss_start / MIB, "after_run_1": rss_after_first / MIB,
                           "end": rss_end / MIB, "peak": sampler.peak / MIB},
        "growth_after_run_1_mib": (rss_end - rss_after_first) / MIB,
        "growth_from_start_mib": (rss_end - rss_start) / MIB,
        "rss_samples": sampler.samples,
        "leftover_workers": [{"pid": p.pid, "cmdline": " ".join(p.info["cmdline"])} for p in leftovers],
        "seconds_per_run": {"median": sorted(r["seconds"] for r in per_run)[len(per_run) // 2],
                            "max": max(r["seconds"] for r in per_run)},
        "per_run": per_run,
    }


def table(res: dict, bound: float) -> str:
    m = res["server_rss_mib"]
    rows = [
        ("runs launched from the browser", f"{res['runs']}", "", ""),
        ("runs finished (on disk)", f"{res['finished']}/{res['run_folders']}", f"= {res['runs']}",
         res["finished"] == res["run_folders"] == res["runs"]),
        ("server RSS at start", f"{m['start']:.1f} MiB", "", ""),
        ("server RSS after run 1", f"{m['after_run_1']:.1f} MiB", "", ""),
        (f"server RSS after run {res['runs']}", f"{m['end']:.1f} MiB", "", ""),
        ("server RSS peak", f"{m['peak']:.1f} MiB", "", ""),
        (f"growth run 1 -> run {res['runs']}", f"{res['growth_after_run_1_mib']:+.1f} MiB", f"<= {bound:g} MiB",
         res["growth_after_run_1_mib"] <= bound),
        ("growth from start", f"{res['growth_from_start_mib']:+.1f} MiB", "(info)", ""),
        ("leftover lrviz.worker processes", f"{len(res['leftover_workers'])}", "= 0",
         not res["leftover_workers"]),
        ("seconds per run (median / max)",
         f"{res['seconds_per_run']['median']:.1f} / {res['seconds_per_run']['max']:.1f}", "", ""),
    ]
    head = f"{'soak':38s} {'measured':>16s}  {'bound':>12s}  result"
    lines = [head, "-" * len(head)]
    for name, value, bnd, ok in rows:
        verdict = "" if ok == "" else ("PASS" if ok else "FAIL")
        lines.append(f"{name:38s} {value:>16s}  {bnd:>12s}  {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--subset", type=int, default=200, help="training images per run (Subset toggle)")
    ap.add_argument("--bound-mib", type=float, default=150.0,
                    help="allowed growth of the server's RSS from the end of run 1 to the end of the last run")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = ap.parse_args(argv)
    if args.runs < 2:
        ap.error("--runs must be >= 2")
    with tempfile.TemporaryDirectory(prefix="lrviz-soak-") as tmp:
        runs_dir = Path(tmp) / "runs"
        print(f"soak: {args.runs} runs (digits, {args.subset} images, {args.epochs} epochs) from Chromium; "
              f"runs in {runs_dir}", flush=True)
        res = soak(args.runs, args.epochs, args.subset, runs_dir, lambda s: print(s, flush=True))
    res["bound_mib"] = args.bound_mib
    res["pass"] = bool(res["finished"] == res["run_folders"] == args.runs and not res["leftover_workers"]
                       and res["growth_after_run_1_mib"] <= args.bound_mib)
    res["meta"] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
                   "cpus": psutil.cpu_count(), "machine": platform.platform(),
                   "command": " ".join(["python", "bench/soak.py", *(argv if argv is not None else sys.argv[1:])])}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2) + "\n")
    print()
    print(table(res, args.bound_mib))
    print(f"\noverall: {'PASS' if res['pass'] else 'FAIL'}; results: {args.json}")
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
