"""Plotly figure builders. They return ``plotly.graph_objects.Figure`` and never call Streamlit.

x axes use 1-based epochs, as Keras prints them: epoch k spans [k, k+1) when drawn per
batch, so per-epoch stairs and per-batch curves line up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from lrviz.explorer import curve_labels, drop_epochs
from lrviz.lr_find import SUGGESTIONS
from lrviz.schedules import Schedule
from lrviz.text import plotly_text

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
# Plotly shows its toolbar on hover at the chart's top right: standing (vertical) at the right
# edge it covers neither the title (top left) nor the legend, which sits below the plot (above it,
# the toolbar covered a legend's entries in an 800 px window).
_MODEBAR = dict(orientation="v")
_LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)
_LAYOUT = dict(
    margin=dict(l=10, r=10, t=40, b=10),
    legend=_LEGEND_BELOW,
    hovermode="x unified",
    modebar=_MODEBAR,
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
    """Overlay ``curves``; stair-shaped schedules are drawn as stairs with drop markers.

    Built as plain dicts and validated once by ``go.Figure`` (not trace by trace with
    ``add_trace``/``add_vline``/``update_*``): the explorer rebuilds it on every slider move, and
    the one pass takes 1.7 ms instead of 8.1 (README, Performance).
    """
    labels = curve_labels(curves)
    traces = [t for i in range(len(curves)) for t in curve_traces(curves, i, epochs, steps_per_epoch, per_batch,
                                                                  labels=labels)]
    layout: dict = dict(
        title=title, height=430, **_LAYOUT,
        xaxis=dict(title="epoch (1-based, as Keras prints it)", range=[1, epochs + 1], rangemode="normal"),
        yaxis=dict(title="learning rate", type="log" if log_y else "linear",
                   exponentformat="power" if log_y else "none", tickformat=None if log_y else ".2~g"),
    )
    if readout_epoch is not None:
        # What fig.add_vline(..., annotation_position="top right") writes.
        layout["shapes"] = [dict(type="line", x0=readout_epoch, x1=readout_epoch, xref="x", y0=0, y1=1,
                                 yref="y domain", line=dict(color="#888", dash="dot", width=1))]
        layout["annotations"] = [dict(text=f"epoch {readout_epoch}", showarrow=False, x=readout_epoch, xref="x",
                                      xanchor="left", y=1, yref="y domain", yanchor="top")]
    return go.Figure(data=traces, layout=layout)


def curve_traces(curves: Sequence[Schedule], i: int, epochs: int, steps_per_epoch: int, per_batch: bool = False,
                 *, labels: Sequence[str] | None = None) -> list[dict]:
    """Curve ``i``'s traces in :func:`schedule_figure` (its colour is its position), each tagged
    with a ``meta`` -- ``curve<i>``, then ``curve<i>:drops`` -- so that the browser can swap one
    curve's traces for another version of them (the explorer's slider preview,
    :mod:`lrviz.explorer_preview`). Not ``uid``: plotly.py leaves uids out of a figure's JSON."""
    labels = curve_labels(curves) if labels is None else labels
    traces = _schedule_traces(labels[i], curves[i], PALETTE[i % len(PALETTE)], epochs, steps_per_epoch, per_batch)
    for t in traces:
        t["meta"] = f"curve{i}:drops" if t.get("mode") == "markers" else f"curve{i}"
    return traces


def _schedule_traces(label: str, sched: Schedule, color: str, epochs: int, steps_per_epoch: int,
                     per_batch: bool) -> list[dict]:
    """One curve's traces: stairs and drop markers, a per-batch line, or per-epoch points."""
    per_epoch = sched.per_epoch(epochs, steps_per_epoch)
    if sched.stepwise:
        # Epoch k (1-based) runs at per_epoch[k-1] from x=k to x=k+1: a stair ("hv").
        traces = [dict(
            type="scatter", x=np.arange(1, epochs + 2), y=np.append(per_epoch, per_epoch[-1]), name=label,
            mode="lines", line=dict(color=color, width=2.5, shape="hv"),
            hovertemplate="epoch %{x}: LR %{y:.6g}<extra>" + label + "</extra>",
        )]
        drops = drop_epochs(per_epoch)
        if drops.size and drops.size <= 200:
            traces.append(dict(
                type="scatter", x=drops, y=per_epoch[drops - 1], mode="markers", name=f"{label}: drops",
                marker=dict(color=color, size=8, symbol="circle-open", line=dict(width=2)),
                showlegend=False, hovertemplate="drop at epoch %{x}: LR %{y:.6g}<extra></extra>",
            ))
        return traces
    if per_batch:
        # At most ~4000 points per curve: enough for the eye, light for the browser.
        n = epochs * steps_per_epoch
        steps = np.unique(np.linspace(0, n - 1, min(n, 4000)).round().astype(np.int64))
        return [dict(
            type="scatter", x=1 + steps / steps_per_epoch, y=sched.at_steps(steps, steps_per_epoch), name=label,
            mode="lines", line=dict(color=color, width=2.5),
            hovertemplate="epoch %{x:.2f}: LR %{y:.6g}<extra>" + label + "</extra>",
        )]
    # LR at the first batch of each epoch, joined by lines (the schedule is smooth).
    return [dict(
        type="scatter", x=np.arange(1, epochs + 1), y=per_epoch, name=label, mode="lines+markers",
        line=dict(color=color, width=2.5), marker=dict(size=4),
        hovertemplate="epoch %{x}: LR %{y:.6g}<extra>" + label + "</extra>",
    )]


