"""Train: launch MiniVGGNet on a schedule, watch it live, stop or steer it, read the report.

Reads widgets -> calls lrviz -> renders. The run lives in its own worker process and its
folder under the runs directory; this page re-attaches to it after a refresh.
"""

from __future__ import annotations

import os

import streamlit as st

from lrviz import runs as runs_api
from lrviz.availability import cifar_availability
from lrviz.charts import preview_steps_per_epoch, schedule_preview_figure
from lrviz.data import DATASET_CHOICES, OWN
from lrviz.errors import plain_message
from lrviz.explorer import per_batch_decay_note
from lrviz.plateau import plateau_settings
from lrviz.schedules import Schedule, steps_per_epoch_for
from lrviz.settings import field_errors
from ui import lr_find_view, run_view, views
from ui.data_upload import data_upload
from ui.navigation import ensure_app_navigation  # noqa: E402
from ui.own_data_inputs import own_data_defaults, own_data_inputs, own_data_values, own_data_words
from ui.page_state import KEEP, PageState, publish, published, receive
from ui.schedule_editor import load_widgets, schedule_editor, schedule_from_state
from ui.settings_inputs import WHOLE, settings_grid
from ui.text import plain

ensure_app_navigation()
S = st.session_state
RUNS_DIR = runs_api.DEFAULT_RUNS_DIR
DEFAULTS = runs_api.default_config()
SET = runs_api.settings_of(runs_api.TRAIN)  # labels, help and rules of every field, described once
PLATEAU = plateau_settings("plateau_")  # their names as the errors say them: plateau_factor, ...
LABELS = {**{name: s.label for name, s in SET.items() if s.label}, **{s.name: s.label for s in PLATEAU.values()},
          "schedule": "Schedule"}
# Whole-number fields are float inputs with a format that shows whole numbers as typed: an int
# input would turn 2.5 epochs into 2 and "1e12" images into 1 without a word. The engine's rule
# (an integer, in bounds) then says what is wrong, under the input.


def _explorer_choices() -> list[dict]:
    """Schedules configured in the explorer (this session), else the tutorial's step decay."""
    curves = published("explorer_curves") or [DEFAULTS["schedule"]]
    return list(curves)


STATE = PageState("tr_", {  # this page's keys and their defaults (ui/page_state.py)
    "tr_dataset": DEFAULTS["dataset"], "tr_cifar_archive": "", **own_data_defaults("tr", DEFAULTS["val_split"]),
    "tr_model": DEFAULTS["model"],
    "tr_use_limit": False, "tr_limit": 500.0,
    "tr_epochs": float(DEFAULTS["epochs"]), "tr_batch_size": float(DEFAULTS["batch_size"]),
    "tr_momentum": DEFAULTS["momentum"], "tr_nesterov": DEFAULTS["nesterov"], "tr_seed": float(DEFAULTS["seed"]),
    "tr_backend": lambda: runs_api.validate_config({})["backend"],  # $KERAS_BACKEND, else tensorflow
    "tr_mlflow": lambda: bool(os.environ.get("MLFLOW_TRACKING_URI")), "tr_plateau": False, "tr_cifar_download": False,
    **{f"tr_pl_{name}": float(s.default) if s.kind == "int" else s.default for name, s in PLATEAU.items()},
    "tr_from": lambda: len(_explorer_choices()) - 1,
})


def _init() -> None:
    """Every key this page reads, on every run (only the missing ones are set)."""
    STATE.init()
    if "tr_s_name" not in S:  # the schedule editor's keys: the explorer's last curve
        load_widgets("tr_s", Schedule.from_config(_explorer_choices()[-1]))


FORM_SCHEDULE = -1  # the "start from" option that stands for the schedule now in the form


def _launch_pressed() -> None:
    S.tr_launch_pressed = True


def _load_from_explorer() -> None:
    choices = _explorer_choices()
    if S.tr_from != FORM_SCHEDULE:
        load_widgets("tr_s", Schedule.from_config(choices[min(S.tr_from, len(choices) - 1)]))


