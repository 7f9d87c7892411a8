"""Molecules: an immutable type, the built-in library, and readers for files and SMILES."""

from equiv.molecules.io import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    molecule_from_smiles,
    read_molecule,
    read_molecule_bytes,
)
from equiv.molecules.library import LIBRARY, LibraryEntry, library_keys, load_molecule, load_snapshot, snapshot_dir
from equiv.molecules.molecule import MAX_ATOMS, MIN_INTERATOMIC_DISTANCE, Molecule, hill_formula

__all__ = [
    "LIBRARY",
    "MAX_ATOMS",
    "MAX_FILE_BYTES",
    "MIN_INTERATOMIC_DISTANCE",
    "SUPPORTED_SUFFIXES",
    "LibraryEntry",
    "Molecule",
    "hill_formula",
    "library_keys",
    "load_molecule",
    "load_snapshot",
    "snapshot_dir",
    "molecule_from_smiles",
    "read_molecule",
    "read_molecule_bytes",
]
