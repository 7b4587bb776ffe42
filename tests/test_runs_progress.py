"""The live view's progress line and bar never go backwards (issue 19, item 4).

A run's status.json goes through the sequence the worker writes (lrviz/jobs/training.py and
RunLogger in lrviz/callbacks.py): queued, loading data, batches of every epoch, the row at each
epoch's end (batch back to 0), evaluating, then the final state. The live view draws each one;
it used to draw the last epoch's "Epoch 15/15 · batch 0/22" again after the last batch, and the
final state as "Epoch 15/15 · batch 0/22 · ETA estimating…" after "Evaluating on the test set…".
"""

from __future__ import annotations

import re

import pytest
from fakes import fabricate_run

from lrviz import runs as runs_api
from ui import run_view

EPOCHS, SPE = 3, 4
LINE = re.compile(r"Epoch (\d+)/\d+ · batch (\d+)/\d+")


def _worker_statuses(stop_at: tuple[int, int] | None = None):
    """(status changes, stop requested) in the order the worker writes them; ``stop_at``:
    (epoch index, batch) at which Stop is pressed (the rest of that epoch never runs)."""
    yield {"state": "queued", "epoch": 0, "batch": 0}, False
    yield {"state": "running", "phase": "loading data"}, False
    yield {"phase": "training", "epoch": 0, "batch": 0, "eta_s": None}, False
    stopped = False
    for e in range(EPOCHS):
        for b in range(1, SPE + 1):
            yield {"epoch": e, "batch": b, "eta_s": 10.0 if b > 1 or e else None}, stopped
            if stop_at == (e, b):
                stopped = True
                yield {}, True
                break
        if stopped:
            break
        yield {"epoch": e + 1, "batch": 0}, False  # RunLogger.on_epoch_end
    yield {"phase": "evaluating", "eta_s": None}, stopped
    yield {"state": "stopped" if stopped else "finished", "phase": None, "eta_s": None}, stopped


def _drawn(tmp_path, stop_at=None):
    rid = fabricate_run(tmp_path, epochs=EPOCHS, state="running")
    path = tmp_path / rid
    status = {**runs_api.read_json(path / "status.json"), "steps_per_epoch": SPE, "epochs": EPOCHS}
    out = []
    for changes, stop in _worker_statuses(stop_at):
        status.update(changes)
        runs_api.atomic_write_json(path / "status.json", status)
        if stop and not (path / "control" / "stop").exists():
            runs_api.stop_run(rid, tmp_path)
        run = runs_api.load_run(rid, tmp_path)
        out.append((run_view.progress_fraction(run), run_view.progress_text(run)))
    return out


def _position(text: str) -> int | None:
    m = LINE.search(text)
    return None if m is None else (int(m[1]) - 1) * SPE + int(m[2])


def _never_backwards(drawn):
    fractions = [f for f, _ in drawn]
    assert fractions == sorted(fractions), fractions
    positions = [p for p in (_position(t) for _, t in drawn) if p is not None]
    assert positions == sorted(positions), [t for _, t in drawn]
    evaluating = next(i for i, (_, t) in enumerate(drawn) if "Evaluating on the test set" in t)
    for _, text in drawn[evaluating:]:
        assert "batch" not in text and "ETA" not in text, text


def test_a_finished_run_never_goes_back(tmp_path):
    drawn = _drawn(tmp_path)
    _never_backwards(drawn)
    texts = [t for _, t in drawn]
    assert f"Epoch {EPOCHS}/{EPOCHS} · batch {SPE}/{SPE}" in texts[-4]  # the last batch
    assert texts[-3].startswith(f"All {EPOCHS} epochs done")  # not "batch 0/4" again
    assert texts[-1].startswith(f"Finished · {EPOCHS}/{EPOCHS} epochs done")
    assert drawn[-1][0] == drawn[-3][0] == 1.0


def test_a_stopped_run_never_goes_back(tmp_path):
    drawn = _drawn(tmp_path, stop_at=(1, 2))  # Stop during epoch 2 (1-based), after its 2nd batch
    _never_backwards(drawn)
    texts = [t for _, t in drawn]
    assert any(t.startswith("Stopping after the current batch… · Epoch 2/3 · batch 2/4") for t in texts)
    assert texts[-1].startswith(f"Stopped · 1/{EPOCHS} epochs done")  # the partial epoch is not kept


