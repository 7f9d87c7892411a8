"""User data: extended XYZ files with an energy and forces on every frame, read with ASE.

The energy is a per-frame value (ASE puts ``energy=`` into the frame's calculator results; other
keys such as ``REF_energy`` stay in ``atoms.info``), the forces a per-atom 3-vector column
(``forces`` or ``REF_forces``). Key names are detected from the first frame or given. Units are
taken as eV and eV/Å (ASE's convention). Frames must all list the same elements in the same order.

Example:
    >>> import tempfile, numpy as np
    >>> from equiv.data import DataSet, DataSetMetadata
    >>> meta = DataSetMetadata(name="demo", molecule="H2", level_of_theory="none", source="doctest")
    >>> ds = DataSet([1, 1], [[[0, 0, 0], [0.74, 0, 0]]], [-1.0], np.zeros((1, 2, 3)), meta)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_extxyz_dataset(ds, f"{d}/h2.extxyz")
    ...     read_extxyz_dataset(path).energies.tolist()
    [-1.0]
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from ase.data import chemical_symbols

from equiv.data.dataset import DataSet, DataSetMetadata
from equiv.data.npzfile import atomic_write_bytes
from equiv.errors import DataError, MoleculeError

__all__ = ["ENERGY_KEYS", "FORCE_KEYS", "MAX_FRAMES", "read_extxyz_dataset", "write_extxyz_dataset"]

#: Energy keys tried in order when none is given.
ENERGY_KEYS = ("energy", "REF_energy", "total_energy")
#: Force keys tried in order when none is given.
FORCE_KEYS = ("forces", "REF_forces", "force")
#: Largest number of frames read from one file.
MAX_FRAMES = 1_000_000
_META_KEY = "equiv_metadata"


def _calc_results(atoms) -> dict[str, Any]:
    calc = atoms.calc
    return dict(getattr(calc, "results", {}) or {}) if calc is not None else {}


def _energy_of(atoms, key: str) -> float | None:
    if key in atoms.info:
        return atoms.info[key]
    if key == "energy":
        return _calc_results(atoms).get("energy")
    return None


def _forces_of(atoms, key: str) -> np.ndarray | None:
    if key in atoms.arrays:
        return atoms.arrays[key]
    if key == "forces":
        return _calc_results(atoms).get("forces")
    return None


def _detect(atoms, keys: Iterable[str], getter, what: str, display: str) -> str:
    for key in keys:
        if getter(atoms, key) is not None:
            return key
    raise DataError(f"frame 1 of {display} has no {what} (looked for {', '.join(keys)}); "
                    f"name the key with --{what.split()[0]}-key")


def _symbols(numbers: np.ndarray) -> str:
    return " ".join(chemical_symbols[int(z)] for z in numbers)


def read_extxyz_dataset(
    path: str | os.PathLike,
    energy_key: str | None = None,
    forces_key: str | None = None,
    name: str | None = None,
) -> DataSet:
    """Read an extended XYZ file into a :class:`DataSet` (eV, eV/Å assumed).

    Refused with :class:`DataError` naming the frame (1-based): no frames, a frame without an
    energy or forces, a different atom count or element order from frame 1, periodic frames,
    non-numeric labels.
    """
    from ase.io import iread

    path = Path(path)
    display = path.name
    if not path.is_file():
        raise DataError(f"no file at {path}")
    _check_bounds(path, display)
    numbers0: np.ndarray | None = None
    positions, energies, forces = [], [], []
    first_info: dict[str, Any] = {}
    e_key, f_key = energy_key, forces_key
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, atoms in enumerate(iread(str(path), index=":", format="extxyz"), start=1):
                if i > MAX_FRAMES:
                    raise DataError(f"{display} has more than {MAX_FRAMES} frames; split it")
                if atoms.pbc.any():
                    raise DataError(f"frame {i} of {display} is periodic (pbc={atoms.pbc.tolist()}); "
                                    "equiv handles isolated molecules: write pbc=\"F F F\"")
                numbers = atoms.numbers.astype(np.int64)
                if numbers0 is None:
                    numbers0, first_info = numbers, dict(atoms.info)
                    e_key = e_key or _detect(atoms, ENERGY_KEYS, _energy_of, "energy", display)
                    f_key = f_key or _detect(atoms, FORCE_KEYS, _forces_of, "forces", display)
                elif len(numbers) != len(numbers0):
                    raise DataError(f"frame {i} of {display} has {len(numbers)} atoms; frame 1 has {len(numbers0)} "
                                    "(a data set is one molecule with a fixed atom order)")
                elif not np.array_equal(numbers, numbers0):
                    j = int(np.argmax(numbers != numbers0))
                    raise DataError(
                        f"frame {i} of {display} lists different elements from frame 1 (atom {j + 1} is "
                        f"{chemical_symbols[numbers[j]]}, not {chemical_symbols[numbers0[j]]}); every frame must "
                        f"list the same elements in the same order ({_symbols(numbers0)[:80]})")
                energy = _energy_of(atoms, e_key)
                if energy is None:
                    raise DataError(f"frame {i} of {display} has no energy (key {e_key!r})")
                force = _forces_of(atoms, f_key)
                if force is None:
                    raise DataError(f"frame {i} of {display} has no forces (key {f_key!r})")
                try:
                    energy = float(np.asarray(energy, dtype=np.float64).reshape(()))
                    force = np.asarray(force, dtype=np.float64)
                except (TypeError, ValueError):
                    raise DataError(f"frame {i} of {display}: the energy and forces must be numbers") from None
                if force.shape != (len(numbers0), 3):
                    raise DataError(f"frame {i} of {display}: forces have shape {force.shape}; "
                                    f"expected ({len(numbers0)}, 3)")
                if not np.isfinite(energy) or not np.isfinite(force).all() or not np.isfinite(atoms.positions).all():
                    raise DataError(f"frame {i} of {display} has non-finite numbers (NaN or infinity)")
                positions.append(np.array(atoms.positions, dtype=np.float64))
                energies.append(energy)
                forces.append(force)
    except DataError:
        raise
    except Exception as exc:  # ASE raises many types for malformed files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"could not read {display} as extended XYZ: {reason[:200]}") from None
    if numbers0 is None:
        raise DataError(f"{display} has no frames")
    meta = _metadata_from(first_info, display, numbers0, e_key, f_key)
    if name is not None:
        meta = meta.replace(name=name)
    return DataSet(numbers0, np.stack(positions), np.array(energies), np.stack(forces), meta)


def _check_bounds(path: Path, display: str) -> None:
    """Every frame's claims checked before ASE reads the file (one streaming pass, nothing kept):
    atom counts at most :data:`equiv.molecules.MAX_ATOMS` and backed by as many lines, bounded
    comment lines, per-atom property widths at most 3, at most :data:`MAX_FRAMES` frames. ASE
    would otherwise loop for minutes on a frame that claims 100,000,000 atoms."""
    from equiv.molecules import MAX_ATOMS
    from equiv.molecules.filecheck import scan_xyz_frames

    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for _ in scan_xyz_frames(lines, MAX_ATOMS, max_frames=MAX_FRAMES):
                pass
    except MoleculeError as exc:
        raise DataError(f"could not read {display} as extended XYZ: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {display}: {exc.strerror or exc}") from None


def _metadata_from(info: dict[str, Any], display: str, numbers: np.ndarray, e_key: str, f_key: str) -> DataSetMetadata:
    from equiv.molecules import hill_formula

    stored = info.get(_META_KEY)
    if isinstance(stored, str):
        try:
            return DataSetMetadata.from_dict(json.loads(stored)).replace(name=f"file:{display}")
        except (json.JSONDecodeError, DataError, TypeError):
            pass
    return DataSetMetadata(
        name=f"file:{display}",
        molecule=hill_formula(numbers),
        level_of_theory=str(info.get("level_of_theory", "unknown (not stated in the file)")),
        source=f"user file {display} (energy key {e_key!r}, forces key {f_key!r})",
        original_units={"positions": "Å", "energies": "eV (assumed)", "forces": "eV/Å (assumed)"},
    )


def write_extxyz_dataset(ds: DataSet, path: str | os.PathLike) -> Path:
    """Export ``ds`` as extended XYZ (``energy=`` per frame, a ``forces`` column, and the metadata as
    JSON in frame 1's ``equiv_metadata``). Positions and forces are printed with 8 decimals."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frames = []
    for i in range(ds.n_frames):
        atoms = Atoms(numbers=ds.numbers, positions=ds.positions[i], pbc=False)
        if i == 0:
            atoms.info[_META_KEY] = ds.metadata.to_json()
        atoms.calc = SinglePointCalculator(atoms, energy=float(ds.energies[i]), forces=np.array(ds.forces[i]))
        frames.append(atoms)
    buf = io.StringIO()
    write(buf, frames, format="extxyz")
    return atomic_write_bytes(path, buf.getvalue().encode())
