"""The tutorial's training plot as PNG bytes: train/val loss and accuracy against epoch.

Drawn with matplotlib's Agg backend in the tutorial's own style (``ggplot``, "Epoch #",
"Loss/Accuracy"). The interactive version is a Plotly figure in the UI.
"""

from __future__ import annotations

import io

import pandas as pd

SERIES = (("loss", "train_loss"), ("val_loss", "val_loss"), ("accuracy", "train_acc"),
          ("val_accuracy", "val_acc"))


def training_png(history: pd.DataFrame, title: str, size: tuple[int, int] = (800, 600)) -> bytes:
    """Four curves over the 1-based epochs of ``history`` (columns as in history.csv)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in the worker process
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    with plt.style.context("ggplot"):
        fig, ax = plt.subplots(figsize=(size[0] / 100, size[1] / 100), dpi=100)
        try:
            for column, label in SERIES:
                if column in history:
                    ax.plot(history["epoch"], history[column], label=label, marker="o" if len(history) < 30 else None)
            ax.set_title(title)
            ax.set_xlabel("Epoch #")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("Loss/Accuracy")
            ax.legend()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
        finally:
            plt.close(fig)
    return buf.getvalue()
