"""The built-in molecule library: the molecules of the MD17 / rMD17 tables and a few small ones.

Geometries live in ``assets/molecules/<key>.xyz``. They were made by
``scripts/build_molecule_library.py``: RDKit ETKDG embedding and MMFF94 relaxation from the SMILES
below, then a GFN2-xTB (tblite) geometry optimisation with ASE's BFGS to fmax 0.01 eV/Å.
Atom order is the file's order (heavy atoms in SMILES order, then hydrogens).

Example:
    >>> load_molecule("ethanol").formula
    'C2H6O'
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from equiv.errors import MoleculeError
from equiv.molecules.io import read_molecule
from equiv.molecules.molecule import Molecule
from equiv.paths import ASSETS_DIR

__all__ = ["LibraryEntry", "LIBRARY", "library_keys", "load_molecule", "library_dir", "load_snapshot", "snapshot_dir"]


@dataclass(frozen=True)
class LibraryEntry:
    """One library molecule.

    Attributes:
        key: identifier used in URLs, the CLI and file names (``salicylic_acid``).
        title: name for people (``salicylic acid``).
        smiles: the SMILES the geometry was built from.
        rmd17: the molecule's name in the rMD17 file names, or ``None`` when it is not in rMD17.
    """

    key: str
    title: str
    smiles: str
    rmd17: str | None = None


LIBRARY: dict[str, LibraryEntry] = {
    e.key: e
    for e in [
        LibraryEntry("water", "water", "O"),
        LibraryEntry("ethanol", "ethanol", "CCO", "ethanol"),
        LibraryEntry("malonaldehyde", "malonaldehyde", "O=CC=CO", "malonaldehyde"),
        LibraryEntry("benzene", "benzene", "c1ccccc1", "benzene"),
        LibraryEntry("uracil", "uracil", "O=C1C=CNC(=O)N1", "uracil"),
        LibraryEntry("toluene", "toluene", "Cc1ccccc1", "toluene"),
        LibraryEntry("salicylic_acid", "salicylic acid", "OC(=O)c1ccccc1O", "salicylic"),
        LibraryEntry("naphthalene", "naphthalene", "c1ccc2ccccc2c1", "naphthalene"),
        LibraryEntry("paracetamol", "paracetamol", "CC(=O)Nc1ccc(O)cc1", "paracetamol"),
        LibraryEntry("aspirin", "aspirin", "CC(=O)Oc1ccccc1C(=O)O", "aspirin"),
        LibraryEntry("azobenzene", "azobenzene", "c1ccc(cc1)/N=N/c1ccccc1", "azobenzene"),
    ]
}


def library_dir() -> os.PathLike[str]:
    """Folder of the library's XYZ files."""
    return ASSETS_DIR / "molecules"


def library_keys() -> list[str]:
    """Keys of the library molecules, smallest first."""
    return list(LIBRARY)


@functools.lru_cache(maxsize=None)
def load_molecule(key: str) -> Molecule:
    """The library molecule ``key`` (see :data:`LIBRARY`); ``MoleculeError`` for an unknown key."""
    entry = LIBRARY.get(key)
    if entry is None:
        raise MoleculeError(f"no molecule {key!r} in the library; choose one of: {', '.join(LIBRARY)}")
    path = library_dir() / f"{key}.xyz"
    if not path.is_file():
        raise MoleculeError(f"the library file {path} is missing: run scripts/build_molecule_library.py")
    return read_molecule(path, name=entry.title)


def snapshot_dir() -> os.PathLike[str]:
    """Folder of the thermal snapshots (``assets/snapshots/<key>.xyz``, made by ``scripts/make_snapshots.py``)."""
    return ASSETS_DIR / "snapshots"


@functools.lru_cache(maxsize=None)
def load_snapshot(key: str) -> Molecule | None:
    """A thermal snapshot of the library molecule ``key``: one frame of a 500 K GFN2-xTB MD, turned
    onto the library geometry's orientation (Kabsch on the heavy atoms), so its forces are sizeable
    while the molecule sits where the library geometry does. ``None`` when no snapshot is shipped;
    ``MoleculeError`` for an unknown key."""
    entry = LIBRARY.get(key)
    if entry is None:
        raise MoleculeError(f"no molecule {key!r} in the library; choose one of: {', '.join(LIBRARY)}")
    path = snapshot_dir() / f"{key}.xyz"
    if not path.is_file():
        return None
    mol = read_molecule(path, name=f"{entry.title} (500 K snapshot)")
    if tuple(mol.numbers.tolist()) != tuple(load_molecule(key).numbers.tolist()):
        raise MoleculeError(f"the snapshot {path} does not have the library molecule's atoms in its order")
    return mol
