"""bench/bench_backends.py --gpu --dry-run: the GPU bench's every part (throughput against plain
fit, the tutorial's run, the tutorial's tournament table with workers side by side) at tiny sizes
on JAX's CPU build with TensorFlow unimportable, so that the first call on a lent GPU works."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
from background import BackgroundJob, Command

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(tmp_path: Path) -> Command:
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "JAX_PLATFORMS")}
    return Command([sys.executable, str(ROOT / "bench" / "bench_backends.py"), "--gpu", "--dry-run", "--out",
                    str(tmp_path / "backends.json")], {**env, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=900, cwd=tmp_path)


DRY_RUN = BackgroundJob("gpu-bench-dry-run", _dry_run)


@pytest.mark.background(DRY_RUN)
def test_the_gpu_bench_dry_run_writes_every_parts_figures():
    r, out = DRY_RUN.result(), DRY_RUN.folder / "backends.json"
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["dry_run"] is True and res["keras_backend"] == "jax" and res["gpu"] is None
    assert res["parts"] == ["throughput", "tutorial", "tournament"] and res["total_s"] > 0

    tp = res["throughput"]  # one pair, the worker's LR in the compiled step
    assert (tp["backend"], tp["device"], tp["lr_route"]) == ("jax", "CPU", "compiled step")
    assert tp["pairs_done"] == tp["pairs"] == 1 and len(tp["worker_img_s"]) == len(tp["baseline_img_s"]) == 1
    assert math.isfinite(tp["ratio_pairs_median"]) and tp["ratio_pairs_median"] > 0
    assert tp["ratio_pairs_median"] == tp["worker_img_s"][0] / tp["baseline_img_s"][0]

    tu = res["tutorial_run"]
    assert (tu["backend"], tu["lr_route"], tu["epochs_done"]) == ("jax", "compiled step", tu["epochs"])
    assert tu["wall_s"] > 0

    tn = res["tournament"]  # the tutorial's 4 schedules, every trial finished, workers side by side
    assert tn["state"] == "finished" and tn["trials"] == 4 * tn["seeds"] == tn["trials_finished"]
    assert tn["local_workers"] == min(2, os.cpu_count() or 1) and tn["wall_s"] >= tn["elapsed_s"] > 0
    # each part wrote as soon as it had its figures: in order, the throughput after its pair, the
    # tournament while it ran and at its end
    at, writes = res["written_s"], res["writes"]
    assert at["throughput"] < at["tutorial_run"] < at["tournament"] <= at["total_s"]
    assert writes["throughput"] == 1 and writes["tutorial_run"] == 1 and writes["tournament"] >= 2
    assert "[tournament]" in r.stdout and "wrote" in r.stdout.splitlines()[-1]
