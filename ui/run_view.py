"""How a run looks in the browser: live progress and controls while it runs, report and
downloads when it is done. Used by the Train and Runs pages.

The page only reads the run directory (``lrviz.runs.load_run``) and writes control requests
(``stop_run``, ``set_lr``); the training itself lives in its own worker process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from lrviz import runs as runs_api
from lrviz.book import book_words
from lrviz.charts import confusion_figure, lr_used_figure, lr_used_figure_resumed, metric_figure, metric_figure_resumed
from lrviz.compare import divergence
from lrviz.data import dataset_words
from lrviz.errors import plain_message
from lrviz.models import model_words
from lrviz.own_data import files_loaded, loading_words
from lrviz.report import report_display_frame
from lrviz.schedules import Schedule
from lrviz.store import Control
from ui.page_state import KEEP, send
from ui.text import NAME_CHARS, plain

S = st.session_state
POLL_S = 1.0  # live view refresh period
STATE_BADGE = {
    "queued": ("Queued", "gray", ":material/schedule:"),
    "running": ("Running", "blue", ":material/play_circle:"),
    "finished": ("Finished", "green", ":material/check_circle:"),
    "stopped": ("Stopped", "orange", ":material/stop_circle:"),
    "failed": ("Failed", "red", ":material/error:"),
}
DIVERGED_BADGE = ("Diverged", "red", ":material/trending_up:")
STOPPING_BADGE = ("Stopping…", "orange", ":material/stop_circle:")
PHASES = {  # status.json's `phase` while running -> (progress line, badge), in plain words
    "loading data": ("Loading data and building the model…", ("Loading…", "blue", ":material/hourglass_top:")),
    "evaluating": ("Evaluating on the test set…", ("Evaluating…", "blue", ":material/fact_check:")),
}
HELD_OUT = ("**Validation** means the held-out **test split**: the model never trains on it. The validation "
            "accuracy per epoch, this report and the confusion matrix are all measured on it.")


def fmt_duration(seconds) -> str:
    """``1 min 05 s``, ``42 s``; ``–`` when unknown."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):  # NaN or inf from a tampered file
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def planned_per_epoch(run: runs_api.Run):
    """The schedule's LR per epoch (first batch), for the LR chart; None if unreadable."""
    try:
        sched = Schedule.from_config(run.config["schedule"])
        spe = int(run.config.get("steps_per_epoch") or run.status.get("steps_per_epoch") or 1)
        return sched.per_epoch(int(run.config.get("epochs") or run.status.get("epochs") or 1), spe)
    except (KeyError, ValueError, TypeError):
        return None


def diverged(run: runs_api.Run) -> str | None:
    """Why a run that ended (finished or stopped) diverged, or None."""
    if run.state not in ("finished", "stopped"):  # an LR range test has no epochs of history: never
        return None
    return divergence(run.history, len(run.class_names))


def stop_requested(run: runs_api.Run) -> bool:
    """Whether Stop was pressed (here, in another tab or from the CLI) on a run still active."""
    return run.state in runs_api.ACTIVE_STATES and Control(run.dir / "control").stop_requested


def badge(run: runs_api.Run) -> tuple[str, str, str]:
    """The state badge: label, colour, icon (the phase while running, in plain words)."""
    if stop_requested(run):
        return STOPPING_BADGE
    if diverged(run):
        return DIVERGED_BADGE
    if run.state == "running" and run.status.get("phase") in PHASES:
        return PHASES[run.status["phase"]][1]
    return STATE_BADGE.get(run.state, (plain(str(run.state).title(), 20), "gray", ":material/help:"))


ENDED_WORDS = {"finished": "Finished", "stopped": "Stopped", "failed": "Failed"}


