"""Server time of one rotation change in the rotation lab, as the page does it.

    .venv/bin/python bench/rotation_latency.py [--molecule aspirin] [--repeats 30] [--xtb] [--geometry library]

The models are prepared first (loaded, f(x) computed: the page caches this per molecule). One
rotation change is then what a rerun of the page does after a slider moves: every model's
forward pass with forces on the turned molecule, the comparison with R·f(x), the 3D scene, the
table, the glyph figure and the error figure (from its cached full turn) and, with the reference,
the error-against-GFN2-xTB figure (from the same turn), each figure validated and written as
``st.plotly_chart`` does. The geometry is the page's default, the
500 K snapshot (``--geometry library`` for the relaxed one). Reports the median and
90th percentile over random rotations, split into the panels with the scene (``rotate``) and the
table with the figures. ``--xtb`` adds the
GFN2-xTB reference panel (not part of the 150 ms budget of the issue: it is physics, not a model).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import plotly.io
import plotly.tools
import torch

from equiv.views.rotation_figures import error_figure, glyph_figure, reference_figure
from equiv.views.rotation_models import model_sources
from equiv.views.rotation_settings import RotationSettings, random_settings
from equiv.views.rotation_view import library_geometry, prepare_panel, rotate, table_rows, turn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecule", default="aspirin")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--xtb", action="store_true", help="include the GFN2-xTB reference panel")
    p.add_argument("--geometry", choices=("snapshot", "library"), default="snapshot")
    p.add_argument("--common-scale", action="store_true", help="one arrow scale for every panel")
    args = p.parse_args()

    molecule, _ = library_geometry(args.molecule, args.geometry)
    ids = ["gvp", "nequip", "mlp"] + (["xtb"] if args.xtb else [])
    t0 = time.perf_counter()
    panels = [prepare_panel(pid, None if pid == "xtb" else model_sources(pid, args.molecule)[0], molecule) for pid in ids]
    prepare_s = time.perf_counter() - t0
    curve = turn(molecule, [p for p in panels if p.model is not None], (0, 0, 1), np.eye(3), False, 36)

    g = torch.Generator().manual_seed(0)
    settings = RotationSettings(molecule=args.molecule, models=tuple(ids), geometry=args.geometry,
                                scale="common" if args.common_scale else "panel")
    reference = next((p for p in panels if p.id == "xtb" and p.active), None)
    for _ in range(3):  # warm-up
        rotate(molecule, panels, random_settings(settings, g))
    totals, rotations = [], []
    for _ in range(args.repeats):
        s = random_settings(settings, g)
        t0 = time.perf_counter()
        result = rotate(molecule, panels, s)
        rotations.append(time.perf_counter() - t0)
        table_rows(panels, result.comparisons)
        features = result.comparisons["nequip"].rotated.features
        as_the_page_sends(glyph_figure(features, 0, 0, "C1"))
        as_the_page_sends(error_figure(curve, "z", current_angle=s.angle))
        if reference is not None:
            as_the_page_sends(reference_figure(curve, reference.base.forces, "z", current_angle=s.angle))
        totals.append(time.perf_counter() - t0)

    def ms(values: list[float], q: float) -> float:
        return 1000 * float(np.quantile(values, q))

    print(f"{args.molecule} ({molecule.n_atoms} atoms, {molecule.name}), panels {', '.join(ids)}, float64, torch {torch.__version__}, "
          f"{args.repeats} random rotations; preparing the panels took {prepare_s:.1f} s")
    print(f"  one rotation change: median {ms(totals, 0.5):6.1f} ms, p90 {ms(totals, 0.9):6.1f} ms")
    print(f"    panels (forward + forces, compare; the reference beside the models) and scene: median {ms(rotations, 0.5):6.1f} ms")
    print(f"    table and figures:           median {1000 * statistics.median(t - r for t, r in zip(totals, rotations)):6.1f} ms")
    print("    per panel (last): " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in result.seconds.items()))


def as_the_page_sends(figure) -> str:
    """What ``st.plotly_chart`` does with a figure: validate it again, then write its JSON."""
    return plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True), validate=False)


if __name__ == "__main__":
    main()
