"""The LR range test on the Train page: run it, watch the curve, apply a suggestion.

The LR range test is a run of its own kind in the store (``lrviz.runs.start_lr_find``), so like a
training run it survives a refresh; this component only reads its folder.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lrviz import runs as runs_api
from lrviz.charts import lr_find_figure
from lrviz.errors import plain_message
from lrviz.lr_find import DEFAULTS, SUGGESTIONS, LRFindSettings, recommended_order
from lrviz.own_data import files_loaded, loading_words
from lrviz.schedules import REGISTRY, Schedule
from lrviz.settings import settings_of
from ui.page_state import KEEP, published, receive, send
from ui.text import plain

S = st.session_state
FIND = settings_of(LRFindSettings)  # labels, help and rules, described once
TRAIN_SCHEDULE = "train_schedule"  # the topic the Train page publishes its form's schedule name under


def target_param(schedule_name: str) -> str | None:
    """Which parameter a suggested LR sets: the schedule's peak (its spec says; None: no single one)."""
    spec = REGISTRY.get(schedule_name)
    return spec.peak_param if spec else None


def _send(topic: str, lr: float, sent_key: str | None) -> None:
    """on_click: hand ``lr`` to the Train page (ui/page_state.py); it applies it before drawing its form,
    whether the button was on the Train page itself or on the Runs page (``sent_key``: say so there)."""
    send("train", topic, float(f"{lr:.3g}"))
    if sent_key:
        S[sent_key] = f"{lr:.3g}"


def take_applied() -> None:
    """On the Train page, before its form is drawn: apply what the suggestion buttons sent. "Use as lr"
    sets the form schedule's initial LR (its peak for cyclic ones); "one-cycle" trains one-cycle peaking
    there and adds that curve to the explorer."""
    from ui.schedule_editor import load_widgets

    for lr in receive("train", "finder_lr"):
        param = target_param(S["tr_s_name"])
        if param:
            S[f"tr_s_{param}"] = lr
            S.tr_find_applied = f"{param} = {lr:.3g} in the Train form's {S['tr_s_name']} schedule."
    for lr in receive("train", "finder_one_cycle"):
        try:  # the LR came from a file; the epochs from the form: either may be out of bounds
            sched = Schedule.create("one_cycle", {"max_lr": lr, "total_epochs": float(S.get("tr_epochs", 40))})
        except (ValueError, TypeError) as e:
            S.tr_find_error = f"One-cycle at {plain(lr, 40)} is not possible: {plain(plain_message(e))}"
            continue
        load_widgets("tr_s", sched)
        send("explorer", "curve", sched.to_config())
        S.tr_find_applied = f"one-cycle with max_lr = {lr:.3g} in the Train form, and added to the explorer."


def section(form_config: dict, problem: str | None, runs_dir: Path) -> None:
    if "tr_find_id" not in S:  # a reload, a new tab: the latest LR range test and its suggestions, as before
        S.tr_find_id = runs_api.latest_run(runs_dir, kind=runs_api.LR_FIND)
    with st.expander("Find a starting LR (LR range test)", icon=":material/search:",
                     expanded=bool(S.get("tr_find_id"))):
        st.markdown(
            "Leslie Smith's LR range test: a short run where the LR grows exponentially every batch while the "
            "loss is recorded. The loss falls fastest a little below the LR where training becomes unstable. "
            "Uses the data and optimizer settings of the form above; the model is not kept."
        )
        c = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        S.setdefault("tr_find_start", DEFAULTS["start"])
        S.setdefault("tr_find_end", DEFAULTS["end"])
        S.setdefault("tr_find_steps", DEFAULTS["num_steps"])
        c[0].number_input(FIND["start"].label, key="tr_find_start", format="%.0e", step=None,
                          help=FIND["start"].widget_help(), **KEEP)
        c[1].number_input(FIND["end"].label, key="tr_find_end", format="%g", help=FIND["end"].widget_help(), **KEEP)
        c[2].number_input(FIND["num_steps"].label, key="tr_find_steps", step=10,
                          help=FIND["num_steps"].widget_help(), **KEEP)
        config = {"kind": runs_api.LR_FIND, **{k: form_config.get(k) for k in runs_api.DATA_KEYS},
                  "start": S.tr_find_start, "end": S.tr_find_end, "num_steps": S.tr_find_steps}
        finder_problem = problem
        if finder_problem is None:
            try:
                runs_api.validate_lr_find_config(config)
            except ValueError as e:
                field = getattr(e, "field", None)
                finder_problem = plain_message(e, FIND[field].label if field in FIND else None)
                at = {"start": c[0], "end": c[1], "num_steps": c[2]}.get(getattr(e, "field", None), st)
                at.error(finder_problem)
        if c[3].button("Find LR", icon=":material/search:", disabled=finder_problem is not None,
                       help=finder_problem or "About 10–20 s on digits."):
            try:
                S.tr_find_id = runs_api.start_lr_find(config, runs_dir)
            except runs_api.RunBusyError as e:
                st.error(plain(e), icon=":material/hourglass_top:")
            except ValueError as e:
                st.error(plain(e))
        if S.get("tr_find_applied"):
            st.success(f"Applied: {S.pop('tr_find_applied')}")
        if S.get("tr_find_error"):
            st.error(S.pop("tr_find_error"))
        if S.get("tr_find_id"):
            _result(S.tr_find_id, runs_dir)


