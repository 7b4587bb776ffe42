"""lrviz: see, run and compare Keras learning-rate schedules.

Entry point only: page config and navigation over the files in ``pages/``.
Run with ``streamlit run app.py``.
"""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="lrviz — learning-rate schedules for Keras", page_icon=":material/show_chart:",
                   layout="wide")

PAGES = Path(__file__).parent / "pages"
pages = [
    st.Page(PAGES / "1_Schedule_Explorer.py", title="Schedule Explorer", icon=":material/show_chart:",
            url_path="explorer", default=True),
]
for file, title, icon, url in [
    ("2_Train.py", "Train", ":material/model_training:", "train"),
    ("3_Runs.py", "Runs", ":material/compare_arrows:", "runs"),
]:
    if (PAGES / file).exists():
        pages.append(st.Page(PAGES / file, title=title, icon=icon, url_path=url))
st.navigation(pages).run()
