"""The view of a tournament (``VIEWS["tournament"]``), on the Tournament page and the Runs page:
progress, stop or resume, the verdict, the leaderboard, every trial's curves.

Everything comes from ``read_tournament``, which names a damaged file instead of raising: a
damaged tournament shows as damaged (which file, why) and the page around it keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from lrviz import compare, explorer
from lrviz import runs as runs_api
from lrviz.charts import tournament_figure
from lrviz.schedules import Schedule
from lrviz.text import shorten
from lrviz.tournament import reached_text
from ui.links import copy_link
from ui.page_state import KEEP, send
from ui.run_view import fmt_duration
from ui.text import NAME_CHARS, plain

S = st.session_state
CHART_W = 460  # px: two fit beside each other at 1440 px, one per row at 800 px (legends whole)
# The page's leaderboard. The key columns come first, each as narrow as its short header, so that
# at 800 px (the sidebar open: a table about 460 px wide) rank, accuracy, seeds and the time to
# the target read whole; the schedule's label follows, then the rest. Streamlit draws a missing
# value as "None" whatever a Styler's na_rep says (and a float rank as 1.000000): a column with a
# missing value is shown as text, blank where the value is missing.
LEADERBOARD_SHOWN = {  # board column -> (the frame's column, header on the page, width in px, format, help)
    "rank": ("rank", "rank", 44, "{:.0f}", "1 = highest mean; ties share a rank; blank: no seed completed"),
    "mean_val_accuracy": ("mean validation accuracy", "mean acc.", 78, "{:.4f}",
                          "Mean final validation accuracy over the completed seeds"),
    "std_val_accuracy": ("± std over seeds", "± std", 62, "{:.4f}", "Sample standard deviation over the seeds "
                         "(blank with one seed)"),
    "trials": ("trials done", "seeds", 50, "{:.0f}", "Seeds completed"),
    "to_target": ("time to target", None, 134, None, "Mean epochs and seconds of training until a seed first "
                  "reaches this validation accuracy, over the seeds that reach it; then how many of the completed "
                  "seeds do"),
    "schedule": ("schedule", "schedule", "large", None, "The schedule and its parameters"),
    "best_epoch": ("best epoch", "best epoch", 72, "{:.0f}", "The epoch where the mean validation accuracy peaks"),
    "book_accuracy": ("the book (CIFAR-10)", "the book", 66, "{:.2f}", "The book's CIFAR-10 test accuracy"),
    "mean_time_s": ("time per trial (s)", "s per trial", 74, "{:.1f}", "Mean seconds of a completed trial, start-up "
                    "included"),
    "notes": ("notes", "notes", "medium", None, "What happened besides completing"),
}


def leaderboard_table(board: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """The leaderboard as the page shows it: a Styler (numbers with fixed decimals, ranks whole)
    of a frame in which no cell is missing (a column with a missing value is text, that cell
    blank; labels one bounded line), and each column's config (short header, width, help)."""
    frame, formats, config = pd.DataFrame(index=board.index), {}, {}
    target = board["target_accuracy"].dropna() if "target_accuracy" in board else []
    for key, (name, header, width, fmt, help_) in LEADERBOARD_SHOWN.items():
        if key == "to_target":
            if "seeds_reached" not in board:  # a leaderboard.csv of an older lrviz
                continue
            header = f"to {float(target.iloc[0]):g}" if len(target) else "to target"
            frame[name] = [reached_text(r) for r in board.to_dict("records")]
        elif key not in board:
            continue
        elif fmt is None:  # text from the folder: one bounded line a cell; blank, not "None"
            frame[name] = board[key].map(lambda v: "" if pd.isna(v) else shorten(v, 2 * NAME_CHARS))
        elif board[key].isna().any():
            frame[name] = board[key].map(lambda v, f=fmt: "" if pd.isna(v) else f.format(v))
        else:
            frame[name] = board[key].astype("int64") if fmt == "{:.0f}" else board[key]
            formats[name] = fmt
        config[name] = st.column_config.Column(header, width=width, help=help_,
                                               alignment="left" if fmt is None else "right")
    return frame.style.format(formats), config


