"""Keras 3 code for each schedule: what a user pastes to reproduce a curve of the explorer.

Each generator returns a :class:`Snippet`: either a plain function of the 0-based epoch for
``keras.callbacks.LearningRateScheduler`` (the tutorial's way), or a
``keras.optimizers.schedules`` object the optimizer evaluates before every batch.
:func:`assemble` turns it into self-contained code that defines ``optimizer`` and
``callbacks``; a warmup in front of any schedule becomes a small per-batch callback.
The tests execute this code in a real ``model.fit`` and read the LR back from the optimizer.

No Keras import here: this only writes text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lrviz.rules import fmt  # one text for a number: in code here, in rules' bounds


@dataclass(frozen=True)
class Snippet:
    defs: str  # code defining `fn_name` (an epoch -> LR function) or `schedule` (a Keras schedule)
    fn_name: str | None  # None when `defs` defines `schedule`
    first_lr: float  # LR at step 0
    uses_ops: bool = False


_USAGE = (
    "# model.compile(optimizer=optimizer, loss=\"categorical_crossentropy\", metrics=[\"accuracy\"])\n"
    "# model.fit(..., epochs=EPOCHS, batch_size=BATCH_SIZE, callbacks=callbacks)\n"
)

_WARMUP_CLASS = '''

class LinearWarmup(keras.callbacks.Callback):
    """Linear warmup over `warmup_steps` batches, then `base_lr(step - warmup_steps)`."""

    def __init__(self, base_lr, warmup_steps, start_factor):
        super().__init__()
        self.base_lr, self.warmup_steps, self.start_factor = base_lr, warmup_steps, start_factor

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        if step < self.warmup_steps:
            first = self.base_lr(0)
            start = first * self.start_factor
            lr = start + (first - start) * step / self.warmup_steps
        else:
            lr = self.base_lr(step - self.warmup_steps)
        self.model.optimizer.learning_rate = float(lr)
'''


def _sgd(lr_expr: str) -> str:
    return f"optimizer = keras.optimizers.SGD(learning_rate={lr_expr}, momentum=0.9, nesterov=True)\n"


def assemble(snippet: Snippet, steps_per_epoch: int, warmup: float = 0.0, warmup_start_factor: float = 0.1) -> str:
    """Self-contained code defining ``optimizer`` and ``callbacks``."""
    head = ("import math\n\n" if "math." in snippet.defs else "") + "import keras\n"
    head += ("from keras import ops\n" if snippet.uses_ops else "") + "\n"
    spe = f"STEPS_PER_EPOCH = {int(steps_per_epoch)}  # ceil(train_size / batch_size)\n"
    needs_spe = snippet.fn_name is None or warmup > 0
    code = head + (spe if needs_spe else "") + snippet.defs.rstrip() + "\n"
    if warmup > 0:
        base = (f"lambda step: {snippet.fn_name}(step // STEPS_PER_EPOCH)" if snippet.fn_name
                else "lambda step: float(schedule(step))")
        code += _WARMUP_CLASS + "\n\n"
        code += _sgd(fmt(snippet.first_lr))
        code += (f"callbacks = [LinearWarmup({base}, warmup_steps={fmt(float(warmup))} * STEPS_PER_EPOCH, "
                 f"start_factor={fmt(float(warmup_start_factor))})]\n")
    elif snippet.fn_name:
        code += "\n" + _sgd(fmt(snippet.first_lr))
        code += f"callbacks = [keras.callbacks.LearningRateScheduler({snippet.fn_name})]\n"
    else:
        code += _sgd("schedule")
        code += "callbacks = []  # the optimizer applies the schedule itself, before every batch\n"
    return code + _USAGE


# --------------------------------------------------------------------------- generators
# Each takes the validated parameters and returns a Snippet; a schedule's spec names its own
# (``ScheduleSpec.keras_export`` in lrviz.schedules).


def constant(p: Mapping[str, Any]) -> Snippet:
    return Snippet(f"def constant(epoch):\n    return {fmt(p['lr'])}\n", "constant", p["lr"])


def time_keras2(p):
    return Snippet(
        "# Exact Keras 3 replacement for Keras 2's SGD(decay=...): lr / (1 + decay * iteration)\n"
        "schedule = keras.optimizers.schedules.InverseTimeDecay(\n"
        f"    initial_learning_rate={fmt(p['lr'])}, decay_steps=1, decay_rate={fmt(p['decay'])}\n)\n",
        None, p["lr"],
    )


def time_epoch(p):
    return Snippet(
        "def time_decay(epoch):\n"
        "    \"\"\"lr / (1 + decay * epoch); epoch is the 0-based index Keras passes.\"\"\"\n"
        f"    return float({fmt(p['lr'])} / (1 + {fmt(p['decay'])} * epoch))\n",
        "time_decay", p["lr"],
    )


def time_recursive(p):
    return Snippet(
        "def time_decay_recursive(epoch):\n"
        "    \"\"\"The tutorial's a_{e+1} = a_e / (1 + decay * e), in closed form.\"\"\"\n"
        f"    return float({fmt(p['lr'])} / math.prod(1 + {fmt(p['decay'])} * k for k in range(epoch)))\n",
        "time_decay_recursive", p["lr"],
    )


def step(p):
    return Snippet(
        "def step_decay(epoch):\n"
        "    \"\"\"The tutorial's step decay; epoch is the 0-based index Keras passes.\"\"\"\n"
        f"    init_alpha, factor, drop_every = {fmt(p['lr'])}, {fmt(p['factor'])}, {fmt(p['drop_every'])}\n"
        "    return float(init_alpha * factor ** math.floor((1 + epoch) / drop_every))\n",
        "step_decay", p["lr"],
    )


def piecewise(p):
    return Snippet(
        "BOUNDARIES = [" + ", ".join(fmt(b) for b in p["boundaries"]) + "]  # 0-based epoch indices\n"
        "VALUES = [" + ", ".join(fmt(v) for v in p["values"]) + "]\n\n\n"
        "def piecewise(epoch):\n"
        "    \"\"\"VALUES[i], i = how many BOUNDARIES are <= epoch (0-based).\"\"\"\n"
        "    return float(VALUES[sum(b <= epoch for b in BOUNDARIES)])\n",
        "piecewise", p["values"][0],
    )


def _keras_object(cls: str, args: list[str], first_lr: float) -> Snippet:
    body = "".join(f"    {a},\n" for a in args)
    return Snippet(f"schedule = keras.optimizers.schedules.{cls}(\n{body})\n", None, first_lr)


def exponential(p):
    return _keras_object("ExponentialDecay", [
        f"initial_learning_rate={fmt(p['lr'])}", f"decay_steps={fmt(p['decay_epochs'])} * STEPS_PER_EPOCH",
        f"decay_rate={fmt(p['decay_rate'])}", f"staircase={bool(p['staircase'])}"], p["lr"])


def polynomial(p):
    return _keras_object("PolynomialDecay", [
        f"initial_learning_rate={fmt(p['lr'])}", f"decay_steps={fmt(p['decay_epochs'])} * STEPS_PER_EPOCH",
        f"end_learning_rate={fmt(p['end_lr'])}", f"power={fmt(p['power'])}"], p["lr"])


def cosine(p):
    if p["warmup_epochs"] > 0:
        return _keras_object("CosineDecay", [
            f"initial_learning_rate={fmt(p['warmup_start_lr'])}",
            f"decay_steps={fmt(p['decay_epochs'])} * STEPS_PER_EPOCH", f"alpha={fmt(p['alpha'])}",
            f"warmup_target={fmt(p['lr'])}", f"warmup_steps={fmt(p['warmup_epochs'])} * STEPS_PER_EPOCH"],
            p["warmup_start_lr"])
    return _keras_object("CosineDecay", [
        f"initial_learning_rate={fmt(p['lr'])}", f"decay_steps={fmt(p['decay_epochs'])} * STEPS_PER_EPOCH",
        f"alpha={fmt(p['alpha'])}"], p["lr"])


def cosine_restarts(p):
    return _keras_object("CosineDecayRestarts", [
        f"initial_learning_rate={fmt(p['lr'])}",
        f"first_decay_steps={fmt(p['first_decay_epochs'])} * STEPS_PER_EPOCH",
        f"t_mul={fmt(p['t_mul'])}", f"m_mul={fmt(p['m_mul'])}", f"alpha={fmt(p['alpha'])}"], p["lr"])


def _custom(name: str, body: str, init_args: Mapping[str, Any], first_lr: float) -> Snippet:
    """A ``LearningRateSchedule`` subclass for schedules Keras lacks (one-cycle, CLR)."""
    fields = ", ".join(init_args)
    assigns = "\n".join(f"        self.{k} = {k}" for k in init_args)
    config = ", ".join(f'"{k}": self.{k}' for k in init_args)
    args = ", ".join(f"{k}={fmt(v)}" for k, v in init_args.items())
    return Snippet(
        f"\n\nclass {name}(keras.optimizers.schedules.LearningRateSchedule):\n"
        f"    def __init__(self, {fields}, steps_per_epoch):\n{assigns}\n"
        "        self.steps_per_epoch = steps_per_epoch\n\n"
        "    def __call__(self, step):\n"
        "        x = ops.cast(step, \"float32\") / self.steps_per_epoch  # epochs, fractional\n"
        f"{body}\n\n"
        "    def get_config(self):\n"
        f"        return {{{config}, \"steps_per_epoch\": self.steps_per_epoch}}\n\n\n"
        f"schedule = {name}({args}, steps_per_epoch=STEPS_PER_EPOCH)\n",
        None, first_lr, uses_ops=True,
    )


def one_cycle(p):
    body = (
        "        x = ops.minimum(x, self.total_epochs)\n"
        "        start = self.max_lr / self.div_factor\n"
        "        end = start / self.final_div_factor\n"
        "        up = self.pct_start * self.total_epochs\n"
        "        rising = self.max_lr + (start - self.max_lr) * 0.5 * (1 + ops.cos(math.pi * x / up))\n"
        "        t_down = (x - up) / (self.total_epochs - up)\n"
        "        falling = end + (self.max_lr - end) * 0.5 * (1 + ops.cos(math.pi * t_down))\n"
        "        return ops.where(x < up, rising, falling)"
    )
    keys = ("max_lr", "total_epochs", "pct_start", "div_factor", "final_div_factor")
    return _custom("OneCycle", body, {k: p[k] for k in keys}, p["max_lr"] / p["div_factor"])


def triangular(p):
    body = (
        "        cycle = ops.floor(1 + x / (2 * self.half_cycle_epochs))\n"
        "        pos = ops.abs(x / self.half_cycle_epochs - 2 * cycle + 1)\n"
        "        scale = ops.power(self.cycle_scale, cycle - 1)\n"
        "        return self.base_lr + (self.max_lr - self.base_lr) * ops.maximum(0.0, 1 - pos) * scale"
    )
    keys = ("base_lr", "max_lr", "half_cycle_epochs", "cycle_scale")
    return _custom("TriangularCLR", body, {k: p[k] for k in keys}, p["base_lr"])
