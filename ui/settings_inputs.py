"""Inputs made from settings (:class:`lrviz.settings.Setting`): a choice is a select box, a
number a number input that keeps what was typed (a whole-number setting is not rounded by
the widget: a typed 2.5 reaches the setting's rule and its message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from lrviz.settings import Setting
from ui.page_state import KEEP

S = st.session_state
WHOLE = "%.12g"  # a float input shown like an integer: 40, not 40.00


def settings_grid(settings: Mapping[str, Setting], key_prefix: str, columns: int = 3) -> dict[str, Any]:
    """One input per setting (key ``<key_prefix><name>``, its default until changed), in
    ``columns`` columns; returns a placeholder under each input for its error, by the
    setting's own name (the field a ``FieldError`` names)."""
    cols = st.columns(columns)
    errors: dict[str, Any] = {}
    for i, (name, s) in enumerate(settings.items()):
        key = f"{key_prefix}{name}"
        S.setdefault(key, s.default)
        cell = cols[i % columns]
        if s.kind == "choice":
            cell.selectbox(s.label, s.choices, key=key, help=s.help, **KEEP)
        else:
            cell.number_input(s.label, key=key, help=s.widget_help(), step=1.0 if s.kind == "int" else None,
                              format=WHOLE if s.kind == "int" else "%g", **KEEP)
        errors[s.name] = cell.empty()
    return errors
