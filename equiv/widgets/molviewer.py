"""The rotation lab's 3D viewers as one Streamlit custom component (components v1).

The frontend (``molviewer_frontend/``: index.html, viewer.js, viewer.css) is this project's own
code. It draws with 3Dmol.js, which ``make setup`` installs from the npm registry (package
``3dmol``, version in ``molviewer_frontend/3DMOL_VERSION``) and copies next to it as
``3Dmol-min.js`` (git-ignored, never committed). Streamlit's component server sends those files
with their real MIME types, so the browser runs them; files must be real files inside the folder
(the server refuses symlinks that lead outside it). Only when the local copy is missing does the
viewer fall back to the CDN, and the page says so: the CDN URL and its Subresource Integrity hash
are fixed in ``viewer.js`` (the browser refuses a file with another hash), and the viewer takes
render messages only from its parent window.

The iframe is kept while its ``key`` stays the same: new arguments update the drawing in place,
so the viewers do not flicker and the camera stays where the user left it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

from equiv.widgets.registration import registered

__all__ = ["CDN_URL", "FRONTEND_DIR", "LOCAL_3DMOL", "THREEDMOL_VERSION", "local_3dmol_installed", "molecule_viewer"]

FRONTEND_DIR = Path(__file__).resolve().parent / "molviewer_frontend"
#: The pinned 3Dmol.js version (also read by the Makefile).
THREEDMOL_VERSION = (FRONTEND_DIR / "3DMOL_VERSION").read_text().strip()
#: Where ``make setup`` puts 3Dmol.js.
LOCAL_3DMOL = FRONTEND_DIR / "3Dmol-min.js"
#: The fallback when the local copy is missing (fixed in viewer.js with its integrity hash; a test
#: checks that both agree).
CDN_URL = f"https://cdn.jsdelivr.net/npm/3dmol@{THREEDMOL_VERSION}/build/3Dmol-min.js"

_component = components.declare_component("molecule_viewer", path=str(FRONTEND_DIR))


def local_3dmol_installed() -> bool:
    """Whether 3Dmol.js is installed next to the viewer (else the browser fetches it from the CDN)."""
    return LOCAL_3DMOL.is_file() and LOCAL_3DMOL.stat().st_size > 0


def molecule_viewer(scene: dict, key: str) -> Any:
    """Show ``scene`` (from :mod:`equiv.views.scene3d`) in the viewer with this ``key``."""
    return registered(_component)(scene=scene, key=key, default=None)
