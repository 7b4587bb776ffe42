"""The schedule zoo: pure, vectorised learning-rate schedules and their registry.

Every schedule is a function ``fn(step, steps_per_epoch, **params) -> ndarray`` of the
0-based *global batch index* ``step`` (what Keras calls ``optimizer.iterations``).
Three kinds of time are derived from it, and each spec says which one it reads:

* ``"epoch"``      -- ``epoch = step // steps_per_epoch`` (0-based, the index that
  ``keras.callbacks.LearningRateScheduler`` passes). The LR only changes at epoch starts.
* ``"step"``       -- the raw batch index (Keras 2's ``decay`` argument worked like this).
* ``"continuous"`` -- ``x = step / steps_per_epoch``, fractional epochs; the curve is smooth
  when applied per batch, like Keras' own ``keras.optimizers.schedules`` classes with
  ``decay_steps = epochs * steps_per_epoch``.

So one function serves the explorer's curves, the CLI's table and the LR that the
training callback sets before every batch: one source of truth per formula.

Epochs shown to people are 1-based (Keras prints "Epoch 15/40" for index 14); every
``epoch`` argument in this module is the 0-based index.

No TensorFlow, Keras or Streamlit import here: this module must load in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrviz import keras_code as kc
from lrviz.errors import FieldError
from lrviz.fields import Field
from lrviz.keras_code import Snippet, assemble
from lrviz.rules import fmt

__all__ = [
    "Param",
    "ScheduleSpec",
    "Schedule",
    "REGISTRY",
    "distinct_labels",
    "get_spec",
    "steps_per_epoch_for",
    "KERAS2_STEPS_PER_EPOCH",
]

# The tutorial's CIFAR-10 set-up: 50,000 training images, batch 64.
CIFAR10_TRAIN_SIZE = 50_000
TUTORIAL_BATCH_SIZE = 64


def steps_per_epoch_for(n_samples: int, batch_size: int) -> int:
    """Batches per epoch as Keras counts them: ``ceil(n_samples / batch_size)``."""
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise FieldError("n_samples", "an integer >= 1", n_samples)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise FieldError("batch_size", "an integer >= 1", batch_size)
    return int(math.ceil(n_samples / batch_size))


KERAS2_STEPS_PER_EPOCH = steps_per_epoch_for(CIFAR10_TRAIN_SIZE, TUTORIAL_BATCH_SIZE)  # 782


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param(Field):
    """One parameter of a schedule: a :class:`~lrviz.fields.Field` that also reads text (a page's
    text box, a shared link, a CLI flag), so ``"0.5"`` is 0.5. ``kind`` is ``"float"``, ``"int"``,
    ``"floats"`` or ``"ints"`` (the last two are comma-separated lists)."""

    reads_text: bool = True




# --------------------------------------------------------------------------- formulas
# Each takes (step, steps_per_epoch, **params) with `step` a float64 array of batch
# indices and returns an array of the same shape.


def _epoch(step: np.ndarray, spe: int) -> np.ndarray:
    return np.floor_divide(step, spe)


def constant(step, spe, lr):
    """``lr`` for every batch."""
    return np.full_like(step, lr, dtype=np.float64)


def time_decay_keras2(step, spe, lr, decay):
    """What Keras 2's ``SGD(decay=...)`` did: ``lr / (1 + decay * t)``, t = batches seen."""
    return lr / (1.0 + decay * step)


def time_decay_epoch(step, spe, lr, decay):
    """The same formula with t = the 0-based epoch index: ``lr / (1 + decay * epoch)``."""
    return lr / (1.0 + decay * _epoch(step, spe))


def time_decay_recursive(step, spe, lr, decay):
    """The tutorial's recursion ``a_{e+1} = a_e / (1 + decay * e)``, ``a_0 = lr``.

    Closed form: ``a_e = lr / prod_{k=0}^{e-1} (1 + decay * k)``, computed in log space.
    """
    e = _epoch(step, spe).astype(np.int64)
    n = int(e.max()) + 1 if e.size else 1
    k = np.arange(n, dtype=np.float64)
    log_prod = np.concatenate([[0.0], np.cumsum(np.log1p(decay * k))])  # log_prod[e] = sum_{k<e}
    return lr * np.exp(-log_prod[e])


