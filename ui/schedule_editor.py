"""A schedule editor card built from the registry: type, one widget per parameter, warmup.

Used by the explorer (one card per curve) and the Train page. Widget keys are
``f"{prefix}_{param}"``; invalid values are reported with ``st.error`` right under the
input and the editor returns ``None`` (the caller keeps working).

The parameters flow in a wrapping row of fixed-width cells rather than a fixed number of
columns: the server can't know the screen's width, and at 800 px (sidebar open) three
columns left ~50 px per input, which cut values and wrapped labels letter by letter.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lrviz.errors import plain_message
from lrviz.schedules import REGISTRY, WARMUP_PARAMS, Param, Schedule
from ui.page_state import KEEP

S = st.session_state

PARAM_WIDTH = 180  # px per parameter cell: room for "1.23457e-05" beside the +/- buttons, a label and its help


def load_widgets(prefix: str, sched: Schedule) -> None:
    """Put ``sched``'s values into the editor's widget state."""
    S[f"{prefix}_name"] = sched.name
    for p in sched.spec.params:
        S[f"{prefix}_{p.name}"] = _widget_value(p, sched.params[p.name])
    for f in sched.spec.flags:
        S[f"{prefix}_{f}"] = bool(sched.params[f])
    S[f"{prefix}_warmup"] = float(sched.warmup)
    S[f"{prefix}_warmup_start_factor"] = float(sched.warmup_start_factor)
    S[f"{prefix}_show_warmup"] = sched.warmup > 0


def _widget_value(p: Param, value):
    if p.kind in ("floats", "ints"):
        return p.format(value)
    return int(value) if p.kind == "int" else float(value)


def _on_type_change(prefix: str) -> None:
    """A new schedule type starts from its defaults (keeping lr where both have one)."""
    name = S[f"{prefix}_name"]
    params = {}
    if "lr" in {p.name for p in REGISTRY[name].params} and f"{prefix}_lr" in S:
        params["lr"] = S[f"{prefix}_lr"]
    try:
        sched = Schedule.create(name, params)
    except ValueError:
        sched = Schedule.create(name)
    load_widgets(prefix, sched)


def _step_for(p: Param) -> float:
    default = abs(float(p.default)) or 1.0
    return float(f"{default / 10:.1g}") if p.unit in ("LR", "1/step") else (1.0 if default >= 1 else 0.05)


def _param_widget(prefix: str, p: Param, container) -> None:
    key = f"{prefix}_{p.name}"
    label = p.name.replace("_", " ")
    help_text = p.widget_help()
    if p.kind in ("floats", "ints"):
        container.text_input(label, key=key, help=help_text, **KEEP)
    elif p.slider and isinstance(S[key], (int, float)) and p.slider[0] <= S[key] <= p.slider[1]:
        lo, hi, step = p.slider
        if p.kind == "int":
            container.slider(label, int(lo), int(hi), step=int(step), key=key, help=help_text, **KEEP)
        else:
            container.slider(label, float(lo), float(hi), step=float(step), key=key, help=help_text, **KEEP)
    elif p.kind == "int":
        container.number_input(label, step=1, key=key, help=help_text, **KEEP)
    else:
        container.number_input(label, step=_step_for(p), format="%.6g", key=key, help=help_text, **KEEP)


def _at_input(error: ValueError, name: str) -> str:
    """Plain words first (labelled as the input is), then lrviz's own message in the Keras style,
    the one ``Schedule.create`` raises and the CLI prints, for those who copy the value into code.
    Not Keras' words: Keras never sees these values."""
    plain = plain_message(error, name.replace("_", " "))
    return plain if plain == str(error) else f"{plain}  \n*The same error in Python and on the command line:* {error}"


