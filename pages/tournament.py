"""Tournament: which schedule trains MiniVGGNet best? Several schedules x several seeds on
Optuna, a live leaderboard with the spread between seeds, and a verdict that decides only when the
seeds can carry it (lrviz.tournament.verdict).

Reads widgets -> calls lrviz -> renders. The tournament is a run of its own kind
(``lrviz.jobs.tournament``); its trials are ordinary training runs (on the Runs page too).
"""

from __future__ import annotations

import streamlit as st

from lrviz import runs as runs_api
from lrviz.data import DATASET_CHOICES, OWN
from lrviz.errors import plain_message
from lrviz.tournament import ALPHA, MIN_SEEDS, default_target, grid, preset, schedule_labels
from ui import tournament_view, views
from ui.data_upload import data_upload
from ui.navigation import ensure_app_navigation  # noqa: E402
from ui.own_data_inputs import own_data_defaults, own_data_inputs, own_data_values, own_data_words
from ui.page_state import KEEP, PageState, published, receive
from ui.text import NAME_CHARS, plain, shorten

ensure_app_navigation()
S = st.session_state
RUNS_DIR = runs_api.DEFAULT_RUNS_DIR
SET = runs_api.settings_of(runs_api.TOURNAMENT)
SOURCES = {
    "tutorial": "Reproduce the tutorial: constant 0.01, time-based (Keras 2), step F=0.25 and F=0.5",
    "explorer": "The schedules in the Schedule Explorer",
    "grid": "Step decay over a grid: F in {0.25, 0.5, 0.75} × D in {5, 10}",
}


def _schedules(source: str) -> list[dict]:
    if source == "tutorial":
        return preset("tutorial")["schedules"]
    if source == "grid":
        return grid("step", {"factor": [0.25, 0.5, 0.75], "drop_every": [5, 10]}, lr=0.01)
    return list(published("explorer_curves") or preset("tutorial")["schedules"])


STATE = PageState("tn_", {  # this page's keys and their defaults (ui/page_state.py)
    "tn_source": "tutorial", "tn_dataset": "digits", "tn_cifar_archive": "", "tn_epochs": 40, "tn_seeds": 3,
    **own_data_defaults("tn", SET["val_split"].default), "tn_model": SET["model"].default,
    "tn_workers": None, "tn_limit": 0, "tn_batch_size": 64, "tn_prune": False, "tn_target": None,
})


STATE.init()
st.title("Schedule tournament")
st.markdown("The tutorial's question — which schedule trains MiniVGGNet (or your model) best? — answered over "
            "several seeds, with the spread between seeds, on [Optuna](https://optuna.org): one study, one trial "
            "per schedule and seed. Each trial is an ordinary training run (it shows on the **Runs** page). "
            f"The verdict names a winner only with {MIN_SEEDS} or more seeds and a paired t-test of the two "
            f"leaders below p = {ALPHA}; "
            "otherwise it says how many seeds would decide it.")

active = runs_api.active_run(RUNS_DIR)
if active and views.on_page("tournament", runs_api.load_run(active, RUNS_DIR).kind):
    S.tn_id = active
elif "tn_id" not in S:
    S.tn_id = views.latest_of_page("tournament", RUNS_DIR)
for sent in receive("tournament", "show"):  # a resume started here or on the Runs page
    S.tn_id = sent

