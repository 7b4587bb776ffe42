"""The app's pages and their navigation (``app.py`` runs it), and the guard every page calls first.

Streamlit also auto-discovers the ``pages/`` folder (its first multipage mode) until the entry
script calls ``st.navigation``. On a server's very first session, a deep link such as ``/train``
is served by that auto-discovery *before* ``app.py`` ever ran: the page would run bare (no wide
layout, a second navigation menu). :func:`run_app` marks each session it navigates; a page that
finds no mark (:func:`ensure_app_navigation`) runs bare, so it calls ``st.navigation`` with the
app's pages itself (the public call that turns auto-discovery off for the whole process) and
reruns, which lands on the same page through ``app.py``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
POSITION = "top"  # an 800 px window keeps its width for the page (a sidebar took 300 px)
_NAVIGATED = "_page_navigated"  # session key (page_state's shared prefix): app.py's navigation ran in it


def pages() -> list[st.Page]:
    """The pages, in menu order. File names equal the URL paths: until the first ``st.navigation``
    Streamlit serves ``pages/<name>.py`` at ``/<name>``, and matching names mean a first visit to
    e.g. ``/train`` finds its page either way."""
    return [
        st.Page(PAGES_DIR / "explorer.py", title="Schedule Explorer", icon=":material/show_chart:", default=True),
        st.Page(PAGES_DIR / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page(PAGES_DIR / "runs.py", title="Runs", icon=":material/compare_arrows:", url_path="runs"),
        st.Page(PAGES_DIR / "tournament.py", title="Tournament", icon=":material/emoji_events:",
                url_path="tournament"),
    ]


def run_app() -> None:
    """``app.py``: navigate to the page the URL names and run it."""
    st.session_state[_NAVIGATED] = True
    st.navigation(pages(), position=POSITION).run()


def ensure_app_navigation() -> None:
    """At the top of every page: when the page runs bare (no :func:`run_app` in this session),
    switch the process to the app's navigation and rerun. Once per session: a page run on its
    own (``AppTest.from_file("pages/train.py")``) goes on as it is after that one rerun."""
    if st.session_state.get(_NAVIGATED):
        return
    st.session_state[_NAVIGATED] = True
    st.navigation(pages(), position=POSITION)
    st.rerun()
