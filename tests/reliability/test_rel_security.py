"""Security (issue 6): served on localhost by default; run ids, ``?run=`` links and downloads
confined to the runs folder.

Already covered elsewhere, not repeated: a malicious CIFAR pickle is refused without running
(tests/test_data.py::test_malicious_pickle_is_refused_without_running), archives with ``..``,
absolute paths and links are rejected (::test_tar_path_escape_is_rejected), ``load_run`` rejects
malformed ids (tests/test_runs.py::test_run_ids_are_validated), ``?run=../../etc`` on the Runs
page (tests/test_page_runs.py::test_bad_or_unknown_link_gets_a_clear_message), ``--resume ../etc``
(tests/test_cli_train.py::test_bad_flags_are_one_line_exit_2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import psutil
import pytest
from fakes import fabricate_run
from streamlit.testing.v1 import AppTest

from lrviz import cli
from lrviz import runs as store

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "runs.py")
EVIL = "20990101-000000-digits-step-evil"
TRAVERSALS = ["..", ".", "../etc", "../../etc/passwd", "/etc", "/", "a/../..", "a/b", "~", "~root", "%2e%2e",
              "..%2f..%2fetc", "x\x00y", "", " ", "-rf", "x" * 200, "run\\..\\..", "\u2024\u2024"]


def test_rel_config_serves_on_localhost_and_readme_documents_exposing():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "localhost"
    readme = (ROOT / "README.md").read_text()
    assert "--server.address 0.0.0.0" in readme  # exposing it is an explicit, documented choice


def test_rel_default_server_listens_on_loopback_only(tmp_path):
    """`streamlit run app.py` with the repo's config (no address flag) binds loopback only."""
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from browser_kit import free_port

    port = free_port()
    env = {**os.environ, "LRVIZ_RUNS_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("streamlit did not start")
        listening = {c.laddr.ip for c in psutil.Process(proc.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening and listening <= {"127.0.0.1", "::1"}, listening
    finally:
        proc.terminate()
        proc.wait(15)


# ------------------------------------------------------------------ ids that try to leave the folder


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_rel_every_entry_point_confines_run_ids(bad, tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "status.json").write_text('{"state": "finished"}')
    for call in (lambda: store.run_path(bad, runs_dir), lambda: store.load_run(bad, runs_dir),
                 lambda: store.delete_run(bad, runs_dir), lambda: store.stop_run(bad, runs_dir),
                 lambda: store.set_lr(bad, runs_dir, factor=0.5)):
        with pytest.raises((ValueError, FileNotFoundError)):
            call()
    with pytest.raises(ValueError, match="parent"):
        store.validate_config({"parent": bad})
    assert (tmp_path / "victim" / "status.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "victim"]


@pytest.mark.parametrize("argv", [["stop", "../victim"], ["set-lr", "..", "--factor", "0.5"],
                                  ["train", "--resume", "/etc"], ["stop", "/"]])
def test_rel_cli_confines_run_ids(argv, tmp_path, capsys):
    code = cli.main([*argv, "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lrviz: error: ") and err.count("\n") == 1, err


@pytest.fixture()
def symlinked(tmp_path, monkeypatch):
    """runs/ with one real run; outside/ with a run and a secret; links from runs/ to outside/."""
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    runs_dir.mkdir()
    outside.mkdir()
    monkeypatch.setattr(store, "DEFAULT_RUNS_DIR", runs_dir)
    good = fabricate_run(runs_dir)
    other = fabricate_run(outside)
    (outside / "secret.txt").write_text("TOP SECRET")
    os.symlink(outside / other, runs_dir / EVIL)
    return runs_dir, outside, good, other


def test_rel_symlinked_run_folder_is_refused(symlinked):
    runs_dir, outside, good, other = symlinked
    for call in (lambda: store.load_run(EVIL, runs_dir), lambda: store.delete_run(EVIL, runs_dir),
                 lambda: store.stop_run(EVIL, runs_dir)):
        with pytest.raises(ValueError, match="inside"):
            call()
    assert (outside / other / "config.json").exists()  # not deleted through the link
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = EVIL
    at.run()
    assert not at.exception
    assert any(f"Cannot open run `{EVIL}`" in e.value for e in at.error)


def test_rel_list_runs_does_not_follow_symlinks_out_of_the_folder(symlinked):
    runs_dir, outside, good, other = symlinked
    status = json.loads((outside / other / "status.json").read_text())
    status.update(state="running", pid=2**22 + 12345)  # a worker that is gone: list_runs would mark it failed
    (outside / other / "status.json").write_text(json.dumps(status))
    before = (outside / other / "status.json").read_bytes()
    listed = {r.id: r for r in store.list_runs(runs_dir)}
    assert (outside / other / "status.json").read_bytes() == before  # nothing written outside the runs folder
    assert EVIL not in listed or (listed[EVIL].error and "inside" in listed[EVIL].error)


def test_rel_download_of_a_symlinked_run_file_is_refused(symlinked):
    runs_dir, outside, good, other = symlinked
    target = runs_dir / good / "predictions.csv"
    if target.exists():
        target.unlink()
    os.symlink(outside / "secret.txt", target)
    run = store.load_run(good, runs_dir)
    offered = {name: p.read_bytes() for name, p in run.files.items()}
    assert b"TOP SECRET" not in offered.values()


def test_rel_run_id_with_trailing_newline_is_refused(tmp_path):
    with pytest.raises(ValueError):
        store.run_path("abc\n", tmp_path)


@pytest.mark.parametrize("link", ["../../etc", "%2e%2e/%2e%2e", "/etc/passwd", EVIL, "a" * 300, "<script>"])
def test_rel_runs_page_links_stay_inside(symlinked, link):
    runs_dir, outside, good, other = symlinked
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["compare"] = f"{good},{link}"
    at.run()
    assert not at.exception
    assert any(link in w.value and "left out" in w.value for w in at.warning), [w.value for w in at.warning]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = link
    at.run()
    assert not at.exception
    assert any("Cannot open run" in e.value for e in at.error)
