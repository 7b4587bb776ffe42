"""lrviz: see, run and compare Keras learning-rate schedules.

Entry point only: page config and navigation over the files in ``pages/``.
Run with ``streamlit run app.py``.
"""

import streamlit as st

from ui.navigation import run_app

st.set_page_config(page_title="lrviz — learning-rate schedules for Keras", page_icon=":material/show_chart:",
                   layout="wide")
run_app()  # the pages (ui/navigation.py), at the top of the window
