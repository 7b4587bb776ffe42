"""A link to share, with a copy button (the explorer's view, a run, a comparison)."""

from __future__ import annotations

import streamlit as st


def copy_link(url: str, what: str) -> None:
    """The absolute link in a code box: Streamlit's copy button sits top right of it (on hover)."""
    st.caption(f"Link to {what} (copy button on the right):")
    st.code(url, language=None, wrap_lines=True)
