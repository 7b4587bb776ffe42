"""Runs: every run on disk; open one, download its files, delete it, or compare several.

Reads widgets -> calls lrviz -> renders. A link ``?run=<id>`` opens a run directly.
"""

from __future__ import annotations

import streamlit as st

from lrviz import compare
from lrviz import runs as store
from lrviz.charts import compare_figure, lr_find_figure
from lrviz.lr_finder import SUGGESTIONS
from ui import run_view
from ui.navigation import ensure_app_navigation  # noqa: E402

ensure_app_navigation()
S = st.session_state
RUNS_DIR = store.DEFAULT_RUNS_DIR


def _dismiss_delete() -> None:
    S.pop("runs_confirm", None)


@st.dialog("Delete this run?", on_dismiss=_dismiss_delete)
def _confirm_delete(run_id: str) -> None:
    st.write(f"Run `{run_id}` and all its files (history, report, model) will be removed from disk. "
             "This cannot be undone.")
    c = st.columns(2)
    if c[0].button("Delete", type="primary", icon=":material/delete_forever:", key="runs_confirm_delete"):
        try:
            store.delete_run(run_id, RUNS_DIR)
        except (store.RunBusyError, ValueError, OSError) as e:
            st.error(str(e))
            return
        st.query_params.pop("run", None)
        S.pop("runs_table", None)
        _dismiss_delete()
        st.rerun()
    if c[1].button("Cancel", key="runs_cancel_delete"):
        _dismiss_delete()
        st.rerun()


st.title("Runs")
table = compare.runs_table(RUNS_DIR)
if table.empty:
    st.info("No runs yet. Launch one on the **Train** page (or with `python -m lrviz train`); every run is kept "
            f"in `{RUNS_DIR}/` and listed here.")
    st.link_button("Go to Train", "train", icon=":material/model_training:")
    st.stop()

st.caption(f"{len(table)} run(s) in `{RUNS_DIR}/`. Click a column header to sort; tick two or more rows to compare.")
event = st.dataframe(
    table, key="runs_table", hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
    column_config={
        "best val_accuracy": st.column_config.ProgressColumn(format="%.3f", min_value=0.0, max_value=1.0),
        "final val_accuracy": st.column_config.NumberColumn(format="%.4f"),
        "started at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        "duration (s)": st.column_config.NumberColumn(format="%.1f"),
        "problem": st.column_config.TextColumn(width="medium"),
    },
)
selected = [table.iloc[i]["run"] for i in event.selection.rows] if event and event.selection else []
if not selected and st.query_params.get("compare"):  # a shared comparison: ?compare=<id>,<id>
    selected = [r for r in st.query_params.get("compare").split(",") if r]

unreadable = table[table["problem"].notna() & (table["state"] != "failed")]
if len(unreadable):
    st.warning("Some runs could not be read completely: " + "; ".join(
        f"`{r.run}`: {r.problem}" for r in unreadable.itertuples()))

# ---------------------------------------------------------------- one run (?run=<id> or one ticked row)
run_id = st.query_params.get("run")
if run_id is None and len(selected) == 1:
    run_id = selected[0]
if run_id is not None:
    try:
        run = store.load_run(run_id, RUNS_DIR)
    except (ValueError, OSError) as e:
        st.error(f"Cannot open run `{run_id}`: {e}")
    else:
        st.divider()
        if run.kind == "lr_find":
            run_view.header(run)
            st.plotly_chart(lr_find_figure(run.lr_find, run.suggestions), key="runs_lr_find")
            sugg = run.suggestions or {}
            for key, rule in SUGGESTIONS.items():
                if (sugg.get(key) or {}).get("lr"):
                    detail = str(sugg[key].get("rule", "")).removeprefix(rule.name + ": ")
                    st.markdown(f"**{rule.name}: {sugg[key]['lr']:.3g}** — {detail}")
            if sugg.get("reason"):
                st.warning(f"No suggestion: {sugg['reason']}")
        elif run.state in store.ACTIVE_STATES:
            run_view.live(run.id, RUNS_DIR)
        else:
            run_view.results(run, RUNS_DIR, key="runs")
            c = st.columns([1, 1, 4])
            if c[0].button("Delete run", icon=":material/delete:", key="runs_delete"):
                S.runs_confirm = run.id
            if S.get("runs_confirm") == run.id:  # kept open across reruns until answered
                _confirm_delete(run.id)
            c[1].link_button("Share link", f"runs?run={run.id}", icon=":material/link:",
                             help="A link that opens this run.")

# ---------------------------------------------------------------- compare two or more
if len(selected) >= 2:
    st.divider()
    st.subheader(f"Compare {len(selected)} runs")
    st.caption(f"Link to this comparison: `runs?compare={','.join(selected)}`")
    loaded = {}
    for rid in selected:
        try:
            r = store.load_run(rid, RUNS_DIR)
        except (ValueError, OSError) as e:
            st.warning(f"Run `{rid}` is left out: {e}")
            continue
        if r.kind == "lr_find":
            st.info(f"`{rid}` is an LR range test, not a training run: open it on its own.")
            continue
        loaded[compare.run_label(r)] = r
    histories = {label: r.history for label, r in loaded.items()}
    c1, c2 = st.columns(2)
    c1.plotly_chart(compare_figure(histories, "val_accuracy", "Validation accuracy", "val_accuracy"),
                    key="cmp_val_acc")
    c2.plotly_chart(compare_figure(histories, "val_loss", "Validation loss", "val_loss"), key="cmp_val_loss")
    c1.plotly_chart(compare_figure(histories, "accuracy", "Training accuracy", "accuracy"), key="cmp_acc")
    c2.plotly_chart(compare_figure(histories, "lr", "Learning rate used", "learning rate"), key="cmp_lr")
    with_report = [(label, r) for label, r in loaded.items() if r.report is not None]
    if len(with_report) >= 2:
        letters = [chr(ord("A") + i) for i in range(len(with_report))]  # short column names
        reports = {letter: r.report for letter, (_, r) in zip(letters, with_report)}
        st.markdown("##### Classification reports side by side")
        st.caption(" · ".join(f"**{letter}** = `{label}`" for letter, (label, _) in zip(letters, with_report))
                   + " — Δ columns: each run minus A; green is better, red is worse.")
        st.dataframe(compare.style_comparison(compare.report_comparison(reports)), width="stretch",
                     height=38 + 35 * (len(reports["A"]) + 1))
    else:
        st.info("Reports appear here once at least two of the selected runs have finished or stopped.")
