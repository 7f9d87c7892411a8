"""Make the rotation lab's thermal snapshots (``assets/snapshots/<molecule>.xyz``).

    .venv/bin/python scripts/make_snapshots.py                    # every library molecule (~2 min on 2 cores)
    .venv/bin/python scripts/make_snapshots.py --molecules aspirin

Why shipped snapshots: the library geometries are GFN2-xTB minima, so their forces are tiny (aspirin's
longest 0.009 eV/Å) and every panel's arrows are noise. A thermal snapshot has forces of about
1 eV/Å. Shipping one small file per molecule (under 2 kB) keeps the lab independent of rMD17 and of
generated data sets (which a fresh machine does not have), and gives everyone the same picture.

Each snapshot is the last frame of one Langevin trajectory at 500 K on the GFN2-xTB surface, made
by the project's generator (``equiv.data.generate_xtb_dataset``: 0.5 fs steps, friction 0.01 fs⁻¹,
centre of mass fixed; 400 equilibration steps = 200 fs, one frame kept; seed 0), then turned onto
the library geometry's orientation (``equiv.data.align``: Kabsch on the heavy atoms) so that it sits
where the library molecule sits, in the frame the aligned MLP was trained in. The comment line of
each file records the settings, the GFN2-xTB energy and the largest force.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from equiv.data import generate_xtb_dataset
from equiv.data.align import align_dataset
from equiv.molecules import LIBRARY, load_molecule, snapshot_dir

SETTINGS = {"frames": 1, "trajectories": 1, "equilibration_steps": 400, "stride": 1, "temperature_K": 500.0, "seed": 0}


def make(molecule: str) -> str:
    ds = align_dataset(generate_xtb_dataset(molecule, workers=1, **SETTINGS), load_molecule(molecule))
    pos, forces = ds.positions[0], ds.forces[0]
    fmax = float(np.linalg.norm(forces, axis=1).max())
    symbols = load_molecule(molecule).symbols
    settings = ", ".join(f"{k}={v:g}" for k, v in SETTINGS.items())
    lines = [str(ds.n_atoms),
             f"{molecule} | 500 K GFN2-xTB snapshot (scripts/make_snapshots.py: {settings}), aligned to the library "
             f"orientation | energy {ds.energies[0]:.6f} eV | max |F| {fmax:.3f} eV/A"]
    lines += [f"{s:2s} {x:15.8f} {y:15.8f} {z:15.8f}" for s, (x, y, z) in zip(symbols, pos)]
    path = snapshot_dir() / f"{molecule}.xyz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return f"{molecule}: max |F| {fmax:.2f} eV/Å -> {path}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", default="all", help="comma-separated library keys, or all (default)")
    args = p.parse_args(argv)
    molecules = list(LIBRARY) if args.molecules == "all" else [m.strip() for m in args.molecules.split(",")]
    for m in molecules:
        if m not in LIBRARY:
            p.error(f"unknown molecule {m!r}; choose from {', '.join(LIBRARY)}")
        print(make(m), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