def progress_text(run: runs_api.Run) -> str:
    """The line over the progress bar: the phase in plain words, or epoch, batch, elapsed and
    ETA ("estimating…" until the worker has measured its pace after the first batch).

    It never goes back: once the last epoch is done it says so (not "Epoch 15/15 · batch 0/22"
    again), and a run that ended says how it ended, not the batch it was at with "ETA estimating…"
    (the live view draws that last status once before the results replace it)."""
    st_ = run.status
    if run.state == "queued":
        return "Starting the worker (loading TensorFlow and the data)…"
    epochs = int(st_.get("epochs") or run.config.get("epochs") or 1)
    spe = int(st_.get("steps_per_epoch") or run.config.get("steps_per_epoch") or 1)
    epoch = int(st_.get("epoch") or 0)  # epochs finished
    elapsed = fmt_duration(st_.get("elapsed_s"))
    if run.state in ENDED_WORDS:
        return f"{ENDED_WORDS[run.state]} · {min(epoch, epochs)}/{epochs} epochs done · elapsed {elapsed}"
    phase = st_.get("phase")
    stop = stop_requested(run)
    files = files_loaded(st_) if run.state == "running" else None
    if files:  # a folder of own images being read: its own count, not "batch 0/1"
        return loading_words(*files)
    if run.state == "running" and phase in PHASES:  # a stop during the evaluation: training has stopped
        return ("Training stopped · " if stop and phase == "evaluating" else "") + PHASES[phase][0]
    stopping = "Stopping after the current batch… · " if stop else ""
    if epoch >= epochs:  # the last epoch ended; the evaluation comes next
        return f"{stopping}All {epochs} epochs done · elapsed {elapsed} · evaluating next…"
    eta = st_.get("eta_s")
    eta_text = fmt_duration(eta) if isinstance(eta, (int, float)) and run.state == "running" else "estimating…"
    return (f"{stopping}Epoch {epoch + 1}/{epochs} · "
            f"batch {int(st_.get('batch') or 0)}/{spe} · elapsed {elapsed} · ETA {eta_text}")


def progress_fraction(run: runs_api.Run) -> float:
    """How far the run is, 0 to 1, for the progress bar: finished epochs and batches of the
    current one; 1 once every epoch is done (evaluating, finished)."""
    st_ = run.status
    epochs = int(st_.get("epochs") or run.config.get("epochs") or 1)
    spe = int(st_.get("steps_per_epoch") or run.config.get("steps_per_epoch") or 1)
    epoch = int(st_.get("epoch") or 0)
    if run.state == "finished" or epoch >= epochs:
        return 1.0
    if run.state == "queued":
        return 0.0
    return max(0.0, min(1.0, (epoch + min(int(st_.get("batch") or 0), spe) / spe) / epochs))


def header(run: runs_api.Run) -> None:
    label, color, icon = badge(run)
    cols = st.columns([3, 1], vertical_alignment="center")
    cols[0].markdown(f"#### {plain(run.name, NAME_CHARS)} · `{run.id}`" if run.name else f"#### Run `{run.id}`")
    cols[1].badge(label, icon=icon, color=color)
    cfg = run.config
    bits = [f"**{plain(dataset_words(cfg) or '?', NAME_CHARS)}**", plain(model_words(cfg), NAME_CHARS)]
    if "schedule" not in cfg and runs_api.label_of(cfg):  # a kind without a schedule (an LR range test) in its words
        bits.append(plain(runs_api.label_of(cfg), NAME_CHARS))
    try:
        bits.append(Schedule.from_config(cfg["schedule"]).label())
    except (KeyError, ValueError, TypeError):
        pass
    # Every value below comes from the run's files: shown as plain text (ui/text.py).
    bits.append(plain(f"batch {cfg.get('batch_size', '?')}, momentum {cfg.get('momentum', '?')}"
                      f"{' (Nesterov)' if cfg.get('nesterov') else ''}, seed {cfg.get('seed', '?')}", NAME_CHARS))
    if cfg.get("limit"):
        bits.append(plain(f"subset of {cfg['limit']} training images", NAME_CHARS))
    if cfg.get("parent"):
        bits.append(f"resumed from {plain(cfg['parent'], NAME_CHARS)}")
    p = cfg.get("plateau")
    if isinstance(p, dict):
        bits.append(plain(f"ReduceLROnPlateau on {p.get('monitor')} (×{p.get('factor')}, patience {p.get('patience')})",
                          2 * NAME_CHARS))
    backend = cfg.get("backend") or run.status.get("backend")
    device = cfg.get("device") or run.status.get("device")
    if backend:  # runs from before backends existed ran on TensorFlow, device not recorded
        bits.append(plain(f"Keras on {backend}" + (f", {device}" if device else ""), NAME_CHARS))
    st.caption(" · ".join(bits))
    warnings(run)


