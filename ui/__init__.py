"""Streamlit components shared by the pages (the only package besides pages/ that imports Streamlit)."""
