"""The one data-set type: one molecule (fixed atomic numbers and atom order) × many frames, each
frame labelled with a total energy and forces.

Example:
    >>> import numpy as np
    >>> meta = DataSetMetadata(name="demo", molecule="water", level_of_theory="none", source="doctest")
    >>> pos = np.zeros((2, 3, 3)); pos[:, 1, 0] = 1.0; pos[:, 2, 1] = 1.0
    >>> ds = DataSet(np.array([8, 1, 1]), pos, np.array([-1.0, -2.0]), np.zeros((2, 3, 3)), meta)
    >>> ds.n_frames, ds.n_atoms, ds.formula
    (2, 3, 'H2O')
    >>> ds.subset([1], split="test").energies.tolist()
    [-2.0]
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from equiv.data.units import INTERNAL_UNITS
from equiv.errors import DataError
from equiv.molecules import MAX_ATOMS, Molecule, hill_formula

__all__ = ["DataSet", "DataSetMetadata"]


@dataclass(frozen=True)
class DataSetMetadata:
    """Where a data set comes from and what its numbers mean (JSON-serialisable).

    Attributes:
        name: the data-set spec it was loaded from (``rmd17:ethanol``, ``xtb:ethanol``,
            ``file:frames.extxyz``).
        molecule: library key, SMILES or formula.
        level_of_theory: ``PBE/def2-SVP`` (rMD17), ``GFN2-xTB`` (generated), or what a file says.
        source: citation, or the command that generated the data.
        units: units of the arrays (always Å, eV, eV/Å).
        original_units: units in the source, before conversion.
        conversion: factors applied to the source's numbers (``{"energies": f, "forces": f,
            "constant": "1 kcal/mol = ..."}``); empty when none were needed.
        generation: parameters of generated data (method, temperature, seed, timestep, friction,
            stride, equilibration, package versions); empty for published data.
        split: which part of which split this is (role, protocol, seed, sizes, source file).
    """

    name: str
    molecule: str
    level_of_theory: str
    source: str
    units: Mapping[str, str] = field(default_factory=lambda: dict(INTERNAL_UNITS))
    original_units: Mapping[str, str] = field(default_factory=lambda: dict(INTERNAL_UNITS))
    conversion: Mapping[str, Any] = field(default_factory=dict)
    generation: Mapping[str, Any] = field(default_factory=dict)
    split: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (a deep copy)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DataSetMetadata":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {"name", "molecule", "level_of_theory", "source"} - set(data)
        if missing:
            raise DataError(f"data-set metadata lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> "DataSetMetadata":
        return dataclasses.replace(self, **changes)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class DataSet:
    """Frames of one molecule with energies and forces.

    Attributes:
        numbers: atomic numbers ``[n_atoms]`` (int64), the same for every frame.
        positions: ``[n_frames, n_atoms, 3]`` float64, Å.
        energies: total energy per molecule ``[n_frames]`` float64, eV.
        forces: ``[n_frames, n_atoms, 3]`` float64, eV/Å.
        metadata: :class:`DataSetMetadata`.

    Arrays are read-only copies; construction checks shapes and finiteness and raises
    :class:`equiv.errors.DataError` with a readable message.
    """

    numbers: np.ndarray
    positions: np.ndarray
    energies: np.ndarray
    forces: np.ndarray
    metadata: DataSetMetadata

    def __post_init__(self) -> None:
        label = self.metadata.name or "data set"
        numbers = np.array(self.numbers)
        if numbers.ndim != 1 or numbers.size == 0:
            raise DataError(f"{label}: atomic numbers must be a non-empty list")
        if not np.issubdtype(numbers.dtype, np.integer):
            raise DataError(f"{label}: atomic numbers must be integers")
        numbers = numbers.astype(np.int64)
        if numbers.min() < 1 or numbers.max() > 118:
            raise DataError(f"{label}: atomic numbers must lie between 1 and 118")
        n_atoms = numbers.size
        if n_atoms > MAX_ATOMS:
            raise DataError(f"{label}: {n_atoms} atoms is more than this app handles ({MAX_ATOMS})")
        positions = np.array(self.positions, dtype=np.float64)
        energies = np.array(self.energies, dtype=np.float64)
        forces = np.array(self.forces, dtype=np.float64)
        if positions.ndim != 3 or positions.shape[1:] != (n_atoms, 3):
            raise DataError(f"{label}: positions have shape {positions.shape}; expected (n_frames, {n_atoms}, 3)")
        n_frames = positions.shape[0]
        if n_frames == 0:
            raise DataError(f"{label}: no frames")
        if energies.shape != (n_frames,):
            raise DataError(f"{label}: {energies.shape} energies for {n_frames} frames; expected one per frame")
        if forces.shape != positions.shape:
            raise DataError(f"{label}: forces have shape {forces.shape}; expected {positions.shape}")
        for what, arr in (("positions", positions), ("energies", energies), ("forces", forces)):
            bad = ~np.isfinite(arr.reshape(n_frames, -1)).all(axis=1)
            if bad.any():
                raise DataError(f"{label}: frame {int(np.argmax(bad)) + 1} has non-finite {what} (NaN or infinity)")
        object.__setattr__(self, "numbers", _readonly(numbers))
        object.__setattr__(self, "positions", _readonly(positions))
        object.__setattr__(self, "energies", _readonly(energies))
        object.__setattr__(self, "forces", _readonly(forces))

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def formula(self) -> str:
        return hill_formula(self.numbers)

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return f"DataSet({self.name!r}, {self.formula}, {self.n_frames} frames, {self.metadata.level_of_theory})"

    def subset(self, indices: Sequence[int] | np.ndarray, split: Mapping[str, Any] | str | None = None) -> "DataSet":
        """The frames ``indices`` (in that order), with ``split`` recorded in the metadata."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0:
            raise DataError(f"{self.name}: a subset needs at least one frame index")
        if idx.min() < -self.n_frames or idx.max() >= self.n_frames:
            raise DataError(f"{self.name}: frame index out of range (the data set has {self.n_frames} frames)")
        meta = self.metadata
        if split is not None:
            meta = meta.replace(split={"role": split} if isinstance(split, str) else dict(split))
        return DataSet(self.numbers, self.positions[idx], self.energies[idx], self.forces[idx], meta)

    def frame(self, i: int) -> Molecule:
        """Frame ``i`` as a :class:`equiv.molecules.Molecule` (positions only)."""
        return Molecule(self.numbers, self.positions[i], f"{self.metadata.molecule} frame {i}")

    @property
    def force_rms(self) -> float:
        """Root mean square of all force components (eV/Å): the training force scale."""
        return float(np.sqrt(np.mean(self.forces**2)))

    def describe(self) -> dict[str, Any]:
        """Metadata plus sizes and label statistics (what run records and ``--json`` carry)."""
        return {
            **self.metadata.to_dict(),
            "formula": self.formula,
            "n_atoms": self.n_atoms,
            "n_frames": self.n_frames,
            "energy_mean_ev": float(self.energies.mean()),
            "energy_std_ev": float(self.energies.std()),
            "force_rms_ev_per_a": self.force_rms,
        }
