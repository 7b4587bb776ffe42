"""The tutorial's training plot (train/val loss and accuracy against epoch) as PNG bytes.

Drawn with Pillow, which ships with Streamlit, so saving ``training.png`` needs neither
matplotlib nor a browser engine. The interactive version is a Plotly figure in the UI.
"""

from __future__ import annotations

import io
import math

import pandas as pd

SERIES = (("loss", "train_loss", (31, 119, 180)), ("val_loss", "val_loss", (255, 127, 14)),
          ("accuracy", "train_acc", (44, 160, 44)), ("val_accuracy", "val_acc", (214, 39, 40)))


def training_png(history: pd.DataFrame, title: str, size: tuple[int, int] = (800, 600)) -> bytes:
    """Four curves over 1-based epochs, y from 0 to max(1, largest value)."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    left, right, top, bottom = 70, 20, 50, 60
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    epochs = history["epoch"].to_numpy(dtype=float)
    values = [history[c].to_numpy(dtype=float) for c, _, _ in SERIES if c in history]
    finite = [v for arr in values for v in arr if math.isfinite(v)]
    y_max = max([1.0, *finite]) if finite else 1.0
    x0, x1 = (epochs.min(), epochs.max()) if len(epochs) else (1.0, 1.0)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (w - left - right), h - bottom - y / y_max * (h - top - bottom))

    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for i in range(6):  # y grid and ticks
        y = y_max * i / 5
        _, yy = px(x0, y)
        d.line([left, yy, w - right, yy], fill=(225, 225, 225))
        d.text((left - 45, yy - 6), f"{y:.2f}", fill="black", font=font)
    step = max(1, int(math.ceil((x1 - x0) / 10)))
    for e in range(int(math.ceil(x0)), int(x1) + 1, step):
        xx, _ = px(e, 0)
        d.text((xx - 6, h - bottom + 6), str(e), fill="black", font=font)
    for col, _label, color in SERIES:
        if col not in history:
            continue
        pts = [px(x, y) for x, y in zip(epochs, history[col].to_numpy(dtype=float)) if math.isfinite(y)]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for p in pts:
            d.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=color)
    for i, (_, label, color) in enumerate(SERIES):  # legend
        ly = top + 10 + 16 * i
        d.line([w - right - 110, ly + 6, w - right - 90, ly + 6], fill=color, width=3)
        d.text((w - right - 85, ly), label, fill="black", font=font)
    d.text((w / 2 - 4 * len(title), 18), title, fill="black", font=font)
    d.text((w / 2 - 20, h - 30), "Epoch #", fill="black", font=font)
    d.text((8, top - 20), "Loss/Accuracy", fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