def _follow_form(choices: list[dict]) -> tuple[list[int], str]:
    """The "start from" options, and the choice set to what the form holds now: the explorer
    curve it equals, else the form's own schedule (applied from an LR range test, or edited).
    Returns the options and the label of the form's own schedule."""
    options = list(range(len(choices)))
    current, _errors = schedule_from_state("tr_s")
    if current is None:  # being edited, not valid yet: keep the choice as it is
        if S.get("tr_from") == FORM_SCHEDULE:
            options.append(FORM_SCHEDULE)
        elif not 0 <= S.get("tr_from", -1) < len(choices):
            S.tr_from = len(choices) - 1
        return options, "being edited"
    same = [i for i, c in enumerate(choices) if Schedule.from_config(c).to_config() == current.to_config()]
    if same:
        S.tr_from = S.tr_from if S.get("tr_from") in same else same[0]
    else:
        options.append(FORM_SCHEDULE)
        S.tr_from = FORM_SCHEDULE
    return options, current.label()


_init()
for sent in receive("train", "schedule"):  # "Use the winner" on the Tournament page
    load_widgets("tr_s", Schedule.from_config(sent))
    st.toast(f"The tournament's winner is this run's schedule: {Schedule.from_config(sent).label()}.",
             icon=":material/military_tech:")
lr_find_view.take_applied()  # "Use as lr" / "one-cycle" of an LR range test, here or on the Runs page
publish(lr_find_view.TRAIN_SCHEDULE, S.tr_s_name)  # what its buttons set, wherever an LR range test is drawn
for sent in receive("train", "show_run"):  # "Continue training", from here or the Runs page
    S.tr_run_id = sent
st.title("Train a model")
st.markdown(
    "The tutorial's experiment from the browser: MiniVGGNet (or your own model, on your own images), SGD with "
    "momentum 0.9 and Nesterov, batch 64, 40 epochs. The learning rate before every batch comes from the same "
    "schedule function the explorer plots."
)

active = runs_api.active_run(RUNS_DIR)
if active:
    S.tr_run_id = active
elif "tr_run_id" not in S:  # a reload, a new tab: the latest training run until a new one is launched
    S.tr_run_id = views.latest_of_page("train", RUNS_DIR)
viewing = S.get("tr_run_id")