def schedule_from_state(prefix: str) -> tuple[Schedule | None, dict[str, str]]:
    """The schedule the editor's widget state describes, and the errors by parameter name
    (``"_"`` for rules across parameters). Needs no widget drawn in this run, so a page can
    show the readout and chart before it draws the editors."""
    spec = REGISTRY[S[f"{prefix}_name"]]
    errors: dict[str, str] = {}
    params = {}
    for p in spec.params:
        try:
            params[p.name] = p.parse(S.get(f"{prefix}_{p.name}", p.default))
        except ValueError as e:
            errors[p.name] = _at_input(e, p.name)
    for f in spec.flags:
        params[f] = bool(S.get(f"{prefix}_{f}", False))
    warm = {}
    for p in WARMUP_PARAMS:
        try:
            warm[p.name] = p.parse(S.get(f"{prefix}_{p.name}", p.default))
        except ValueError as e:
            errors[p.name] = _at_input(e, p.name)
    if errors:
        return None, errors
    try:
        return Schedule.create(spec.name, params, **warm), {}
    except ValueError as e:  # rules that span parameters (e.g. piecewise lengths)
        return None, {"_": str(e)}


def schedule_editor(prefix: str, title: str, *, on_remove: Callable[[], None] | None = None,
                    can_remove: bool = True, border: bool = True) -> Schedule | None:
    """Render the card; return the valid :class:`Schedule` or ``None`` (errors shown inline,
    each under its input).

    The caller must have called :func:`load_widgets` once for ``prefix``.
    """
    box = st.container(border=border)
    top = box.container(horizontal=True, vertical_alignment="bottom", gap="small")
    top.selectbox(title, list(REGISTRY), key=f"{prefix}_name", format_func=lambda n: REGISTRY[n].title,
                  on_change=_on_type_change, args=(prefix,), **KEEP)
    if on_remove is not None:
        top.button("", icon=":material/delete:", key=f"{prefix}_remove", on_click=on_remove,
                   disabled=not can_remove, help="Remove this schedule", width="content")
    spec = REGISTRY[S[f"{prefix}_name"]]
    box.caption(spec.summary)
    sched, errors = schedule_from_state(prefix)
    grid = box.container(horizontal=True, gap="small")
    for p in spec.params:
        # A cell with an error is wider, so its message under the input stays readable.
        cell = grid.container(width=PARAM_WIDTH * (2 if p.name in errors else 1))
        _param_widget(prefix, p, cell)
        if p.name in errors:
            cell.error(errors[p.name])
    for f in spec.flags:
        box.checkbox(f.replace("_", " "), key=f"{prefix}_{f}", **KEEP)
    # A toggle rather than an always-drawn expander: fewer elements to send on every rerun.
    warm_key = f"{prefix}_show_warmup"
    S.setdefault(warm_key, float(S.get(f"{prefix}_warmup", 0.0)) > 0)
    # One warmup per schedule: one with a warmup of its own (cosine) gets no second, generic one,
    # unless a link or an older session already set it (then it stays visible, to be switched off).
    if not spec.own_warmup or S[warm_key]:
        box.toggle("Linear warmup in front", key=warm_key, on_change=_on_warmup_toggle, args=(prefix,), **KEEP)
    if S[warm_key]:
        wgrid = box.container(horizontal=True, gap="small")
        for p in WARMUP_PARAMS:
            col = wgrid.container(width=PARAM_WIDTH)
            col.number_input(p.name.replace("_", " "), step=0.5 if p.name == "warmup" else 0.05,
                             key=f"{prefix}_{p.name}", help=p.widget_help(), **KEEP)
            if p.name in errors:
                col.error(errors[p.name])
    else:
        for p in WARMUP_PARAMS:  # keep the hidden values alive across reruns
            S[f"{prefix}_{p.name}"] = S.get(f"{prefix}_{p.name}", p.default)
    if "_" in errors:
        box.error(errors["_"])
    return sched


def _on_warmup_toggle(prefix: str) -> None:
    """Switching the warmup off removes it (0 epochs); on starts from 1 epoch."""
    S[f"{prefix}_warmup"] = 1.0 if S[f"{prefix}_show_warmup"] else 0.0
