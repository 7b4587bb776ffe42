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

The worker half (``kind: lr_find`` runs in the store, started by
:func:`lrviz.runs.start_lr_find`) is :func:`run_lr_find_worker`, called by
``python -m lrviz.training <run_dir>`` when the run's config has ``"kind": "lr_find"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULTS", "MIN_POINTS", "MIN_DROP", "MAX_ROUGHNESS", "CSV_COLUMNS",
    "LRFindResult", "sweep_lrs", "smooth", "lr_range_test", "suggest", "fastai_valley_index",
    "validate_finder_settings", "run_lr_find_worker", "format_suggestions",
]

DEFAULTS: dict[str, Any] = {"start": 1e-7, "end": 10.0, "num_steps": 100, "smoothing": 0.98, "stop_factor": 4.0}
MIN_POINTS = 10  # usable points (after the skipped start) needed to suggest anything
MIN_DROP = 0.05  # the smoothed loss must fall at least 5% below where the usable curve starts
MAX_ROUGHNESS = 3.0  # total variation before the minimum <= 3 x the net fall
CSV_COLUMNS = ["step", "lr", "loss", "smoothed_loss"]
STATUS_INTERVAL_S = 0.25  # status.json / lr_find.csv rewritten at most 4 times per second


# --------------------------------------------------------------------------- settings


def _err(name: str, rule: str, value: Any) -> ValueError:
    return ValueError(f"Argument `{name}` must be {rule}. Received: {name}={value!r}")


