"""Widgets and state of the irreps lab (Streamlit plumbing; the page script lays them out).

One :class:`~equiv.views.irreps_settings.IrrepsLabSettings` record in ``st.session_state`` is the
source of truth. Widgets start from it and write back through ``on_change`` callbacks, so a widget
that is not drawn in a run (another tab is open, or the user visited another page) picks up the
current value when it comes back. The URL's query mirrors the record both ways: a deep link is
read when its query differs from what the page last wrote, bad values produce one message each.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import streamlit as st

from equiv.formatting import format_number
from equiv.links import LinkError
from equiv.views.text import escape_markdown
from equiv.views.irreps_settings import (
    L_MAX,
    QUERY_KEYS,
    VECTOR_MAX_ABS,
    IrrepsLabSettings,
    parse_lab_vector,
    parse_query,
    random_euler_degrees,
    random_vectors,
    to_query,
)

SETTINGS_KEY = "irreps_settings"
SYNCED_KEY = "irreps_synced_query"
DRAWS_KEY = "irreps_draws"
PREFIX = "irreps_"
VECTOR_FIELDS = ("a", "b")


def settings() -> IrrepsLabSettings:
    """The current settings (defaults until something is chosen)."""
    return st.session_state.get(SETTINGS_KEY, IrrepsLabSettings())


def _widget_key(field: str) -> str:
    return PREFIX + field


def _widget_value(s: IrrepsLabSettings, field: str) -> Any:
    value = getattr(s, field)
    return ", ".join(format_number(x) for x in value) if field in VECTOR_FIELDS else value  # "1, -2.5, 3"


def _store(new: IrrepsLabSettings, refresh: Sequence[str] = ()) -> None:
    """Save ``new`` (normalised) and bring drawn widgets in line with it.

    Simple widgets follow the record whenever they differ (so a clamped L or m shows up at once);
    the vector text boxes are only rewritten for the fields in ``refresh`` (a typed value that
    failed to parse stays in its box).
    """
    new = new.normalized()
    st.session_state[SETTINGS_KEY] = new
    for field in (f.name for f in dataclasses.fields(new)):
        key = _widget_key(field)
        if field in VECTOR_FIELDS:
            if field in refresh:
                st.session_state[key] = _widget_value(new, field)
                st.session_state.pop(key + "_error", None)
        elif key in st.session_state and st.session_state[key] != getattr(new, field):
            st.session_state[key] = getattr(new, field)


def _on_field(field: str) -> None:
    _store(dataclasses.replace(settings(), **{field: st.session_state[_widget_key(field)]}))


def _on_vector(field: str) -> None:
    key = _widget_key(field)
    typed = st.session_state[key]
    try:
        value = parse_lab_vector(typed)
    except LinkError as exc:
        current = _widget_value(settings(), field)
        # Kept outside the widget's state, so the typed text and its message survive a tab switch.
        st.session_state[key + "_error"] = (typed, f"{field}: {typed[:60]!r} is not {exc}. Still using {field} = ({current}).")
        return
    st.session_state.pop(key + "_error", None)
    _store(dataclasses.replace(settings(), **{field: value}))


def _next_draw() -> int:
    st.session_state[DRAWS_KEY] = st.session_state.get(DRAWS_KEY, 0) + 1
    return st.session_state[DRAWS_KEY]


# -- deep links ------------------------------------------------------------------------------------


def apply_deep_link() -> list[str]:
    """Read the URL if it changed from outside, then write the current settings back into it.

    Returns one message per bad query value (empty when all is well). A URL without any of the
    lab's keys (the user came back from another page) keeps the settings of this session.
    """
    query = {k: st.query_params[k] for k in QUERY_KEYS if k in st.query_params}
    problems: list[str] = []
    if query and query != st.session_state.get(SYNCED_KEY):
        new, problems = parse_query(query, base=settings())
        for field in (f.name for f in dataclasses.fields(new)):
            st.session_state.pop(_widget_key(field), None)
            st.session_state.pop(_widget_key(field) + "_error", None)
        st.session_state[SETTINGS_KEY] = new
    wanted = to_query(settings())
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    st.session_state[SYNCED_KEY] = wanted
    return problems


# -- widgets ---------------------------------------------------------------------------------------


def _prepare(field: str) -> str:
    """The widget key of ``field``, its state set from the settings (or from the rejected text
    still on show) when the widget was not drawn in the previous run."""
    key = _widget_key(field)
    if key not in st.session_state:
        rejected = st.session_state.get(key + "_error")
        st.session_state[key] = rejected[0] if rejected else _widget_value(settings(), field)
    return key


def choice(
    label: str, field: str, options: Sequence[Any], format_func: Callable[[Any], str] = str, help: str | None = None
) -> Any:
    """A segmented control bound to ``field`` (always one option selected)."""
    key = _prepare(field)
    return st.segmented_control(
        label, list(options), key=key, required=True, format_func=format_func, help=help,
        on_change=_on_field, args=(field,),
    )


def order_choice(label: str, field: str, top: int = L_MAX, help: str | None = None) -> int:
    return choice(label, field, range(0, top + 1), help=help)


def parity_choice(label: str, field: str) -> str:
    return choice(label, field, ["e", "o"], format_func=lambda p: {"e": "even (e)", "o": "odd (o)"}[p])


def vector_input(field: str, label: str) -> None:
    """A text box for vector ``field`` (x, y, z); a bad value shows an error and keeps the old one."""
    key = _prepare(field)
    st.text_input(
        label, key=key, on_change=_on_vector, args=(field,),
        help=f"three numbers x, y, z separated by commas or spaces, each between −{VECTOR_MAX_ABS:g} and {VECTOR_MAX_ABS:g}",
    )
    if key + "_error" in st.session_state:
        st.error(escape_markdown(st.session_state[key + "_error"][1]))


def _set_vectors(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    _store(dataclasses.replace(settings(), a=a, b=b), refresh=VECTOR_FIELDS)


def vector_buttons(key_suffix: str) -> None:
    """"Random a, b" (reproducible draws) and "Seed example" (1, 2, 3) and (4, 5, 6)."""
    c1, c2 = st.columns(2)
    c1.button(
        "Random a, b", icon=":material/casino:", key=f"{PREFIX}random_vectors_{key_suffix}",
        on_click=lambda: _set_vectors(*random_vectors(_next_draw())), width="stretch",
    )
    defaults = IrrepsLabSettings()
    c2.button(
        "Seed example", icon=":material/restart_alt:", key=f"{PREFIX}seed_vectors_{key_suffix}",
        on_click=lambda: _set_vectors(defaults.a, defaults.b), width="stretch",
    )


def _set_rotation(alpha: int, beta: int, gamma: int, inversion: bool | None = None) -> None:
    s = settings()
    inv = s.inversion if inversion is None else inversion
    _store(dataclasses.replace(s, alpha=alpha, beta=beta, gamma=gamma, inversion=inv))


def rotation_controls(key_suffix: str) -> None:
    """ZYZ Euler sliders (degrees), the inversion toggle, and random / identity buttons."""
    c = st.columns([1, 1, 1, 0.9, 0.9, 0.9])
    with c[0]:
        st.slider("α (about z)", -180, 180, step=1, key=_prepare("alpha"), on_change=_on_field, args=("alpha",), format="%d°")
    with c[1]:
        st.slider("β (about y)", 0, 180, step=1, key=_prepare("beta"), on_change=_on_field, args=("beta",), format="%d°")
    with c[2]:
        st.slider("γ (about z)", -180, 180, step=1, key=_prepare("gamma"), on_change=_on_field, args=("gamma",), format="%d°")
    with c[3]:
        st.toggle(
            "inversion −I", key=_prepare("inversion"), on_change=_on_field, args=("inversion",),
            help="compose the rotation with the inversion r ↦ −r (an improper rotation, det R = −1)",
        )
    c[4].button(
        "Random R", icon=":material/casino:", key=f"{PREFIX}random_rotation_{key_suffix}",
        on_click=lambda: _set_rotation(*random_euler_degrees(_next_draw())), width="stretch",
    )
    c[5].button(
        "Identity", icon=":material/restart_alt:", key=f"{PREFIX}identity_{key_suffix}",
        on_click=lambda: _set_rotation(0, 0, 0, inversion=False), width="stretch",
    )


def new_second_rotation_button() -> None:
    def draw() -> None:
        _store(dataclasses.replace(settings(), rot2=random_euler_degrees(_next_draw())))

    st.button("New R₂", icon=":material/casino:", key=f"{PREFIX}new_rot2", on_click=draw)


def number(label: str, field: str, lo: int, hi: int, help: str | None = None) -> int:
    return st.number_input(label, lo, hi, step=1, key=_prepare(field), on_change=_on_field, args=(field,), help=help)


def layer_toggle() -> None:
    choice(
        "Layer", "layer", ["first", "hidden"],
        format_func=lambda v: {"first": "first (scalar input)", "hidden": "hidden"}[v],
    )
