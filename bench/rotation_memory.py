"""Peak memory of the rotation lab's heaviest work for the largest molecule it accepts.

    .venv/bin/python bench/rotation_memory.py [--atoms 150] [--frames 36]

Builds a SMILES alkane of about ``--atoms`` atoms (RDKit), prepares every model panel (untrained
GVP, NequIP, SO(3) NequIP and MLP, as for an uploaded molecule), then computes a full turn of
``--frames`` frames for each (the spin and the error-versus-angle curve). Prints the process's peak
resident memory (``ru_maxrss``) before and after, and the wall time.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import equiv.molecules.io as molecule_io
from equiv.molecules import molecule_from_smiles
from equiv.views.rotation_lab import neighbour_pairs
from equiv.views.rotation_models import model_sources
from equiv.views.rotation_view import prepare_panel, turn


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--atoms", type=int, default=150)
    p.add_argument("--frames", type=int, default=36)
    args = p.parse_args()

    n_carbons = (args.atoms - 2) // 3  # CnH(2n+2)
    molecule_io.EMBED_SECONDS = 60.0  # the page's 2 s budget is for visitors; here the geometry is the point
    molecule = molecule_from_smiles("C" * n_carbons, max_atoms=args.atoms)
    before = peak_mib()
    t0 = time.perf_counter()
    panels = [prepare_panel(pid, model_sources(pid, None)[0], molecule) for pid in ("gvp", "nequip", "nequip-so3", "mlp")]
    result = turn(molecule, panels, (0.0, 0.0, 1.0), np.eye(3), False, args.frames)
    seconds = time.perf_counter() - t0
    pairs = neighbour_pairs(molecule.positions)
    print(f"{molecule.n_atoms} atoms ({pairs:,} pairs within 5 Å), {args.frames} frames, "
          f"panels {sorted(result.comparisons)}; notes {result.notes}")
    print(f"peak RSS {before:.0f} MiB after imports and the molecule, {peak_mib():.0f} MiB after the turn; {seconds:.1f} s")


if __name__ == "__main__":
    main()
