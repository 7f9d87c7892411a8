"""equiv: the Streamlit app. Run with ``make run`` (or ``streamlit run app.py``)."""

import streamlit as st
import torch

from app_pages.catalog import HOME, PAGES

# The pages compute on tiny tensors (3×3 … 81×81 matrices, a few hundred points): torch's
# intra-op thread pool only adds synchronisation there, and on a busy 2-core machine it made the
# irreps lab's reruns 2–5× slower (bench/irreps_page.py, bench/irreps_browser.py). Training runs
# in processes of its own and is not affected.
torch.set_num_threads(1)

st.set_page_config(page_title="equiv", page_icon="assets/icon.png", layout="wide")

navigation = st.navigation(
    [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)]
    + [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in PAGES]
)
navigation.run()
