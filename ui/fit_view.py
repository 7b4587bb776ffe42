"""The view of a fit from a user's own script (kind ``"fit"``, :mod:`lrviz.jobs.fit`): the training
run's progress, controls, charts and report, under a header that says what the script trains
and where (lrviz did not build the model, so there is no "Continue training")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from lrviz import runs as runs_api
from lrviz.schedules import Schedule
from ui import run_view
from ui.text import NAME_CHARS, plain

BESIDE = ("Trains in your own script (lrviz.keras.Dashboard), in that process: lrviz's own runs go on beside it "
          "and neither waits for the other. Stop and Set LR act on it from its next batch.")


def header(run: runs_api.Run) -> None:
    label, color, icon = run_view.badge(run)
    cols = st.columns([3, 1], vertical_alignment="center")
    cols[0].markdown(f"#### {plain(run.name, NAME_CHARS)} · `{run.id}`" if run.name else f"#### Fit `{run.id}`")
    cols[1].badge(label, icon=icon, color=color)
    st.caption(" · ".join(plain(bit, 2 * NAME_CHARS) for bit in describe(run.config, run.status)))
    if run.state in runs_api.ACTIVE_STATES:
        st.caption(BESIDE)
    run_view.warnings(run)


def describe(config: Mapping, status: Mapping) -> list[str]:
    """What the fit trains, in words, from its config (a folder anyone may have written: every
    value is read defensively and shown as plain text)."""
    model = config.get("model") if isinstance(config.get("model"), Mapping) else {}
    optimizer = config.get("optimizer") if isinstance(config.get("optimizer"), Mapping) else {}
    opt_config = optimizer.get("config") if isinstance(optimizer.get("config"), Mapping) else {}
    bits = [f"your fit on {config.get('dataset') or 'your data'}"]
    params = model.get("parameters")
    bits.append(f"{model.get('class', 'model')} “{model.get('name', '?')}”, {model.get('layers', '?')} layers"
                + (f", {params:,} parameters" if isinstance(params, int) else ""))
    extras = [f"{k} {_number(opt_config[k])}" for k in ("momentum", "nesterov", "weight_decay")
              if opt_config.get(k) not in (None, False, 0, 0.0)]
    bits.append(" ".join([str(optimizer.get("class", "optimizer")), *([f"({', '.join(extras)})"] if extras else [])]))
    source = config.get("lr_source")
    try:
        if config.get("schedule") is not None:
            bits.append("LR set before every batch by lrviz: " + Schedule.from_config(config["schedule"]).label())
        elif source == "float":
            bits.append(f"LR {_number(opt_config.get('learning_rate'))} (a float: another callback may change it)")
        elif source:
            bits.append(f"LR from a Keras {source}")
    except (KeyError, ValueError, TypeError):
        bits.append("LR schedule unreadable")
    if config.get("batch_size"):
        bits.append(f"batch {config['batch_size']}")
    backend = config.get("backend")
    if backend:
        bits.append(f"Keras on {backend}" + (f", {config['device']}" if config.get("device") else ""))
    process = config.get("process") if isinstance(config.get("process"), Mapping) else {}
    if process:
        bits.append(f"in {process.get('script', 'a script')} (pid {process.get('pid', status.get('pid', '?'))})")
    return bits


def _number(value: object) -> str:
    """A float of the optimizer's config as people write it (0.05, not float32's 0.05000000074505806)."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def no_set_lr(run: runs_api.Run) -> str | None:
    """Why this fit's LR cannot be set from here (its optimizer computes it), or None."""
    refusal = runs_api.lr_fixed(run)
    return None if refusal is None else plain(refusal)


def show(run: runs_api.Run, runs_dir: Path, key: str) -> None:
    if run.state in runs_api.ACTIVE_STATES:
        run_view.live(run.id, runs_dir, page=key, head=header, no_set_lr=no_set_lr)
    else:
        run_view.results(run, runs_dir, key=key, head=header)