with st.expander("New tournament", expanded=not active, icon=":material/emoji_events:"):
    st.radio("Schedules", list(SOURCES), format_func=SOURCES.get, key="tn_source", **KEEP)
    schedules = _schedules(S.tn_source)
    try:
        labels = schedule_labels(schedules)
    except ValueError as e:
        labels = []
        st.error(plain(e))
    st.caption(f"{len(schedules)} schedule(s): " + " · ".join(labels))
    c = st.columns(4)
    c[0].selectbox(SET["dataset"].label, DATASET_CHOICES, key="tn_dataset", help=SET["dataset"].help,
                   format_func={"digits": "digits", "cifar10": "CIFAR-10", OWN: "your own images"}.get, **KEEP)
    c[1].number_input(SET["epochs"].label, key="tn_epochs", step=1, help=SET["epochs"].widget_help(), **KEEP)
    c[2].number_input(SET["seeds"].label, key="tn_seeds", step=1, help=SET["seeds"].widget_help(), **KEEP)
    c[3].number_input(SET["workers"].label, value=None, key="tn_workers", step=1,  # empty: the engine sizes it
                      help=SET["workers"].widget_help(), **KEEP)
    errors_at = dict(zip(("dataset", "epochs", "seeds", "workers"), c))  # a field's error goes under its input
    c = st.columns([1, 1, 1, 2], vertical_alignment="bottom")  # the toggle's label needs the most at 800 px
    c[0].number_input("Training images (0: all)", key="tn_limit", step=100, help=SET["limit"].widget_help(), **KEEP)
    c[1].number_input(SET["batch_size"].label, key="tn_batch_size", step=1,
                      help=SET["batch_size"].widget_help(), **KEEP)
    c[2].number_input(SET["target_accuracy"].label, value=None, key="tn_target", min_value=0.0, max_value=1.0,
                      step=0.01, format="%.2f", placeholder=f"{default_target(S.tn_dataset):.2f}",
                      help=SET["target_accuracy"].widget_help() + " Empty: the dataset's default (shown greyed).",
                      **KEEP)
    c[3].toggle(SET["prune"].label, key="tn_prune", help=SET["prune"].help + " Schedules that decay late look worse "
                "early (short-horizon bias): pruning can drop the eventual winner.", **KEEP)
    errors_at.update(zip(("limit", "batch_size", "target_accuracy", "prune"), c))
    if S.tn_dataset == "cifar10":
        st.text_input(SET["cifar_archive"].label, key="tn_cifar_archive", help=SET["cifar_archive"].help, **KEEP)
        errors_at["cifar_archive"] = st.empty()
        data_upload("tn", RUNS_DIR)  # or upload cifar-10-python.tar.gz: kept beside the runs
    if S.tn_dataset == OWN:  # the same inputs as the Train page's (ui/own_data_inputs.py)
        own_note = own_data_inputs("tn", SET, errors_at, RUNS_DIR)
    st.text_input(SET["model"].label, key="tn_model", help=SET["model"].widget_help(), **KEEP)
    errors_at["model"] = st.empty()
    settings = {"dataset": S.tn_dataset, "epochs": S.tn_epochs, "seeds": S.tn_seeds, "workers": S.tn_workers,
                "limit": S.tn_limit or None, "batch_size": S.tn_batch_size, "prune": S.tn_prune,
                "target_accuracy": S.tn_target or None, "model": S.tn_model.strip() or None,
                "cifar_archive": (S.tn_cifar_archive or None) if S.tn_dataset == "cifar10" else None,
                **(own_data_values("tn") if S.tn_dataset == OWN else {})}
    problem = None
    try:
        config = runs_api.tournament_config(schedules, **settings)
    except ValueError as e:  # in plain words under its input, as on the Train page (Keras' words: the CLI)
        field = getattr(e, "field", None)
        problem, config = plain(plain_message(e, SET[field].label if field in SET else None)), None  # hints quote files
        errors_at.get(field, st).error(problem)
    if config is not None and config["dataset"] == OWN:  # the files' headers: what each trial will load
        try:
            own_note.caption(own_data_words(*(config[k] for k in ("data", "image_size", "color_mode", "val_split",
                                                                   "model")))[0])
        except ValueError as e:
            field = getattr(e, "field", None)
            problem = plain(plain_message(e, SET[field].label if field in SET else None))  # names folders and files
            errors_at.get(field, st).error(problem)
    trials = len(schedules) * int(S.tn_seeds or 0)
    if st.button(f"Launch {trials} trials", type="primary", icon=":material/play_arrow:", key="tn_launch",
                 disabled=problem is not None or bool(active),
                 help=problem or (f"Run {active} is active: stop it or wait for it first." if active else
                                  "Starts the tournament's worker processes; you can leave or reload this page.")):
        try:
            S.tn_id = runs_api.start_run(config, RUNS_DIR)
            st.rerun()
        except (runs_api.RunBusyError, ValueError) as e:
            st.error(plain(e))
    if active and S.get("tn_id") != active:
        st.info(f"Run `{active}` is active; a tournament starts once it has finished or been stopped.")

tournaments = views.runs_of_page("tournament", runs_api.list_runs(RUNS_DIR))  # newest first
if S.get("tn_id"):
    st.divider()
    # every tournament on disk stays reachable (one whose config.json is damaged is shown, not listed by kind)
    ids = [r.id for r in tournaments] + ([] if S.tn_id in {r.id for r in tournaments} else [S.tn_id])
    if len(ids) > 1:
        about = {r.id: f"{r.id} · {r.state}" + (f" · damaged: {shorten(r.error, NAME_CHARS)}" if r.error else "")
                 for r in tournaments}
        S.tn_id = st.selectbox("Tournament", ids, index=ids.index(S.tn_id), format_func=lambda i: about.get(i, i),
                               help="Every tournament in the runs folder, newest first.")
    tournament_view.show(S.tn_id, RUNS_DIR, key="tn")
else:
    st.info("No tournament yet. Pick the schedules above and press **Launch**; “Reproduce the tutorial” on digits "
            "takes a few minutes on 2 cores (12 trials of 40 epochs).")
