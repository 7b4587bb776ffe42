"""The explorer's "ReduceLROnPlateau: replay on a run": plateau reductions depend on a run's
validation curve, so they cannot be drawn from a formula; this replays Keras' rule
(:func:`lrviz.plateau.replay`) on a finished run's recorded curve, next to its schedule."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lrviz.charts import plateau_replay_figure
from lrviz.plateau import plateau_settings, replay, validate_plateau
from ui.page_state import KEEP
from ui.settings_inputs import settings_grid
from ui.text import plain

S = st.session_state
SETTINGS = plateau_settings()


def section(runs_dir: Path | None = None) -> None:
    """``runs_dir``: the runs folder (default: the runs API's)."""
    st.divider()
    # a toggle, not an expander: an expander's body runs on every rerun, and this one reads the runs folder
    if not st.toggle("ReduceLROnPlateau: replay on a finished run", key="ex_pl_on", **KEEP):
        return
    with st.container(border=True):
        st.markdown("Keras' `ReduceLROnPlateau` lowers the LR when the validation curve stops improving, so its "
                    "curve depends on a run. Pick a finished run: the chart shows the LR it would have produced on "
                    "that run's recorded curve, next to the schedule the run used. (Training with it is an option "
                    "on the **Train** page.)")
        # Here, not at the top: the runs API brings pandas and every job kind (about 0.4 s of imports
        # on a 2-core machine) and the view registry every kind's view; the explorer's first paint needs
        # none of them (bench/bench_explorer.py's cold start).
        from lrviz import runs as runs_api
        from ui.views import replayable

        runs_dir = runs_api.DEFAULT_RUNS_DIR if runs_dir is None else runs_dir

        candidates = [s for s in runs_api.list_runs(runs_dir) if replayable(s) and s.epoch >= 2]
        if not candidates:
            st.info("No training run with at least 2 finished epochs yet: train one on the **Train** page.")
            return
        labels = {s.id: f"{s.id} — {s.schedule or '?'} ({s.epoch} epochs)" for s in candidates}
        run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="ex_pl_run", **KEEP)
        errors = settings_grid(SETTINGS, "ex_pl_")
        try:
            settings = validate_plateau({name: S[f"ex_pl_{name}"] for name in SETTINGS})
        except ValueError as e:
            errors.get(getattr(e, "field", ""), st).error(str(e))
            return
        try:
            run = runs_api.load_run(run_id, runs_dir)
        except (ValueError, OSError) as e:
            st.error(f"Cannot open run `{run_id}`: {plain(e)}")
            return
        hist = run.history
        monitor = settings["monitor"]
        if monitor not in hist or "lr_planned" not in hist:
            st.warning(f"Run `{run_id}` has no `{monitor}` or `lr_planned` column in its history.")
            return
        lr, reductions = replay(hist[monitor].to_numpy(), hist["lr_planned"].to_numpy(), settings)
        st.plotly_chart(plateau_replay_figure(hist["epoch"].to_numpy(), hist["lr_planned"].to_numpy(), lr,
                                              reductions, hist[monitor].to_numpy(), monitor), key="ex_pl_chart")
        if reductions:
            st.caption("Reductions (applied from the next epoch): " + "; ".join(
                f"after epoch {r['epoch']}: {r['old']:.3g} → {r['new']:.3g}" for r in reductions))
        else:
            st.caption(f"No reduction: `{monitor}` never stalled for {settings['patience']} epoch(s) in this run.")