def _result(run_id: str, runs_dir: Path) -> None:
    @st.fragment(run_every=1.0)
    def _live() -> None:
        run = _load(run_id, runs_dir)
        if run is None:
            return
        _progress(run)
        st.plotly_chart(lr_find_figure(run.extras.get("lr_find"), None), key=f"tr_find_live_{run_id}")
        if run.state not in runs_api.ACTIVE_STATES:
            st.rerun(scope="app")

    run = _load(run_id, runs_dir)
    if run is None:
        return
    if run.state in runs_api.ACTIVE_STATES:
        _live()
        return
    results(run, runs_dir, key="tr")


def results(run, runs_dir: Path, key: str = "runs") -> None:
    """A finished, stopped or failed LR range test: its curve and suggestions, each with the buttons
    that hand it to the Train page (the view of this kind, ``ui/views.py``). ``key``: the page's
    state prefix (``tr`` on the Train page), which every widget key here starts with."""
    if run.state == "failed":
        st.error(f"The LR range test failed: {plain(run.status.get('error') or 'no reason recorded')}")
    st.plotly_chart(lr_find_figure(run.extras.get("lr_find"), run.extras.get("suggestions")),
                    key=f"{key}_find_{run.id}")
    _suggestions(run, key)


def _load(run_id: str, runs_dir: Path):
    try:
        return runs_api.load_run(run_id, runs_dir)
    except (ValueError, OSError) as e:
        st.info(f"The last LR range test is gone ({plain(e)}).")
        S.pop("tr_find_id", None)
        return None


def _progress(run) -> None:
    files = files_loaded(run.status) if run.state == "running" else None
    if files:  # own images being read before the sweep: their count, not "Batch 0/100"
        st.progress(files[0] / files[1], text=loading_words(*files))
        return
    step = int(run.status.get("step") or 0)
    total = int(run.status.get("num_steps") or run.config.get("num_steps") or 1)
    text = "Starting the worker…" if run.state == "queued" else f"Batch {step}/{total}"
    st.progress(min(1.0, step / total), text=text)


def _apply_buttons(key: str, lr: float, param: str | None, container, page: str) -> None:
    sent_key = None if page == "tr" else f"{page}_find_sent"  # off the Train page: say where it went
    c = container.columns([1, 1])
    c[0].button(f"Use as {param or 'initial LR'}", key=f"{page}_find_apply_{key}", on_click=_send,
                args=("finder_lr", lr, sent_key), disabled=param is None, width="stretch",
                help="Sets it in the Train form's schedule." if param else
                     "This schedule has no single initial LR; edit its values.")
    c[1].button("One-cycle at this max", key=f"{page}_find_cycle_{key}", on_click=_send,
                args=("finder_one_cycle", lr, sent_key), width="stretch",
                help="Train with one-cycle peaking here; also adds the curve to the explorer.")


def _suggestions(run, page: str) -> None:
    """``page``: the page's state prefix; off the Train page a sent value is noted (then linked)."""
    sent_key = f"{page}_find_sent"
    if page != "tr" and S.get(sent_key):
        st.success(f"Sent {S.pop(sent_key)} to the Train page's form.")
        st.link_button("Open Train", "train", icon=":material/model_training:")
    sugg = run.extras.get("suggestions") or {}
    if sugg.get("stop_reason"):
        st.caption(f"Stopped early: {plain(sugg['stop_reason'])}")
    if sugg.get("reason"):
        st.warning(f"No suggestion: {plain(sugg['reason'])}")
        return
    # the Train form's schedule as that page published it (drawn on the Runs page too: never its widget keys)
    param = target_param(published(TRAIN_SCHEDULE, "step"))
    found = recommended_order(sugg)
    if not found:
        return
    best, others = found[0], found[1:]
    lr = sugg[best]["lr"]
    rule = SUGGESTIONS[best]
    st.markdown(f"#### Start at {lr:.3g} ({rule.name} rule)")
    st.caption(f"{rule.description[:1].upper()}{rule.description[1:]}"
               f"{f' ({rule.origin}’s rule)' if rule.origin else ''}.")
    _apply_buttons(best, lr, param, st, page)
    if others:
        with st.expander("Other rules", icon=":material/tune:"):
            for key in others:
                other = SUGGESTIONS[key]
                value = sugg[key]["lr"]
                st.markdown(f"**{other.name}: {value:.3g}** — {other.description}.")
                _apply_buttons(key, value, param, st, page)
