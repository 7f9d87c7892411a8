"""Data-set specs: one string names a data set everywhere (CLI, pages, run records).

* ``rmd17:<molecule>`` (split 01) or ``rmd17:<molecule>:<NN>``: rMD17, PBE/def2-SVP, from the
  rMD17 folder (see :mod:`equiv.data.rmd17`).
* ``xtb:<molecule>``: the default generated GFN2-xTB data set of a library molecule,
  ``data_home()/datasets/xtb_<molecule>.npz`` (made by ``equiv data generate --molecule NAME``).
* ``file:<path>`` or a plain path: an ``.npz`` written by ``equiv`` or an extended XYZ file
  (``.extxyz``, ``.xyz``) with energies and forces.

Example:
    >>> parse_spec("rmd17:salicylic_acid")
    DataSpec(kind='rmd17', molecule='salicylic', path=None, split=1)
    >>> parse_spec("xtb:ethanol").kind
    'xtb'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from equiv.data.dataset import DataSet
from equiv.data.extxyz import read_extxyz_dataset
from equiv.data.generate import MDSettings, default_xtb_path, generate_command, outdated_generation
from equiv.data.npzfile import read_dataset_npz
from equiv.data.rmd17 import RMD17_SPLITS, load_rmd17, rmd17_name
from equiv.errors import DataError
from equiv.molecules import LIBRARY

__all__ = ["DataSpec", "parse_spec", "load_dataset", "FILE_SUFFIXES"]

#: File suffixes read as data sets.
FILE_SUFFIXES = (".npz", ".extxyz", ".xyz")
_HELP = ("a data set is rmd17:<molecule>, xtb:<molecule>, or a file (file:<path>, .npz written by equiv, "
         "or extended XYZ with energies and forces)")


@dataclass(frozen=True)
class DataSpec:
    """A parsed spec: ``kind`` is ``rmd17``, ``xtb`` or ``file``."""

    kind: str
    molecule: str | None = None
    path: Path | None = None
    split: int = 1

    def __str__(self) -> str:
        if self.kind == "rmd17":
            return f"rmd17:{self.molecule}" + ("" if self.split == 1 else f":{self.split:02d}")
        if self.kind == "xtb":
            return f"xtb:{self.molecule}"
        return f"file:{self.path}"


def _library_key(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in LIBRARY:
        raise DataError(f"no molecule {name!r} in the library; choose one of: {', '.join(LIBRARY)}")
    return key


def parse_spec(spec: str) -> DataSpec:
    """Parse a data-set spec (see the module docstring); :class:`DataError` when it is not one."""
    text = (spec or "").strip()
    if not text:
        raise DataError(f"no data set given: {_HELP}")
    prefix, sep, rest = text.partition(":")
    prefix = prefix.lower()
    if sep and prefix == "rmd17":
        name, _, split_text = rest.partition(":")
        split = 1
        if split_text:
            if not split_text.isdigit() or int(split_text) not in RMD17_SPLITS:
                raise DataError(f"rMD17 has splits 01 to 05, not {split_text!r}")
            split = int(split_text)
        return DataSpec("rmd17", rmd17_name(name), split=split)
    if sep and prefix == "xtb":
        return DataSpec("xtb", _library_key(rest))
    if sep and prefix == "file":
        return DataSpec("file", path=Path(rest).expanduser())
    path = Path(text).expanduser()
    if path.suffix.lower() in FILE_SUFFIXES or path.exists():
        return DataSpec("file", path=path)
    raise DataError(f"{spec!r} is not a data set: {_HELP}")


def _read_file(path: Path, energy_key: str | None, forces_key: str | None) -> DataSet:
    if not path.is_file():
        raise DataError(f"no data-set file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_dataset_npz(path, name=f"file:{path.name}")
    if suffix in (".extxyz", ".xyz"):
        return read_extxyz_dataset(path, energy_key=energy_key, forces_key=forces_key)
    raise DataError(f"{path.name}: data-set files are .npz (written by equiv) or extended XYZ (.extxyz, .xyz)")


def load_dataset(
    spec: str | DataSpec,
    data_dir: str | os.PathLike | None = None,
    part: str = "train",
    energy_key: str | None = None,
    forces_key: str | None = None,
) -> DataSet:
    """The frames a spec names.

    For rMD17 that is one part of the split (``part="train"`` or ``"test"``, 1,000 frames each);
    for generated and user data the whole file (``part`` is ignored). ``data_dir`` is the rMD17
    folder (see :func:`equiv.data.rmd17_data_dir`); ``energy_key``/``forces_key`` name the labels of
    an extended XYZ file.
    """
    parsed = spec if isinstance(spec, DataSpec) else parse_spec(spec)
    if parsed.kind == "rmd17":
        return load_rmd17(parsed.molecule, part, parsed.split, data_dir)
    if parsed.kind == "xtb":
        path = default_xtb_path(parsed.molecule)
        if not path.is_file():
            raise DataError(
                f"no generated data set for {parsed.molecule} yet (looked for {path}); create it with "
                f"`{generate_command(parsed.molecule, settings=MDSettings())}` (about a minute for ethanol)")
        ds = read_dataset_npz(path, name=str(parsed))
        why = outdated_generation(dict(ds.metadata.generation))
        if why is not None:
            raise DataError(
                f"the generated {parsed.molecule} data set ({path}) is outdated: {why}. Regenerate it with "
                f"`{generate_command(parsed.molecule, settings=MDSettings())} --force`")
        return ds
    return _read_file(parsed.path, energy_key, forces_key)
