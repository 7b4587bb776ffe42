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
from lrviz import runs as runs_api

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


def _unescaped(markdown: str) -> str:
    """Text a page escaped for Markdown (ui/text.plain: a backslash before each punctuation
    character, a word joiner after a URL scheme) as the reader sees it."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_rel_every_entry_point_confines_run_ids(bad, tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "status.json").write_text('{"state": "finished"}')
    for call in (lambda: runs_api.run_path(bad, runs_dir), lambda: runs_api.load_run(bad, runs_dir),
                 lambda: runs_api.delete_run(bad, runs_dir), lambda: runs_api.stop_run(bad, runs_dir),
                 lambda: runs_api.set_lr(bad, runs_dir, factor=0.5)):
        with pytest.raises((ValueError, FileNotFoundError)):
            call()
    with pytest.raises(ValueError, match="parent"):
        runs_api.validate_config({"parent": bad})
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
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", runs_dir)
    good = fabricate_run(runs_dir)
    other = fabricate_run(outside)
    (outside / "secret.txt").write_text("TOP SECRET")
    os.symlink(outside / other, runs_dir / EVIL)
    return runs_dir, outside, good, other


def test_rel_symlinked_run_folder_is_refused(symlinked):
    runs_dir, outside, good, other = symlinked
    for call in (lambda: runs_api.load_run(EVIL, runs_dir), lambda: runs_api.delete_run(EVIL, runs_dir),
                 lambda: runs_api.stop_run(EVIL, runs_dir)):
        with pytest.raises(ValueError, match="inside"):
            call()
    assert (outside / other / "config.json").exists()  # not deleted through the link
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = EVIL
    at.run()
    assert not at.exception
    assert any(f"Cannot open run {EVIL}" in _unescaped(e.value) for e in at.error)


def test_rel_list_runs_does_not_follow_symlinks_out_of_the_folder(symlinked):
    runs_dir, outside, good, other = symlinked
    status = json.loads((outside / other / "status.json").read_text())
    status.update(state="running", pid=2**22 + 12345)  # a worker that is gone: list_runs would mark it failed
    (outside / other / "status.json").write_text(json.dumps(status))
    before = (outside / other / "status.json").read_bytes()
    listed = {r.id: r for r in runs_api.list_runs(runs_dir)}
    assert (outside / other / "status.json").read_bytes() == before  # nothing written outside the runs folder
    assert EVIL not in listed or (listed[EVIL].error and "inside" in listed[EVIL].error)


def test_rel_download_of_a_symlinked_run_file_is_refused(symlinked):
    runs_dir, outside, good, other = symlinked
    target = runs_dir / good / "predictions.csv"
    if target.exists():
        target.unlink()
    os.symlink(outside / "secret.txt", target)
    run = runs_api.load_run(good, runs_dir)
    offered = {name: p.read_bytes() for name, p in run.files.items()}
    assert b"TOP SECRET" not in offered.values()


def test_rel_run_id_with_trailing_newline_is_refused(tmp_path):
    with pytest.raises(ValueError):
        runs_api.run_path("abc\n", tmp_path)


@pytest.mark.parametrize("link", ["../../etc", "%2e%2e/%2e%2e", "/etc/passwd", EVIL, "a" * 300, "<script>"])
def test_rel_runs_page_links_stay_inside(symlinked, link):
    runs_dir, outside, good, other = symlinked
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["compare"] = f"{good},{link}"
    at.run()
    assert not at.exception
    assert any(link[:40] in _unescaped(w.value) and "left out" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = link
    at.run()
    assert not at.exception
    assert any("Cannot open run" in e.value for e in at.error)


# ------------------------------------------------------------------ a tournament folder names no database, host, path


def _resume_like_the_page(runs_dir: Path, tid: str) -> Exception | None:
    """What the page's Resume button does; with a folder the old code accepted, it went on to run
    the job, which opened the storage the folder named. Returns the refusal (None: accepted)."""
    from lrviz.jobs.tournament import tournament_config
    from lrviz.worker import run_worker

    try:
        rid = runs_api.create_run(tournament_config(parent=tid, workers=1), runs_dir,
                                  launch=lambda p: (os.getpid(), None))
    except ValueError as e:
        return e
    run_worker(runs_dir / rid, verbose=0, install_signals=False)
    return None


def test_rel_a_resume_sends_no_password_to_a_host_its_folder_names(tmp_path, monkeypatch, capsys):
    """A tampered config.json names postgresql://victim@<attacker>/db: the old resume connected and
    libpq answered the server's cleartext-password request with PGPASSWORD (or ~/.pgpass)."""
    from tournament_fakes import edit_config, password_catcher, tournament_folder

    runs_dir = tmp_path / "runs"
    tid = tournament_folder(runs_dir, complete=1)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("*:*:*:*:from-pgpass\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSWORD", "from-env")
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with password_catcher() as (port, caught):
        edit_config(runs_dir, tid, storage=f"postgresql://victim@127.0.0.1:{port}/db")
        refused = _resume_like_the_page(runs_dir, tid)
        assert cli.main(["tournament", "--resume", tid, "--runs-dir", str(runs_dir)]) == 2
        err = capsys.readouterr().err
        time.sleep(0.5)
    assert caught == [], caught  # never even connected
    assert refused is not None and refused.field == "storage" and "named again" in str(refused)
    assert err.count("\n") == 1 and "Argument `storage`" in err


