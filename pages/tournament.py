"""Tournament: which schedule trains MiniVGGNet best? Several schedules x several seeds on
Optuna, a live leaderboard with the spread between seeds, and a verdict that decides only when the
seeds can carry it (lrviz.tournament.verdict).

Reads widgets -> calls lrviz -> renders. The tournament is a run of its own kind
(``lrviz.jobs.tournament``); its trials are ordinary training runs (on the Runs page too).
"""

from __future__ import annotations

import streamlit as st

from lrviz import compare
from lrviz import runs as store
from lrviz.charts import tournament_figure
from lrviz.data import DATASETS
from lrviz.jobs.tournament import TournamentJob, read_tournament, tournament_config
from lrviz.schedules import Schedule
from lrviz.tournament import ALPHA, MIN_SEEDS, grid, preset, schedule_labels
from ui.links import copy_link
from ui.navigation import ensure_app_navigation  # noqa: E402
from ui.page_state import KEEP, PageState, published, send
from ui.run_view import fmt_duration
from ui.text import NAME_CHARS, plain

ensure_app_navigation()
S = st.session_state
RUNS_DIR = store.DEFAULT_RUNS_DIR
SET = TournamentJob.settings()
SOURCES = {
    "tutorial": "Reproduce the tutorial: constant 0.01, time-based (Keras 2), step F=0.25 and F=0.5",
    "explorer": "The schedules in the Schedule Explorer",
    "grid": "Step decay over a grid: F in {0.25, 0.5, 0.75} × D in {5, 10}",
}
LEADERBOARD_SHOWN = {  # column -> header people read
    "rank": "rank", "schedule": "schedule", "mean_val_accuracy": "mean validation accuracy",
    "std_val_accuracy": "± std over seeds", "trials": "trials done", "best_epoch": "best epoch",
    "book_accuracy": "the book (CIFAR-10)", "mean_time_s": "time per trial (s)", "notes": "notes",
}


def _schedules(source: str) -> list[dict]:
    if source == "tutorial":
        return preset("tutorial")["schedules"]
    if source == "grid":
        return grid("step", {"factor": [0.25, 0.5, 0.75], "drop_every": [5, 10]}, lr=0.01)
    return list(published("explorer_curves") or preset("tutorial")["schedules"])


STATE = PageState("tn_", {  # this page's keys and their defaults (ui/page_state.py)
    "tn_source": "tutorial", "tn_dataset": "digits", "tn_archive": "", "tn_epochs": 40, "tn_seeds": 3,
    "tn_workers": 1, "tn_limit": 0, "tn_batch_size": 64, "tn_prune": False,
})


def _use_winner(config: dict) -> None:
    """on_click: the winner becomes the Train page's schedule and a curve in the explorer."""
    send("train", "schedule", config)
    send("explorer", "curve", config)
    S.tn_applied = Schedule.from_config(config).label()


STATE.init()
st.title("Schedule tournament")
st.markdown("The tutorial's question — which schedule trains MiniVGGNet best? — answered over several seeds, with "
            "the spread between seeds, on [Optuna](https://optuna.org): one study, one trial per schedule and seed. "
            "Each trial is an ordinary training run (it shows on the **Runs** page). The verdict names a winner "
            f"only with {MIN_SEEDS} or more seeds and a paired t-test of the two leaders below p = {ALPHA}; "
            "otherwise it says how many seeds would decide it.")

active = store.active_run(RUNS_DIR)
if active and store.run_kind(store.load_run(active, RUNS_DIR).config) == TournamentJob.kind:
    S.tn_id = active
elif "tn_id" not in S:
    S.tn_id = store.latest_run(RUNS_DIR, kind=TournamentJob.kind)

