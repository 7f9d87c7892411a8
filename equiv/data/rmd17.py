"""rMD17 (revised MD17, PBE/def2-SVP): the split files and where to find them.

Files: ``rmd17_<molecule>_<train|test>_<NN>.npz`` with ``nuclear_charges`` [n_atoms],
``coords`` [1000, n_atoms, 3] Å, ``energies`` [1000] kcal/mol, ``forces`` [1000, n_atoms, 3]
kcal/mol/Å (and ``old_indices``, ``old_energies``, ``old_forces``). Split NN (01–05) is one of the
five standard 1,000 / 1,000 train/test index sets of the official release.

Where they are looked for: an explicit ``data_dir`` (``--data-dir``), else the environment
variable ``EQUIV_RMD17_DIR``, else ``data_home()/rmd17`` (where ``equiv data download rmd17`` puts
them).

Energies and forces are converted to eV and eV/Å with :data:`equiv.data.units.KCAL_PER_MOL_IN_EV`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from equiv.data.dataset import DataSet, DataSetMetadata
from equiv.data.units import KCAL_PER_MOL_CONSTANT_TEXT, KCAL_PER_MOL_IN_EV
from equiv.errors import DataError
from equiv.molecules import LIBRARY
from equiv.paths import data_home

__all__ = [
    "RMD17_MOLECULES",
    "RMD17_LEVEL_OF_THEORY",
    "RMD17_CITATION",
    "RMD17_SPLITS",
    "RMD17_FOLDER_ENV",
    "rmd17_name",
    "rmd17_data_dir",
    "rmd17_split_path",
    "rmd17_available",
    "rmd17_missing_message",
    "load_rmd17",
]

#: Molecule names as in the rMD17 file names.
RMD17_MOLECULES = ("aspirin", "azobenzene", "benzene", "ethanol", "malonaldehyde", "naphthalene",
                   "paracetamol", "salicylic", "toluene", "uracil")
RMD17_LEVEL_OF_THEORY = "PBE/def2-SVP"
RMD17_SPLITS = (1, 2, 3, 4, 5)
RMD17_CITATION = (
    "A. S. Christensen and O. A. von Lilienfeld, On the role of gradients for machine learning of molecular "
    "energies and forces, Mach. Learn.: Sci. Technol. 1, 045018 (2020), arXiv:2007.09593; data: figshare "
    "article 12672038 (CC0)"
)
RMD17_FOLDER_ENV = "EQUIV_RMD17_DIR"
_KEYS = ("nuclear_charges", "coords", "energies", "forces")


def rmd17_name(molecule: str) -> str:
    """The rMD17 file name of a molecule given by library key or rMD17 name
    (``salicylic_acid`` and ``salicylic`` both give ``salicylic``)."""
    key = molecule.strip().lower().replace(" ", "_").replace("-", "_")
    if key in RMD17_MOLECULES:
        return key
    entry = LIBRARY.get(key)
    if entry is not None and entry.rmd17:
        return entry.rmd17
    raise DataError(f"rMD17 has no molecule {molecule!r}; choose one of: {', '.join(RMD17_MOLECULES)}")


def rmd17_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Folder searched for rMD17 files: ``data_dir``, else ``$EQUIV_RMD17_DIR``, else
    ``data_home()/rmd17``."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(RMD17_FOLDER_ENV)
    if env:
        return Path(env).expanduser()
    return data_home() / "rmd17"


def rmd17_split_path(molecule: str, part: str, split: int = 1, data_dir: str | os.PathLike | None = None) -> Path:
    if part not in ("train", "test"):
        raise DataError(f"an rMD17 split has a train and a test part, not {part!r}")
    if split not in RMD17_SPLITS:
        raise DataError(f"rMD17 has splits 1 to 5, not {split}")
    return rmd17_data_dir(data_dir) / f"rmd17_{rmd17_name(molecule)}_{part}_{split:02d}.npz"


def _missing_message(path: Path) -> str:
    where = path.parent
    return (
        f"no rMD17 file {path.name} in {where}. Download the official release with "
        f"`equiv data download rmd17{'' if where == data_home(create=False) / 'rmd17' else f' --data-dir {where}'}` "
        f"(about 1 GB from figshare article 12672038; it writes the split files there), or copy the "
        f"rmd17_<molecule>_<train|test>_<NN>.npz files into that folder, or point --data-dir or "
        f"{RMD17_FOLDER_ENV} at a folder that has them"
    )


def rmd17_missing_message(molecule: str, split: int = 1, data_dir: str | os.PathLike | None = None) -> str:
    """What to do when a molecule's rMD17 split is not in the rMD17 folder (where to put the files,
    how to download them)."""
    return _missing_message(rmd17_split_path(molecule, "train", split, data_dir))


def rmd17_available(data_dir: str | os.PathLike | None = None) -> dict[str, list[int]]:
    """Molecules (rMD17 names) with both parts of a split present, and which splits."""
    folder = rmd17_data_dir(data_dir)
    found: dict[str, list[int]] = {}
    if not folder.is_dir():
        return found
    for name in RMD17_MOLECULES:
        splits = [s for s in RMD17_SPLITS
                  if all((folder / f"rmd17_{name}_{p}_{s:02d}.npz").is_file() for p in ("train", "test"))]
        if splits:
            found[name] = splits
    return found


def load_rmd17(molecule: str, part: str, split: int = 1, data_dir: str | os.PathLike | None = None) -> DataSet:
    """One part (``train`` or ``test``) of an rMD17 split, in eV and eV/Å.

    Raises :class:`DataError` saying where to put the files when they are missing.
    """
    path = rmd17_split_path(molecule, part, split, data_dir)
    name = rmd17_name(molecule)
    if not path.is_file():
        raise DataError(_missing_message(path))
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise DataError(f"{path} is not an rMD17 split file: it lacks {', '.join(missing)}")
            numbers, coords, energies_kcal, forces_kcal = (np.asarray(z[k]) for k in _KEYS)
    except (OSError, ValueError) as exc:
        raise DataError(f"could not read {path}: {exc}") from None
    meta = DataSetMetadata(
        name=f"rmd17:{name}" + ("" if split == 1 else f":{split:02d}"),
        molecule=name,
        level_of_theory=RMD17_LEVEL_OF_THEORY,
        source=RMD17_CITATION,
        original_units={"positions": "Å", "energies": "kcal/mol", "forces": "kcal/mol/Å"},
        conversion={"energies": KCAL_PER_MOL_IN_EV, "forces": KCAL_PER_MOL_IN_EV, "constant": KCAL_PER_MOL_CONSTANT_TEXT},
        split={"role": part, "split": split, "file": path.name,
               "n_frames_in_file": int(len(energies_kcal))},
    )
    return DataSet(numbers.astype(np.int64), coords, energies_kcal * KCAL_PER_MOL_IN_EV,
                   forces_kcal * KCAL_PER_MOL_IN_EV, meta)
