"""Reading molecules from files (through ASE) and from SMILES strings (through RDKit).

Every failure raises :class:`equiv.errors.MoleculeError` with a message a person can act on.
Files are bounded before ASE sees them (:mod:`equiv.molecules.filecheck`: atom counts, property
widths, JSON array sizes; ASE then reads only the first structure's text), and SMILES embedding
has a time limit, so a hostile upload or string costs at most a second or two.

Example:
    >>> m = molecule_from_smiles("O", name="water")
    >>> m.formula
    'H2O'
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from equiv.errors import MoleculeError
from equiv.molecules.filecheck import check_ase_json, first_pdb_model, first_sdf_record, first_xyz_frame
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
#: Wall-clock budget (s) of the RDKit embedding of one SMILES string, all attempts together, and of
#: the force-field relaxation after it.
EMBED_SECONDS = 2.0
RELAX_SECONDS = 1.5

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


def read_molecule_bytes(data: bytes, filename: str, name: str | None = None, max_atoms: int = MAX_ATOMS) -> Molecule:
    """Read the first structure of a molecule file given as bytes (an upload).

    ``filename`` only chooses the format (by suffix) and the default name; it is never used as a
    path. Files over :data:`MAX_FILE_BYTES`, empty files, structures of more than ``max_atoms``
    atoms and unreadable contents are refused.
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
    text = _checked_text(data.decode("utf-8", errors="replace"), fmt, display, max_atoms)
    # ASE's readers want a real file for some formats: write to a private temporary file.
    with tempfile.TemporaryDirectory(prefix="equiv-upload-") as tmp:
        path = Path(tmp) / f"molecule{Path(display).suffix.lower()}"
        path.write_text(text, encoding="utf-8")
        return _read_path(path, fmt, stem, display)


def read_molecule(path: str | os.PathLike, name: str | None = None, max_atoms: int = MAX_ATOMS) -> Molecule:
    """Read the first structure of a molecule file (xyz, extxyz, pdb, sdf/mol, ASE json)."""
    p = Path(path)
    if not p.is_file():
        raise MoleculeError(f"no such file: {p}")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MoleculeError(f"{p.name!r} is {size / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
    return read_molecule_bytes(p.read_bytes(), p.name, name if name is not None else p.stem, max_atoms)


def _checked_text(text: str, fmt: str, display: str, max_atoms: int) -> str:
    """The part of ``text`` ASE may read, after the bounds of :mod:`equiv.molecules.filecheck`."""
    try:
        if fmt == "extxyz":
            return first_xyz_frame(text, max_atoms)
        if fmt == "sdf":
            return first_sdf_record(text, max_atoms)
        if fmt == "proteindatabank":
            return first_pdb_model(text, max_atoms)
        check_ase_json(text, max_atoms)
        return text
    except MoleculeError as exc:
        raise MoleculeError(f"could not read {display!r} as {fmt}: {exc}") from None


def _read_path(path: Path, fmt: str, name: str, display: str) -> Molecule:
    from ase.io import read as ase_read

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = ase_read(str(path), index=0, format=fmt)
    except MoleculeError:
        raise
    except KeyError as exc:  # ASE: unknown chemical symbol
        raise MoleculeError(f"{display!r}: unknown element {str(exc.args[0] if exc.args else '')[:40]!r}") from None
    except Exception as exc:  # ASE raises many types for malformed files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MoleculeError(f"could not read {display!r} as {fmt}: {reason[:200]}") from None
    if not hasattr(atoms, "get_atomic_numbers"):
        raise MoleculeError(f"could not read {display!r} as {fmt}: it holds no structure")
    return _atoms_to_molecule(atoms, name, display)


def molecule_from_smiles(smiles: str, name: str | None = None, seed: int = 0, max_atoms: int = MAX_ATOMS) -> Molecule:
    """3D geometry for a SMILES string: RDKit ETKDG embedding with hydrogens, then MMFF94 relaxation
    (UFF when MMFF has no parameters). Deterministic for a given ``seed`` (unless the relaxation
    runs out of its time budget, which only very large molecules do).

    Bounded: at most ``max_atoms`` atoms with hydrogens; the embedding stops after
    :data:`EMBED_SECONDS` (RDKit's own timeout, then a refusal) and the relaxation after
    :data:`RELAX_SECONDS` (the geometry so far is kept).
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
        n_atoms = mol.GetNumAtoms() + sum(a.GetTotalNumHs() for a in mol.GetAtoms())
        if n_atoms > max_atoms:
            raise MoleculeError(f"{n_atoms} atoms with hydrogens is more than this app handles ({max_atoms})")
        mol = Chem.AddHs(mol)
        _embed(mol, text, seed)
        _relax(mol)
    finally:
        RDLogger.EnableLog("rdApp.*")
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    positions = mol.GetConformer().GetPositions()
    return Molecule(numbers, positions, name if name is not None else text)


def _embed(mol, text: str, seed: int) -> None:
    """ETKDG coordinates for ``mol`` within :data:`EMBED_SECONDS` (a second try from random
    coordinates only while time is left)."""
    from rdkit.Chem import AllChem

    t0 = time.monotonic()
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    params.timeout = max(1, int(EMBED_SECONDS))  # seconds, RDKit's own limit per attempt
    if AllChem.EmbedMolecule(mol, params) == 0:
        return
    if time.monotonic() - t0 < EMBED_SECONDS / 2:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) == 0:
            return
    raise MoleculeError(f"RDKit could not build a 3D geometry for {text[:80]!r} within {EMBED_SECONDS:g} s; "
                        "try a smaller molecule")


def _relax(mol, max_iterations: int = 2000, chunk: int = 100) -> None:
    """MMFF94 (else UFF) minimisation, ``chunk`` iterations at a time until converged, after
    ``max_iterations`` or after :data:`RELAX_SECONDS`."""
    from rdkit.Chem import AllChem

    if AllChem.MMFFHasAllMoleculeParams(mol):
        ff = AllChem.MMFFGetMoleculeForceField(mol, AllChem.MMFFGetMoleculeProperties(mol))
    elif AllChem.UFFHasAllMoleculeParams(mol):
        ff = AllChem.UFFGetMoleculeForceField(mol)
    else:
        return
    if ff is None:
        return
    ff.Initialize()
    t0 = time.monotonic()
    for _ in range(max_iterations // chunk):
        if ff.Minimize(maxIts=chunk) == 0 or time.monotonic() - t0 > RELAX_SECONDS:
            break
    conf = mol.GetConformer()
    positions = ff.Positions()
    for i in range(mol.GetNumAtoms()):
        conf.SetAtomPosition(i, positions[3 * i: 3 * i + 3])
