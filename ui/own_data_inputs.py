"""Your own images' inputs, the same on the Train and Tournament pages: the data's path (a class
folder or an .npz), the image size, the colour mode and the held-out share, with an uploader
(``ui/data_upload.py``) that fills the path; and what the data holds, said under the path from its
files' headers (``lrviz.runs.own_data_words``, cached 30 s) before anything is launched.

Keys carry the page's prefix: ``<prefix>_data``, ``<prefix>_image_size``, ``<prefix>_color_mode``,
``<prefix>_val_split`` (declared with :func:`own_data_defaults` in the page's ``PageState``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from lrviz import runs as runs_api
from ui.data_upload import data_upload
from ui.page_state import KEEP
from ui.text import plain

S = st.session_state
FIELDS = ("data", "image_size", "color_mode", "val_split")


def own_data_defaults(prefix: str, val_split: float) -> dict[str, Any]:
    """The inputs' keys and their defaults, for the page's ``PageState``."""
    return {f"{prefix}_data": "", f"{prefix}_image_size": "", f"{prefix}_color_mode": "",
            f"{prefix}_val_split": val_split}


@st.cache_data(ttl=30, show_spinner=False)  # a folder's headers are read at most every 30 s, not every rerun
def own_data_words(data: str, image_size: str | None, color_mode: str | None, val_split: float,
                   model: str) -> tuple[str, int]:
    """What the data holds in one line, escaped for Markdown (:func:`ui.text.plain`: it quotes the
    data's folder or file name), and its number of training images. A ``FieldError`` if bad: its
    words quote class folders and image files too, so a page shows them through ``plain`` as well."""
    words, n_train = runs_api.own_data_words({"data": data, "image_size": image_size, "color_mode": color_mode,
                                              "val_split": val_split, "model": model})
    return plain(words), n_train


def own_data_inputs(prefix: str, settings: Mapping[str, Any], errors_at: dict[str, Any],
                    runs_dir: str | Path) -> Any:
    """Draw the inputs, and a placeholder for each field's error in ``errors_at``; return the
    placeholder under the path for what the data holds (:func:`own_data_words`)."""
    st.text_input(settings["data"].label, key=f"{prefix}_data", placeholder="/path/to/class-folders or data.npz",
                  help=settings["data"].widget_help(), **KEEP)
    errors_at["data"] = st.empty()
    note = st.empty()  # what the data holds and the memory it takes, once it checks out
    data_upload(prefix, runs_dir)
    c = st.columns(2)
    c[0].text_input(settings["image_size"].label, key=f"{prefix}_image_size", placeholder="as they are",
                    help=settings["image_size"].help, **KEEP)
    c[1].selectbox(settings["color_mode"].label, ("", *settings["color_mode"].choices), key=f"{prefix}_color_mode",
                   format_func=lambda m: m or "as they are", help=settings["color_mode"].help, **KEEP)
    errors_at["image_size"] = st.empty()
    errors_at["color_mode"] = st.empty()
    st.number_input(settings["val_split"].label, key=f"{prefix}_val_split", min_value=0.0, max_value=1.0, step=0.05,
                    format="%.2f", help=settings["val_split"].widget_help(), **KEEP)
    errors_at["val_split"] = st.empty()
    return note


def own_data_values(prefix: str) -> dict[str, Any]:
    """The inputs' values as run settings (empty text: None, the engine's default)."""
    return {"data": S[f"{prefix}_data"].strip() or None, "image_size": S[f"{prefix}_image_size"].strip() or None,
            "color_mode": S[f"{prefix}_color_mode"] or None, "val_split": S[f"{prefix}_val_split"]}
