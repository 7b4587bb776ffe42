"""The book's figures beside a run's own: which runs have the tutorial's setting, and what to say.

*Deep Learning for Computer Vision with Python* trains MiniVGGNet on CIFAR-10 for 40 epochs with
``SGD(0.01, momentum=0.9, nesterov=True)`` and batch 64, and reports the accuracy on CIFAR-10's
10,000 test images (DESIGN.md §1):

==============================================  ========
schedule                                        accuracy
==============================================  ========
step decay, initAlpha 0.01, F = 0.25, D = 5     0.75
step decay, initAlpha 0.01, F = 0.5, D = 5      0.78
time-based decay, Keras 2 ``decay=0.01/40``      0.83
==============================================  ========

A run with that setting (:func:`tutorial_setting`) can be read against its figure; any other run
(digits, your own images, another model, fewer epochs, a subset, another schedule) cannot, and
:func:`book_words` says why in one sentence: a digits run's ~98% is not "better than the book".
"""

from __future__ import annotations

import math
from typing import Any

from lrviz.schedules import Schedule

__all__ = ["BOOK_SCHEDULES", "BOOK_ACCURACY", "TUTORIAL", "tutorial_setting", "book_words"]

# The book's three runs: (schedule config, test accuracy, how the book names it).
BOOK_SCHEDULES: tuple[tuple[dict[str, Any], float, str], ...] = (
    ({"name": "time_keras2", "params": {"lr": 0.01, "decay": 0.01 / 40}}, 0.83, "time-based decay 0.01/40"),
    ({"name": "step", "params": {"lr": 0.01, "factor": 0.25, "drop_every": 5}}, 0.75, "step decay F=0.25, D=5"),
    ({"name": "step", "params": {"lr": 0.01, "factor": 0.5, "drop_every": 5}}, 0.78, "step decay F=0.5, D=5"),
)
# By schedule label, as a tournament's leaderboard names its schedules.
BOOK_ACCURACY: dict[str, float] = {Schedule.from_config(c).label(): acc for c, acc, _ in BOOK_SCHEDULES}
# Everything else the book fixed (config key -> value); besides these, the whole training set, no LR changes.
TUTORIAL: dict[str, Any] = {"dataset": "cifar10", "model": "minivggnet", "epochs": 40, "batch_size": 64,
                            "momentum": 0.9, "nesterov": True}
_WHAT = ("The book's figures (0.75 for step decay F=0.25, 0.78 for F=0.5, 0.83 for time-based decay) are "
         "MiniVGGNet's accuracy on CIFAR-10's 10,000 test images after 40 epochs of SGD 0.01 with Nesterov "
         "momentum 0.9, batch 64")


def _close(a: Any, b: float) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(a, b, rel_tol=1e-9)


def _book_schedule(config: dict[str, Any]) -> tuple[float, str] | None:
    try:
        sched = Schedule.from_config(config["schedule"])
    except (KeyError, ValueError, TypeError):
        return None
    if getattr(sched, "warmup", None):
        return None
    for cfg, acc, words in BOOK_SCHEDULES:
        if sched.name == cfg["name"] and set(sched.params) == set(cfg["params"]) and \
                all(_close(sched.params[k], v) for k, v in cfg["params"].items()):
            return acc, words
    return None


def _differences(config: dict[str, Any]) -> list[str]:
    """What sets this run apart from the book's, in the order a reader checks it."""
    out = []
    dataset = config.get("dataset")
    if dataset != "cifar10" or config.get("data"):
        out.append("it trained on digits (1,797 8x8 grey images, an easier task)" if dataset == "digits"
                   else "it trained on other images than CIFAR-10")
    if (config.get("model") or "minivggnet") != "minivggnet":
        out.append("another model than MiniVGGNet")
    sizes = (config.get("train_size"), config.get("test_size"))  # what the worker measured, once it ran
    if config.get("limit") or config.get("max_batches") or (dataset == "cifar10" and any(
            n is not None and n != full for n, full in zip(sizes, (50_000, 10_000)))):
        out.append("part of CIFAR-10 (the book used all 50,000 training and 10,000 test images)"
                   if dataset == "cifar10" else "part of the training data")
    for key, unit in (("epochs", "epochs"), ("batch_size", "batch")):
        if config.get(key) != TUTORIAL[key]:
            out.append(f"{config.get(key)} {unit}, not {TUTORIAL[key]}")
    if not _close(config.get("momentum"), 0.9) or config.get("nesterov") is not True:
        out.append("another momentum")
    if config.get("plateau") or config.get("lr_overrides"):
        out.append("an LR changed during the run")
    if _book_schedule(config) is None:
        out.append("a schedule the book did not report")
    return out


def tutorial_setting(config: dict[str, Any]) -> float | None:
    """The book's accuracy for a run with exactly the tutorial's setting (CIFAR-10's full training
    set, MiniVGGNet, 40 epochs, batch 64, SGD with Nesterov momentum 0.9, one of the three schedules
    above, nothing changed during the run), or None."""
    found = _book_schedule(config)
    return None if found is None or _differences(config) else found[0]


def book_words(config: dict[str, Any], accuracy: float | None) -> str | None:
    """One sentence: the book's figure beside ``accuracy`` (this run's test accuracy) for a run in
    the tutorial's setting, else what the book's figures are and why this run's number is not
    comparable with them. None for a run that names no dataset (a fit from the user's own script)."""
    if not config.get("dataset"):
        return None
    book = tutorial_setting(config)
    if book is not None:
        words = _book_schedule(config)[1]
        known = accuracy is not None and math.isfinite(float(accuracy))
        own = f"this run's test accuracy is {float(accuracy):.4f}" if known else "this run has no test accuracy"
        return (f"The book's figure for this setting (MiniVGGNet on CIFAR-10, 40 epochs, {words}): "
                f"{book:.2f}; {own}, measured the same way on the same 10,000 test images.")
    return f"{_WHAT}; this run's number is not comparable with them: {', '.join(_differences(config))}."
