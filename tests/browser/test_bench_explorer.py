"""Smoke test of bench/bench_explorer.py, so the benchmark can't rot: one cold start and two
slider moves per page, and the JSON carries positive figures for both pages (readout, chart and
the websocket profile of each move)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from browser_kit import ROOT

pytestmark = pytest.mark.browser


def test_bench_explorer_quick_runs_and_reports(tmp_path):
    out = tmp_path / "explorer.json"
    proc = subprocess.run(
        [sys.executable, "bench/bench_explorer.py", "--quick", "--repeats", "1", "--moves", "2", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "slider key -> readout updated" in proc.stdout  # the table was printed
    assert "slider key -> chart updated" in proc.stdout
    result = json.loads(out.read_text())
    assert result["meta"]["repeats"] == 1 and result["meta"]["moves"] == 2
    for page in ("explorer", "bare"):
        samples = result["pages"][page]
        assert len(samples["cold_start_ms"]) == 1 and len(samples["readout_ms"]) == 2
        assert len(samples["chart_ms"]) == 2
        for key in ("cold_start_ms", "server_ready_ms", "readout_ms", "chart_ms", "settled_ms", "send_ms",
                    "first_msg_ms", "last_msg_ms", "ws_bytes", "ws_msgs"):
            assert all(v > 0 for v in samples[key]), (page, key, samples[key])
    keys = {m["key"]: m for m in result["metrics"]}
    for key in ("cold_start_ms", "readout_ms", "chart_ms"):
        m = keys[key]
        assert m["explorer"]["median"] > 0 and m["bare"]["median"] > 0 and m["ratio_median"] > 0
        assert m["goal"] == 1.3 and isinstance(m["pass"], bool)
    assert isinstance(result["pass"], bool)
