"""The registry: every schedule described once (:class:`~lrviz.schedules.spec.ScheduleSpec`),
with the rules between its parameters. Adding a schedule is one entry here, its formula in
:mod:`lrviz.schedules.functions`, its Keras export in :mod:`lrviz.keras_code`, and its oracle test."""

from __future__ import annotations

from lrviz import keras_code as kc
from lrviz.errors import FieldError
from lrviz.rules import fmt
from lrviz.schedules.functions import (
    constant,
    cosine,
    cosine_restarts,
    exponential,
    one_cycle,
    piecewise_constant,
    polynomial,
    step_decay,
    time_decay_epoch,
    time_decay_keras2,
    time_decay_recursive,
    triangular,
)
from lrviz.schedules.params import DECAY, EPOCHS_BOUND, Param, lr_param
from lrviz.schedules.spec import ScheduleSpec

__all__ = ["REGISTRY", "SPECS", "get_spec"]


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
