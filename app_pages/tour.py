"""Tour: the seminar's story in steps, each a short statement and a live widget of the app.

``/tour?step=N`` opens step N. PageDown / → and PageUp / ← step (what presentation clickers send),
F shows the 3D viewer full screen; the "presenter" setting enlarges fonts and hides the sidebar.
The steps' texts are ``equiv.views.tour.STEPS``; the widgets are drawn by ``app_pages/tour_widgets.py``.
"""

from __future__ import annotations

import streamlit as st

from app_pages.tour_widgets import RENDERERS
from equiv.views.text import escape_markdown
from equiv.views.tour import STEPS, parse_step
from equiv.widgets import PRESENTER_CSS, presenter_keys

state = st.session_state
N = len(STEPS)

if "tour_step" not in state:
    state.tour_step, problem = parse_step(st.query_params.get("step"))
    if problem:
        st.warning(escape_markdown(problem) + " (step 1 or the nearest is shown)")
    state.tour_presenter = st.query_params.get("presenter") == "1"


def go_to(step: int) -> None:
    state.tour_step = min(max(step, 1), N)


# Keys first: a press changes the step before this run draws anything.
pressed = presenter_keys(state.tour_step, N, key="tour_keys",
                         hint="← → or PageUp / PageDown: previous / next step · F: 3D viewer full screen")
if pressed and pressed.get("nonce") != state.get("tour_last_nonce"):
    state.tour_last_nonce = pressed.get("nonce")
    go_to(int(pressed.get("step", state.tour_step)))

with st.sidebar:
    st.toggle("Presenter mode", key="tour_presenter", help="Larger fonts, no sidebar (reload the page or use "
              "the button at the bottom to leave it)")
if state.tour_presenter:
    st.html(PRESENTER_CSS)

step = STEPS[state.tour_step - 1]
query = {"step": str(state.tour_step)} | ({"presenter": "1"} if state.tour_presenter else {})
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)

st.caption(f"E(3)-equivariant neural networks · step {state.tour_step} of {N}")
with st.container(key="tour_step_title"):
    st.header(step.title, anchor=False)
st.markdown(step.statement)
with st.container(key=f"tour_widget_{step.widget}"):
    RENDERERS[step.widget](step)

prev_col, mid, next_col, rest = st.columns([1, 2, 1, 4])
prev_col.button("← Previous", on_click=go_to, args=(state.tour_step - 1,), disabled=state.tour_step == 1, key="tour_prev")
next_col.button("Next →", on_click=go_to, args=(state.tour_step + 1,), disabled=state.tour_step == N, key="tour_next")
mid.progress(state.tour_step / N)
if step.more:
    rest.page_link(step.more, label="Try more on its page", icon=":material/open_in_new:")
if state.tour_presenter:
    st.button("Leave presenter mode", key="tour_leave_presenter", on_click=lambda: state.update(tour_presenter=False))
