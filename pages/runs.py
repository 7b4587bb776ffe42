"""Runs: every run on disk; open one, download its files, delete it, or compare several.

Reads widgets -> calls lrviz -> renders. A link ``?run=<id>`` opens a run directly,
``?compare=<id>,<id>`` a comparison.
"""

from __future__ import annotations

import streamlit as st

from lrviz import compare, report_comparison
from lrviz import runs as runs_api
from lrviz.compare_charts import class_delta_figure, compare_figure
from lrviz.errors import plain_message
from ui import views
from ui.links import copy_link
from ui.navigation import ensure_app_navigation  # noqa: E402
from ui.page_state import KEEP
from ui.text import NAME_CHARS, plain

ensure_app_navigation()
S = st.session_state
RUNS_DIR = runs_api.DEFAULT_RUNS_DIR
POLL_S = 2.0  # table refresh period while a run is queued or running
# Report tables per metric, in px: "weighted avg", a value ("0.78"), a difference ("+0.30").
CLASS_W, VALUE_W, DIFF_W = 104, 52, 66
DELTA_CHART_W = 360  # the Δ per class chart beside (or, in a narrow window, below) the tables
ACCURACY_W = 190  # px: "final validation accuracy" whole in its header
FILTER_W = 420  # px: the filter box, its placeholder whole


def _dismiss_delete() -> None:
    S.pop("runs_confirm", None)


@st.dialog("Delete this run?", on_dismiss=_dismiss_delete)
def _confirm_delete(run_id: str) -> None:
    st.write(f"Run `{run_id}` and all its files (history, report, model) will be removed from disk. "
             "This cannot be undone.")
    c = st.columns(2)
    if c[0].button("Delete", type="primary", icon=":material/delete_forever:", key="runs_confirm_delete"):
        try:
            runs_api.delete_run(run_id, RUNS_DIR)
        except (runs_api.RunBusyError, ValueError, OSError) as e:
            st.error(plain(e))
            return
        st.query_params.pop("run", None)
        S.pop("runs_table", None)
        _dismiss_delete()
        st.rerun()
    if c[1].button("Cancel", key="runs_cancel_delete"):
        _dismiss_delete()
        st.rerun()


_link = copy_link


def _save_name(run_id: str) -> None:
    """on_change: keep the typed name (an error stays at the input until it is fixed)."""
    try:
        runs_api.set_run_name(run_id, S[f"runs_name_{run_id}"], RUNS_DIR)
        S.pop("runs_name_error", None)
        S.pop("runs_table", None)
    except (ValueError, OSError) as e:
        S.runs_name_error = plain_message(e, "The name")


def _name_form(run) -> None:
    key = f"runs_name_{run.id}"
    S.setdefault(key, run.name or "")
    st.text_input("Name this run", key=key, on_change=_save_name, args=(run.id,), max_chars=None,
                  placeholder="e.g. F=0.5 baseline", help=runs_api.RUN_NAME.widget_help() + " Empty: no name.", **KEEP)
    if S.get("runs_name_error"):
        st.error(S.runs_name_error)


st.title("Runs")
table = compare.runs_table(RUNS_DIR)
if table.empty:
    st.info("No runs yet. Launch one on the **Train** page (or with `python -m lrviz train`); every run is kept "
            f"in `{RUNS_DIR}/` and listed here.")
    st.link_button("Go to Train", "train", icon=":material/model_training:")
    st.stop()

active_at_start = tuple(table.loc[table["state"].isin(runs_api.ACTIVE_STATES), "run"])


def _forget_ticks() -> None:
    """The table's rows change (trials shown or hidden, runs deleted): no tick may land on another run."""
    S.pop("runs_table", None)
    S.runs_ticked = []


