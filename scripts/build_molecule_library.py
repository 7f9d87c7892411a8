"""Build the geometries of the built-in molecule library (``assets/molecules/*.xyz``).

For each entry of ``equiv.molecules.LIBRARY``: RDKit ETKDG embedding + MMFF94 relaxation from its
SMILES, then a GFN2-xTB geometry optimisation (tblite through ASE, BFGS, fmax 0.01 eV/Å).
Deterministic; rerun with ``.venv/bin/python scripts/build_molecule_library.py``.
"""

from __future__ import annotations

import argparse
import time

from ase import Atoms
from ase.optimize import BFGS
from tblite.ase import TBLite

from equiv.molecules import LIBRARY, molecule_from_smiles
from equiv.molecules.library import library_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("keys", nargs="*", help="library keys to rebuild (default: all)")
    parser.add_argument("--fmax", type=float, default=0.01, help="force threshold in eV/Å")
    args = parser.parse_args()
    out = library_dir()
    out.mkdir(parents=True, exist_ok=True)
    for key in args.keys or list(LIBRARY):
        entry = LIBRARY[key]
        t0 = time.perf_counter()
        mol = molecule_from_smiles(entry.smiles, name=entry.title, seed=0)
        atoms = Atoms(numbers=mol.numbers, positions=mol.positions)
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        opt = BFGS(atoms, logfile=None)
        opt.run(fmax=args.fmax, steps=500)
        fmax = float(abs(atoms.get_forces()).max())
        final = mol.with_positions(atoms.get_positions()).centered()
        comment = f"{entry.title} | SMILES {entry.smiles} | GFN2-xTB optimised (fmax {fmax:.4f} eV/A)"
        (out / f"{key}.xyz").write_text(final.to_xyz(comment))
        print(f"{key:16s} {final.formula:10s} {final.n_atoms:3d} atoms  {opt.nsteps:4d} BFGS steps  "
              f"fmax {fmax:.4f} eV/Å  {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