def warnings(run: runs_api.Run) -> None:
    """An optional integration that failed (MLflow down): one line each, the run went on without it
    (``status.json`` ``warnings``, written by ``StatusWriter.warn``)."""
    found = run.status.get("warnings")
    for w in (found if isinstance(found, list) else [])[:5]:
        if isinstance(w, dict) and w.get("message"):
            st.warning(plain(w["message"]), icon=":material/cloud_off:")


def parent_history(run: runs_api.Run):
    """The history of the run a resumed run continues (its epochs come first), or None."""
    parent = run.config.get("parent")
    if not parent:
        return None
    try:
        return runs_api.load_run(parent, run.dir.parent).history
    except (ValueError, OSError):
        return None


RUN_CHART_W = 310  # px: a run's loss, accuracy and LR charts
REPORT_W, REPORT_CLASS_W = 470, 110  # px: the report table ("weighted avg" and four numbers), its class column
CONFUSION_W = 460  # px: the confusion matrix beside it
LR_INPUT_W = 170  # px: the Set LR value or factor
METRIC_W = 170  # px: "Validation accuracy" and its value


def charts(run: runs_api.Run, key: str) -> None:
    epochs = int(run.config.get("epochs") or run.status.get("epochs") or 1)
    spe = int(run.config.get("steps_per_epoch") or run.status.get("steps_per_epoch") or 1)
    before = parent_history(run)
    row = st.container(horizontal=True)  # three abreast at 1440 px, one per row at 800 px (legends whole)
    overrides = run.status.get("lr_overrides") or run.config.get("lr_overrides") or []
    if before is None:
        loss = metric_figure(run.history, ["loss", "val_loss"], "Loss", "loss", epochs)
        acc = metric_figure(run.history, ["accuracy", "val_accuracy"], "Accuracy", "accuracy", epochs)
        lr = lr_used_figure(run.history, planned_per_epoch(run), overrides, epochs, spe)
    else:  # a resumed run: the parent's epochs too, dimmed
        loss = metric_figure_resumed(run.history, before, ["loss", "val_loss"], "Loss", "loss", epochs)
        acc = metric_figure_resumed(run.history, before, ["accuracy", "val_accuracy"], "Accuracy", "accuracy",
                                    epochs)
        lr = lr_used_figure_resumed(run.history, before, planned_per_epoch(run), overrides, epochs, spe)
    for name, fig in (("loss", loss), ("acc", acc), ("lr", lr)):
        row.plotly_chart(fig, key=f"{key}_{name}", config={"displaylogo": False}, width=RUN_CHART_W)


def progress(run: runs_api.Run) -> None:
    st_ = run.status
    epochs = int(st_.get("epochs") or run.config.get("epochs") or 1)
    epoch = int(st_.get("epoch") or 0)
    files = files_loaded(st_) if run.state == "running" else None  # the files' own bar while they are read
    st.progress(files[0] / files[1] if files else progress_fraction(run), text=progress_text(run))
    last = run.history.iloc[-1] if len(run.history) else {}

    def latest(column: str) -> str:  # a fit without validation data has no val_ columns
        value = last.get(column) if hasattr(last, "get") else None
        return f"{value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) else "–"

    # A wrapping row of metrics as wide as their labels: four equal columns cut "Validation accuracy"
    # to "Validation accu…" at 800 px.
    row = st.container(horizontal=True, gap="small")
    m = [row.container(width=METRIC_W) for _ in range(4)]
    m[0].metric("Epochs done", f"{epoch}/{epochs}")
    m[1].metric("Validation accuracy", latest("val_accuracy"))
    m[2].metric("Validation loss", latest("val_loss"))
    lr_now = st_.get("lr")
    m[3].metric("LR now", f"{lr_now:.6g}" if isinstance(lr_now, (int, float)) else "–")


