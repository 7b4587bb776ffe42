"""Leslie Smith's LR range test ("LR finder") for Keras 3, and the rules that read its curve.

Smith, *Cyclical Learning Rates for Training Neural Networks* (2015), popularised as fastai's
``lr_find``. The model trains for up to ``num_steps`` batches while the LR grows exponentially
from ``start`` to ``end``, set on the optimizer *before* each batch::

    lr_i = start * (end / start) ** (i / (num_steps - 1))        i = 0 .. num_steps-1

The raw loss of each batch is recorded (``train_on_batch`` resets the loss tracker first, so it
is that batch's loss, not Keras' running epoch mean) and smoothed with a bias-corrected
exponential moving average (``beta`` = ``smoothing``)::

    avg_i = beta * avg_{i-1} + (1 - beta) * loss_i        (avg_{-1} = 0)
    smoothed_i = avg_i / (1 - beta ** (i + 1))

The sweep stops early when ``smoothed_i > stop_factor * min(smoothed_0..i)`` or the loss is
NaN/inf, and says why. The data is looped over as many epochs as needed. Afterwards every
variable of the model (weights, BatchNorm statistics, dropout seed state) and of the optimizer
(iterations, learning rate, momentum slots) is put back exactly as it was, bit for bit.

:func:`suggest` is a pure function of the curve (``lrs``, smoothed losses) giving three
suggestions, each with the rule that produced it:

* **steepest**: the LR where the smoothed loss falls fastest per decade of LR (most negative
  ``d smoothed / d log10(lr)``, ``numpy.gradient``), looked for before the minimum;
* **min_div_10**: the LR of the lowest smoothed loss, divided by 10 (the minimum itself is
  already at the edge of divergence);
* **valley**: fastai's valley rule (``fastai.callback.schedule.valley``, fastai v2.5+,
  Apache-2.0, after Zachary Mueller's gist): the longest decreasing run of the smoothed loss
  (a longest strictly decreasing *subsequence*, found by the O(n^2) dynamic programme), and
  the point ``floor(L/3) + floor(L/6)`` steps past its start. Reimplemented here with the same
  arithmetic (including how fastai records the run's start), so it returns the index fastai
  would; fastai describes the point as "2/3 of the way down the valley", but its index
  arithmetic lands about half-way along the run's index span, and we keep fastai's arithmetic.

Like fastai, the rules skip the first ``num_steps // 10`` points (tiny LRs, where the
bias-corrected average is still settling) and drop everything from the first non-finite loss.
When the usable curve is too short (fewer than :data:`MIN_POINTS` points), never falls
meaningfully (less than :data:`MIN_DROP` relative to where it started) or is too noisy (its
total variation before the minimum is more than :data:`MAX_ROUGHNESS` times its net fall),
every suggestion's ``lr`` is ``None`` and ``reason`` says which.

Each suggestion has one name and one description, :data:`SUGGESTIONS`, used wherever it is
shown. The job that runs a range test as a stored run is :mod:`lrviz.jobs.lr_find`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrviz.errors import FieldError
from lrviz.settings import defaults_of, setting, settings_of

__all__ = [
    "DEFAULTS", "MIN_POINTS", "MIN_DROP", "MAX_ROUGHNESS", "CSV_COLUMNS",
    "LRFindResult", "sweep_lrs", "smooth", "lr_range_test", "suggest", "fastai_valley_index",
    "validate_lr_find_settings", "format_suggestions", "LRFindSettings", "SUGGESTIONS", "RECOMMENDED",
    "recommended_order",
]

MIN_POINTS = 10  # usable points (after the skipped start) needed to suggest anything
MIN_DROP = 0.05  # the smoothed loss must fall at least 5% below where the usable curve starts
MAX_ROUGHNESS = 3.0  # total variation before the minimum <= 3 x the net fall
CSV_COLUMNS = ["step", "lr", "loss", "smoothed_loss"]


# --------------------------------------------------------------------------- settings


@dataclass
class LRFindSettings:
    """The sweep's settings, described once (defaults: fastai's ``lr_find``)."""

    start: float = setting(1e-7, "First LR of the sweep.", kind="float", low=0, low_open=True, label="From LR")
    end: float = setting(10.0, "Last LR of the sweep (> start).", kind="float", label="To LR")
    num_steps: int = setting(100, "Batches in the sweep.", kind="int", low=5, high=100_000, label="Batches")
    smoothing: float = setting(0.98, "EMA beta of the smoothed loss.", kind="float", low=0, high=1, high_open=True,
                               what="a number")
    stop_factor: float = setting(4.0, "Stop when the smoothed loss exceeds this x its best.", kind="float", low=1,
                                 low_open=True)


DEFAULTS: dict[str, Any] = defaults_of(LRFindSettings)


def validate_lr_find_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``start, end, num_steps, smoothing, stop_factor`` (defaults filled), checked and
    normalised; ``FieldError`` naming the field, the rule and the value."""
    specs = settings_of(LRFindSettings)
    s = {name: spec.parse(settings.get(name, spec.default)) for name, spec in specs.items()}
    if s["end"] <= s["start"]:
        raise FieldError("end", f"a finite number > start ({s['start']!r})", s["end"])
    return s


