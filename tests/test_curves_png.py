"""training.png: the tutorial's four curves, as a real PNG matplotlib can read back."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from lrviz.curves_png import training_png


def test_png_has_the_four_curves_of_the_history():
    import matplotlib.image as mpimg

    h = pd.DataFrame({"epoch": [1, 2, 3], "loss": [2.0, 1.0, 0.5], "val_loss": [2.1, 1.2, 0.9],
                      "accuracy": [0.3, 0.6, 0.8], "val_accuracy": [0.25, 0.5, 0.7]})
    data = training_png(h, "Training Loss and Accuracy on digits", size=(640, 480))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(io.BytesIO(data), format="png")
    assert img.shape[0] > 300 and img.shape[1] > 400
    # ggplot's grey panel and four coloured lines: many distinct colours, not a blank image
    assert len(np.unique((img[..., :3] * 255).astype(int).reshape(-1, 3), axis=0)) > 50
