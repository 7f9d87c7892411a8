"""Presenter keys for the tour as one Streamlit custom component (components v1).

Streamlit sends no key events to Python, so the frontend (``presenter_frontend/``: index.html and
presenter.js, this project's own code) listens on the app's document and answers what presentation
clickers send: PageDown / → (next step), PageUp / ← (previous), F (the 3D viewer full screen).
Keys typed into text inputs are left alone. It returns ``{"step": N, "nonce": "..."}`` after a key
press (a new nonce per press), else ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

from equiv.widgets.registration import registered

__all__ = ["PRESENTER_DIR", "presenter_keys", "PRESENTER_CSS"]

PRESENTER_DIR = Path(__file__).resolve().parent / "presenter_frontend"
_component = components.declare_component("presenter_keys", path=str(PRESENTER_DIR))

#: The "presenter" setting: larger fonts, no sidebar (injected by the page as a style element).
PRESENTER_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none !important; }
[data-testid="stMain"] { font-size: 1.35rem; }
[data-testid="stMain"] p, [data-testid="stMain"] li { font-size: 1.35rem !important; line-height: 1.5; }
[data-testid="stMain"] h1 { font-size: 3rem !important; }
[data-testid="stMain"] h2 { font-size: 2.3rem !important; }
.katex { font-size: 1.35em !important; }
</style>
"""


def presenter_keys(step: int, n_steps: int, key: str, hint: str = "") -> Any:
    """Listen for the presenter keys; the value after a press is ``{"step": target, "nonce": str}``."""
    return registered(_component)(step=step, n_steps=n_steps, hint=hint, key=key, default=None)
