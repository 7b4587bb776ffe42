"""The book's figures beside a run's own (lrviz/book.py) and on the Runs page.

Oracle: the figures and the setting as DESIGN.md §1 quotes the book (written out here, never read
from lrviz): CIFAR-10, MiniVGGNet, 40 epochs, SGD 0.01 with Nesterov momentum 0.9, batch 64; step
decay D=5 with F=0.25 -> 0.75, F=0.5 -> 0.78; Keras 2 time-based decay 0.01/40 -> 0.83.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fakes import fabricate_run, shown
from streamlit.testing.v1 import AppTest

from lrviz import runs as runs_api
from lrviz.book import BOOK_ACCURACY, book_words, tutorial_setting

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "runs.py")
BOOK = {"dataset": "cifar10", "model": "minivggnet", "epochs": 40, "batch_size": 64, "momentum": 0.9,
        "nesterov": True, "limit": None, "max_batches": None, "plateau": None, "lr_overrides": [], "data": None}
STEP_025 = {"name": "step", "params": {"lr": 0.01, "factor": 0.25, "drop_every": 5}}
STEP_05 = {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}}
TIME = {"name": "time_keras2", "params": {"lr": 0.01, "decay": 0.00025}}


@pytest.mark.parametrize("schedule, book", [(STEP_025, 0.75), (STEP_05, 0.78), (TIME, 0.83)])
def test_the_tutorial_setting_has_the_books_figure(schedule, book):
    cfg = {**BOOK, "schedule": schedule, "train_size": 50_000, "test_size": 10_000}
    assert tutorial_setting(cfg) == book
    words = book_words(cfg, 0.7712)
    assert f": {book:.2f}; this run's test accuracy is 0.7712" in words


@pytest.mark.parametrize("change, why", [
    ({"dataset": "digits"}, "it trained on digits"),
    ({"dataset": "own", "data": "/x/shapes"}, "other images than CIFAR-10"),
    ({"model": "MobileNetV2"}, "another model than MiniVGGNet"),
    ({"epochs": 20}, "20 epochs, not 40"),
    ({"batch_size": 32}, "32 batch, not 64"),
    ({"nesterov": False}, "another momentum"),
    ({"momentum": 0.8}, "another momentum"),
    ({"limit": 300}, "part of CIFAR-10"),
    ({"test_size": 40}, "part of CIFAR-10"),
    ({"plateau": {"factor": 0.1}}, "an LR changed during the run"),
    ({"lr_overrides": [{"epoch": 3, "lr": 0.001}]}, "an LR changed during the run"),
    ({"schedule": {"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 10}}},
     "a schedule the book did not report"),
    ({"schedule": {"name": "time_epoch", "params": {"lr": 0.01, "decay": 0.00025}}},
     "a schedule the book did not report"),
    ({"schedule": {"name": "constant", "params": {"lr": 0.01}}}, "a schedule the book did not report"),
])
def test_any_other_setting_says_what_the_figures_are_and_why_not_comparable(change, why):
    cfg = {**BOOK, "schedule": STEP_05, **change}
    assert tutorial_setting(cfg) is None
    words = book_words(cfg, 0.98)
    assert words.startswith("The book's figures (0.75 for step decay F=0.25, 0.78 for F=0.5, 0.83 for time-based")
    assert why in words.split("this run's number is not comparable with them: ")[1] and "0.98" not in words
    assert words.endswith(".") and ". " not in words  # one sentence


def test_a_fit_from_the_users_own_script_gets_no_words():
    assert book_words({"schedule": STEP_05}, 0.9) is None


def test_the_tournament_names_the_same_figures_by_schedule_label():
    from lrviz.schedules import Schedule
    from lrviz.tournament import BOOK_ACCURACY as in_tournament

    assert in_tournament is BOOK_ACCURACY
    assert BOOK_ACCURACY == {Schedule.from_config(STEP_025).label(): 0.75,
                             Schedule.from_config(STEP_05).label(): 0.78, Schedule.from_config(TIME).label(): 0.83}


def _opened(runs_dir: Path, rid: str, monkeypatch) -> tuple[AppTest, float]:
    monkeypatch.setattr(runs_api, "DEFAULT_RUNS_DIR", runs_dir)
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception
    report = pd.read_csv(runs_dir / rid / "report.csv", index_col="class")  # as the run wrote it
    acc = float(report.loc["accuracy", "f1-score"])
    return at, acc


def test_a_cifar_run_in_the_tutorial_setting_shows_078_beside_its_accuracy(tmp_path, monkeypatch):
    rid = fabricate_run(tmp_path, dataset="cifar10", epochs=40, limit=None, schedule=STEP_05, accuracy=0.77)
    at, acc = _opened(tmp_path, rid, monkeypatch)
    assert any(f"validation accuracy **{acc:.2%}**" in s.value for s in at.success)
    (note,) = [shown(c.value) for c in at.caption if "The book" in shown(c.value)]
    assert "0.78" in note and f"{acc:.4f}" in note and "not comparable" not in note


def test_a_digits_run_says_the_books_figures_are_not_comparable(tmp_path, monkeypatch):
    rid = fabricate_run(tmp_path, dataset="digits", accuracy=0.97)  # 5 epochs, 300 images, F=0.5 D=2
    at, _ = _opened(tmp_path, rid, monkeypatch)
    (note,) = [shown(c.value) for c in at.caption if "The book" in shown(c.value)]
    assert "0.78 for F=0.5" in note and "not comparable with them: it trained on digits" in note
    assert note.endswith("5 epochs, not 40, a schedule the book did not report.")  # whole, never cut short
