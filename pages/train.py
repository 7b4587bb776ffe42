"""Train: launch MiniVGGNet on a schedule, watch it live, stop or steer it, read the report.

Reads widgets -> calls lrviz -> renders. The run lives in its own worker process and its
folder under the runs directory; this page re-attaches to it after a refresh.
"""

from __future__ import annotations

import os

import streamlit as st

from lrviz import runs as store
from lrviz.availability import cifar_availability
from lrviz.data import DATASETS
from lrviz.jobs.common import installed_backends
from lrviz.jobs.training import TrainingJob
from lrviz.plateau import plateau_settings
from lrviz.schedules import Schedule
from ui import lr_finder_view, run_view
from ui.navigation import ensure_app_navigation  # noqa: E402
from ui.schedule_editor import load_widgets, schedule_editor

ensure_app_navigation()
S = st.session_state
RUNS_DIR = store.DEFAULT_RUNS_DIR
DEFAULTS = store.default_config()
SET = TrainingJob.settings()  # labels, help and rules of every field, described once
PLATEAU = plateau_settings("plateau_")  # their names as the errors say them: plateau_factor, ...
FIELDS = ("dataset", "cifar_archive", "limit", "epochs", "batch_size", "momentum", "nesterov", "seed")


def _explorer_choices() -> list[dict]:
    """Schedules configured in the explorer (this session), else the tutorial's step decay."""
    curves = S.get("explorer_curves") or [DEFAULTS["schedule"]]
    return list(curves)


def _init() -> None:
    if "tr_init" in S:
        return
    S.tr_init = True
    S.tr_dataset = DEFAULTS["dataset"]
    S.tr_cifar_archive = ""
    S.tr_use_limit = False
    S.tr_limit = 500
    S.tr_epochs = DEFAULTS["epochs"]
    S.tr_batch_size = DEFAULTS["batch_size"]
    S.tr_momentum = DEFAULTS["momentum"]
    S.tr_nesterov = DEFAULTS["nesterov"]
    S.tr_seed = DEFAULTS["seed"]
    S.tr_backend = store.validate_config({})["backend"]  # $KERAS_BACKEND, else tensorflow
    S.tr_mlflow = bool(os.environ.get("MLFLOW_TRACKING_URI"))
    S.tr_plateau = False
    for name, s in PLATEAU.items():
        S[f"tr_pl_{name}"] = s.default
    choices = _explorer_choices()
    S.tr_from = len(choices) - 1
    load_widgets("tr_s", Schedule.from_config(choices[-1]))


def _load_from_explorer() -> None:
    choices = _explorer_choices()
    load_widgets("tr_s", Schedule.from_config(choices[min(S.tr_from, len(choices) - 1)]))


_init()
st.title("Train MiniVGGNet")
st.markdown(
    "The tutorial's experiment from the browser: MiniVGGNet, SGD with momentum 0.9 and Nesterov, batch 64, "
    "40 epochs. The learning rate before every batch comes from the same schedule function the explorer plots."
)

active = store.active_run(RUNS_DIR)
if active:
    S.tr_run_id = active
elif "tr_run_id" not in S:  # a reload, a new tab: the latest training run until a new one is launched
    S.tr_run_id = store.latest_run(RUNS_DIR, kind="train")
viewing = S.get("tr_run_id")

