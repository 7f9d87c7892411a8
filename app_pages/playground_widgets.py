"""The playground's widget, shared by the playground page and the tour: pick or type a function, see
its verdict, f(g·x) against D(g) f(x) and the errors. Layout only; the math is ``equiv.playground``,
tables and figures ``equiv.views.playground``."""

from __future__ import annotations

import streamlit as st

import torch

from equiv.errors import EquivError
from equiv.molecules import LIBRARY, load_molecule
from equiv.playground import BUILTINS, BUILTINS_BY_KEY, FUNCTIONS, Verdict, default_inputs, judge, side_by_side, trials
from equiv.views.playground import (
    CUSTOM,
    PLOT_CONFIG,
    VERDICT_ICONS,
    PlaygroundSettings,
    errors_table,
    side_by_side_figure,
    side_by_side_table,
    vectors_figure,
    verdict_headline,
)
from equiv.views.text import escape_markdown

LABELS = {f.key: f"{f.label}   ·   {f.expression}" for f in BUILTINS} | {CUSTOM: "type your own…"}


RANDOM_POINTS = "random"


def inputs_for(seed: int, positions: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a, b (seeded random vectors) and r: seeded random points or a library molecule's positions (Å)."""
    a, b, r = default_inputs(seed)
    if positions != RANDOM_POINTS:
        r = torch.tensor(load_molecule(positions).positions, dtype=torch.float64)
    return a, b, r


@st.cache_data(max_entries=128, show_spinner=False)
def cached_judge(text: str, seed: int, positions: str = RANDOM_POINTS) -> Verdict:
    return judge(text, inputs_for(seed, positions), seed=seed)


def show_verdict(v: Verdict, function_key: str | None) -> None:
    """The verdict as a coloured box with its one sentence of why."""
    text = f"**{escape_markdown(verdict_headline(v))}**  \n{escape_markdown(v.reason)}"
    if function_key in BUILTINS_BY_KEY:
        text += f"  \n*Why:* {escape_markdown(BUILTINS_BY_KEY[function_key].why)}"
    box = {"invariant": st.success, "equivariant": st.success, "rotations only": st.warning, "neither": st.error}[v.kind]
    with st.container(key=f"verdict_{v.kind.replace(' ', '_')}"):
        box(text, icon=VERDICT_ICONS[v.kind])


def playground(settings: PlaygroundSettings, key: str, compact: bool = False) -> PlaygroundSettings:
    """The widget; returns the settings as the user left them (for the page's link)."""
    state = st.session_state
    fkey, ekey = f"{key}_function", f"{key}_expr"
    state.setdefault(fkey, settings.function)
    state.setdefault(ekey, settings.text)

    def on_pick() -> None:
        if state[fkey] != CUSTOM:
            state[ekey] = BUILTINS_BY_KEY[state[fkey]].expression

    def on_type() -> None:
        if state[fkey] == CUSTOM or state[ekey] != BUILTINS_BY_KEY[state[fkey]].expression:
            state[fkey] = CUSTOM

    cols = st.columns([3, 3] if not compact else [1, 1])
    choice = cols[0].selectbox("Function", list(LABELS), format_func=LABELS.get, key=fkey, on_change=on_pick)
    text = cols[1].text_input("f(a, b, r)", key=ekey, on_change=on_type,
                              help="a, b: vectors; r: positions [n_atoms, 3]; numbers, + − * / @ **, indexing "
                                   "(a[0], r[:, 1]), [x, y, z] lists and " + ", ".join(sorted(FUNCTIONS)) +
                                   ". Typing here makes it your own function.")
    seed = settings.seed
    positions = RANDOM_POINTS
    if not compact:
        positions = st.selectbox("r: positions of", [RANDOM_POINTS, *LIBRARY], key=f"{key}_positions",
                                 format_func=lambda k: "5 random points" if k == RANDOM_POINTS else f"{k} (library molecule)")
    try:
        v = cached_judge(text, seed, positions)
    except EquivError as exc:
        st.error(f"Cannot use this function: {escape_markdown(str(exc))}", icon=":material/error:")
        return PlaygroundSettings(choice, text, seed)
    show_verdict(v, choice)
    trial_names = [t.name for t in trials(seed)]
    left, right = st.columns([3, 2])
    with left:
        trial_name = st.radio("Transformation g", trial_names, horizontal=True, key=f"{key}_trial")
        trial = next(t for t in trials(seed) if t.name == trial_name)
        sbs = side_by_side(text, trial, v.irreps, inputs_for(seed, positions))
        st.plotly_chart(side_by_side_figure(sbs), width="stretch", key=f"{key}_bars", config=PLOT_CONFIG)
    with right:
        a, b, _ = default_inputs(seed)
        st.plotly_chart(vectors_figure({"a": a.numpy(), "b": b.numpy()}, sbs), width="stretch", key=f"{key}_3d",
                        config=PLOT_CONFIG)
    if not compact:
        with st.container(key=f"{key}_numbers"):
            st.dataframe(side_by_side_table(sbs), hide_index=True, width="stretch")
        with st.container(key=f"{key}_errors"):
            st.dataframe(errors_table(v), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.1e") for c in errors_table(v).columns[1:3]})
        n_atoms = inputs_for(seed, positions)[2].shape[0]
        st.caption(f"Inputs (seed {seed}): a, b random vectors, r {n_atoms} positions. "
                   "Errors are max |difference| / max(1, max |f(x)|); below 1e-9 (float64) counts as equal. "
                   "Translations move r only (a, b are directions).")
    return PlaygroundSettings(choice, text, seed)