def _stop(run_id: str, runs_dir: Path) -> None:
    runs_api.stop_run(run_id, runs_dir)
    st.toast("Stop requested: the run finishes its current batch, then writes its report.")


def _on_lr_input_change(key: str) -> None:
    S.pop(f"{key}_error", None)  # an Apply error stays until the input changes


def _on_mode_change(key: str, lr_now) -> None:
    _on_lr_input_change(key)
    if S.get(f"{key}_mode") == "× factor":
        S[f"{key}_amount"] = 0.5
    elif isinstance(lr_now, (int, float)):
        S[f"{key}_amount"] = float(f"{lr_now:.3g}")


def controls(run: runs_api.Run, runs_dir: Path, page: str, *, no_set_lr: str | None = None) -> None:
    """Stop, and Set LR now (absolute or ×factor), for an active run; ``no_set_lr``: why this run's
    LR cannot be set (then only Stop, and that reason)."""
    key = f"{page}_ctl_{run.id}"
    stopping = stop_requested(run)
    lr_now = run.status.get("lr")
    # One row as wide as its parts, wrapping in a narrow window: four equal columns cut the switch
    # to "value | × fa" at 800 px.
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    row.button("Stop", icon=":material/stop:", key=f"{key}_stop", type="primary", disabled=stopping,
                   on_click=_stop, args=(run.id, runs_dir),  # before the rerun: the badge says Stopping… at once
                   help="Stop requested: the run finishes its current batch, then writes its report."
                        if stopping else
                        "Finish the current batch, evaluate, write the report. Nothing trained is lost.")
    if no_set_lr:
        row.caption(no_set_lr)
        return
    mode = row.segmented_control("Set LR now", ["value", "× factor"], default="value", key=f"{key}_mode",
                                     on_change=_on_mode_change, args=(key, lr_now),
                                     help="From the next batch. A value sets the LR now and the rest of the "
                                          "schedule continues from it; a factor scales the rest of the schedule.",
                                     **KEEP)
    field = "factor" if mode == "× factor" else "value"
    S.setdefault(f"{key}_amount", 0.001)
    row.number_input(runs_api.SET_LR[field].label, key=f"{key}_amount", format="%.6g", width=LR_INPUT_W,
                         step=0.0001 if field == "value" else 0.1,
                         on_change=_on_lr_input_change, args=(key,), **KEEP)
    amount = S[f"{key}_amount"]
    try:  # the engine's rule, checked as it is typed; the error stays until the value changes
        runs_api.check_lr_change(**{field: amount}, lr_now=lr_now)
        problem = None
    except ValueError as e:
        problem = plain_message(e, runs_api.SET_LR[field].label)
    if row.button("Apply", key=f"{key}_apply", icon=":material/tune:", disabled=problem is not None or stopping,
                      help=problem):
        try:
            runs_api.set_lr(run.id, runs_dir, **{field: amount})
            st.toast(f"LR change requested ({mode} {amount:g}); it applies from the next batch.")
        except ValueError as e:
            S[f"{key}_error"] = plain_message(e, runs_api.SET_LR[field].label)
    problem = problem or S.get(f"{key}_error")
    if problem:
        st.error(problem)