def step_decay(step, spe, lr, factor, drop_every):
    """The tutorial's step decay: ``lr * factor ** floor((1 + epoch) / drop_every)``."""
    return lr * factor ** np.floor((1 + _epoch(step, spe)) / drop_every)


def piecewise_constant(step, spe, boundaries, values):
    """``values[i]`` where i = how many ``boundaries`` (0-based epoch indices) are <= epoch."""
    idx = np.searchsorted(np.asarray(boundaries, dtype=np.float64), _epoch(step, spe), side="right")
    return np.asarray(values, dtype=np.float64)[idx]


def exponential(step, spe, lr, decay_rate, decay_epochs, staircase):
    """``lr * decay_rate ** (x / decay_epochs)``; with staircase the exponent is floored."""
    p = step / (spe * decay_epochs)
    if staircase:
        p = np.floor(p)
    return lr * decay_rate**p


def polynomial(step, spe, lr, end_lr, decay_epochs, power):
    """``(lr - end_lr) * (1 - min(x, T) / T) ** power + end_lr``; power 1 is linear decay."""
    frac = np.minimum(step / spe, decay_epochs) / decay_epochs
    return (lr - end_lr) * (1.0 - frac) ** power + end_lr


def cosine(step, spe, lr, decay_epochs, alpha, warmup_epochs, warmup_start_lr):
    """Linear warmup from ``warmup_start_lr`` to ``lr`` over ``warmup_epochs``, then
    ``lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(x', T) / T)) + alpha)`` with x' the
    epochs since the warmup ended (Keras ``CosineDecay`` with ``warmup_target``)."""
    x = step / spe
    after = np.maximum(x - warmup_epochs, 0.0)
    frac = np.minimum(after, decay_epochs) / decay_epochs
    decayed = lr * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * frac)) + alpha)
    if warmup_epochs > 0:
        warm = warmup_start_lr + (lr - warmup_start_lr) * x / warmup_epochs
        return np.where(x < warmup_epochs, warm, decayed)
    return decayed


def cosine_restarts(step, spe, lr, first_decay_epochs, t_mul, m_mul, alpha):
    """SGDR (Loshchilov & Hutter, 2017) exactly as Keras' ``CosineDecayRestarts``."""
    frac = step / (spe * first_decay_epochs)
    if t_mul == 1.0:
        i = np.floor(frac)
        frac = frac - i
    else:
        i = np.floor(np.log(1.0 - frac * (1.0 - t_mul)) / np.log(t_mul))
        done = (1.0 - t_mul**i) / (1.0 - t_mul)
        frac = (frac - done) / t_mul**i
    cos = 0.5 * m_mul**i * (1.0 + np.cos(np.pi * frac))
    return lr * ((1 - alpha) * cos + alpha)


def one_cycle(step, spe, max_lr, total_epochs, pct_start, div_factor, final_div_factor):
    """Smith's one-cycle policy with cosine annealing, as optax's ``cosine_onecycle_schedule``
    (``transition_steps = total_epochs * steps_per_epoch``): ``max_lr / div_factor`` rises to
    ``max_lr`` over ``pct_start * total_epochs``, then falls to ``max_lr / div_factor /
    final_div_factor`` at ``total_epochs``; flat afterwards.

    In 0-based steps, with ``T = total_epochs * steps_per_epoch``: the peak is at step
    ``pct_start * T`` and the end at step ``T``. optax rounds its peak down to
    ``int(pct_start * T)``, so the two curves are equal whenever ``pct_start * T`` is a whole
    number. PyTorch's ``OneCycleLR`` (``anneal_strategy='cos'``, ``three_phase=False``) is one
    step earlier: it peaks at ``pct_start * T - 1`` and ends at ``T - 1`` (its last batch), so
    its rise is one step shorter and its fall is this fall one step sooner
    (``tests/test_schedules.py`` shows both against re-statements of their formulas)."""
    x = np.minimum(step / spe, total_epochs)
    start = max_lr / div_factor
    end = start / final_div_factor
    up = pct_start * total_epochs
    def anneal(a, b, t):  # cosine from a (t=0) to b (t=1)
        return b + (a - b) * 0.5 * (1 + np.cos(np.pi * t))
    rising = anneal(start, max_lr, x / up)
    falling = anneal(max_lr, end, (x - up) / (total_epochs - up))
    return np.where(x < up, rising, falling)


