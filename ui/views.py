"""The view of each job kind: ``VIEWS[kind]`` draws a run that has ended (the live view of an
active one is the kind's too). Pages call :func:`show` and never compare kind strings; a kind
without an entry is drawn as a training run (runs written before kinds existed are training runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lrviz import runs as store
from ui import fit_view, lr_finder_view, run_view, tournament_view


def _training(run: store.Run, runs_dir: Path, key: str) -> None:
    if run.state in store.ACTIVE_STATES:
        run_view.live(run.id, runs_dir, page=key)
    else:
        run_view.results(run, runs_dir, key=key)


def _lr_find(run: store.Run, runs_dir: Path, key: str) -> None:
    run_view.header(run)
    lr_finder_view.results(run, runs_dir, key=key)


def _tournament(run: store.Run, runs_dir: Path, key: str) -> None:
    tournament_view.show(run.id, runs_dir, key=key)


VIEWS: dict[str, Callable[[store.Run, Path, str], None]] = {
    "train": _training,
    "lr_find": _lr_find,
    "tournament": _tournament,
    "fit": fit_view.show,
}


COMPARED = {"train", "fit"}  # kinds whose runs overlay on the Runs page (they have epochs of history)
KIND_WORDS = {"lr_find": "an LR range test", "tournament": "a tournament"}


def comparable(run: store.Run) -> bool:
    return run.kind in COMPARED or run.kind not in VIEWS


def kind_words(run: store.Run) -> str:
    return KIND_WORDS.get(run.kind, "a run of another kind")


def show(run: store.Run, runs_dir: Path, key: str) -> None:
    """Draw ``run`` with its kind's view (``key``: a prefix for its widgets' keys)."""
    VIEWS.get(run.kind, _training)(run, runs_dir, key)