def live(run_id: str, runs_dir: Path, page: str, *, head: Callable[[runs_api.Run], None] | None = None,
         no_set_lr: Callable[[runs_api.Run], str | None] | None = None) -> None:
    """Poll the run every second; when it ends, rerun the page to show the results. ``head``
    draws its header (a kind's own; default :func:`header`), ``no_set_lr(run)`` says why its LR
    cannot be set, if it cannot."""

    @st.fragment(run_every=POLL_S)
    def _panel() -> None:
        try:
            run = runs_api.load_run(run_id, runs_dir)
        except (ValueError, OSError) as e:
            st.error(f"Run {run_id} can no longer be read: {plain(e)}")
            return
        (head or header)(run)
        progress(run)
        controls(run, runs_dir, page, no_set_lr=no_set_lr(run) if no_set_lr else None)
        charts(run, key=f"{page}_live_{run_id}")
        if run.state not in runs_api.ACTIVE_STATES:
            time.sleep(0.1)
            st.rerun(scope="app")

    _panel()


def results(run: runs_api.Run, runs_dir: Path, key: str = "res", *,
            head: Callable[[runs_api.Run], None] | None = None) -> None:
    """A finished, stopped or failed run: what happened, charts, report, confusion, downloads
    (``head``: its header, default :func:`header`)."""
    (head or header)(run)
    epochs_done = len(run.history)
    report, confusion = run.extras.get("report"), run.extras.get("confusion")  # its job's files (Run.extras)
    why = diverged(run)
    if why:
        st.error(f"**Diverged** ({run.state} after {epochs_done} epoch(s)): {why}. The model did not learn; "
                 "try a smaller learning rate (the LR range test on the Train page suggests one).",
                 icon=":material/trending_up:")
    elif run.state == "failed":
        reason = plain(str(run.status.get("error") or "no reason recorded").rstrip(". "))
        st.error(f"The run failed: {reason}. " + (f"{epochs_done} finished epoch(s) are kept below." if epochs_done
                                                  else "No epoch finished before it did."))
    elif run.state == "stopped":
        st.warning(f"Stopped after {epochs_done} finished epoch(s); the report evaluates the model as it was then.")
    elif run.state == "finished":
        acc = report.loc["accuracy", "f1-score"] if report is not None and "accuracy" in report.index else None
        st.success(f"Finished {epochs_done} epochs in {fmt_duration(run.status.get('elapsed_s'))}"
                   + (f" · validation accuracy **{acc:.2%}**" if acc is not None else ""))
        if book_words(run.config, acc):  # the tutorial's 0.75 / 0.78 / 0.83 beside it, or why not comparable
            st.caption(plain(book_words(run.config, acc), 1000),  # a whole sentence, not cut
                       help="Deep Learning for Computer Vision with Python, the chapter on learning-rate schedulers.")
    if run.error:
        st.warning(f"Some files of this run could not be read: {plain(run.error)}")
    if epochs_done or parent_history(run) is not None:  # an ended run with no epoch has nothing to draw, ever
        charts(run, key=f"{key}_{run.id}")
    if report is not None:
        # Side by side where they fit, one under the other in a narrow window: in two equal columns
        # at 800 px the report showed only "class" and the start of "precision".
        row = st.container(horizontal=True, gap="medium")
        with row.container(width=REPORT_W):
            st.markdown("##### Classification report (test set)")
            st.caption(HELD_OUT)
            st.dataframe(report_display_frame(report), width="stretch", hide_index=True,
                         height=min(600, 38 + 35 * len(report)),
                         column_config={"class": st.column_config.TextColumn(width=REPORT_CLASS_W)})
        if confusion is not None:
            row.plotly_chart(confusion_figure(confusion), key=f"{key}_cm_{run.id}",
                             config={"displaylogo": False}, width=CONFUSION_W)
    downloads(run, key)
    if run.state in ("finished", "stopped") and "model.keras" in run.files:
        resume(run, runs_dir, key)