def _number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def validate_finder_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``start, end, num_steps, smoothing, stop_factor`` (defaults filled), checked and
    normalised; ``ValueError`` naming the field, the rule and the value."""
    s = {**DEFAULTS, **{k: settings[k] for k in DEFAULTS if k in settings}}
    if not _number(s["start"]) or s["start"] <= 0:
        raise _err("start", "a finite number > 0", s["start"])
    if not _number(s["end"]) or s["end"] <= s["start"]:
        raise _err("end", f"a finite number > start ({s['start']!r})", s["end"])
    n = s["num_steps"]
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int) or not 5 <= n <= 100_000:
        raise _err("num_steps", "an integer >= 5 and <= 100000", s["num_steps"])
    if not _number(s["smoothing"]) or not 0 <= s["smoothing"] < 1:
        raise _err("smoothing", "a number >= 0 and < 1", s["smoothing"])
    if not _number(s["stop_factor"]) or s["stop_factor"] <= 1:
        raise _err("stop_factor", "a finite number > 1", s["stop_factor"])
    return {"start": float(s["start"]), "end": float(s["end"]), "num_steps": n, "smoothing": float(s["smoothing"]),
            "stop_factor": float(s["stop_factor"])}


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
            raise ValueError("Argument `data` must yield at least one (x, y) batch.")


def lr_range_test(model: Any, data: Any, *, start: float = DEFAULTS["start"], end: float = DEFAULTS["end"],
                  num_steps: int = DEFAULTS["num_steps"], smoothing: float = DEFAULTS["smoothing"],
                  stop_factor: float = DEFAULTS["stop_factor"], restore: bool = True,
                  on_step: Callable[[int, float, float, float], Any] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> LRFindResult:
    """Run the LR range test on a compiled Keras model; return the curve and :func:`suggest`'s
    suggestions. Weights and optimizer state are restored afterwards (``restore=True``), also
    when the sweep raises or is stopped.

    ``data``: batches of ``(x, y)`` (e.g. :func:`lrviz.data.make_tf_dataset`), looped over as
    many times as needed. ``on_step(step, lr, loss, smoothed)`` is called after each batch;
    ``should_stop()`` before each (a user's stop request: the curve so far is kept).
    """
    s = validate_finder_settings({"start": start, "end": end, "num_steps": num_steps, "smoothing": smoothing,
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


_RULES = {
    "steepest": "steepest descent: the LR where the smoothed loss falls fastest per decade of LR "
                "(most negative d loss / d log10 LR), searched before the minimum",
    "min_div_10": "minimum ÷ 10: one tenth of the LR at the lowest smoothed loss",
    "valley": "valley (fastai): a point about half-way along the longest decreasing stretch of the smoothed loss",
}


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
    for key, title in (("steepest", "steepest"), ("min_div_10", "min/10"), ("valley", "valley")):
        e = s.get(key) or {}
        lr = e.get("lr")
        lines.append(f"  {title:9s} {'-' if lr is None else f'{lr:.3g}':>9s}  {e.get('rule', '')}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- worker


class _Writer:
    """status.json and lr_find.csv of an lr_find run, rewritten atomically at most 4 times/s."""

    def __init__(self, path: Path, num_steps: int):
        from lrviz import runs as store

        self.store = store
        self.path = path
        self.num_steps = num_steps
        self.status: dict[str, Any] = store.read_json(path / "status.json")
        self.rows: list[tuple[int, float, float, float]] = []
        self._last = 0.0
        self._t0 = time.time()

    def write_status(self, **changes: Any) -> None:
        now = time.time()
        self.status.update(changes, updated_at=now)
        if self.status.get("started_at"):
            self.status["elapsed_s"] = now - self.status["started_at"]
        self.store.atomic_write_json(self.path / "status.json", self.status)

    def write_csv(self) -> None:
        lines = [",".join(CSV_COLUMNS)]
        lines += [f"{s},{lr!r},{loss!r},{sm!r}" for s, lr, loss, sm in self.rows]  # repr: exact round trip
        self.store.atomic_write_text(self.path / "lr_find.csv", "\n".join(lines) + "\n")

    def step(self, i: int, lr: float, loss: float, sm: float) -> None:
        self.rows.append((i, lr, loss, sm))
        if time.monotonic() - self._last < STATUS_INTERVAL_S:
            return
        self._last = time.monotonic()
        done = i + 1
        elapsed = time.time() - self._t0
        self.write_csv()
        self.write_status(step=done, lr=lr, loss=loss, smoothed_loss=sm,
                          eta_s=elapsed / done * (self.num_steps - done))


def run_lr_find_worker(path: Path, config: dict[str, Any], control: Any,
                       on_step: Callable[[int, float, float, float], Any] | None = None) -> str:
    """Run the range test of the ``lr_find`` run in ``path``; write lr_find.csv, suggestions.json
    and the final status. Returns the final state (exceptions propagate to the caller, which
    marks the run failed)."""
    from lrviz import runs as store
    from lrviz.data import load_dataset, make_tf_dataset
    from lrviz.training import _configure_tf, _strategy

    s = validate_finder_settings(config)
    writer = _Writer(path, s["num_steps"])
    writer.write_status(phase="loading data", step=0, num_steps=s["num_steps"])
    ds = load_dataset(config["dataset"], cifar_archive=config.get("cifar_archive"), limit=config.get("limit"),
                      seed=config["seed"])
    tf = _configure_tf()
    import keras

    from lrviz.models import MiniVGGNet

    keras.utils.set_random_seed(config["seed"])
    classes = len(ds.class_names)
    with _strategy(tf).scope():
        h, w, d = ds.input_shape
        model = MiniVGGNet.build(width=w, height=h, depth=d, classes=classes)
        opt = keras.optimizers.SGD(learning_rate=s["start"], momentum=config["momentum"],
                                   nesterov=config["nesterov"])
        model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    train = make_tf_dataset(ds.x_train, ds.y_train, classes, config["batch_size"], shuffle=True,
                            seed=config["seed"])
    config.update(train_size=len(ds.x_train), steps_per_epoch=-(-len(ds.x_train) // config["batch_size"]))
    store.atomic_write_json(path / "config.json", config)
    if (control.dir / "stop").exists():
        control.stop_requested = True

    def step(i: int, lr: float, loss: float, sm: float) -> None:
        writer.step(i, lr, loss, sm)
        if on_step is not None:
            on_step(i, lr, loss, sm)

    def should_stop() -> bool:
        control.poll()
        return control.stop_requested

    writer.write_status(state="running", phase="sweeping")
    writer._t0 = time.time()
    result = lr_range_test(model, train, **s, restore=False, on_step=step, should_stop=should_stop)
    writer.write_csv()
    store.atomic_write_json(path / "suggestions.json", result.suggestions)
    state = "stopped" if control.stop_requested else "finished"
    last = dict(zip(("lr", "loss", "smoothed_loss"), writer.rows[-1][1:])) if writer.rows else {}
    writer.write_status(state=state, phase=None, eta_s=None, step=len(result.lrs), **last,
                        stopped_early=result.stopped_early, stop_reason=result.stop_reason)
    return state
