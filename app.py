"""lrviz: see, run and compare Keras learning-rate schedules.

Entry point only: page config and navigation over the files in ``pages/``.
Run with ``streamlit run app.py``.
"""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="lrviz — learning-rate schedules for Keras", page_icon=":material/show_chart:",
                   layout="wide")

# File names equal the URL paths: Streamlit also auto-discovers pages/ on a cold start, and
# matching names mean a first visit to e.g. /train finds its page either way.
PAGES = Path(__file__).parent / "pages"
st.navigation([
    st.Page(PAGES / "explorer.py", title="Schedule Explorer", icon=":material/show_chart:", default=True),
    st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(PAGES / "runs.py", title="Runs", icon=":material/compare_arrows:", url_path="runs"),
    st.Page(PAGES / "tournament.py", title="Tournament", icon=":material/emoji_events:", url_path="tournament"),
], position="top").run()  # at the top: an 800 px window keeps its width for the page (a sidebar took 300 px)
