"""Baseline for ``bench/bench_explorer.py``: the least a Streamlit page can do to show the same thing.

One slider, one metric derived from it, one Plotly chart (``go.Figure`` with one 40-point line named
"Step decay", like the explorer's trace the benchmark reads; it changes with the slider).
Served the same way as the real app (``streamlit run bench/bare_app.py`` from the repository root,
so the same ``.streamlit/config.toml`` applies). Deliberately no lrviz import.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="lrviz bench: bare page", layout="wide")

factor = st.slider("factor", 0.05, 0.95, 0.5, step=0.05)
# Same readout as the explorer's Step decay card: LR at epoch 15 (index 14) = 0.01 * F**floor(15/5).
st.metric("Step decay", f"{0.01 * factor ** 3:.6g}")

epochs = np.arange(40)
lrs = 0.01 * factor ** np.floor((1 + epochs) / 5)
fig = go.Figure(go.Scatter(x=epochs + 1, y=lrs, mode="lines", name="Step decay"))
st.plotly_chart(fig)
