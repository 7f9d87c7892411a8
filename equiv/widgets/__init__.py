"""Streamlit components written for this app (layer 6: above ``equiv.views``, below the pages).

* :func:`molecule_viewer`: the rotation lab's 3D viewers (3Dmol.js), one iframe kept across reruns.
"""

from equiv.widgets.molviewer import (
    CDN_URL,
    FRONTEND_DIR,
    LOCAL_3DMOL,
    THREEDMOL_VERSION,
    local_3dmol_installed,
    molecule_viewer,
)

__all__ = ["CDN_URL", "FRONTEND_DIR", "LOCAL_3DMOL", "THREEDMOL_VERSION", "local_3dmol_installed", "molecule_viewer"]
