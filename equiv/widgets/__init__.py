"""Streamlit components written for this app (layer 6: above ``equiv.views``, below the pages).

* :func:`molecule_viewer`: the rotation lab's 3D viewers (3Dmol.js), one iframe kept across reruns.
* :func:`presenter_keys`: the tour's presenter keys (PageDown/PageUp, arrows, F), listening on the page.
"""

from equiv.widgets.molviewer import (
    CDN_URL,
    FRONTEND_DIR,
    LOCAL_3DMOL,
    THREEDMOL_VERSION,
    local_3dmol_installed,
    molecule_viewer,
)
from equiv.widgets.presenter import PRESENTER_CSS, presenter_keys

__all__ = ["CDN_URL", "FRONTEND_DIR", "LOCAL_3DMOL", "THREEDMOL_VERSION", "local_3dmol_installed", "molecule_viewer", "PRESENTER_CSS",
           "presenter_keys"]
