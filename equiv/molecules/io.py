"""Reading molecules from files (through ASE) and from SMILES strings (through RDKit).

Every failure raises :class:`equiv.errors.MoleculeError` with a message a person can act on.

Example:
    >>> m = molecule_from_smiles("O", name="water")
    >>> m.formula
    'H2O'
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from equiv.errors import MoleculeError
from equiv.molecules.molecule import MAX_ATOMS, Molecule

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_SMILES_LENGTH",
    "SUPPORTED_SUFFIXES",
    "read_molecule",
    "read_molecule_bytes",
    "molecule_from_smiles",
]

#: Largest molecule file accepted (bytes).
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_SMILES_LENGTH = 300

#: File suffix → ASE format name.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".xyz": "extxyz",
    ".extxyz": "extxyz",
    ".pdb": "proteindatabank",
    ".sdf": "sdf",
    ".mol": "sdf",
    ".json": "json",
}


def _format_for(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        known = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise MoleculeError(f"cannot read {Path(filename).name!r}: unsupported file type {suffix or '(none)'}; use one of {known}")
    return SUPPORTED_SUFFIXES[suffix]


def _atoms_to_molecule(atoms, name: str, display: str) -> Molecule:
    numbers = np.asarray(atoms.get_atomic_numbers())
    if numbers.size == 0:
        raise MoleculeError(f"{display!r} contains no atoms")
    if np.any(numbers == 0):
        raise MoleculeError(f"{display!r} contains an unknown element (dummy atom 'X')")
    return Molecule(numbers, np.asarray(atoms.get_positions()), name)


def read_molecule_bytes(data: bytes, filename: str, name: str | None = None) -> Molecule:
    """Read the first structure of a molecule file given as bytes (an upload).

    ``filename`` only chooses the format (by suffix) and the default name; it is never used as a
    path. Files over :data:`MAX_FILE_BYTES`, empty files and unreadable contents are refused.
    """
    display = Path(filename).name
    if len(data) > MAX_FILE_BYTES:
        raise MoleculeError(
            f"{display!r} is {len(data) / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB"
        )
    if not data.strip():
        raise MoleculeError(f"{display!r} is empty")
    fmt = _format_for(display)
    stem = name if name is not None else Path(display).stem
    # ASE's readers want a real file for some formats: write to a private temporary file.
    with tempfile.TemporaryDirectory(prefix="equiv-upload-") as tmp:
        path = Path(tmp) / f"molecule{Path(display).suffix.lower()}"
        path.write_bytes(data)
        return _read_path(path, fmt, stem, display)


def read_molecule(path: str | os.PathLike, name: str | None = None) -> Molecule:
    """Read the first structure of a molecule file (xyz, extxyz, pdb, sdf/mol, ASE json)."""
    p = Path(path)
    if not p.is_file():
        raise MoleculeError(f"no such file: {p}")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MoleculeError(f"{p.name!r} is {size / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
    if size == 0 or not p.read_bytes().strip():
        raise MoleculeError(f"{p.name!r} is empty")
    return _read_path(p, _format_for(p.name), name if name is not None else p.stem, p.name)


def _read_path(path: Path, fmt: str, name: str, display: str) -> Molecule:
    from ase.io import read as ase_read

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = ase_read(str(path), index=0, format=fmt)
    except MoleculeError:
        raise
    except KeyError as exc:  # ASE: unknown chemical symbol
        raise MoleculeError(f"{display!r}: unknown element {exc.args[0]!r}") from None
    except Exception as exc:  # ASE raises many types for malformed files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MoleculeError(f"could not read {display!r} as {fmt}: {reason[:200]}") from None
    return _atoms_to_molecule(atoms, name, display)


def molecule_from_smiles(smiles: str, name: str | None = None, seed: int = 0) -> Molecule:
    """3D geometry for a SMILES string: RDKit ETKDG embedding with hydrogens, then MMFF94 relaxation
    (UFF when MMFF has no parameters). Deterministic for a given ``seed``.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    text = (smiles or "").strip()
    if not text:
        raise MoleculeError("enter a SMILES string, for example CCO for ethanol")
    if len(text) > MAX_SMILES_LENGTH:
        raise MoleculeError(f"SMILES string too long ({len(text)} characters; limit {MAX_SMILES_LENGTH})")
    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            raise MoleculeError(f"could not parse the SMILES string {text!r}: check brackets, ring closures and element symbols")
        if mol.GetNumAtoms() == 0:
            raise MoleculeError("the SMILES string describes no atoms")
        if len(Chem.GetMolFrags(mol)) > 1:
            raise MoleculeError("the SMILES string has several disconnected fragments ('.'); give one molecule")
        mol = Chem.AddHs(mol)
        if mol.GetNumAtoms() > MAX_ATOMS:
            raise MoleculeError(f"{mol.GetNumAtoms()} atoms with hydrogens is more than this app handles ({MAX_ATOMS})")
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed)
        if AllChem.EmbedMolecule(mol, params) != 0:
            params.useRandomCoords = True
            if AllChem.EmbedMolecule(mol, params) != 0:
                raise MoleculeError(f"RDKit could not build a 3D geometry for {text!r}")
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
        elif AllChem.UFFHasAllMoleculeParams(mol):
            AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    finally:
        RDLogger.EnableLog("rdApp.*")
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    positions = mol.GetConformer().GetPositions()
    return Molecule(numbers, positions, name if name is not None else text)
