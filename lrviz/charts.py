"""Plotly figure builders. They return ``plotly.graph_objects.Figure`` and never call Streamlit.

x axes use 1-based epochs, as Keras prints them: epoch k spans [k, k+1) when drawn per
batch, so per-epoch stairs and per-batch curves line up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from lrviz.explorer import curve_labels, drop_epochs
from lrviz.schedules import Schedule

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_LAYOUT = dict(
    template="plotly_white",
    margin=dict(l=10, r=10, t=40, b=10),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    hovermode="x unified",
)


def schedule_figure(
    curves: Sequence[Schedule],
    epochs: int,
    steps_per_epoch: int,
    *,
    per_batch: bool = False,
    log_y: bool = False,
    readout_epoch: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Overlay ``curves``; stair-shaped schedules are drawn as stairs with drop markers."""
    fig = go.Figure()
    for i, (label, sched) in enumerate(zip(curve_labels(curves), curves)):
        color = PALETTE[i % len(PALETTE)]
        per_epoch = sched.per_epoch(epochs, steps_per_epoch)
        if sched.stepwise:
            # Epoch k (1-based) runs at per_epoch[k-1] from x=k to x=k+1: a stair ("hv").
            x = np.arange(1, epochs + 2)
            y = np.append(per_epoch, per_epoch[-1])
            fig.add_trace(go.Scatter(
                x=x, y=y, name=label, mode="lines", line=dict(color=color, width=2.5, shape="hv"),
                customdata=np.arange(1, epochs + 2),
                hovertemplate="epoch %{customdata}: LR %{y:.6g}<extra>" + label + "</extra>",
            ))
            drops = drop_epochs(per_epoch)
            if drops.size and drops.size <= 200:
                fig.add_trace(go.Scatter(
                    x=drops, y=per_epoch[drops - 1], mode="markers", name=f"{label}: drops",
                    marker=dict(color=color, size=8, symbol="circle-open", line=dict(width=2)),
                    showlegend=False, hovertemplate="drop at epoch %{x}: LR %{y:.6g}<extra></extra>",
                ))
        elif per_batch:
            # At most ~4000 points per curve: enough for the eye, light for the browser.
            n = epochs * steps_per_epoch
            steps = np.unique(np.linspace(0, n - 1, min(n, 4000)).round().astype(np.int64))
            fig.add_trace(go.Scatter(
                x=1 + steps / steps_per_epoch, y=sched.at_steps(steps, steps_per_epoch), name=label,
                mode="lines", line=dict(color=color, width=2.5),
                hovertemplate="epoch %{x:.2f}: LR %{y:.6g}<extra>" + label + "</extra>",
            ))
        else:
            # LR at the first batch of each epoch, joined by lines (the schedule is smooth).
            fig.add_trace(go.Scatter(
                x=np.arange(1, epochs + 1), y=per_epoch, name=label, mode="lines+markers",
                line=dict(color=color, width=2.5), marker=dict(size=4),
                hovertemplate="epoch %{x}: LR %{y:.6g}<extra>" + label + "</extra>",
            ))
    if readout_epoch is not None:
        fig.add_vline(x=readout_epoch, line=dict(color="#888", dash="dot", width=1),
                      annotation_text=f"epoch {readout_epoch}", annotation_position="top right")
    fig.update_layout(title=title, height=430, **_LAYOUT)
    fig.update_xaxes(title="epoch (1-based, as Keras prints it)", range=[1, epochs + 1], rangemode="normal")
    fig.update_yaxes(title="learning rate", type="log" if log_y else "linear", exponentformat="power"
                     if log_y else "none", tickformat=None if log_y else ".2~g")
    return fig