def triangular(step, spe, base_lr, max_lr, half_cycle_epochs, cycle_scale):
    """Triangular cyclical LR (Smith, 2015): linear up from ``base_lr`` to ``max_lr`` over
    ``half_cycle_epochs``, back down over the same; the amplitude is multiplied by
    ``cycle_scale`` after each full cycle (1 = "triangular", 0.5 = "triangular2")."""
    x = step / spe
    cycle = np.floor(1 + x / (2 * half_cycle_epochs))
    pos = np.abs(x / half_cycle_epochs - 2 * cycle + 1)
    return base_lr + (max_lr - base_lr) * np.maximum(0.0, 1 - pos) * cycle_scale ** (cycle - 1)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    """Everything lrviz knows about one schedule, described once: adding a schedule is one
    entry in the registry (and its oracle test).

    ``time``: which time ``fn`` reads (see the module docstring). ``keras_export`` writes the
    Keras 3 code that reproduces the curve (:mod:`lrviz.keras_code`). ``peak_param`` is the
    parameter an LR range test's suggestion sets: the initial LR, the peak of a cyclic schedule,
    None where no single parameter is the LR (piecewise values). ``decays``: the LR never rises
    once the schedule's own warmup is over (``warmup_param``: the parameter holding that warmup's
    length in epochs, cosine's ``warmup_epochs``); tested as a property over the registry.
    ``example``: parameters that make the curve change within 5 short epochs (the exported code
    is run with them in a real ``fit``).
    """

    name: str
    title: str
    summary: str
    params: tuple[Param, ...]
    latex: str
    fn: Callable[..., np.ndarray]
    time: str  # "epoch" | "step" | "continuous"
    keras_export: Callable[[Mapping[str, Any]], Snippet]
    example: Mapping[str, Any]
    peak_param: str | None = "lr"
    decays: bool = True
    warmup_param: str | None = None
    cross_check: Callable[[Mapping[str, Any]], None] | None = None
    flags: tuple[str, ...] = ()  # boolean parameters (e.g. staircase)

    @property
    def stepwise(self) -> bool:
        """True when the curve is constant within an epoch (draw it as stairs)."""
        return self.time == "epoch"

    @property
    def own_warmup(self) -> bool:
        """True when the schedule has a warmup of its own (cosine: Keras' ``warmup_target``), so
        editors offer no second, generic one in front of it."""
        return self.warmup_param is not None

    def warmup_epochs(self, params: Mapping[str, Any]) -> float:
        """Length of the schedule's own warmup for ``params`` (0 without one), in epochs."""
        return float(params[self.warmup_param]) if self.warmup_param else 0.0

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        d = {p.name: p.default for p in self.params}
        d.update({f: False for f in self.flags})
        return d


def lr_param(default=0.01, name="lr", help="Initial learning rate (the tutorial's initAlpha).") -> Param:
    """The one rule of an LR value (> 0 and <= 10): every LR parameter, and the Train page's "set LR"."""
    return Param(name, default, help, low=0, low_open=True, high=10, unit="LR", log=True)


DECAY = Param(
    "decay", 0.00025, "Decay rate gamma; the tutorial uses 0.01 / 40 = 0.00025.",
    low=0, high=1, unit="1/step", log=True,
)
EPOCHS_BOUND = 10_000


def check_piecewise(p):
    b, v = p["boundaries"], p["values"]
    if len(v) != len(b) + 1:
        raise FieldError("values", "one more entry than `boundaries`",
                         f"{','.join(map(fmt, v))} ({len(v)} values) for {len(b)} boundaries", as_typed=True)
    if any(b2 <= b1 for b1, b2 in zip(b, b[1:])):
        raise FieldError("boundaries", "strictly increasing", ",".join(map(fmt, b)), as_typed=True)


