"""Make sure every page runs under ``app.py``'s ``st.navigation``.

Streamlit also auto-discovers the ``pages/`` folder. On a server's very first session, a
deep link such as ``/train`` is served by that auto-discovery *before* ``app.py`` ever
ran: the page would run bare (no wide layout, a second navigation menu). Each page calls
:func:`ensure_app_navigation` first; in that case it switches Streamlit to ``app.py``'s
navigation for the whole process and reruns, which lands on the same page through it.
"""

from __future__ import annotations

import streamlit as st


def ensure_app_navigation() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without it has no such mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation itself sets
        st.rerun()