# --------------------------------------------------------------------------- the sweep


def sweep_lrs(start: float, end: float, num_steps: int) -> np.ndarray:
    """``start * (end/start) ** (i/(num_steps-1))`` for i = 0..num_steps-1 (float64)."""
    ratio = end / start  # Python float arithmetic, so the values are the formula's to the last bit
    return np.array([start * ratio ** (i / (num_steps - 1)) for i in range(num_steps)], dtype=np.float64)


def smooth(losses: Iterable[float], beta: float) -> np.ndarray:
    """Bias-corrected exponential moving average of ``losses`` (see the module docstring)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(loss)
        out.append(avg / (1 - beta ** (i + 1)))
    return np.asarray(out, dtype=np.float64)


@dataclass
class LRFindResult:
    """What one sweep measured. ``lrs`` is the planned (float64) LR of each step run;
    ``lr_applied`` the value read back from ``optimizer.learning_rate`` after setting it,
    before the batch (float32 on a float32 optimizer)."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    lr_applied: np.ndarray
    num_steps: int
    stopped_early: bool = False
    stop_reason: str | None = None
    suggestions: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"step": np.arange(len(self.lrs)), "lr": self.lrs, "loss": self.losses,
                             "smoothed_loss": self.smoothed})


def _snapshot(model: Any) -> list[tuple[Any, np.ndarray]]:
    """Every model and optimizer variable with a copy of its value (optimizer slots built first)."""
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    seen: set[int] = set()
    out = []
    for v in [*model.variables, *opt.variables, *getattr(model, "metrics_variables", [])]:
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append((v, np.array(v.numpy(), copy=True)))
    return out


def _restore(snapshot: list[tuple[Any, np.ndarray]]) -> None:
    for v, value in snapshot:
        v.assign(value)


def _batches(data: Any) -> Iterable[tuple[Any, Any]]:
    """Loop over ``data`` (a ``tf.data.Dataset`` or any re-iterable of (x, y)) forever."""
    while True:
        n = 0
        for batch in data:
            n += 1
            yield batch[0], batch[1]
        if n == 0:
            raise FieldError("data", "batches of (x, y)", "no batch", message="Argument `data` must yield at least one "
                                                                                 "(x, y) batch.")


