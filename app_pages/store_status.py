"""Widgets the training lab and the runs page share about the run store itself: what to say when
it cannot be used, and who queues runs (for the per-session quota). Layout only."""

from __future__ import annotations

import hashlib
import secrets

import streamlit as st

from equiv.errors import RunError
from equiv.runs import StoreBusy
from equiv.views.text import escape_markdown

__all__ = ["session_owner", "store_problem"]


def session_owner() -> str:
    """Who queues runs from this page, for the per-session quota: the browser (a hash of
    Streamlit's XSRF cookie, which outlives reloads) or, without that cookie, this session."""
    try:
        cookie = st.context.cookies.get("_streamlit_xsrf")
    except Exception:  # noqa: BLE001 - no request context (tests, bare mode)
        cookie = None
    if isinstance(cookie, str) and cookie:
        return "browser-" + hashlib.sha256(cookie.encode()).hexdigest()[:16]
    if "run_owner" not in st.session_state:
        st.session_state.run_owner = "session-" + secrets.token_hex(8)
    return st.session_state.run_owner


def store_problem(exc: RunError) -> None:
    """The run store cannot be read or written now: say why and what still works."""
    if isinstance(exc, StoreBusy):
        st.warning(f"{escape_markdown(str(exc))}. Nothing was lost; the page tries again on its next update.",
                   icon=":material/hourglass_top:")
    else:
        st.error(f"{escape_markdown(str(exc))}. The rotation lab still works with its pretrained models.",
                 icon=":material/database:")
