"""equiv: the Streamlit app. Run with ``make run`` (or ``streamlit run app.py``)."""

import streamlit as st

from app_pages.catalog import HOME, PAGES

st.set_page_config(page_title="equiv", page_icon="assets/icon.png", layout="wide")

navigation = st.navigation(
    [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in PAGES]
)
navigation.run()