def check_triangular(p):
    if p["max_lr"] < p["base_lr"]:
        raise FieldError("max_lr", f">= base_lr ({fmt(p['base_lr'])})", fmt(p["max_lr"]), as_typed=True)


def check_polynomial(p):
    if p["end_lr"] > p["lr"]:
        raise FieldError("end_lr", f"<= lr ({fmt(p['lr'])})", fmt(p["end_lr"]), as_typed=True)


SPECS = [
    ScheduleSpec(
        name="constant", title="Constant", summary="The same LR for every batch.",
        params=(lr_param(),), latex=r"\alpha_e = \alpha_0", fn=constant, time="epoch",
        keras_export=kc.constant, example={"lr": 0.02},
    ),
    ScheduleSpec(
        name="time_keras2", title="Time-based decay (Keras 2, per batch)",
        summary="What SGD(decay=...) really did in Keras 2: the LR falls after every batch.",
        params=(lr_param(), DECAY), latex=r"\alpha_t = \dfrac{\alpha_0}{1 + \gamma\, t},\quad t = \text{batches seen}",
        fn=time_decay_keras2, time="step", keras_export=kc.time_keras2, example={"lr": 0.01, "decay": 0.05},
    ),
    ScheduleSpec(
        name="time_epoch", title="Time-based decay (per epoch)",
        summary="The same formula with t = the epoch index: what many readers assume decay does.",
        params=(lr_param(), DECAY), latex=r"\alpha_e = \dfrac{\alpha_0}{1 + \gamma\, e}", fn=time_decay_epoch,
        time="epoch", keras_export=kc.time_epoch, example={"lr": 0.01, "decay": 0.2},
    ),
    ScheduleSpec(
        name="time_recursive", title="Time-based decay (tutorial's recursion)",
        summary="The tutorial's text: each epoch divides the previous LR by (1 + gamma * e).",
        params=(lr_param(), DECAY), latex=r"\alpha_{e+1} = \alpha_e \cdot \dfrac{1}{1 + \gamma\, e}",
        fn=time_decay_recursive, time="epoch", keras_export=kc.time_recursive, example={"lr": 0.01, "decay": 0.2},
    ),
    ScheduleSpec(
        name="step", title="Step decay", summary="The tutorial's schedule: multiply by F every D epochs.",
        params=(
            lr_param(),
            Param("factor", 0.5, "Drop factor F: the LR is multiplied by F at every drop.", low=0, high=1,
                  low_open=True, high_open=True, slider=(0.05, 0.95, 0.05)),
            Param("drop_every", 5, "Drop every D epochs (the first drop is at epoch D, 1-based).", kind="int",
                  low=1, high=EPOCHS_BOUND, unit="epochs", slider=(1, 20, 1)),
        ),
        latex=r"\alpha_e = \alpha_0 \cdot F^{\left\lfloor \frac{1 + e}{D} \right\rfloor}", fn=step_decay,
        time="epoch", keras_export=kc.step, example={"lr": 0.01, "factor": 0.5, "drop_every": 2},
    ),
    ScheduleSpec(
        name="piecewise", title="Piecewise constant", summary="Fixed LR values between fixed epoch boundaries.",
        params=(
            Param("boundaries", (10, 20, 30), "0-based epoch indices where the next value starts.", kind="ints",
                  low=1, high=EPOCHS_BOUND, unit="epochs"),
            Param("values", (0.01, 0.005, 0.001, 0.0005), "One LR per interval (one more than boundaries).",
                  kind="floats", low=0, low_open=True, high=10, unit="LR"),
        ),
        latex=r"\alpha_e = v_i,\quad i = \#\{\, b_j \le e \,\}", fn=piecewise_constant, time="epoch",
        keras_export=kc.piecewise, example={"boundaries": [1, 3], "values": [0.03, 0.01, 0.002]},
        peak_param=None, decays=False, cross_check=check_piecewise,
    ),
    ScheduleSpec(
        name="exponential", title="Exponential decay",
        summary="Multiply by decay_rate every decay_epochs (smoothly or in stairs).",
        params=(
            lr_param(),
            Param("decay_rate", 0.5, "Factor applied per decay_epochs.", low=0, high=1, low_open=True,
                  high_open=True, slider=(0.05, 0.95, 0.05)),
            Param("decay_epochs", 10.0, "Epochs per application of decay_rate.", low=0, low_open=True,
                  high=EPOCHS_BOUND, unit="epochs"),
        ),
        latex=r"\alpha_x = \alpha_0 \cdot r^{\,x / T}\quad(\lfloor x/T \rfloor \text{ with staircase})",
        fn=exponential, time="continuous", keras_export=kc.exponential, flags=("staircase",),
        example={"lr": 0.01, "decay_rate": 0.5, "decay_epochs": 2, "staircase": True},
    ),
    ScheduleSpec(
        name="polynomial", title="Polynomial decay", summary="From lr to end_lr over decay_epochs; power 1 is linear.",
        params=(
            lr_param(),
            Param("end_lr", 0.0001, "LR reached at decay_epochs and kept after.", low=0, low_open=True, high=10,
                  unit="LR", log=True),
            Param("decay_epochs", 40.0, "Length of the decay.", low=0, low_open=True, high=EPOCHS_BOUND,
                  unit="epochs"),
            Param("power", 1.0, "Exponent of the decay (1 = linear).", low=0, low_open=True, high=10),
        ),
        latex=r"\alpha_x = (\alpha_0 - \alpha_{end})\left(1 - \tfrac{\min(x, T)}{T}\right)^{p} + \alpha_{end}",
        fn=polynomial, time="continuous", keras_export=kc.polynomial, cross_check=check_polynomial,
        example={"lr": 0.01, "end_lr": 0.001, "decay_epochs": 4, "power": 2},
    ),
    ScheduleSpec(
        name="cosine", title="Cosine decay (with warmup)",
        summary="Half a cosine from lr down to alpha * lr, after an optional warmup.",
        params=(
            lr_param(help="Peak LR (reached at the end of the warmup)."),
            Param("decay_epochs", 40.0, "Length of the cosine after the warmup.", low=0, low_open=True,
                  high=EPOCHS_BOUND, unit="epochs"),
            Param("alpha", 0.0, "Floor as a fraction of lr.", low=0, high=1),
            Param("warmup_epochs", 0.0, "Linear warmup length (0 = none).", low=0, high=EPOCHS_BOUND,
                  unit="epochs"),
            Param("warmup_start_lr", 0.001, "LR at the start of the warmup.", low=0, low_open=True, high=10,
                  unit="LR", log=True),
        ),
        latex=r"\alpha_x = \alpha_0\left[(1-a)\tfrac{1}{2}\left(1 + \cos\tfrac{\pi \min(x, T)}{T}\right) + a\right]",
        fn=cosine, time="continuous", keras_export=kc.cosine, warmup_param="warmup_epochs",
        example={"lr": 0.01, "decay_epochs": 3, "alpha": 0.1, "warmup_epochs": 1, "warmup_start_lr": 0.001},
    ),
    ScheduleSpec(
        name="cosine_restarts", title="Cosine with warm restarts (SGDR)",
        summary="Cosine cycles; each cycle is t_mul times longer and m_mul times lower.",
        params=(
            lr_param(),
            Param("first_decay_epochs", 10.0, "Length of the first cycle.", low=0, low_open=True,
                  high=EPOCHS_BOUND, unit="epochs"),
            Param("t_mul", 2.0, "Cycle length multiplier (>= 1: each cycle at least as long).", low=1, high=10),
            Param("m_mul", 1.0, "Peak LR multiplier per restart.", low=0, low_open=True, high=1),
            Param("alpha", 0.0, "Floor as a fraction of lr.", low=0, high=1),
        ),
        latex=r"\alpha_x = \alpha_0\, m^{i}\left[(1-a)\tfrac{1}{2}\left(1 + \cos \pi f_x\right) + a\right]",
        fn=cosine_restarts, time="continuous", keras_export=kc.cosine_restarts, decays=False,
        example={"lr": 0.01, "first_decay_epochs": 1, "t_mul": 2, "m_mul": 0.5, "alpha": 0.0},
    ),
    ScheduleSpec(
        name="one_cycle", title="One-cycle",
        summary="Smith's 1cycle: warm up to max_lr, then anneal far below the start.",
        params=(
            lr_param(0.1, "max_lr", "Peak LR (e.g. from the LR range test)."),
            Param("total_epochs", 40.0, "Length of the cycle.", low=0, low_open=True, high=EPOCHS_BOUND,
                  unit="epochs"),
            Param("pct_start", 0.3, "Fraction of the cycle spent rising.", low=0, high=1, low_open=True,
                  high_open=True, slider=(0.05, 0.95, 0.05)),
            Param("div_factor", 25.0, "Start LR = max_lr / div_factor.", low=1, high=1e6),
            Param("final_div_factor", 1e4, "End LR = start LR / final_div_factor.", low=1, high=1e9),
        ),
        latex=r"\alpha_x = \text{cos-anneal}\left(\tfrac{\alpha_{max}}{d} \to \alpha_{max} \to "
              r"\tfrac{\alpha_{max}}{d\,d_f}\right)",
        fn=one_cycle, time="continuous", keras_export=kc.one_cycle, peak_param="max_lr", decays=False,
        example={"max_lr": 0.05, "total_epochs": 5, "pct_start": 0.4, "div_factor": 10, "final_div_factor": 100},
    ),
    ScheduleSpec(
        name="triangular", title="Triangular cyclical (CLR)",
        summary="Smith's CLR: linear ramps between base_lr and max_lr.",
        params=(
            lr_param(0.001, "base_lr", "Lower bound of the cycle."),
            lr_param(0.01, "max_lr", "Upper bound of the cycle (e.g. from the LR range test)."),
            Param("half_cycle_epochs", 4.0, "Epochs from base_lr to max_lr (Smith's step_size).", low=0,
                  low_open=True, high=EPOCHS_BOUND, unit="epochs"),
            Param("cycle_scale", 1.0, "Amplitude multiplier per cycle (0.5 = triangular2).", low=0, low_open=True,
                  high=1),
        ),
        latex=r"\alpha_x = \alpha_{b} + (\alpha_{m} - \alpha_{b})"
              r"\max\left(0, 1 - \left|\tfrac{x}{s} - 2c + 1\right|\right) k^{c-1}",
        fn=triangular, time="continuous", keras_export=kc.triangular, peak_param="max_lr", decays=False,
        cross_check=check_triangular,
        example={"base_lr": 0.001, "max_lr": 0.01, "half_cycle_epochs": 1.5, "cycle_scale": 0.5},
    ),
]

