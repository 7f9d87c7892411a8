"""Time GFN2-xTB molecular dynamics of a library molecule with tblite's ASE calculator and with
equiv's lean ``XTBCalculator`` (same Langevin MD, same seed), and check they agree.

    .venv/bin/python bench/xtb_calculator.py [--molecule ethanol] [--steps 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from tblite.ase import TBLite

from equiv.data.generate import _thermalize
from equiv.data.xtb import single_openmp_thread
from equiv.data.xtb import XTBCalculator
from equiv.molecules import load_molecule


def run(calc, molecule: str, steps: int) -> tuple[float, np.ndarray]:
    mol = load_molecule(molecule)
    atoms = Atoms(numbers=mol.numbers, positions=mol.positions)
    atoms.calc = calc
    single_openmp_thread()
    rng = np.random.default_rng(0)
    _thermalize(atoms, 500.0, rng)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep=0.5 * units.fs, temperature_K=500.0, friction=0.01 / units.fs, fixcm=False, rng=rng)
    t0 = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - t0) / steps, atoms.get_positions()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    t_ase, pos_ase = run(TBLite(method="GFN2-xTB", verbosity=0), args.molecule, args.steps)
    t_own, pos_own = run(XTBCalculator(), args.molecule, args.steps)
    print(f"{args.molecule}, {args.steps} Langevin steps of 0.5 fs at 500 K, one OpenMP thread")
    print(f"  tblite.ase.TBLite      {t_ase * 1e3:6.2f} ms/step")
    print(f"  equiv XTBCalculator    {t_own * 1e3:6.2f} ms/step  ({t_ase / t_own:.2f}x)")
    print(f"  final positions differ by at most {np.abs(pos_ase - pos_own).max():.2e} Å")


if __name__ == "__main__":
    main()