@st.fragment(run_every=POLL_S if active_at_start else None)
def _runs_table() -> None:
    """The table; it refreshes itself while a run is queued or running (the rest of the page
    reruns when a run starts or ends, or when the ticked rows change)."""
    fresh = compare.runs_table(RUNS_DIR)
    shown = fresh if S.get("runs_show_trials") else compare.hide_trials(fresh)
    hidden = len(fresh) - len(shown)
    st.caption(f"{len(fresh)} run(s) in `{RUNS_DIR}/`. Click a column header to sort; tick two or more rows to "
               "compare. **differs**: the settings that set a run apart from the others of its kind. Validation "
               "accuracy is measured on the held-out test split.")
    if hidden or S.get("runs_show_trials"):
        st.toggle("Show tournament trials", key="runs_show_trials", on_change=_forget_ticks,
                  help=f"A tournament trains one run per schedule and seed. {hidden} trial run(s) are listed under "
                       "their tournament: open it to see its trials, its leaderboard and its verdict." if hidden else
                       "Each trial run is listed with its tournament's id in the **tournament** column.", **KEEP)
    query = st.text_input("Filter", key="runs_filter", on_change=_forget_ticks, max_chars=100, width=FILTER_W,
                          placeholder="e.g. step failed · cifar10 · a run's name",
                          help="Lists the runs whose name, schedule, state, kind, dataset, model or differing settings "
                               "hold every word you type (any case).", **KEEP)
    listed = len(shown)
    shown = compare.filter_runs(shown, query)
    if len(shown) < listed:
        st.caption(f"{len(shown)} of {listed} run(s) match the filter.")
    if shown.empty:
        st.info("No run matches the filter: change or clear it to list the runs again.")
    display = compare.runs_table_display(shown)
    if not S.get("runs_show_trials"):
        display = display.drop(columns=["tournament"])
    event = st.dataframe(
        display, key="runs_table", hide_index=True, width="stretch", on_select="rerun",
        selection_mode="multi-row",
        column_config={
            # wide enough for their headers: "final validation accuracy" read "final validation acc" at 1440 px
            "best validation accuracy": st.column_config.ProgressColumn(format="%.3f", min_value=0.0, max_value=1.0,
                                                                        width=ACCURACY_W),
            "final validation accuracy": st.column_config.ProgressColumn(format="%.3f", min_value=0.0, max_value=1.0,
                                                                         width=ACCURACY_W),
            "differs": st.column_config.TextColumn(width="medium"),
            "problem": st.column_config.TextColumn(width="medium"),
        },
    )
    ticked = [shown.iloc[i]["run"] for i in event.selection.rows if i < len(shown)] \
        if event and event.selection else []
    active = tuple(fresh.loc[fresh["state"].isin(runs_api.ACTIVE_STATES), "run"])
    changed = S.get("runs_ticked") is not None and S.runs_ticked != ticked
    S.runs_ticked = ticked
    if changed or active != active_at_start:  # a run started or ended: the run view and polling change too
        st.rerun(scope="app")


def _dismiss_bulk() -> None:
    S.pop("runs_bulk_confirm", None)


@st.dialog("Delete the ticked runs?", on_dismiss=_dismiss_bulk)
def _confirm_bulk_delete(ticked: list[str]) -> None:
    plan = compare.deletion_plan(compare.runs_table(RUNS_DIR), ticked)
    if plan.active:
        st.warning("Kept, because they are queued or running (stop them first): "
                   + ", ".join(f"`{r}`" for r in plan.active))
    with_trials = False
    if plan.trials:
        with_trials = st.checkbox(f"Also delete the {len(plan.trials)} trial run(s) of the ticked tournament(s)",
                                  value=True, key="runs_bulk_trials",
                                  help="Without them a tournament's trials are listed on their own.", **KEEP)
    doomed = plan.runs + (plan.trials if with_trials else [])
    if not doomed:
        st.info("Nothing to delete.")
    else:
        st.write(f"{len(doomed)} run(s) and all their files (history, report, model) will be removed from disk. "
                 "This cannot be undone.")
        st.markdown("  \n".join(f"`{r}`" for r in doomed[:12]) + (f"  \n… and {len(doomed) - 12} more"
                                                                  if len(doomed) > 12 else ""))
    c = st.columns(2)
    if c[0].button(f"Delete {len(doomed)} run(s)", type="primary", icon=":material/delete_forever:",
                   key="runs_bulk_delete_go", disabled=not doomed):
        problems = []
        for rid in doomed:
            try:
                runs_api.delete_run(rid, RUNS_DIR)
            except (runs_api.RunBusyError, ValueError, OSError) as e:  # started meanwhile, or gone
                problems.append(f"{rid}: {plain(e)}")
        if problems:
            S.runs_bulk_problems = problems
        st.query_params.pop("compare", None)
        if st.query_params.get("run") in doomed:
            st.query_params.pop("run", None)
        _forget_ticks()
        _dismiss_bulk()
        st.rerun()
    if c[1].button("Cancel", key="runs_bulk_cancel"):
        _dismiss_bulk()
        st.rerun()


_runs_table()
ticked_now = list(S.get("runs_ticked") or [])
if ticked_now:
    if st.button(f"Delete ticked runs ({len(ticked_now)})…", icon=":material/delete:", key="runs_bulk_delete",
                 help="Asks first. Runs that are queued or running are kept."):
        S.runs_bulk_confirm = ticked_now
if S.get("runs_bulk_confirm"):  # kept open across reruns until answered
    _confirm_bulk_delete(S.runs_bulk_confirm)
for problem in S.pop("runs_bulk_problems", None) or []:
    st.error(f"Not deleted: {problem}")
selected = ticked_now
if not selected and st.query_params.get("compare"):  # a shared comparison: ?compare=<id>,<id>
    selected = [r for r in st.query_params.get("compare").split(",") if r]

unreadable = table[table["problem"].notna() & (table["state"] != "failed")]
if len(unreadable):
    st.warning("Some runs could not be read completely: " + "; ".join(
        f"`{r.run}`: {plain(r.problem)}" for r in unreadable.itertuples()))