with st.expander("New tournament", expanded=not active, icon=":material/emoji_events:"):
    st.radio("Schedules", list(SOURCES), format_func=SOURCES.get, key="tn_source", **KEEP)
    schedules = _schedules(S.tn_source)
    try:
        labels = schedule_labels(schedules)
    except ValueError as e:
        labels = []
        st.error(str(e))
    st.caption(f"{len(schedules)} schedule(s): " + " · ".join(labels))
    c = st.columns(4)
    c[0].selectbox(SET["dataset"].label, DATASETS, key="tn_dataset", help=SET["dataset"].help, **KEEP)
    c[1].number_input(SET["epochs"].label, key="tn_epochs", step=1, help=SET["epochs"].widget_help(), **KEEP)
    c[2].number_input(SET["seeds"].label, key="tn_seeds", step=1, help=SET["seeds"].widget_help(), **KEEP)
    c[3].number_input(SET["workers"].label, key="tn_workers", step=1, help=SET["workers"].widget_help(), **KEEP)
    c = st.columns([1, 1, 2], vertical_alignment="bottom")  # the toggle's label needs more than a quarter at 800 px
    c[0].number_input("Training images (0: all)", key="tn_limit", step=100, help=SET["limit"].widget_help(), **KEEP)
    c[1].number_input(SET["batch_size"].label, key="tn_batch_size", step=1,
                      help=SET["batch_size"].widget_help(), **KEEP)
    c[2].toggle(SET["prune"].label, key="tn_prune", help=SET["prune"].help + " Schedules that decay late look worse "
                "early (short-horizon bias): pruning can drop the eventual winner.", **KEEP)
    if S.tn_dataset == "cifar10":
        st.text_input(SET["cifar_archive"].label, key="tn_archive", help=SET["cifar_archive"].help, **KEEP)
    settings = {"dataset": S.tn_dataset, "epochs": S.tn_epochs, "seeds": S.tn_seeds, "workers": S.tn_workers,
                "limit": S.tn_limit or None, "batch_size": S.tn_batch_size, "prune": S.tn_prune,
                "cifar_archive": (S.tn_archive or None) if S.tn_dataset == "cifar10" else None}
    problem = None
    try:
        config = tournament_config(schedules, **settings)
    except ValueError as e:
        problem, config = str(e), None
        st.error(problem)
    trials = len(schedules) * int(S.tn_seeds or 0)
    if st.button(f"Launch {trials} trials", type="primary", icon=":material/play_arrow:", key="tn_launch",
                 disabled=problem is not None or bool(active),
                 help=problem or (f"Run {active} is active: stop it or wait for it first." if active else
                                  "Starts the tournament's worker processes; you can leave or reload this page.")):
        try:
            S.tn_id = store.start_run(config, RUNS_DIR)
            st.rerun()
        except (store.RunBusyError, ValueError) as e:
            st.error(str(e))
    if active and S.get("tn_id") != active:
        st.info(f"Run `{active}` is active; a tournament starts once it has finished or been stopped.")

if S.get("tn_applied"):
    st.success(f"Applied: {S.pop('tn_applied')} is now the **Train** page's schedule and a curve in the explorer.")


CHART_W = 460  # px: two fit beside each other at 1440 px, one per row at 800 px (legends whole)