# --------------------------------------------------------------------------- loading own images


def _loading_run(tmp_path, **status_changes):
    rid = fabricate_run(tmp_path, epochs=EPOCHS, state="running")
    path = tmp_path / rid
    status = {**runs_api.read_json(path / "status.json"), "steps_per_epoch": SPE, "epochs": EPOCHS, "epoch": 0,
              "batch": 0, "phase": "loading data", **status_changes}
    runs_api.atomic_write_json(path / "status.json", status)
    return rid, runs_api.load_run(rid, tmp_path)


def test_a_folder_being_read_says_how_many_files_of_how_many(tmp_path):
    _, run = _loading_run(tmp_path, files_done=1234, files_total=5000)
    assert run_view.progress_text(run) == "Loading your images: 1,234 of 5,000 files"
    assert run_view.badge(run)[0] == "Loading…"
    assert run_view.progress_fraction(run) == 0.0  # the run's own bar has not started: no batch is done


@pytest.mark.parametrize("done, total", [(None, None), ("12", 50), (7, 0), (60, 50), (-1, 50), (True, 50)])
def test_loading_without_sound_counts_says_loading_data(tmp_path, done, total):
    _, run = _loading_run(tmp_path, files_done=done, files_total=total)  # no counts yet, or a tampered file
    assert run_view.progress_text(run) == "Loading data and building the model…"


def test_the_worker_writes_the_phase_and_the_counts_as_their_own_fields(tmp_path):
    """What the jobs hand ``load_data`` as its progress (``StatusWriter.loading``): the phase stays
    "loading data" (the page finds it by that key), the counts beside it, the last one always."""
    from own_data_fixtures import write_class_folder

    from lrviz.jobs import common
    from lrviz.jobs.common import StatusWriter

    root = write_class_folder(tmp_path / "shapes", classes=("a", "b"), per_class=150)  # 300 files
    runs_api.atomic_write_json(tmp_path / "status.json", {"state": "running"})
    status, heard = StatusWriter(tmp_path), []
    status.on_loading = lambda done, total: heard.append((done, total))
    common.load_data({"dataset": "own", "data": str(root), "seed": 1, "val_split": 0.2}, progress=status.loading)
    written = runs_api.read_json(tmp_path / "status.json")
    assert (written["phase"], written["files_done"], written["files_total"]) == ("loading data", 300, 300)
    assert heard[-1] == (300, 300) and len(heard) > 1
    assert [d for d, _ in heard] == sorted(d for d, _ in heard) and {t for _, t in heard} == {300}


def _progress_app(runs_dir: str, rid: str) -> None:
    from lrviz import runs as runs_api
    from ui import run_view

    run_view.progress(runs_api.load_run(rid, runs_dir))


def test_the_live_view_draws_the_files_bar(tmp_path):
    from streamlit.testing.v1 import AppTest

    rid, _ = _loading_run(tmp_path, files_done=1234, files_total=5000)
    at = AppTest.from_function(_progress_app, args=(str(tmp_path), rid), default_timeout=30).run()
    assert not at.exception
    (bar,) = at.get("progress")
    assert bar.proto.text == "Loading your images: 1,234 of 5,000 files"
    assert bar.proto.value == 100 * 1234 // 5000  # Streamlit keeps whole percent, cut down


def _finder_progress_app(runs_dir: str, rid: str) -> None:
    from lrviz import runs as runs_api
    from ui import lr_find_view

    lr_find_view._progress(runs_api.load_run(rid, runs_dir))


def test_an_lr_range_test_reading_a_folder_says_so_too(tmp_path):
    from fakes import fabricate_lr_find
    from streamlit.testing.v1 import AppTest

    rid = fabricate_lr_find(tmp_path)
    status = runs_api.read_json(tmp_path / rid / "status.json")
    status.update(state="running", step=0, phase="loading data", files_done=250, files_total=1000)
    runs_api.atomic_write_json(tmp_path / rid / "status.json", status)
    at = AppTest.from_function(_finder_progress_app, args=(str(tmp_path), rid), default_timeout=30).run()
    assert not at.exception
    (bar,) = at.get("progress")
    assert (bar.proto.text, bar.proto.value) == ("Loading your images: 250 of 1,000 files", 25)
