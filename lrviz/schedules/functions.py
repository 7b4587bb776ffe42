"""The formulas: pure, vectorised functions of the batch index (see :mod:`lrviz.schedules`).

Each takes ``(step, steps_per_epoch, **params)`` with ``step`` a float64 array of 0-based global
batch indices and returns an array of the same shape. No Keras, TensorFlow or Streamlit here.
"""

from __future__ import annotations

import numpy as np


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