# --------------------------------------------------------------------------- training runs

# Small multiples: title on top, legend below the plot (they collide otherwise).
RUN_LAYOUT = {**_LAYOUT, "legend": _LEGEND_BELOW, "margin": dict(l=10, r=10, t=40, b=10)}

_CURVE_STYLE = {  # the tutorial's four curves, named as the UI names them everywhere
    "loss": ("training loss", PALETTE[0], "solid"),
    "val_loss": ("validation loss", PALETTE[1], "solid"),
    "accuracy": ("training accuracy", PALETTE[2], "solid"),
    "val_accuracy": ("validation accuracy", PALETTE[3], "solid"),
}


_NICE_STEPS = tuple(m * 10 ** e for e in range(6) for m in (1, 2, 5))


def epoch_ticks(last_epoch: float) -> dict:
    """Axis settings that tick at whole epochs only: every epoch up to 10, then every
    2, 5, 10, 20, 50, ... epochs (at most about 10 ticks). Plotly's own choice for a
    2-epoch axis is 1, 1.2, 1.4, ...: there is no epoch 1.2 in a per-epoch history."""
    n = max(1.0, float(last_epoch))
    step = next((s for s in _NICE_STEPS if n / s <= 10), _NICE_STEPS[-1])
    return dict(tickmode="linear", tick0=1 if step == 1 else 0, dtick=step, tickformat="d")


def _empty_note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(color="#888", size=14))


def metric_figure(history, keys: Sequence[str], title: str, y_title: str, epochs: int | None = None) -> go.Figure:
    """Curves of ``keys`` (columns of history.csv) against the 1-based epoch."""
    fig = go.Figure()
    for key in keys:
        if history is not None and key in getattr(history, "columns", ()):
            name, color, dash = _CURVE_STYLE.get(key, (key, None, "solid"))
            fig.add_trace(go.Scatter(x=history["epoch"], y=history[key], name=name, mode="lines+markers",
                                     line=dict(color=color, dash=dash, width=2.5), marker=dict(size=5),
                                     hovertemplate="epoch %{x}: %{y:.4f}<extra>" + name + "</extra>"))
    if history is None or len(history) == 0:
        _empty_note(fig, "waiting for the first epoch to finish…")
    last = epochs or max(1, len(history) if history is not None else 1)
    fig.update_layout(title=title, height=360, **RUN_LAYOUT)
    fig.update_xaxes(title="epoch", range=[0.5, last + 0.5], **epoch_ticks(last))
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return fig


