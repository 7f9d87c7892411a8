"""Start the app with its heavy modules already imported: ``make run`` calls

    python -m equiv.serve [STREAMLIT RUN OPTIONS...]     # e.g. --server.port 8501

``streamlit run app.py`` imports nothing of the app until the first browser session runs a page,
so the first visitor waits for torch, e3nn, plotly and the models' modules to import, for the
rotation lab's models to build and for their full turn (the error plot): 7 s of server time on a
2-core machine (``bench/rotation_first_render.py``). Here the server process does all of that before
handing over to Streamlit's own command line (``streamlit run``, in this process), so sessions find
them in ``sys.modules`` and the caches filled. Options after ``python -m equiv.serve`` go to
``streamlit run`` unchanged.
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

from equiv.paths import REPO_ROOT

__all__ = ["preload", "main"]


def preload() -> float:
    """Import what the pages import, load the rotation lab's default models (the default molecule's
    shipped checkpoints, kept by :func:`equiv.views.rotation_models.load_source`) and compute their
    default turn (kept by :func:`equiv.views.rotation_view.turn_panel`); returns the seconds."""
    t0 = time.perf_counter()
    import numpy as np
    import plotly.graph_objects  # noqa: F401

    import equiv.views.irreps_figures  # noqa: F401
    from equiv.views.rotation_models import MODEL_SLOTS, model_sources
    from equiv.views.rotation_settings import RotationSettings
    from equiv.views.rotation_view import TURN_FRAMES, library_geometry, prepare_panel, turn  # models, xTB, scene

    defaults = RotationSettings()
    try:
        molecule, _ = library_geometry(defaults.molecule, defaults.geometry)  # as the page picks it
        panels = [prepare_panel(slot, model_sources(slot, defaults.molecule)[0], molecule)
                  for slot in defaults.models if slot in MODEL_SLOTS]
        turn(molecule, panels, defaults.axis, np.eye(3), defaults.reflect, TURN_FRAMES)  # the error plot's turn
    except Exception as exc:  # noqa: BLE001 - a warm-up that fails must not keep the app from starting
        print(f"equiv: the rotation lab's warm-up failed ({type(exc).__name__}: {exc}); its first visitor "
              "will wait for it", flush=True)
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    seconds = preload()
    print(f"equiv: modules imported, the rotation lab's default models loaded and turned in {seconds:.1f} s; "
          "starting Streamlit", flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(REPO_ROOT / "app.py"), *args]
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
