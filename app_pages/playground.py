"""Playground: which functions of vectors are equivariant? Pick or type one; the page rotates, reflects
and translates its input and gives the verdict with the measured error.

Layout only: the widget is ``app_pages/playground_widgets.py``, the math ``equiv.playground``.
"""

from __future__ import annotations

import streamlit as st

from app_pages.playground_widgets import playground
from equiv.views.playground import builtins_table, parse_query, to_query
from equiv.views.text import escape_markdown

state = st.session_state

st.title("Which functions are equivariant?")
st.caption("A function f of vectors a, b (and of positions r) is **invariant** when f(g·x) = f(x) and **equivariant** "
           "when f(g·x) = D(g) f(x) for every rotation and reflection g, with D the matrices of the output's irreps. "
           "Pick one of the seminar's examples or type your own.")

if "pg_settings" not in state:
    state.pg_settings, state.pg_link_problems = parse_query(st.query_params.to_dict())
for problem in state.pop("pg_link_problems", []):
    st.warning(escape_markdown(problem) + " (the default is shown)")

settings = playground(state.pg_settings, key="pg")
state.pg_settings = settings
query = to_query(settings)
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)

with st.expander("The built-in functions and what the seminar expects of them"):
    st.dataframe(builtins_table(), hide_index=True, width="stretch")
st.caption("Command line: `equiv playground \"cross(a, b)\" --json` prints the same verdict, irreps and errors.")
