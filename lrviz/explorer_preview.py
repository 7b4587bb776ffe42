"""What the explorer's chart and readout would show at a slider's nearby positions.

A slider move costs a round trip to Python and a re-render of the page (README, Performance:
about twice a bare page's). The explorer sends, with every render, each slider's nearby
positions (``reach`` steps either side) as they would be drawn: the curve's traces (the same
:func:`lrviz.charts.curve_traces` the figure is built from) and its readout card's LR and
threshold line (the same :mod:`lrviz.explorer` functions). The browser shows the entry for the
position the slider moves to at once; the rerun that follows draws the same numbers. Python
stays the one source of every number: the browser only picks an entry, it computes none.

Positions farther than ``reach`` (a fast drag) and curves too large to send several times
(per-batch resolution of a smooth schedule: thousands of points) have no entry: the chart then
follows after the rerun, as without a preview.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from lrviz import explorer as ex
from lrviz.charts import curve_traces
from lrviz.schedules import Schedule

REACH = 3  # slider steps either side of the current position (a keyboard step is one)
MAX_POINTS = 600  # per curve version; a per-batch smooth curve (up to 4,000 points) is not previewed


@dataclasses.dataclass(frozen=True)
class SliderPreview:
    """One slider of curve ``curve``: the versions of that curve at nearby positions."""

    curve: int
    param: str
    entries: list[dict[str, Any]]  # {"value", "readout", "note", "traces"}, JSON-ready


def slider_positions(value: float, slider: tuple[float, float, float], reach: int = REACH) -> list[float]:
    """The slider's positions within ``reach`` steps of ``value`` (not ``value`` itself), on the
    slider's grid ``lo + k * step`` and inside ``[lo, hi]``; none when ``value`` is off the grid."""
    lo, hi, step = slider
    k = (float(value) - lo) / step
    if abs(k - round(k)) > 1e-6:
        return []
    k = round(k)
    out = []
    for j in range(k - reach, k + reach + 1):
        v = round(lo + j * step, 10)
        if j != k and lo - 1e-12 <= v <= hi + 1e-12:
            out.append(int(v) if isinstance(lo, int) and isinstance(step, int) else v)
    return out


def _jsonable(trace: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in trace.items()}


def slider_previews(curves: Sequence[Schedule], epochs: int, steps_per_epoch: int, *, per_batch: bool,
                    readout_epoch: int, threshold: float, stale: Sequence[bool] = (), reach: int = REACH,
                    max_points: int = MAX_POINTS) -> list[SliderPreview]:
    """Every slider's nearby versions of its curve, for every curve (see the module's docstring).

    A version that its schedule refuses (a rule across parameters) is left out, like a position
    beyond the slider's ends. A curve marked in ``stale`` (drawn in its last valid version while
    its editor shows an error, :func:`lrviz.explorer.keep_last_valid`) has none: after a move, the
    rerun still draws the last valid version, not the moved one."""
    previews = []
    for i, sched in enumerate(curves):
        if i < len(stale) and stale[i]:
            continue
        for p in sched.spec.params:
            value = sched.params[p.name]
            if not p.slider or not isinstance(value, (int, float)) or not p.slider[0] <= value <= p.slider[1]:
                continue  # the editor draws a number box, not a slider, for this value
            entries = []
            for v in slider_positions(value, p.slider, reach):
                try:
                    alt = Schedule.create(sched.name, {**sched.params, p.name: v}, warmup=sched.warmup,
                                          warmup_start_factor=sched.warmup_start_factor)
                except ValueError:
                    continue
                versions = [*curves[:i], alt, *curves[i + 1:]]
                traces = curve_traces(versions, i, epochs, steps_per_epoch, per_batch,
                                      labels=ex.curve_labels(versions))
                if sum(len(t["x"]) for t in traces) > max_points:
                    entries = []
                    break
                entries.append({
                    "value": v,
                    "readout": ex.format_lr(ex.lr_at(alt, readout_epoch, steps_per_epoch)),
                    "note": ex.threshold_readout(alt, threshold, epochs, steps_per_epoch),
                    "traces": [_jsonable(t) for t in traces],
                })
            if entries:
                previews.append(SliderPreview(i, p.name, entries))
    return previews