def _ties(view: Any) -> None:
    """Schedules that set the same LR at every batch of the tournament's epochs can only tie: say so
    next to the result, and from which epoch they would part."""
    epochs = view.config.get("epochs")
    try:
        schedules = [Schedule.from_config(c) for c in view.config.get("schedules") or []]
    except (ValueError, TypeError, KeyError):
        return  # a damaged config: the page already says which file
    if not isinstance(epochs, int) or len(schedules) < 2:
        return
    labels = explorer.curve_labels(schedules)
    for group, parts_at in explorer.same_lr_groups(schedules, epochs):
        names = ", ".join(labels[i] for i in group)
        st.info(plain(f"Over {epochs} epoch(s) {names} set the same LR at every batch, so they can only tie here: "
                      "what tells them apart is the seed. "
                      + (f"Their LRs part at epoch {parts_at}: train at least {parts_at} epochs to compare them."
                         if parts_at else "")), icon=":material/info:")


def _use_winner(config: dict, key: str) -> None:
    """on_click: the winner becomes the Train page's schedule and a curve in the explorer."""
    send("train", "schedule", config)
    send("explorer", "curve", config)
    S[f"{key}_applied"] = Schedule.from_config(config).label()
    S[f"{key}_to_train"] = True  # after the callback: st.switch_page does not run inside one


def _resume(view, runs_dir: Path, key: str, left: int) -> None:
    """Resume a stopped or failed tournament: a new one on the same study. A study the folder
    names outside its own ``study.db`` (PostgreSQL) is opened only when the user names it again."""
    storage = None
    if view.config.get("storage"):
        st.caption("This tournament's study is in an outside database, named in its folder as "
                   f"{plain(view.config['storage'], NAME_CHARS)}. Type its URL to resume there: a folder never "
                   "chooses the database (or the host a password goes to).")
        storage = st.text_input("Storage URL to resume on", key=f"{key}_resume_storage", **KEEP) or None
    if st.button(f"Resume: run the {left} trial(s) left", key=f"{key}_resume", icon=":material/replay:",
                 help="A new tournament on the same study and settings: completed trials count, stopped ones "
                      "continue from their saved model."):
        try:  # the parent's workers: its None (auto-sized by the engine) stays None
            config = runs_api.tournament_config(parent=view.id, workers=view.config.get("workers"),
                                                **({"storage": storage} if storage else {}))
            new_id = runs_api.start_run(config, runs_dir)
        except (runs_api.RunBusyError, ValueError) as e:
            st.error(plain(e))
            return
        send("tournament", "show", new_id)
        if key == "tn":
            st.rerun(scope="app")
        st.switch_page("pages/tournament.py")


def _progress(view) -> None:
    done, total, running = view.trials_done, max(view.trials_total, 1), view.running
    left = ""
    if view.state in runs_api.ACTIVE_STATES:
        eta = view.status.get("eta_s")
        if not isinstance(eta, (int, float)):
            left = " · time left: known once a trial has finished"
        else:
            left = f" · about {fmt_duration(eta)} left" if eta >= 0.5 else " · finishing…"
    st.progress(min(1.0, done / total), text=f"{done}/{view.trials_total} trials done" +
                (f" · {running} running" if running else "") + left)


def _leaderboard(view, key: str) -> None:
    board = view.leaderboard
    if not len(board):
        return
    shown, columns = leaderboard_table(board)
    st.dataframe(shown, column_config=columns, hide_index=True, width="stretch")
    row = st.container(horizontal=True)  # buttons as wide as their labels, wrapping on narrow screens
    whole = {c: "Int64" for c in ("rank", "trials", "best_epoch", "seeds_reached") if c in board}  # 1, not 1.0
    row.download_button("Leaderboard CSV", board.astype(whole).to_csv(index=False).encode(),
                        file_name="leaderboard.csv", mime="text/csv", key=f"{key}_csv", icon=":material/download:")
    if view.winner:
        row.button("Use the winner", key=f"{key}_winner", icon=":material/military_tech:", on_click=_use_winner,
                   args=(view.winner, key), help="Puts the winning schedule into the Train page and the explorer.")


