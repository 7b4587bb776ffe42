"""Upload your data from the browser: a CIFAR-10 archive, a .zip of a class folder or an .npz.

The file is checked and kept by :func:`lrviz.uploads.store_upload` (formats read from the bytes,
members confined, sizes capped; nothing kept when it is refused) in the data folder beside the
runs; once it is kept, the page's dataset switches to what it is and its Data field (or CIFAR-10
archive field) holds the stored path, so the rest of the form checks it like a typed path. A
refusal is said under the uploader, in plain words, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lrviz.errors import plain_message
from lrviz.uploads import FORMATS, data_dir, store_upload, upload_cap
from ui.text import plain

S = st.session_state
LABEL = "Upload your data"


def _server_max_mb() -> float | None:
    try:
        return float(st.get_option("server.maxUploadSize"))
    except (RuntimeError, TypeError, ValueError):
        return None


def _on_upload(prefix: str, runs_dir: str) -> None:
    """The uploader's callback: runs before the page's widgets are drawn, so it may fill them."""
    f = S.get(f"{prefix}_upload")
    S.pop(f"{prefix}_upload_error", None)
    S.pop(f"{prefix}_upload_note", None)
    if f is None:  # the file was removed from the uploader: what was stored stays, and so do the fields
        return
    try:
        stored = store_upload(f.name, f, data_dir(runs_dir), size=f.size, server_max_mb=_server_max_mb())
    except ValueError as e:  # FieldError on `upload`, or a cap set to nonsense in the environment
        S[f"{prefix}_upload_error"] = plain_message(e, LABEL)
        return
    except OSError as e:  # the data folder cannot be written (a file in its place, no space left, no permission)
        S[f"{prefix}_upload_error"] = f"{f.name} could not be kept in {data_dir(runs_dir)}: {e.strerror or e}."
        return
    settings = stored.settings()
    S[f"{prefix}_dataset"] = settings["dataset"]
    if "cifar_archive" in settings:
        S[f"{prefix}_cifar_archive"] = settings["cifar_archive"]
    else:
        S[f"{prefix}_data"] = settings["data"]
    S[f"{prefix}_upload_note"] = f"Kept as {stored.path}: {stored.words}."


def data_upload(prefix: str, runs_dir: str | Path) -> None:
    """The uploader (key ``<prefix>_upload``) and what became of the last upload. Fills
    ``<prefix>_dataset`` and ``<prefix>_data`` or ``<prefix>_cifar_archive`` from its callback, which
    runs before the page draws them."""
    try:
        cap, why = upload_cap(_server_max_mb())
        limit = f"Up to {cap / 2**20:,.0f} MiB ({why})."
    except ValueError as e:
        limit = plain_message(e)
    st.file_uploader(LABEL, key=f"{prefix}_upload", on_change=_on_upload, args=(prefix, str(runs_dir)),
                     help=f"{FORMATS[0].upper()}{FORMATS[1:]}. Checked like a path, then kept in "
                          f"{data_dir(runs_dir)}. {limit}")
    if S.get(f"{prefix}_upload_error"):
        st.error(plain(S[f"{prefix}_upload_error"]), icon=":material/block:")
    elif S.get(f"{prefix}_upload_note"):
        st.caption(plain(S[f"{prefix}_upload_note"]))
