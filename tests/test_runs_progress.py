"""The live view's progress line and bar never go backwards (issue 19, item 4).

A run's status.json goes through the sequence the worker writes (lrviz/jobs/training.py and
RunLogger in lrviz/callbacks.py): queued, loading data, batches of every epoch, the row at each
epoch's end (batch back to 0), evaluating, then the final state. The live view draws each one;
it used to draw the last epoch's "Epoch 15/15 · batch 0/22" again after the last batch, and the
final state as "Epoch 15/15 · batch 0/22 · ETA estimating…" after "Evaluating on the test set…".
"""

from __future__ import annotations

import re

from fakes import fabricate_run

from lrviz import runs as store
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
    status = {**store.read_json(path / "status.json"), "steps_per_epoch": SPE, "epochs": EPOCHS}
    out = []
    for changes, stop in _worker_statuses(stop_at):
        status.update(changes)
        store.atomic_write_json(path / "status.json", status)
        if stop and not (path / "control" / "stop").exists():
            store.stop_run(rid, tmp_path)
        run = store.load_run(rid, tmp_path)
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
