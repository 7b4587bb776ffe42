"""The view registry: how each job kind reaches the screen, registered by one line.

A kind's :class:`KindView` says how a run of it is drawn (``show``: a run that has ended, and the
live view of an active one), how a sentence names one of its runs (``words``), and what the pages
may do with its runs: overlay them on the Runs page (``compared``: they have epochs of history),
replay ReduceLROnPlateau on their recorded curve in the explorer (``replayable``), and which page
launches and follows them (``page``: "train", "tournament"). Pages ask these questions here
(:func:`show`, :func:`comparable`, :func:`replayable`, :func:`runs_of_page`, ...) and never
compare kind strings; a kind without an entry is drawn as a training run (runs written before
kinds existed are training runs).

Adding a kind: its job module (:mod:`lrviz.jobs`), its view module in ``ui/`` and one
:func:`register` line below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lrviz import runs as runs_api
from ui import fit_view, lr_find_view, run_view, tournament_view

View = Callable[[runs_api.Run, Path, str], None]  # (run, runs_dir, key: a prefix for its widgets' keys)


@dataclass(frozen=True)
class KindView:
    show: View
    words: str  # how a sentence names one of its runs: "an LR range test"
    compared: bool = False  # its runs overlay on the Runs page (they have epochs of history)
    replayable: bool = False  # its history holds the planned LR and validation curves the plateau replay reads
    page: str | None = None  # the page (its URL path) that launches and follows its runs, if one does


VIEWS: dict[str, KindView] = {}


def register(kind: str, show: View, *, words: str, compared: bool = False, replayable: bool = False,
             page: str | None = None) -> None:
    """Register the view of ``kind`` (the one line a new kind adds here)."""
    VIEWS[kind] = KindView(show, words, compared, replayable, page)


def _training(run: runs_api.Run, runs_dir: Path, key: str) -> None:
    if run.state in runs_api.ACTIVE_STATES:
        run_view.live(run.id, runs_dir, page=key)
    else:
        run_view.results(run, runs_dir, key=key)


def _lr_find(run: runs_api.Run, runs_dir: Path, key: str) -> None:
    run_view.header(run)
    lr_find_view.results(run, runs_dir, key=key)


def _tournament(run: runs_api.Run, runs_dir: Path, key: str) -> None:
    tournament_view.show(run.id, runs_dir, key=key)


register(runs_api.TRAIN, _training, words="a training run", compared=True, replayable=True, page="train")
register(runs_api.LR_FIND, _lr_find, words="an LR range test")
register(runs_api.TOURNAMENT, _tournament, words="a tournament", page="tournament")
register("fit", fit_view.show, words="a fit", compared=True)

_UNREGISTERED = KindView(_training, "a run of another kind", compared=True)  # a job kind without a view yet


def _of(kind: str) -> KindView:
    return VIEWS.get(kind, _UNREGISTERED)


def show(run: runs_api.Run, runs_dir: Path, key: str) -> None:
    """Draw ``run`` with its kind's view (``key``: a prefix for its widgets' keys)."""
    _of(run.kind).show(run, runs_dir, key)


def comparable(run: runs_api.Run) -> bool:
    """Whether ``run`` overlays with training runs on the Runs page."""
    return _of(run.kind).compared


def kind_words(run: runs_api.Run) -> str:
    return _of(run.kind).words


def replayable(summary: runs_api.RunSummary) -> bool:
    """Whether the explorer can replay ReduceLROnPlateau on ``summary``'s recorded curve."""
    return _of(summary.kind).replayable


def on_page(page: str, kind: str) -> bool:
    """Whether runs of ``kind`` are launched and followed on ``page`` (its URL path)."""
    return kind in VIEWS and VIEWS[kind].page == page


def runs_of_page(page: str, summaries: Iterable[runs_api.RunSummary]) -> list[runs_api.RunSummary]:
    """The runs ``page`` follows, in the order given (:func:`lrviz.runs.list_runs`: newest first)."""
    return [s for s in summaries if on_page(page, s.kind)]


def latest_of_page(page: str, runs_dir: Path) -> str | None:
    """The id of the newest run ``page`` follows, whatever its state; None if there is none."""
    return next((s.id for s in runs_of_page(page, runs_api.list_runs(runs_dir))), None)