def resume(run: runs_api.Run, runs_dir: Path, key: str) -> None:
    """The tutorial's "stop, adjust the LR, continue": a new run that starts from this one's
    saved model and optimizer state, with more epochs and optionally a new initial LR."""
    done = len(run.history)
    k = f"{key}_resume_{run.id}"
    with st.expander("Continue training from here", icon=":material/resume:"):
        try:
            sched = Schedule.from_config(run.config["schedule"])
        except (KeyError, ValueError, TypeError):
            st.warning("This run's schedule cannot be read; it cannot be continued.")
            return
        c = st.columns(3, vertical_alignment="bottom")
        planned = int(run.config.get("epochs") or 0)  # a run stopped early goes on to its own total
        S.setdefault(f"{k}_epochs", float(planned if planned > done else done + 10))
        # A float input, validated by the engine: an int input would turn 12.5 into 12 silently.
        c[0].number_input("Total epochs to reach", key=f"{k}_epochs", step=1.0, format="%.12g",
                          help=f"More than the {done} already done (Keras' `epochs` with `initial_epoch`).", **KEEP)
        has_lr = "lr" in sched.params
        if has_lr:
            S.setdefault(f"{k}_lr", float(sched.params["lr"]))
            c[1].number_input("Initial LR of the schedule", key=f"{k}_lr", format="%.6g", step=0.001,
                              help="The schedule continues at the same global steps, rescaled to this initial LR.",
                              **KEEP)
            try:  # what the first new epoch trains at: the schedule's own epoch, not its initial LR
                spe = int(run.config.get("steps_per_epoch") or run.status.get("steps_per_epoch") or 1)
                first = Schedule.create(sched.name, {**sched.params, "lr": S[f"{k}_lr"]}, warmup=sched.warmup,
                                        warmup_start_factor=sched.warmup_start_factor).at_epoch(done, spe)
                st.caption(f"Epoch {done + 1} trains at {first:.6g}: the schedule goes on at its own epoch "
                           f"{done + 1}, rescaled to this initial LR.")
            except (ValueError, TypeError):
                pass  # a bad LR: the Continue button says why
        if c[2].button("Continue", key=f"{k}_go", icon=":material/play_arrow:"):
            params = dict(sched.params)
            if has_lr:
                params["lr"] = S[f"{k}_lr"]
            try:
                new_sched = Schedule.create(sched.name, params, warmup=sched.warmup,
                                            warmup_start_factor=sched.warmup_start_factor)
                new_id = runs_api.start_run({"schedule": new_sched.to_config(), "epochs": S[f"{k}_epochs"],
                                          "batch_size": run.config.get("batch_size", 64),
                                          "seed": run.config.get("seed", 42), "parent": run.id}, runs_dir)
            except (ValueError, runs_api.RunBusyError) as e:
                label = {"epochs": "Total epochs to reach", "lr": "Initial LR of the schedule"}
                st.error(plain_message(e, label.get(getattr(e, "field", None))))
            else:
                send("train", "show_run", new_id)
                if key == "tr":
                    st.rerun()
                st.switch_page("pages/train.py")


_DOWNLOADS = [
    ("report.csv", "Report CSV", "text/csv", ":material/table:"),
    ("history.csv", "History CSV", "text/csv", ":material/timeline:"),
    ("model.keras", "Model (.keras)", "application/octet-stream", ":material/neurology:"),
    ("training.png", "Training plot PNG", "image/png", ":material/image:"),
    ("config.json", "Config JSON", "application/json", ":material/settings:"),
]


def downloads(run: runs_api.Run, key: str) -> None:
    available = [d for d in _DOWNLOADS if d[0] in run.files]
    if not available:
        return
    # A wrapping row of buttons as wide as their labels: equal columns cut the labels to
    # "Re… Hi… M…" in an 800 px window.
    with st.container(horizontal=True, gap="small", key=f"{key}_downloads_{run.id}"):
        for name, label, mime, icon in available:
            st.download_button(label, data=run.files[name].read_bytes(), file_name=f"{run.id}-{name}", mime=mime,
                               icon=icon, key=f"{key}_dl_{name}_{run.id}", width="content")