with st.expander("New run", expanded=not active, icon=":material/rocket_launch:"):
    left, right = st.columns([1, 1], gap="large")
    errors_at: dict[str, st.delta_generator.DeltaGenerator] = {}
    with left:
        st.markdown("##### Data and optimizer")
        # short option names: the box is about 180 px wide when a laptop screen is split in two
        st.selectbox(SET["dataset"].label, DATASET_CHOICES, key="tr_dataset", format_func={
            "digits": "digits (offline)", "cifar10": "CIFAR-10", OWN: "your own images"}.get,
                     help=f"{SET['dataset'].help} digits: scikit-learn's 1,797 8×8 grey images, bundled. CIFAR-10: "
                          "60,000 32×32 colour images, the tutorial's data.", **KEEP)
        errors_at["dataset"] = st.empty()
        if S.tr_dataset == "cifar10":
            st.text_input(SET["cifar_archive"].label, key="tr_cifar_archive",
                          placeholder="/path/to/cifar-10-python.tar.gz",
                          help=f"{SET['cifar_archive'].help} Empty: the Keras cache (~/.keras/datasets), "
                               "then a download.", **KEEP)
            found = cifar_availability(S.tr_cifar_archive or None)
            cifar_note = st.empty()  # filled below, unless the field's own error says it already
            if not found.ok and not S.tr_cifar_archive:  # nothing here: a download is the one way left
                st.toggle("Download it when the run starts", key="tr_cifar_download",
                          help="About 170 MB from the CIFAR-10 page, through Keras; needs the internet.", **KEEP)
            data_upload("tr", RUNS_DIR)  # or upload cifar-10-python.tar.gz: kept beside the runs
        errors_at["cifar_archive"] = st.empty()
        if S.tr_dataset == OWN:
            own_note = own_data_inputs("tr", SET, errors_at, RUNS_DIR)
        st.text_input(SET["model"].label, key="tr_model", help=SET["model"].widget_help(), **KEEP)
        errors_at["model"] = st.empty()
        # The toggle on its own row: in a narrow column beside the input it lost its label at 800 px.
        st.toggle("Subset", key="tr_use_limit", help="Train on a stratified subset (faster).", **KEEP)
        st.number_input(SET["limit"].label, key="tr_limit", step=100.0, format=WHOLE, disabled=not S.tr_use_limit,
                        help=SET["limit"].widget_help(), **KEEP)
        errors_at["limit"] = st.empty()
        c = st.columns(2)
        c[0].number_input(SET["epochs"].label, key="tr_epochs", step=1.0, format=WHOLE,
                          help=SET["epochs"].widget_help(), **KEEP)
        c[1].number_input(SET["batch_size"].label, key="tr_batch_size", step=1.0, format=WHOLE,
                          help=SET["batch_size"].widget_help(), **KEEP)
        errors_at["epochs"] = st.empty()
        errors_at["batch_size"] = st.empty()
        # Two inputs a row at most, toggles on rows of their own: at 800 px this column is ~180 px wide.
        c = st.columns(2, vertical_alignment="bottom")
        c[0].number_input(SET["momentum"].label, key="tr_momentum", step=0.05, format="%.3g",
                          help=SET["momentum"].widget_help(), **KEEP)
        c[1].number_input(SET["seed"].label, key="tr_seed", step=1.0, format=WHOLE,
                          help=SET["seed"].widget_help(), **KEEP)
        st.checkbox(SET["nesterov"].label, key="tr_nesterov", help=SET["nesterov"].help, **KEEP)
        errors_at["momentum"] = st.empty()
        errors_at["seed"] = st.empty()
        backends = runs_api.installed_backends()
        st.selectbox(SET["backend"].label, backends, key="tr_backend", help=SET["backend"].help, **KEEP)
        st.toggle(SET["mlflow"].label, key="tr_mlflow", help=SET["mlflow"].help, **KEEP)
        errors_at["backend"] = st.empty()
        st.toggle("Cut LR on plateau", key="tr_plateau",
                  help="Keras' ReduceLROnPlateau on top of the schedule: on a plateau, the rest of the schedule is "
                       "scaled by the factor (like Set LR now), and the reduction is marked on the LR chart.", **KEEP)
        if S.tr_plateau:
            errors_at.update(settings_grid(PLATEAU, "tr_pl_"))
    with right:
        st.markdown("##### Learning-rate schedule")
        choices = _explorer_choices()
        options, form_label = _follow_form(choices)
        st.selectbox("Start from a schedule of the explorer", options, key="tr_from",
                     format_func=lambda i: (f"This form's: {form_label}" if i == FORM_SCHEDULE
                                            else Schedule.from_config(choices[i]).label()),
                     on_change=_load_from_explorer,
                     help="The explorer's curves of this session. After an LR range test suggestion is applied or a "
                          "value edited, this reads the form's own schedule.", **KEEP)
        schedule = schedule_editor("tr_s", "Schedule", border=False)
        errors_at["schedule"] = st.empty()
        schedule_note = st.empty()  # what this schedule does on this data, where it is chosen
    # Under both columns, as wide as the form: in the right column (about 180 px at 800 px) Plotly
    # turned the epoch ticks on their side and crammed them together.
    preview = st.container(key="tr_preview_box")

    config = {
        "dataset": S.tr_dataset,
        "cifar_archive": (S.tr_cifar_archive or None) if S.tr_dataset == "cifar10" else None,
        **(own_data_values("tr") if S.tr_dataset == OWN else {}),
        "model": S.tr_model.strip() or None,
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
    # Every field's error under its own input at once (a whole-config check stops at the first),
    # then the rules that span fields (the archive exists, the backend is installed, the schedule).
    bad = field_errors(SET, {k: v for k, v in config.items() if k not in ("schedule", "plateau")})
    if S.tr_plateau:
        bad.update(field_errors(PLATEAU, config["plateau"]))
    for field, e in bad.items():
        (errors_at[field] if field in errors_at else st).error(plain(plain_message(e, LABELS.get(field))))
    problem, problem_field = None, None
    if bad:
        problem = "Fix the highlighted values first: " + ", ".join(LABELS.get(f, f) for f in bad) + "."
    elif schedule is None:
        problem = "Fix the schedule's highlighted values first."
    else:
        try:
            valid = runs_api.validate_config(config)
        except ValueError as e:
            field = problem_field = getattr(e, "field", None)  # a FieldError says which input it is about
            problem = plain(plain_message(e, LABELS.get(field)))  # Markdown-safe: hints quote folder and file names
            if field in errors_at:
                errors_at[field].error(problem)
            else:
                st.error(problem)
        else:
            spe = preview_steps_per_epoch(valid["dataset"], valid["limit"], valid["batch_size"])
            if valid["dataset"] == OWN:  # the files' headers: what Launch will load, and its memory
                try:
                    words, n_train = own_data_words(*(valid[k] for k in ("data", "image_size", "color_mode",
                                                                         "val_split", "model")))
                except ValueError as e:
                    field = problem_field = getattr(e, "field", None)
                    problem = plain(plain_message(e, LABELS.get(field)))
                    (errors_at[field] if field in errors_at else st).error(problem)
                else:
                    own_note.caption(words)
                    spe = steps_per_epoch_for(min(n_train, valid["limit"] or n_train), valid["batch_size"])
        if problem is None:
            preview.caption(f"The LR of each epoch's first batch over the {valid['epochs']} epochs "
                            f"({spe} batches per epoch).")
            preview.plotly_chart(schedule_preview_figure(schedule, valid["epochs"], spe), key="tr_preview",
                                 config={"displaylogo": False, "displayModeBar": False})
            note = per_batch_decay_note(schedule, valid["epochs"], spe)
            if note:
                schedule_note.info(note, icon=":material/info:")
    if S.tr_dataset == "cifar10" and "cifar_archive" not in bad and problem_field != "cifar_archive":
        (cifar_note.success if found.ok else cifar_note.warning)(found.message)
    if S.tr_dataset == "cifar10" and not found.ok and problem is None and not S.get("tr_cifar_download"):
        # the page says the data is missing: a launch would only fail in the worker
        problem = ("CIFAR-10 is not on this machine: give the path of its archive above, or switch on "
                   "“Download it when the run starts”.")
    # One run at a time: said before the click (help and caption); the button stays enabled so a
    # click anyway gets the store's busy answer, naming the run, next to it.
    busy = f"Run {active} is still running: stop it below or wait for it to finish." if active else None
    # on_click: a tab drawn before another tab's run started still sends its click, and the
    # button it reruns into is disabled: the callback keeps the click, so that tab gets the busy answer.
    st.button("Launch training", type="primary", icon=":material/play_arrow:", disabled=problem is not None,
              help=problem or busy or "Starts a worker process; you can leave or reload this page.", key="tr_launch",
              on_click=_launch_pressed)
    launch = bool(S.pop("tr_launch_pressed", False))
    launch_error = None
    if launch:
        try:
            S.tr_run_id = runs_api.start_run(config, RUNS_DIR)
            st.rerun()
        except (runs_api.RunBusyError, ValueError) as e:
            launch_error = e
    if active and not isinstance(launch_error, runs_api.RunBusyError):  # said once: the answer below says it
        st.caption(f":material/hourglass_top: Launch waits: run `{active}` is still running. Stop it below or wait "
                   "for it to finish.")

# Outside the expander: another tab may have started a run since this page was drawn, and
# the expander collapses while a run is active, which would hide the answer.
if launch_error is not None:
    st.error(plain(plain_message(launch_error, LABELS.get(getattr(launch_error, "field", None)))),
             icon=":material/hourglass_top:" if isinstance(launch_error, runs_api.RunBusyError) else None)

data_problem = None  # the finder needs valid data and optimizer settings, not a schedule
try:
    runs_api.validate_config({**config, "schedule": DEFAULTS["schedule"], "epochs": DEFAULTS["epochs"]})
except ValueError as e:
    data_problem = plain(plain_message(e, LABELS.get(getattr(e, "field", None))))
lr_find_view.section(config, data_problem, RUNS_DIR)

if viewing:
    try:
        run = runs_api.load_run(viewing, RUNS_DIR)
    except (ValueError, OSError) as e:
        st.info(f"The last run shown here is gone ({plain(e)}).")
        S.pop("tr_run_id", None)
    else:
        st.divider()
        if run.state in runs_api.ACTIVE_STATES:
            run_view.live(run.id, RUNS_DIR, page="tr")
        else:
            run_view.results(run, RUNS_DIR, key="tr")
            st.link_button("Compare with other runs", f"runs?run={run.id}", icon=":material/compare_arrows:")
else:
    st.info("No run yet. Set it up above and press **Launch training**; the default is the tutorial's step decay "
            "(F=0.5, D=5) on the offline digits dataset, about 15–30 s for 40 epochs.")