@pytest.mark.parametrize("link", ["study.db", "study.db-journal", "study.db.claim.lock"])
def test_rel_a_symlinked_study_file_is_never_followed(tmp_path, link):
    """study.db (or the journal SQLite writes beside it, or the claim lock) linked to a file
    outside the runs folder: the old resume opened the linked database and wrote through it."""
    import shutil

    from tournament_fakes import tournament_folder, tree

    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    tid = tournament_folder(runs_dir, complete=1)
    target = outside / "victim.db"
    shutil.copy(runs_dir / tid / "study.db", target)  # a study a resume would happily work on
    if link == "study.db":
        (runs_dir / tid / "study.db").unlink()
    os.symlink(target, runs_dir / tid / link)
    before = tree(outside)
    refused = _resume_like_the_page(runs_dir, tid)
    assert refused is not None and refused.field == "parent" and "symbolic link" in str(refused), refused
    assert tree(outside) == before


def test_rel_requests_never_land_outside_through_a_symlinked_control_folder(tmp_path):
    from fakes import fabricate_run
    from tournament_fakes import tree

    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    rid = fabricate_run(runs_dir, state="running")
    status = json.loads((runs_dir / rid / "status.json").read_text())
    (runs_dir / rid / "status.json").write_text(json.dumps({**status, "pid": os.getpid(), "pid_create_time": None}))
    import shutil

    shutil.rmtree(runs_dir / rid / "control")
    os.symlink(outside, runs_dir / rid / "control")
    for call in (lambda: runs_api.stop_run(rid, runs_dir), lambda: runs_api.set_lr(rid, runs_dir, factor=0.5)):
        with pytest.raises(ValueError, match="symbolic link"):
            call()
    assert tree(outside) == {}


def test_rel_nothing_in_a_tournament_folder_makes_lrviz_write_outside(tmp_path, capsys):
    """A tournament folder tampered every way at once: storage outside, study.db a link, a trial
    run's control folder a link. Resume (page and CLI), read, list and stop write nothing
    outside the runs folder."""
    from fakes import fabricate_run
    from tournament_fakes import edit_config, tournament_folder, tree

    from lrviz.jobs.tournament import read_tournament

    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    a = tournament_folder(runs_dir, complete=1)
    edit_config(runs_dir, a, storage=f"sqlite:///{outside / 'new.db'}")
    b = tournament_folder(runs_dir, complete=1)
    (runs_dir / b / "study.db").rename(outside / "moved.db")
    os.symlink(outside / "moved.db", runs_dir / b / "study.db")
    member = fabricate_run(runs_dir, group=b, state="stopped")
    import shutil

    shutil.rmtree(runs_dir / member / "control")
    os.symlink(outside, runs_dir / member / "control")
    before = tree(outside)
    for tid in (a, b):
        assert _resume_like_the_page(runs_dir, tid) is not None
        assert cli.main(["tournament", "--resume", tid, "--runs-dir", str(runs_dir)]) == 2
        read_tournament(tid, runs_dir)
    status = json.loads((runs_dir / member / "status.json").read_text())  # an orphan trial, still running
    (runs_dir / member / "status.json").write_text(json.dumps({**status, "state": "running", "pid": os.getpid(),
                                                               "pid_create_time": None}))
    for tid in (a, b):
        runs_api.stop_run(tid, runs_dir)  # stops the group's runs: not through a link
        read_tournament(tid, runs_dir)
    runs_api.list_runs(runs_dir)
    capsys.readouterr()
    assert tree(outside) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "runs"]