with st.expander("New run", expanded=not active, icon=":material/rocket_launch:"):
    left, right = st.columns([1, 1], gap="large")
    errors_at: dict[str, st.delta_generator.DeltaGenerator] = {}
    with left:
        st.markdown("##### Data and optimizer")
        st.selectbox(SET["dataset"].label, DATASETS, key="tr_dataset", help=SET["dataset"].help, format_func={
            "digits": "digits (scikit-learn, 8×8 grey, offline)", "cifar10": "CIFAR-10 (32×32 colour)"}.get)
        errors_at["dataset"] = st.empty()
        if S.tr_dataset == "cifar10":
            st.text_input(SET["cifar_archive"].label, key="tr_cifar_archive",
                          placeholder="/path/to/cifar-10-python.tar.gz",
                          help=f"{SET['cifar_archive'].help} Empty: the Keras cache (~/.keras/datasets), "
                               "then a download.")
            found = cifar_availability(S.tr_cifar_archive or None)
            (st.success if found.ok else st.warning)(found.message)
        errors_at["cifar_archive"] = st.empty()
        c = st.columns([1, 2], vertical_alignment="bottom")
        c[0].toggle("Subset", key="tr_use_limit", help="Train on a stratified subset (faster).")
        c[1].number_input(SET["limit"].label, key="tr_limit", step=100, disabled=not S.tr_use_limit,
                          help=SET["limit"].widget_help())
        errors_at["limit"] = st.empty()
        c = st.columns(2)
        c[0].number_input(SET["epochs"].label, key="tr_epochs", step=1, help=SET["epochs"].widget_help())
        c[1].number_input(SET["batch_size"].label, key="tr_batch_size", step=1, help=SET["batch_size"].widget_help())
        errors_at["epochs"] = st.empty()
        errors_at["batch_size"] = st.empty()
        c = st.columns(3, vertical_alignment="bottom")
        c[0].number_input(SET["momentum"].label, key="tr_momentum", step=0.05, format="%.3g",
                          help=SET["momentum"].widget_help())
        c[1].number_input(SET["seed"].label, key="tr_seed", step=1, help=SET["seed"].widget_help())
        c[2].checkbox(SET["nesterov"].label, key="tr_nesterov", help=SET["nesterov"].help)
        errors_at["momentum"] = st.empty()
        errors_at["seed"] = st.empty()
        c = st.columns([1, 1], vertical_alignment="bottom")
        backends = installed_backends()
        c[0].selectbox(SET["backend"].label, backends, key="tr_backend", help=SET["backend"].help)
        c[1].toggle(SET["mlflow"].label, key="tr_mlflow", help=SET["mlflow"].help)
        errors_at["backend"] = st.empty()
        st.toggle("Reduce LR on plateau", key="tr_plateau",
                  help="Keras' ReduceLROnPlateau on top of the schedule: on a plateau, the rest of the schedule is "
                       "scaled by the factor (like Set LR now), and the reduction is marked on the LR chart.")
        if S.tr_plateau:
            c = st.columns(3)
            for i, (name, s) in enumerate(PLATEAU.items()):
                cell = c[i % 3]
                if s.kind == "choice":
                    cell.selectbox(s.label, s.choices, key=f"tr_pl_{name}", help=s.help)
                else:
                    cell.number_input(s.label, key=f"tr_pl_{name}", help=s.widget_help(),
                                      step=1 if s.kind == "int" else None, format=None if s.kind == "int" else "%g")
                errors_at[s.name] = cell.empty()
    with right:
        st.markdown("##### Learning-rate schedule")
        choices = _explorer_choices()
        if not 0 <= S.tr_from < len(choices):  # the explorer's list changed since
            S.tr_from = len(choices) - 1
        st.selectbox("Start from a schedule of the explorer", range(len(choices)), key="tr_from",
                     format_func=lambda i: Schedule.from_config(choices[i]).label(), on_change=_load_from_explorer)
        schedule = schedule_editor("tr_s", "Schedule", border=False)
        errors_at["schedule"] = st.empty()

    config = {
        "dataset": S.tr_dataset,
        "cifar_archive": (S.tr_cifar_archive or None) if S.tr_dataset == "cifar10" else None,
        "limit": S.tr_limit if S.tr_use_limit else None,
        "epochs": S.tr_epochs,
        "batch_size": S.tr_batch_size,
        "momentum": S.tr_momentum,
        "nesterov": S.tr_nesterov,
        "seed": S.tr_seed,
        "schedule": schedule.to_config() if schedule else None,
        "backend": S.tr_backend,
        "mlflow": S.tr_mlflow,
        "plateau": {name: S[f"tr_pl_{name}"] for name in PLATEAU} if S.tr_plateau else None,
    }
    problem = None
    if schedule is None:
        problem = "Fix the schedule's highlighted values first."
    else:
        try:
            store.validate_config(config)
        except ValueError as e:
            problem = str(e)
            field = getattr(e, "field", None)  # lrviz.errors.FieldError says which input it is about
            if field in errors_at:
                errors_at[field].error(problem)
            else:
                st.error(problem)
    launch = st.button("Launch training", type="primary", icon=":material/play_arrow:", disabled=problem is not None,
                       help=problem or "Starts a worker process; you can leave or reload this page.")
    launch_error = None
    if launch:
        try:
            S.tr_run_id = store.start_run(config, RUNS_DIR)
            st.rerun()
        except (store.RunBusyError, ValueError) as e:
            launch_error = e

# Outside the expander: another tab may have started a run since this page was drawn, and
# the expander collapses while a run is active, which would hide the answer.
if launch_error is not None:
    st.error(str(launch_error), icon=":material/hourglass_top:" if isinstance(launch_error, store.RunBusyError)
             else None)

data_problem = None  # the finder needs valid data and optimizer settings, not a schedule
try:
    store.validate_config({**config, "schedule": DEFAULTS["schedule"], "epochs": DEFAULTS["epochs"]})
except ValueError as e:
    data_problem = str(e)
lr_finder_view.section(config, data_problem, RUNS_DIR)

if viewing:
    try:
        run = store.load_run(viewing, RUNS_DIR)
    except (ValueError, OSError) as e:
        st.info(f"The last run shown here is gone ({e}).")
        S.pop("tr_run_id", None)
    else:
        st.divider()
        if run.state in store.ACTIVE_STATES:
            run_view.live(run.id, RUNS_DIR)
        else:
            run_view.results(run, RUNS_DIR, key="train")
            st.link_button("Compare with other runs", f"runs?run={run.id}", icon=":material/compare_arrows:")
else:
    st.info("No run yet. Set it up above and press **Launch training**; the default is the tutorial's step decay "
            "(F=0.5, D=5) on the offline digits dataset, about 15–30 s for 40 epochs.")
