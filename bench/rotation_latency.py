"""Server time of one rotation change in the rotation lab, as the page does it.

    .venv/bin/python bench/rotation_latency.py [--molecule aspirin] [--repeats 30] [--xtb] [--geometry library]

The models are prepared first (loaded, f(x) computed: the page caches this per molecule). One
rotation change is then what a rerun of the page does after a slider moves: every model's
forward pass with forces on the turned molecule, the comparison with R·f(x), the 3D scene, the
table, the glyph figure and the error figure (from its cached full turn) and, with the reference,
the error-against-GFN2-xTB figure (from the same turn). The geometry is the page's default, the
500 K snapshot (``--geometry library`` for the relaxed one). Reports the median and
90th percentile over random rotations, split into the models and the rest. ``--xtb`` adds the
GFN2-xTB reference panel (not part of the 150 ms budget of the issue: it is physics, not a model).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from equiv.molecules import load_molecule, load_snapshot
from equiv.views.rotation_figures import error_figure, glyph_figure, reference_figure
from equiv.views.rotation_models import model_sources
from equiv.views.rotation_settings import RotationSettings, random_settings
from equiv.views.rotation_view import prepare_panel, rotate, table_rows, turn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecule", default="aspirin")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--xtb", action="store_true", help="include the GFN2-xTB reference panel")
    p.add_argument("--geometry", choices=("snapshot", "library"), default="snapshot")
    p.add_argument("--common-scale", action="store_true", help="one arrow scale for every panel")
    args = p.parse_args()

    molecule = (load_snapshot(args.molecule) if args.geometry == "snapshot" else None) or load_molecule(args.molecule)
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
    totals, models = [], []
    for _ in range(args.repeats):
        s = random_settings(settings, g)
        t0 = time.perf_counter()
        result = rotate(molecule, panels, s)
        table_rows(panels, result.comparisons)
        features = result.comparisons["nequip"].rotated.features
        glyph_figure(features, 0, 0, "C1").to_json()
        error_figure(curve, "z", current_angle=s.angle).to_json()
        if reference is not None:
            reference_figure(curve, reference.base.forces, "z", current_angle=s.angle).to_json()
        totals.append(time.perf_counter() - t0)
        models.append(sum(result.seconds.values()))

    def ms(values: list[float], q: float) -> float:
        return 1000 * float(np.quantile(values, q))

    print(f"{args.molecule} ({molecule.n_atoms} atoms, {molecule.name}), panels {', '.join(ids)}, float64, torch {torch.__version__}, "
          f"{args.repeats} random rotations; preparing the panels took {prepare_s:.1f} s")
    print(f"  one rotation change: median {ms(totals, 0.5):6.1f} ms, p90 {ms(totals, 0.9):6.1f} ms")
    print(f"    models (forward + forces, compare): median {ms(models, 0.5):6.1f} ms")
    print(f"    scene, table and figures:           median {1000 * statistics.median(t - m for t, m in zip(totals, models)):6.1f} ms")
    print("    per panel (last): " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in result.seconds.items()))


if __name__ == "__main__":
    main()