def lr_range_test(model: Any, data: Any, *, start: float = DEFAULTS["start"], end: float = DEFAULTS["end"],
                  num_steps: int = DEFAULTS["num_steps"], smoothing: float = DEFAULTS["smoothing"],
                  stop_factor: float = DEFAULTS["stop_factor"], restore: bool = True,
                  on_step: Callable[[int, float, float, float], Any] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> LRFindResult:
    """Run the LR range test on a compiled Keras model; return the curve and :func:`suggest`'s
    suggestions. Weights and optimizer state are restored afterwards (``restore=True``), also
    when the sweep raises or is stopped.

    ``data``: batches of ``(x, y)`` (e.g. :func:`lrviz.batches.make_tf_dataset`), looped over as
    many times as needed. ``on_step(step, lr, loss, smoothed)`` is called after each batch;
    ``should_stop()`` before each (a user's stop request: the curve so far is kept).
    """
    s = validate_lr_find_settings({"start": start, "end": end, "num_steps": num_steps, "smoothing": smoothing,
                                  "stop_factor": stop_factor})
    opt = getattr(model, "optimizer", None)
    if opt is None:
        raise ValueError("Argument `model` must be compiled with an optimizer before the LR range test.")
    import keras

    try:
        if isinstance(opt._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError("Argument `model` must have an optimizer with a plain (float) learning rate, not a "
                             "LearningRateSchedule: the range test sets the LR itself.")
    except AttributeError:
        pass
    lrs_plan = sweep_lrs(s["start"], s["end"], s["num_steps"])
    beta, factor = s["smoothing"], s["stop_factor"]
    snapshot = _snapshot(model) if restore else None
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    applied: list[float] = []
    stopped_early, reason = False, None
    avg, best = 0.0, math.inf
    try:
        batches = _batches(data)
        for i in range(s["num_steps"]):
            if should_stop is not None and should_stop():
                stopped_early, reason = True, f"stopped by request at step {i}/{s['num_steps']}"
                break
            x, y = next(batches)
            lr = float(lrs_plan[i])
            opt.learning_rate = lr
            current = opt.learning_rate
            applied.append(float(current.numpy() if hasattr(current, "numpy") else current))
            logs = model.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            lrs.append(lr)
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.nan)
                stopped_early, reason = True, f"diverged at lr={lr:.3g} (loss is {loss})"
            else:
                avg = beta * avg + (1 - beta) * loss
                sm = avg / (1 - beta ** (i + 1))
                smoothed.append(sm)
                best = min(best, sm)
                if sm > factor * best:
                    stopped_early = True
                    reason = (f"diverged at lr={lr:.3g} (smoothed loss {sm:.4g} > {factor:g} × best {best:.4g})")
            if on_step is not None:
                on_step(i, lr, loss, smoothed[-1])
            if stopped_early:
                break
    finally:
        if snapshot is not None:
            _restore(snapshot)
    result = LRFindResult(np.asarray(lrs), np.asarray(losses), np.asarray(smoothed), np.asarray(applied),
                          s["num_steps"], stopped_early, reason)
    result.suggestions = suggest(result.lrs, result.smoothed, num_steps=s["num_steps"])
    result.suggestions.update(stopped_early=stopped_early, stop_reason=reason)
    return result


# --------------------------------------------------------------------------- suggestions


def fastai_valley_index(losses: Any) -> tuple[int, int, int]:
    """fastai's ``valley`` on ``losses``: ``(idx, run_start, run_end)``.

    Longest strictly decreasing subsequence by dynamic programming (``lds[i]``: length of the
    longest one ending at ``i``); ``run_end`` is the first index reaching the longest and
    ``run_start = run_end - lds[run_end]`` as fastai records it at the moment ``run_end`` takes
    the lead; ``idx = run_start + floor(L/3) + floor(L/6)`` with ``L = run_end - run_start``.
    """
    x = np.asarray(losses, dtype=np.float64)
    n = len(x)
    lds = np.ones(n, dtype=np.int64)
    max_start = max_end = 0
    for i in range(1, n):
        # fastai's inner loop over j < i, vectorised: the running value of lds[i] after each j
        running = np.maximum.accumulate(np.where(x[:i] > x[i], lds[:i] + 1, 1))
        lds[i] = running[-1]
        if lds[i] > lds[max_end]:  # fastai switches run_end at the first j where lds[i] takes the lead
            j = int(np.argmax(running > lds[max_end]))
            max_end, max_start = i, i - int(running[j])
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return idx, max_start, max_end


@dataclass(frozen=True)
class SuggestionRule:
    """How a suggestion is named wherever it is shown (CLI, Train page, Runs page, chart legend),
    and what its rule does, in words."""

    name: str
    description: str
    origin: str = ""  # whose rule it is, said in its text: "valley (fastai): ..."

    @property
    def text(self) -> str:
        return f"{self.name}{f' ({self.origin})' if self.origin else ''}: {self.description}"

    def detail(self, rule_text: Any) -> str:
        """A stored suggestion's rule text without the name in front (shown after the name)."""
        text = str(rule_text or "")
        for head in (f"{self.name} ({self.origin}): ", f"{self.name}: "):
            text = text.removeprefix(head)
        return f"{text} ({self.origin}'s rule)" if self.origin and text else text


SUGGESTIONS = {  # key in suggestions.json -> its one wording
    "steepest": SuggestionRule("steepest descent", "the LR where the smoothed loss falls fastest per decade of LR "
                                                   "(most negative d loss / d log10 LR), searched before the minimum"),
    "min_div_10": SuggestionRule("minimum ÷ 10", "one tenth of the LR at the lowest smoothed loss"),
    "valley": SuggestionRule("valley", "a point about half-way along the longest decreasing stretch of the smoothed "
                                       "loss", origin="fastai"),
}
_RULES = {key: rule.text for key, rule in SUGGESTIONS.items()}
# Which suggestion a learner is offered first: Smith's steepest descent (on digits 0.0085, next to
# the tutorial's 0.01), then fastai's valley (more cautious), then minimum ÷ 10.
RECOMMENDED = ("steepest", "valley", "min_div_10")


def recommended_order(suggestions: Mapping[str, Any]) -> list[str]:
    """The keys of the suggestions that found an LR (a finite number > 0: the file may have been
    written by anyone), the recommended one first."""
    if not isinstance(suggestions, Mapping):
        return []

    def found(entry: Any) -> bool:
        lr = entry.get("lr") if isinstance(entry, Mapping) else None
        return isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0

    return [k for k in RECOMMENDED if found(suggestions.get(k))]


def _empty(reason: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: {"lr": None, "rule": rule, "step": None, "loss": None} for k, rule in _RULES.items()}
    out["reason"] = reason
    return out


def suggest(lrs: Any, smoothed_losses: Any, *, num_steps: int | None = None) -> dict[str, Any]:
    """Suggested LRs from a range-test curve (``lrs`` increasing, smoothed losses).

    Returns ``{"steepest": S, "min_div_10": S, "valley": S, "reason": str | None}`` with
    ``S = {"lr": float | None, "rule": str, "step": int | None, "loss": float | None}``: ``step``
    is the index into the curve of the point the rule picked and ``loss`` its smoothed loss
    (for marking it on a chart; for min ÷ 10 that is the minimum itself, while ``lr`` is a tenth
    of its LR). ``reason`` is None when all three were found; otherwise every ``lr`` is None
    and ``reason`` says why. ``num_steps`` (the sweep's planned length, default ``len(lrs)``)
    sets how many first points are skipped: ``num_steps // 10``.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    sm = np.asarray(smoothed_losses, dtype=np.float64)
    if lrs.shape != sm.shape or lrs.ndim != 1:
        raise ValueError(f"Arguments `lrs` and `smoothed_losses` must be 1-D and the same length. "
                         f"Received: {lrs.shape} and {sm.shape}")
    bad = np.flatnonzero(~np.isfinite(sm) | ~np.isfinite(lrs) | (lrs <= 0))
    n = int(bad[0]) if len(bad) else len(sm)  # the usable curve ends at the first NaN/inf
    skip = (num_steps if num_steps is not None else len(sm)) // 10
    lo = min(skip, n)
    x, y = np.log10(lrs[lo:n]), sm[lo:n]
    if len(y) < MIN_POINTS:
        return _empty(f"too short to suggest anything: {len(y)} usable points (after skipping the first {lo}"
                      f"{' and everything from the first NaN/inf loss' if n < len(sm) else ''}); need at least "
                      f"{MIN_POINTS}. Start the sweep at a smaller LR or use more steps.")
    imin = int(np.argmin(y))
    first, low = float(y[0]), float(y[imin])
    drop = first - low
    if drop <= MIN_DROP * abs(first) or imin < 2:
        return _empty(f"the smoothed loss never falls meaningfully (from {first:.4g} at lr={lrs[lo]:.3g} to at best "
                      f"{low:.4g}, {100 * drop / abs(first) if first else 0:.1f}% lower; {MIN_DROP:.0%} needed): no LR "
                      "in the range makes the model learn. Widen the range (smaller start, larger end).")
    roughness = float(np.sum(np.abs(np.diff(y[: imin + 1])))) / drop
    if roughness > MAX_ROUGHNESS:
        return _empty(f"too noisy to suggest anything: before its minimum the smoothed loss moves {roughness:.1f}× "
                      f"as much up and down as it falls overall (at most {MAX_ROUGHNESS:g}× allowed). Use a larger "
                      "smoothing, a larger batch or more steps.")
    out: dict[str, Any] = {}
    # steepest: gradient w.r.t. log10(lr) on the part up to the minimum
    g = np.gradient(y[: imin + 1], x[: imin + 1])
    k = int(np.argmin(g))
    out["steepest"] = {"lr": float(lrs[lo + k]), "step": lo + k, "loss": float(y[k]),
                       "rule": f"{_RULES['steepest']}: slope {g[k]:.3g} per decade at lr={lrs[lo + k]:.3g}"}
    out["min_div_10"] = {"lr": float(lrs[lo + imin] / 10), "step": lo + imin, "loss": low,
                         "rule": f"{_RULES['min_div_10']}: the minimum {low:.4g} is at lr={lrs[lo + imin]:.3g}, "
                                 f"so {lrs[lo + imin] / 10:.3g}"}
    v, vs, ve = fastai_valley_index(y)
    v = max(v, 0)  # fastai would wrap to the last point in this degenerate case
    out["valley"] = {"lr": float(lrs[lo + v]), "step": lo + v, "loss": float(y[v]),
                     "rule": f"{_RULES['valley']}: the stretch runs from lr={lrs[lo + max(vs, 0)]:.3g} to "
                             f"lr={lrs[lo + ve]:.3g}; point {v - vs} of its {ve - vs} steps, lr={lrs[lo + v]:.3g}"}
    out["reason"] = None
    return out


def format_suggestions(s: Mapping[str, Any]) -> str:
    """The suggestions as text lines (what the CLI prints)."""
    lines = []
    if s.get("stopped_early"):
        lines.append(f"Stopped early: {s.get('stop_reason')}")
    if s.get("reason"):
        lines.append(f"No suggestion: {s['reason']}")
    for key, rule in SUGGESTIONS.items():
        e = s.get(key) or {}
        lr = e.get("lr")
        detail = rule.detail(e.get("rule"))
        lines.append(f"  {rule.name:16s} {'-' if lr is None else f'{lr:.3g}':>9s}  {detail}")
    return "\n".join(lines)
