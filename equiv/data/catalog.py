"""Which data sets are on this machine: rMD17 split files found, and generated or saved data sets
under ``data_home()/datasets`` (what the training lab offers in its form)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass

import numpy as np

from equiv.data.generate import datasets_dir, default_xtb_path, outdated_generation
from equiv.data.npzfile import FORMAT_NAME
from equiv.data.rmd17 import RMD17_LEVEL_OF_THEORY, rmd17_available, rmd17_data_dir
from equiv.data.splits import TEST_FRACTION, trajectory_blocks

__all__ = ["DataSetEntry", "available_datasets", "find_dataset"]


@dataclass(frozen=True)
class DataSetEntry:
    """One data set that can be loaded now.

    Attributes:
        spec: what to pass to :func:`equiv.data.load_splits` (``rmd17:ethanol``, ``xtb:ethanol``,
            ``file:/path/x.npz``).
        kind: ``rmd17``, ``xtb`` or ``file``.
        molecule, level_of_theory: from the metadata.
        pool_size: most structures available for training + validation.
        test_size: size of the test set.
        path: the file or folder.
        splits: rMD17 splits present (empty for other kinds).
        train_pool_size, val_pool_size: for data split by trajectory, the most training and the most
            validation structures (``None``: both come from ``pool_size``).
        outdated: why a generated data set must be regenerated (``None`` when it is current).
    """

    spec: str
    kind: str
    molecule: str
    level_of_theory: str
    pool_size: int
    test_size: int
    path: str
    splits: tuple[int, ...] = ()
    train_pool_size: int | None = None
    val_pool_size: int | None = None
    outdated: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "splits": list(self.splits)}


def _npz_entry(path) -> DataSetEntry | None:
    try:
        with zipfile.ZipFile(path) as zf:
            header = json.loads(zf.read("metadata.json"))
        if header.get("format") != FORMAT_NAME:
            return None
        with np.load(path, allow_pickle=False) as z:
            n = int(z["energies"].shape[0])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    meta = header["metadata"]
    stem = path.stem
    is_default = stem.startswith("xtb_") and meta.get("name") == f"xtb:{stem[4:]}"
    test = min(n - 2, max(1, round(n * TEST_FRACTION))) if n >= 3 else 0
    generation = meta.get("generation") or {}
    blocks = trajectory_blocks(n, generation)
    train_pool = val_pool = None
    if blocks is not None:
        train_pool, val_pool, test = blocks
    return DataSetEntry(
        spec=f"xtb:{stem[4:]}" if is_default else f"file:{path}",
        kind="xtb" if is_default else "file",
        molecule=str(meta.get("molecule", "")), level_of_theory=str(meta.get("level_of_theory", "")),
        pool_size=n - test, test_size=test, path=str(path), train_pool_size=train_pool, val_pool_size=val_pool,
        outdated=outdated_generation(generation) if is_default else None,
    )


def _rmd17_entry(name: str, splits: list[int], folder) -> DataSetEntry | None:
    sizes = []
    for part in ("train", "test"):
        try:
            with np.load(folder / f"rmd17_{name}_{part}_{splits[0]:02d}.npz", allow_pickle=False) as z:
                sizes.append(int(z["energies"].shape[0]))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return None
    return DataSetEntry(f"rmd17:{name}", "rmd17", name, RMD17_LEVEL_OF_THEORY, sizes[0], sizes[1], str(folder),
                        tuple(splits))


def available_datasets(data_dir: str | os.PathLike | None = None) -> list[DataSetEntry]:
    """rMD17 molecules with split files in the rMD17 folder (``data_dir``, ``$EQUIV_RMD17_DIR`` or
    ``data_home()/rmd17``), then the ``.npz`` data sets in ``data_home()/datasets``."""
    out = []
    folder = rmd17_data_dir(data_dir)
    for name, splits in rmd17_available(data_dir).items():
        entry = _rmd17_entry(name, splits, folder)
        if entry is not None:
            out.append(entry)
    folder = datasets_dir()
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        entry = _npz_entry(path)
        if entry is not None:
            out.append(entry)
    return out


def find_dataset(spec: str, data_dir: str | os.PathLike | None = None) -> DataSetEntry | None:
    """The entry of one ``rmd17:<molecule>`` (split 01) or ``xtb:<molecule>`` spec when it is on this
    machine and readable, else ``None``; reads only that data set's sizes (what a form checks on
    every change)."""
    from equiv.data.specs import parse_spec  # specs reads files; catalog stays importable alone

    parsed = parse_spec(spec)
    if parsed.kind == "rmd17":
        splits = rmd17_available(data_dir).get(parsed.molecule, [])
        if parsed.split not in splits:
            return None
        return _rmd17_entry(parsed.molecule, [parsed.split], rmd17_data_dir(data_dir))
    if parsed.kind == "xtb":
        path = default_xtb_path(parsed.molecule)
        return _npz_entry(path) if path.is_file() else None
    return _npz_entry(parsed.path) if parsed.path is not None and parsed.path.is_file() else None