def _view(run_id: str) -> None:
    try:
        view = read_tournament(run_id, RUNS_DIR)
    except (ValueError, OSError) as e:
        st.info(f"The last tournament shown here is gone ({plain(e)}).")
        S.pop("tn_id", None)
        return
    st.markdown(f"#### Tournament `{view.id}`")
    # The folder's text is data: plain text (ui/text.py), never Markdown.
    st.caption(plain(TournamentJob.label(view.config), 2 * NAME_CHARS)
               + f" · {plain(view.config.get('dataset'), NAME_CHARS)} · state: **{plain(view.state, 20)}**"
               + (f" · {plain(view.status.get('phase'), NAME_CHARS)}" if view.status.get("phase") else "")
               + (f" · resumes {plain(view.config['parent'], NAME_CHARS)}" if view.config.get("parent") else ""))
    done, total = int(view.status.get("trials_done") or 0), int(view.status.get("trials_total") or 1)
    running = int(view.status.get("running") or 0)
    left = ""
    if view.state in store.ACTIVE_STATES:
        eta = view.status.get("eta_s")
        if not isinstance(eta, (int, float)):
            left = " · time left: known once a trial has finished"
        else:
            left = f" · about {fmt_duration(eta)} left" if eta >= 0.5 else " · finishing…"
    st.progress(min(1.0, done / max(total, 1)), text=f"{done}/{total} trials done" +
                (f" · {running} running" if running else "") + left)
    if view.state in store.ACTIVE_STATES:
        if st.button("Stop the tournament", icon=":material/stop:", key="tn_stop",
                     help="Stops every worker after its current batch; finished trials are kept."):
            store.stop_run(view.id, RUNS_DIR)
            st.toast("Stopping: every worker ends its current batch.")
    elif view.state == "failed":
        st.error(f"The tournament failed: {plain(view.status.get('error') or 'no reason recorded')}")
    if view.state not in store.ACTIVE_STATES and done < total:
        if st.button(f"Resume: run the {total - done} trial(s) left", key="tn_resume", icon=":material/replay:",
                     help="A new tournament on the same study and settings: completed trials count, stopped ones "
                          "continue from their saved model."):
            try:
                S.tn_id = store.start_run(tournament_config(parent=view.id, workers=view.config["workers"]), RUNS_DIR)
                st.rerun(scope="app")
            except (store.RunBusyError, ValueError) as e:
                st.error(str(e))
    if view.verdict and view.verdict.get("text"):
        (st.success if view.verdict.get("decisive") is True else st.info)(plain(view.verdict["text"]))
    board = view.leaderboard
    if len(board):
        shown = board[[c for c in LEADERBOARD_SHOWN if c in board.columns]].rename(columns=LEADERBOARD_SHOWN)
        formats = {"mean validation accuracy": "{:.4f}", "± std over seeds": "{:.4f}", "best epoch": "{:.0f}",
                   "the book (CIFAR-10)": "{:.2f}", "time per trial (s)": "{:.1f}"}
        # blank, not "None", where there is no value (one seed has no spread; no trial done yet)
        st.dataframe(shown.style.format({k: f for k, f in formats.items() if k in shown.columns}, na_rep=""),
                     hide_index=True, width="stretch")
        row = st.container(horizontal=True)  # buttons as wide as their labels, wrapping on narrow screens
        row.download_button("Leaderboard CSV", board.to_csv(index=False).encode(), file_name="leaderboard.csv",
                            mime="text/csv", key="tn_csv", icon=":material/download:")
        if view.winner:
            row.button("Use the winner", key="tn_winner", icon=":material/military_tech:", on_click=_use_winner,
                       args=(view.winner,), help="Puts the winning schedule into the Train page and the explorer.")
    curves = compare.trial_curves(view.trials, RUNS_DIR)
    epochs = int(view.config.get("epochs") or 10)
    charts = st.container(horizontal=True)  # side by side when both fit, else one above the other
    charts.plotly_chart(tournament_figure(curves, "val_accuracy", "Validation accuracy of every trial",
                                          "validation accuracy", epochs), key="tn_val_acc", width=CHART_W)
    charts.plotly_chart(tournament_figure(curves, "lr", "Learning rate of every trial", "learning rate", epochs),
                        key="tn_lr", width=CHART_W)
    if curves:
        runs_page = (st.context.url or "").split("?")[0].rsplit("/", 1)[0] + "/runs"
        copy_link(compare.share_link(runs_page, compare=[c["run_id"] for c in curves]),
                  "these trials, compared on the Runs page")
    if view.state in store.ACTIVE_STATES and S.get("tn_was_active") is not True:
        S.tn_was_active = True
    if view.state not in store.ACTIVE_STATES and S.pop("tn_was_active", False):
        st.rerun(scope="app")


if S.get("tn_id"):
    st.divider()
    tid = S.tn_id
    try:
        live = read_tournament(tid, RUNS_DIR).state in store.ACTIVE_STATES
    except (ValueError, OSError):
        live = False
    if live:
        st.fragment(run_every=2.0)(_view)(tid)
    else:
        _view(tid)
else:
    st.info("No tournament yet. Pick the schedules above and press **Launch**; “Reproduce the tutorial” on digits "
            "takes a few minutes on 2 cores (12 trials of 40 epochs).")
