"""The Runs page's comparison charts: one line per run, and each class's difference as bars.

Plotly figures, no Streamlit; the colours and layout are :mod:`lrviz.charts`' (run i in
``PALETTE[i]``, the report table's green and red).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lrviz.charts import GAIN, LOSS, NO_CHANGE, PALETTE, RUN_LAYOUT, epoch_ticks
from lrviz.text import plotly_text

__all__ = ["LEGEND_LINE_CHARS", "legend_lines", "compare_figure", "class_delta_figure"]

LEGEND_LINE_CHARS = 30  # about 200 px of legend text: a half-width chart in an 800 px window


def legend_lines(text: str, width: int = LEGEND_LINE_CHARS, sep: str = " · ") -> str:
    """``text`` (already escaped for Plotly) broken into lines of about ``width`` characters at its
    ``sep`` marks (``<br>``), so a long run label wraps inside its legend instead of running out
    of a narrow chart. A part longer than ``width`` (a person's name) breaks at its spaces."""
    import textwrap

    parts = [line for part in text.split(sep)
             for line in (textwrap.wrap(part, width, break_long_words=False, break_on_hyphens=False) or [part])]
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return "<br>".join(lines)


def compare_figure(histories: dict, key: str, title: str, y_title: str, *, log_y: bool = False) -> go.Figure:
    """One line per run for the history column ``key`` (run i in ``PALETTE[i]``). ``log_y``: a
    log axis, so one run's loss at 1e10 does not flatten every other curve to a line at 0."""
    fig = go.Figure()
    last = 1
    for i, (label, hist) in enumerate(histories.items()):
        if hist is None or key not in hist or not len(hist):
            continue
        label = legend_lines(plotly_text(label))  # a run's name, from its files
        last = max(last, int(hist["epoch"].max()))
        fig.add_trace(go.Scatter(x=hist["epoch"], y=hist[key], name=label, mode="lines+markers",
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2.5,
                                           shape="hv" if key == "lr" else "linear"),
                                 marker=dict(size=4),
                                 hovertemplate="epoch %{x}: %{y:.5g}<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, height=380, **RUN_LAYOUT)
    fig.update_xaxes(title="epoch", **epoch_ticks(last))
    if log_y:
        fig.update_yaxes(title=f"{y_title} (log scale)", type="log", exponentformat="power")
    else:
        fig.update_yaxes(title=y_title, tickformat=".3~g" if key == "lr" else None)
    return fig


_PATTERNS = ("", "/", "x", ".", "+", "\\", "-", "|")  # one per run when several are compared


def class_delta_figure(deltas, base: str, metric: str = "f1-score", noticeable: float = 0.005) -> go.Figure:
    """Bars of ``Δ metric`` per class for each run against ``base`` (the first run): green where
    the run is better, red where it is worse, grey where the difference rounds to 0.00 (below
    ``noticeable``), as the report table colours them. With several runs each has its bars'
    pattern and a legend entry ("C − A").

    Args:
        deltas: rows are classes, one column per compared run (its label, e.g. "B") holding that
            run's metric minus the base run's (``lrviz.report_comparison.class_deltas``).
        base: the label of the run the differences are taken against (e.g. "A").
    """
    fig = go.Figure()
    classes = [plotly_text(c) for c in deltas.index]
    base = plotly_text(base, 24)
    many = len(deltas.columns) > 1
    for j, column in enumerate(deltas.columns):
        y = np.asarray(deltas[column], dtype=float)
        colours = [NO_CHANGE if not np.isfinite(v) or abs(v) < noticeable else GAIN if v > 0 else LOSS for v in y]
        fig.add_trace(go.Bar(x=classes, y=y, name=f"{plotly_text(column, 24)} − {base}", showlegend=many,
                             marker=dict(color=colours, pattern=dict(shape=_PATTERNS[j % len(_PATTERNS)])),
                             hovertemplate="class %{x}: %{y:+.3f}<extra>%{fullData.name}</extra>"))
    fig.add_hline(y=0, line=dict(color="#888", width=1))
    # Short titles: the chart is ~330 px wide in an 800 px window; the letters' legend is above it.
    title = f"Δ {metric} per class: {plotly_text(deltas.columns[0], 24)} − {base}" if not many else \
        f"Δ {metric} per class, minus {base}"
    fig.update_layout(title=title, height=380, barmode="group", **{**RUN_LAYOUT, "hovermode": "closest"})
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title=f"Δ {metric}", tickformat="+.2f", automargin=True)
    return fig