REGISTRY: dict[str, ScheduleSpec] = {s.name: s for s in SPECS}


def get_spec(name: str) -> ScheduleSpec:
    """The registry entry for ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise FieldError("schedule", f"one of {', '.join(REGISTRY)}", name) from None


# --------------------------------------------------------------------------- schedule objects

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
# What each boolean parameter (ScheduleSpec.flags) does: its help on a page and on the CLI.
FLAG_HELP = {
    "staircase": "Stairs: the exponent x / decay_epochs is floored, so the LR drops once every decay_epochs "
                 "instead of smoothly.",
}


def _parse_flag(name: str, value: Any) -> bool:
    """A boolean parameter (e.g. ``staircase``) from a bool, 0/1 or the text ``true``/``false``
    (also ``1``/``0``, ``yes``/``no``, any case). Anything else is refused, never read as false:
    ``Argument `staircase` must be true or false. Received: staircase=maybe``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE + _FALSE:
            return text in _TRUE
        raise FieldError(name, "true or false", value, as_typed=True)
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise FieldError(name, "true or false", value)

WARMUP_PARAMS = (
    Param("warmup", 0.0, "Linear warmup in front of the schedule (0 = none).", low=0, high=EPOCHS_BOUND,
          unit="epochs"),
    Param("warmup_start_factor", 0.1, "Warmup starts at this fraction of the schedule's first LR.", low=0,
          low_open=True, high=1),
)


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: a registry entry plus parameter values, and an optional
    linear warmup (``warmup`` epochs > 0) that is played first and shifts the schedule.

    Stateless: callers pass the step or epoch in. Build one with :meth:`create`.
    """

    name: str
    params: Mapping[str, Any]
    warmup: float = 0.0
    warmup_start_factor: float = 0.1

    @classmethod
    def create(cls, name: str, params: Mapping[str, Any] | None = None, **warmup: Any) -> Schedule:
        """Validate ``params`` (missing ones take their defaults; unknown ones are an error)."""
        spec = get_spec(name)
        given = dict(params or {})
        unknown = set(given) - {p.name for p in spec.params} - set(spec.flags)
        if unknown:
            first = sorted(unknown)[0]
            takes = ", ".join([p.name for p in spec.params] + list(spec.flags))
            raise FieldError(first, "", given[first], message=f"Argument `{first}` is not a parameter of schedule "
                                                              f"`{name}` (it takes: {takes}).")
        values: dict[str, Any] = {}
        for p in spec.params:
            values[p.name] = p.parse(given.get(p.name, p.default))
        for f in spec.flags:
            values[f] = _parse_flag(f, given.get(f, False))
        if spec.cross_check:
            spec.cross_check(values)
        w = {p.name: p.parse(warmup.get(p.name, p.default)) for p in WARMUP_PARAMS}
        extra = set(warmup) - set(w)
        if extra:
            raise ValueError(f"Unknown argument `{sorted(extra)[0]}` for a warmup (it takes warmup, "
                             "warmup_start_factor).")
        return cls(name, values, float(w["warmup"]), float(w["warmup_start_factor"]))

    @property
    def spec(self) -> ScheduleSpec:
        return REGISTRY[self.name]

    @property
    def stepwise(self) -> bool:
        return self.spec.stepwise and self.warmup == 0

    # -- evaluation -------------------------------------------------------------------------

    def at_steps(self, steps: Any, steps_per_epoch: int) -> np.ndarray:
        """LR used for each 0-based global batch index in ``steps`` (vectorised)."""
        spe = int(steps_per_epoch)
        if spe < 1:
            raise FieldError("steps_per_epoch", ">= 1", steps_per_epoch)
        s = np.asarray(steps, dtype=np.float64)
        if self.warmup <= 0:
            return self.spec.fn(s, spe, **self.params)
        w_steps = self.warmup * spe
        base = self.spec.fn(np.maximum(s - w_steps, 0.0), spe, **self.params)
        first = float(self.spec.fn(np.zeros(1), spe, **self.params)[0])
        start = first * self.warmup_start_factor
        warm = start + (first - start) * s / w_steps
        return np.where(s < w_steps, warm, base)

    def at_step(self, step: int, steps_per_epoch: int) -> float:
        """LR for one batch as a Python ``float`` (what Keras callbacks accept)."""
        return float(self.at_steps(np.array([step]), steps_per_epoch)[0])

    def per_epoch(self, epochs: int, steps_per_epoch: int = 1) -> np.ndarray:
        """LR at the first batch of each epoch index 0..epochs-1."""
        return self.at_steps(np.arange(int(epochs)) * int(steps_per_epoch), steps_per_epoch)

    def at_epoch(self, epoch: int, steps_per_epoch: int = 1) -> float:
        """LR at the first batch of the 0-based ``epoch``, as a Python ``float``.

        ``schedule.at_epoch`` can be passed to ``keras.callbacks.LearningRateScheduler``
        for per-epoch schedules.
        """
        return self.at_step(int(epoch) * int(steps_per_epoch), steps_per_epoch)

    def per_step(self, epochs: int, steps_per_epoch: int) -> np.ndarray:
        """LR for every batch of ``epochs`` epochs."""
        return self.at_steps(np.arange(int(epochs) * int(steps_per_epoch)), steps_per_epoch)

    # -- description ------------------------------------------------------------------------

    def to_config(self) -> dict[str, Any]:
        """A JSON-able dict; ``Schedule.from_config(s.to_config()) == s``."""
        cfg: dict[str, Any] = {
            "name": self.name,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()},
        }
        if self.warmup > 0:
            cfg["warmup"] = self.warmup
            cfg["warmup_start_factor"] = self.warmup_start_factor
        return cfg

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Schedule:
        if not isinstance(config, Mapping) or "name" not in config:
            raise FieldError("config", "a mapping with a `name`", config)
        warm = {k: config[k] for k in ("warmup", "warmup_start_factor") if k in config}
        return cls.create(config["name"], config.get("params", {}), **warm)

    def label(self) -> str:
        """Short human summary, e.g. ``Step decay (lr=0.01, factor=0.5, drop_every=5)``."""
        spec = self.spec
        parts = [f"{p.name}={p.format(self.params[p.name])}" for p in spec.params]
        parts += [f for f in spec.flags if self.params.get(f)]
        if self.warmup > 0:
            parts.append(f"warmup={fmt(self.warmup)}ep")
        return f"{spec.title} ({', '.join(parts)})"

    def short_label(self) -> str:
        """Title plus only the parameters that differ from the defaults, e.g. ``Step decay (factor=0.25)``."""
        spec = self.spec
        parts = [f"{p.name}={p.format(self.params[p.name])}" for p in spec.params
                 if self.params[p.name] != p.parse(p.default)]
        parts += [f for f in spec.flags if self.params.get(f)]
        if self.warmup > 0:
            parts.append(f"warmup={fmt(self.warmup)}ep")
        return spec.title + (f" ({', '.join(parts)})" if parts else "")

    def _label_parts(self) -> dict[str, str | None]:
        """What :func:`distinct_labels` may name, by key: every parameter as ``name=value``, each
        flag, the warmup (and its start factor while there is one)."""
        parts: dict[str, str | None] = {p.name: f"{p.name}={p.format(self.params[p.name])}" for p in self.spec.params}
        parts.update({f: f if self.params.get(f) else f"no {f}" for f in self.spec.flags})
        parts["warmup"] = f"warmup={fmt(self.warmup)}ep" if self.warmup > 0 else "no warmup"
        parts["warmup_start_factor"] = (f"warmup_start_factor={fmt(self.warmup_start_factor)}"
                                        if self.warmup > 0 else None)
        return parts

    def keras_code(self, steps_per_epoch: int = KERAS2_STEPS_PER_EPOCH) -> str:
        """Self-contained Keras 3 code that defines ``optimizer`` and ``callbacks``
        reproducing this schedule, warmup included."""
        snippet = self.spec.keras_export(self.params)
        return assemble(snippet, int(steps_per_epoch), self.warmup, self.warmup_start_factor)

    def initial_lr(self) -> float:
        return self.at_step(0, 1)


def distinct_labels(schedules: Sequence[Schedule]) -> list[str]:
    """One label per schedule, all different, each saying what tells it apart from the others.

    A schedule alone of its kind is its title (``Step decay``); two or more of one kind are
    named by the parameters whose values differ between them, as the tutorial compares them::

        Step decay (factor=0.25), Step decay (factor=0.5)

    Schedules that are the same in every parameter are numbered (``Step decay #2``).
    """
    by_kind: dict[str, list[int]] = {}
    for i, s in enumerate(schedules):
        by_kind.setdefault(s.name, []).append(i)
    labels = [s.spec.title for s in schedules]
    for members in by_kind.values():
        if len(members) < 2:
            continue
        parts = [schedules[i]._label_parts() for i in members]
        differ = [k for k in parts[0] if len({p[k] for p in parts if p[k] is not None}) > 1]
        for i, p in zip(members, parts):
            named = [p[k] for k in differ if p[k] is not None]
            if named:
                labels[i] += f" ({', '.join(named)})"
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out