def lr_used_figure(history, planned: np.ndarray | None = None, overrides: Sequence[dict] = (),
                   epochs: int | None = None, steps_per_epoch: int = 1) -> go.Figure:
    """LR the optimizer used per epoch (read back) vs the planned schedule; overrides marked."""
    fig = go.Figure()
    if planned is not None and len(planned):
        x = np.arange(1, len(planned) + 2)
        fig.add_trace(go.Scatter(x=x, y=np.append(planned, planned[-1]), name="planned schedule", mode="lines",
                                 line=dict(color="#999", dash="dot", width=2, shape="hv"),
                                 hovertemplate="epoch %{x}: planned %{y:.6g}<extra></extra>"))
    if history is not None and len(history) and "lr" in history:
        x = np.append(history["epoch"].to_numpy(), history["epoch"].to_numpy()[-1] + 1)
        y = np.append(history["lr"].to_numpy(), history["lr"].to_numpy()[-1])
        fig.add_trace(go.Scatter(x=x, y=y, name="LR used (read from the optimizer)", mode="lines",
                                 line=dict(color=PALETTE[0], width=3, shape="hv"),
                                 hovertemplate="epoch %{x}: used %{y:.6g}<extra></extra>"))
    marks: list[float] = []
    for o in overrides:  # epoch and batch are 1-based in the engine's record
        epoch, value = o.get("epoch"), o.get("value")
        if epoch is None or value is None:
            continue
        what = f"set LR = {value:g}" if o.get("kind") == "value" else f"LR × {value:.3g}"
        color = PALETTE[1]
        if o.get("source") == "plateau":  # ReduceLROnPlateau's reductions, told apart from a user's
            what, color = f"plateau: LR × {value:.3g}", PALETTE[3]
        x = float(epoch) + (float(o.get("batch") or 1) - 1) / max(1, steps_per_epoch)
        marks.append(x)
        fig.add_vline(x=x, line=dict(color=color, dash="dash", width=1.5),
                      annotation_text=what, annotation_position="top left",
                      annotation_font_color=color)
    last = epochs or (len(planned) if planned is not None else 10)
    fig.update_layout(title="Learning rate", height=360, **RUN_LAYOUT)
    fig.update_xaxes(title="epoch", range=[0.5, last + 1.5], **epoch_ticks(last + 1))
    fig.update_yaxes(title="learning rate", tickformat=".2~g", rangemode="tozero")
    top = _highest(fig)
    if marks and top is not None:  # room above every line for the markers' text ("set LR = 0.002" sat on it)
        fig.update_yaxes(range=[0, top * LR_HEADROOM])
    return fig


LR_HEADROOM = 1.3  # the LR axis ends 30 % above the highest LR when markers are labelled (their text sits there)


def _highest(fig: go.Figure) -> float | None:
    """The highest finite y of the figure's traces, or None."""
    values = [np.asarray(t.y, dtype=float) for t in fig.data if t.y is not None and len(t.y)]
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    return float(max(v.max() for v in finite)) if finite else None