# ---------------------------------------------------------------- one run (?run=<id> or one ticked row)
run_id = st.query_params.get("run")
if run_id is None and len(selected) == 1:
    run_id = selected[0]
if run_id is not None:
    try:
        run = runs_api.load_run(run_id, RUNS_DIR)
    except (ValueError, OSError) as e:
        st.error(f"Cannot open run {plain(run_id, NAME_CHARS)}: {plain(e)}")
    else:
        st.divider()
        views.show(run, RUNS_DIR, key="runs")  # the view of the run's kind
        if run.state not in runs_api.ACTIVE_STATES:  # training runs and LR range tests alike
            if st.button("Delete run", icon=":material/delete:", key="runs_delete"):
                S.runs_confirm = run.id
            if S.get("runs_confirm") == run.id:  # kept open across reruns until answered
                _confirm_delete(run.id)
        _name_form(run)
        _link(compare.share_link(st.context.url, run=run.id), "this run")

# ---------------------------------------------------------------- compare two or more
if len(selected) >= 2:
    st.divider()
    st.subheader(f"Compare {len(selected)} runs")
    loaded = {}
    for rid in selected:
        try:
            r = runs_api.load_run(rid, RUNS_DIR)
        except (ValueError, OSError) as e:
            st.warning(f"Run {plain(rid, NAME_CHARS)} is left out: {plain(e)}")
            continue
        if not views.comparable(r):
            st.info(f"`{rid}` is {views.kind_words(r)}, not a training run: open it on its own.")
            continue
        loaded[rid] = r
    labels = compare.comparison_labels({rid: r.config for rid, r in loaded.items()},
                                       {rid: r.name for rid, r in loaded.items()})
    letters = compare.run_letters(list(loaded))  # short names: table headers a few pixels wide
    st.markdown("  \n".join(f"**{letters[rid]}** · {plain(labels[rid], 2 * NAME_CHARS)} · `{rid}`"
                             for rid in loaded))
    st.caption("Each run is named by a letter and by what sets it apart from the others (its name, if you gave "
               "it one).")
    histories = {f"{letters[rid]} · {labels[rid]}": r.history for rid, r in loaded.items()}
    log_loss = st.toggle("Log scale for loss", key="cmp_log_loss",
                         value=compare.loss_spans_decades(histories, "val_loss"),
                         help="One run whose loss explodes (1e10) flattens every other curve on a linear axis.", **KEEP)
    c1, c2 = st.columns(2)
    c1.plotly_chart(compare_figure(histories, "val_accuracy", "Validation accuracy", "validation accuracy"),
                    key="cmp_val_acc")
    c2.plotly_chart(compare_figure(histories, "val_loss", "Validation loss", "validation loss", log_y=log_loss),
                    key="cmp_val_loss")
    c1.plotly_chart(compare_figure(histories, "accuracy", "Training accuracy", "training accuracy"), key="cmp_acc")
    c2.plotly_chart(compare_figure(histories, "loss", "Training loss", "training loss", log_y=log_loss),
                    key="cmp_loss")
    st.plotly_chart(compare_figure(histories, "lr", "Learning rate used", "learning rate"), key="cmp_lr")
    reports = {letters[rid]: r.extras["report"] for rid, r in loaded.items() if r.extras.get("report") is not None}
    if len(reports) >= 2:
        table_cmp = report_comparison.report_comparison(reports)
        base, other = list(reports)[:2]
        st.markdown("##### Classification reports side by side (test set)")
        st.caption(f"One table per metric, a column per run; **{other} − {base}** is run {other} minus run {base}: "
                   f"green where it is better than {base}, red where it is worse (a difference below 0.005 stays "
                   "plain). The chart shows the f1-score's differences.")
        # A table per metric, as wide as its columns; the row wraps at narrow widths (no side scrolling).
        # f1-score first, with its chart beside it: the one number that weighs precision and recall.
        row = st.container(horizontal=True, gap="small")
        n = len(reports)
        for metric in ("f1-score", "precision", "recall"):
            frame = report_comparison.metric_table(table_cmp, metric)
            with row.container(width=CLASS_W + VALUE_W * n + DIFF_W * (n - 1) + 4, gap="small"):
                st.markdown(f"**{metric}**")
                st.dataframe(report_comparison.style_comparison(frame), hide_index=True, key=f"cmp_report_{metric}",
                             height=35 * (len(frame) + 1) + 3,  # header + rows, no empty row below
                             column_config={"class": st.column_config.TextColumn(width=CLASS_W - 6, pinned=True)},
                             width="stretch")
            if metric == "f1-score":
                row.plotly_chart(class_delta_figure(report_comparison.class_deltas(table_cmp), base,
                                                    noticeable=report_comparison.NOTICEABLE),
                                 key="cmp_class_delta", width=DELTA_CHART_W)
    else:
        st.info("Reports appear here once at least two of the selected runs have finished or stopped.")
    _link(compare.share_link(st.context.url, compare=list(loaded) or selected), "this comparison")