def _curves(view, curves: list[dict], key: str) -> None:
    """Every trial's validation accuracy and LR by epoch, side by side when both fit."""
    epochs = view.config.get("epochs")
    epochs = epochs if isinstance(epochs, int) and epochs > 0 else 10
    charts = st.container(horizontal=True)  # side by side when both fit, else one above the other
    accuracy = tournament_figure(curves, "val_accuracy", "Validation accuracy of every trial", "validation accuracy",
                                 epochs)
    target = view.config.get("target_accuracy")
    if isinstance(target, float):  # the leaderboard's "to <target>": where each curve crosses it
        accuracy.add_hline(y=target, line_dash="dot", line_color="grey", annotation_text=f"target {target:g}",
                           annotation_position="bottom right")
    charts.plotly_chart(accuracy, key=f"{key}_val_acc", width=CHART_W)
    charts.plotly_chart(tournament_figure(curves, "lr", "Learning rate of every trial", "learning rate", epochs),
                        key=f"{key}_lr", width=CHART_W)


def _body(run_id: str, runs_dir: Path, key: str) -> None:
    try:
        view = runs_api.read_tournament(run_id, runs_dir)
    except (ValueError, OSError) as e:
        st.info(f"The tournament shown here is gone ({plain(e)}).")
        return
    st.markdown(f"#### Tournament `{view.id}`")
    # The folder's text is data: plain text (ui/text.py), never Markdown.
    st.caption(plain(runs_api.label_of({**view.config, "kind": runs_api.TOURNAMENT}), 2 * NAME_CHARS)
               + f" · {plain(view.config.get('dataset'), NAME_CHARS)} · state: **{plain(view.state, 20)}**"
               + (f" · {plain(view.status.get('phase'), NAME_CHARS)}" if view.status.get("phase") else "")
               + (f" · resumes {plain(view.config['parent'], NAME_CHARS)}" if view.config.get("parent") else ""))
    if view.damaged:
        st.warning(f"Damaged: {plain(view.damaged)}. What could be read is shown.", icon=":material/broken_image:")
    _progress(view)
    if view.state in runs_api.ACTIVE_STATES:
        if st.button("Stop the tournament", icon=":material/stop:", key=f"{key}_stop",
                     help="Stops every worker after its current batch; finished trials are kept."):
            runs_api.stop_run(view.id, runs_dir)
            st.toast("Stopping: every worker ends its current batch.")
    elif view.state == "failed":
        st.error(f"The tournament failed: {plain(view.status.get('error') or 'no reason recorded')}")
    config_ok = "config.json" not in (view.damaged_files or {})
    if view.state not in runs_api.ACTIVE_STATES and view.trials_done < view.trials_total and config_ok:
        _resume(view, runs_dir, key, view.trials_total - view.trials_done)
    if view.verdict and view.verdict.get("text"):
        (st.success if view.verdict.get("decisive") is True else st.info)(plain(view.verdict["text"]))
    if S.pop(f"{key}_to_train", False):
        st.switch_page("pages/train.py")  # the learner lands on Train with the winner as its schedule
    if S.get(f"{key}_applied"):
        st.success(f"Applied: {plain(S.pop(f'{key}_applied'))} is now the **Train** page's schedule and a curve "
                   "in the explorer.")
    _leaderboard(view, key)
    _ties(view)
    curves = compare.trial_curves(view.trials, runs_dir)
    if view.state in runs_api.ACTIVE_STATES or any(len(c["history"]) for c in curves):
        _curves(view, curves, key)
    else:  # an ended tournament with no epoch: two empty charts "waiting" would wait for nothing
        st.caption(f"No trial finished an epoch before the tournament {plain(view.state)}: there are no curves "
                   "to draw.")
    if curves:
        runs_page = (st.context.url or "").split("?")[0].rsplit("/", 1)[0] + "/runs"
        copy_link(compare.share_link(runs_page, compare=[c["run_id"] for c in curves]),
                  "these trials, compared on the Runs page")
    if key != "tn":
        st.link_button("Open the Tournament page", "tournament", icon=":material/emoji_events:")
    was_active = f"{key}_was_active"
    if view.state in runs_api.ACTIVE_STATES and S.get(was_active) is not True:
        S[was_active] = True
    if view.state not in runs_api.ACTIVE_STATES and S.pop(was_active, False):
        st.rerun(scope="app")


def show(run_id: str, runs_dir: Path, key: str = "tn") -> None:
    """Draw the tournament ``run_id``; while it runs, it refreshes itself every 2 s."""
    try:
        live = runs_api.read_tournament(run_id, runs_dir).state in runs_api.ACTIVE_STATES
    except (ValueError, OSError):
        live = False
    if live:
        st.fragment(run_every=2.0)(_body)(run_id, runs_dir, key)
    else:
        _body(run_id, runs_dir, key)