def confusion_figure(confusion) -> go.Figure:
    """Heatmap of counts (rows: true class, columns: predicted), annotated."""
    z = confusion.to_numpy()
    labels_x = [plotly_text(c) for c in confusion.columns]  # class names come from the run's files
    labels_y = [plotly_text(c) for c in confusion.index]
    fig = go.Figure(go.Heatmap(z=z, x=labels_x, y=labels_y, colorscale="Blues", text=z, texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>", showscale=False))
    fig.update_layout(title="Confusion matrix", height=420, modebar=_MODEBAR,
                      margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(title="predicted", type="category", side="bottom")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    return fig


GAIN, LOSS, NO_CHANGE = "#3a9a3a", "#cc3b3b", "#b0b0b0"  # the report table's green and red


# --------------------------------------------------------------------------- LR range test

SUGGESTION_STYLE = {  # key in suggestions.json -> (its name, lrviz.lr_find.SUGGESTIONS, colour)
    key: (SUGGESTIONS[key].name, color)
    for key, color in (("steepest", PALETTE[2]), ("valley", PALETTE[3]), ("min_div_10", PALETTE[4]))
}


def lr_find_figure(frame, suggestions: dict | None = None) -> go.Figure:
    """Loss vs LR on a log x axis (raw and smoothed), suggestions marked as vertical lines."""
    fig = go.Figure()
    if frame is not None and len(frame):
        fig.add_trace(go.Scatter(x=frame["lr"], y=frame["loss"], name="loss (raw)", mode="lines",
                                 line=dict(color="#bbb", width=1),
                                 hovertemplate="LR %{x:.3g}: loss %{y:.4f}<extra>raw</extra>"))
        fig.add_trace(go.Scatter(x=frame["lr"], y=frame["smoothed_loss"], name="loss (smoothed)", mode="lines",
                                 line=dict(color=PALETTE[0], width=3),
                                 hovertemplate="LR %{x:.3g}: smoothed %{y:.4f}<extra></extra>"))
        finite = frame["smoothed_loss"][np.isfinite(frame["smoothed_loss"])]
        if len(finite):  # keep the divergence tail from squashing the interesting part
            lo, first = float(finite.min()), float(finite.iloc[0])
            span = max(first - lo, 1e-6)
            fig.update_yaxes(range=[lo - 0.1 * span, first + 0.6 * span])
    else:
        _empty_note(fig, "waiting for the first batches…")
    for key, (name, color) in SUGGESTION_STYLE.items():
        s = (suggestions or {}).get(key) or {}
        if s.get("lr"):
            fig.add_vline(x=float(s["lr"]), line=dict(color=color, dash="dash", width=2))
            fig.add_trace(go.Scatter(x=[float(s["lr"])], y=[None], mode="lines", name=f"{name}: {s['lr']:.2g}",
                                     line=dict(color=color, dash="dash", width=2), hoverinfo="skip"))
    fig.update_layout(title="LR range test", height=420, **RUN_LAYOUT)
    fig.update_xaxes(title="learning rate (log scale)", type="log", exponentformat="power")
    fig.update_yaxes(title="training loss")
    return fig


# --------------------------------------------------------------------------- ReduceLROnPlateau replay


def plateau_replay_figure(epochs, planned, replayed, reductions: Sequence[dict], monitored, monitor: str
                          ) -> go.Figure:
    """The run's schedule and the LR ReduceLROnPlateau would have given it (per 1-based epoch,
    stairs), each reduction marked; the monitored curve on a second axis."""
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = np.append(np.asarray(epochs), np.asarray(epochs)[-1] + 1) if len(epochs) else np.array([])
    stairs = (lambda v: np.append(np.asarray(v, dtype=float), np.asarray(v, dtype=float)[-1])) if len(epochs) else (
        lambda v: np.array([]))
    fig.add_trace(go.Scatter(x=x, y=stairs(planned), name="the run's schedule", mode="lines",
                             line=dict(color="#999", dash="dot", width=2, shape="hv"),
                             hovertemplate="epoch %{x}: %{y:.6g}<extra>schedule</extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=stairs(replayed), name="with ReduceLROnPlateau", mode="lines",
                             line=dict(color=PALETTE[0], width=3, shape="hv"),
                             hovertemplate="epoch %{x}: %{y:.6g}<extra>with plateau</extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=np.asarray(epochs), y=np.asarray(monitored, dtype=float), name=monitor,
                             mode="lines+markers", line=dict(color=PALETTE[2], width=1.5), marker=dict(size=4),
                             hovertemplate=f"epoch %{{x}}: {monitor} %{{y:.4g}}<extra></extra>"), secondary_y=True)
    for r in reductions:  # applied from the first batch of the epoch after it was decided
        fig.add_vline(x=r["epoch"] + 1, line=dict(color=PALETTE[3], dash="dash", width=1.5),
                      annotation_text=f"× {r['factor']:.3g}", annotation_position="top left",
                      annotation_font_color=PALETTE[3])
    last = int(np.asarray(epochs)[-1]) if len(epochs) else 10
    fig.update_layout(title="ReduceLROnPlateau replayed on the run's recorded curve", height=400, **RUN_LAYOUT)
    fig.update_xaxes(title="epoch", range=[0.5, last + 1.5], **epoch_ticks(last + 1))
    fig.update_yaxes(title="learning rate", tickformat=".2~g", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title=monitor, secondary_y=True, showgrid=False)
    return fig


# --------------------------------------------------------------------------- resumed runs and the Train form

_PARENT_OPACITY = 0.35  # the parent run's epochs, dimmed behind the resumed run's


def _parent_traces(fig: go.Figure, parent_history, keys: Sequence[str], *, stairs: bool = False) -> None:
    """Add ``keys`` of the parent's history as dimmed traces, drawn first (behind)."""
    traces = []
    for key in keys:
        if parent_history is None or key not in getattr(parent_history, "columns", ()) or not len(parent_history):
            continue
        name, color, _dash = _CURVE_STYLE.get(key, ("LR used", PALETTE[0], "solid"))
        x, y = parent_history["epoch"].to_numpy(), parent_history[key].to_numpy()
        if stairs:
            x, y = np.append(x, x[-1] + 1), np.append(y, y[-1])
        traces.append(go.Scatter(x=x, y=y, name=f"{name} (parent run)", mode="lines" if stairs else "lines+markers",
                                 opacity=_PARENT_OPACITY, marker=dict(size=4),
                                 line=dict(color=color, width=2, dash="dot", shape="hv" if stairs else "linear"),
                                 hovertemplate="epoch %{x}: %{y:.4g}<extra>parent run</extra>"))
    fig.add_traces(traces)
    fig.data = fig.data[-len(traces):] + fig.data[:-len(traces)] if traces else fig.data


def metric_figure_resumed(history, parent_history, keys: Sequence[str], title: str, y_title: str,
                          epochs: int | None = None) -> go.Figure:
    """:func:`metric_figure` of a resumed run, with its parent's epochs (1 .. the epoch it resumed
    from, 1-based) dimmed in front of its own, which continue the count."""
    fig = metric_figure(history, keys, title, y_title, epochs)
    _parent_traces(fig, parent_history, keys)
    if parent_history is not None and len(parent_history) and (history is None or len(history) == 0):
        fig.layout.annotations = ()  # the parent's curves are there: no "waiting" note over them
    return fig


def lr_used_figure_resumed(history, parent_history, planned: np.ndarray | None = None,
                           overrides: Sequence[dict] = (), epochs: int | None = None,
                           steps_per_epoch: int = 1) -> go.Figure:
    """:func:`lr_used_figure` of a resumed run, with the LR its parent used, dimmed."""
    fig = lr_used_figure(history, planned, overrides, epochs, steps_per_epoch)
    _parent_traces(fig, parent_history, ["lr"], stairs=True)
    top = _highest(fig)
    if fig.layout.yaxis.range is not None and top is not None:  # the parent's LR under the markers' text too
        fig.update_yaxes(range=[0, top * LR_HEADROOM])
    return fig


def schedule_preview_figure(sched: Schedule, epochs: int, steps_per_epoch: int) -> go.Figure:
    """A small chart of the LR at the first batch of each 1-based epoch, for the schedule about
    to be trained (the Train form), drawn like the explorer's curves."""
    traces = _schedule_traces(sched.label(), sched, PALETTE[0], epochs, steps_per_epoch, per_batch=False)
    layout = dict(height=200, margin=dict(l=10, r=10, t=10, b=10), showlegend=False, hovermode="x unified",
                  xaxis=dict(title="epoch", range=[1, epochs + 1], **epoch_ticks(epochs)),
                  yaxis=dict(title="learning rate", tickformat=".2~g", rangemode="tozero"))
    return go.Figure(data=traces, layout=layout)


_TRAIN_IMAGES = {"digits": 1_347, "cifar10": 50_000}  # digits: 1,797 images, 75 % for training


def preview_steps_per_epoch(dataset: str, limit: int | None, batch_size: int) -> int:
    """Batches per epoch of a run of the Train form (for its schedule preview), before the
    worker has loaded the data: ``ceil(train images / batch_size)``."""
    from lrviz.schedules import steps_per_epoch_for

    n = _TRAIN_IMAGES.get(dataset, _TRAIN_IMAGES["cifar10"])
    return steps_per_epoch_for(min(n, int(limit)) if limit else n, int(batch_size))


# --------------------------------------------------------------------------- tournament


def tournament_figure(curves: Sequence[dict], key: str, title: str, y_title: str, epochs: int | None = None
                      ) -> go.Figure:
    """Every trial's curve of ``key`` (one line per schedule and seed), a colour per schedule.

    ``curves``: ``{"schedule": label, "seed": int, "history": DataFrame}`` per trial run."""
    fig = go.Figure()
    colours: dict[str, str] = {}
    for c in curves:
        hist = c["history"]
        if hist is None or not len(hist) or key not in hist:
            continue
        name = plotly_text(c["schedule"])  # from the tournament's files
        first = name not in colours
        colour = colours.setdefault(name, PALETTE[len(colours) % len(PALETTE)])
        fig.add_trace(go.Scatter(
            x=hist["epoch"], y=hist[key], mode="lines", name=name, legendgroup=name,
            showlegend=first, line=dict(color=colour, width=2, shape="hv" if key == "lr" else "linear"),
            # the name through %{fullData.name}: a "%{...}" in a label is never read as a template
            hovertemplate=f"%{{fullData.name}}, seed {plotly_text(c['seed'], 12).replace('%', '')}<br>"
                          "epoch %{x}: %{y:.4g}<extra></extra>"))
    last = epochs or 10
    fig.update_layout(title=title, height=380, **RUN_LAYOUT)
    fig.update_xaxes(title="epoch", range=[0.5, last + 0.5], **epoch_ticks(last))
    fig.update_yaxes(title=y_title, tickformat=".3~g" if key == "lr" else None)
    if not fig.data:  # Plotly's axis for no data reads -1 to 4: accuracy's own 0 to 1, and no LR numbers
        _empty_note(fig, "waiting for the first finished epochs…")
        if key == "lr":
            fig.update_yaxes(showticklabels=False)
        else:
            fig.update_yaxes(range=[0, 1])
    return fig
