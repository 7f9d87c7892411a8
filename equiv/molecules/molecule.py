"""An immutable molecule: atomic numbers, positions in Å, and a name.

Example:
    >>> import numpy as np
    >>> m = Molecule(np.array([8, 1, 1]), np.array([[0, 0, 0.119], [0, 0.763, -0.477], [0, -0.763, -0.477]]), "water")
    >>> m.formula, m.n_atoms
    ('H2O', 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from ase.data import atomic_masses, chemical_symbols

from equiv.errors import MoleculeError

__all__ = ["Molecule", "MIN_INTERATOMIC_DISTANCE", "MAX_ATOMS", "hill_formula", "symbol_to_number"]

#: Atoms closer than this (Å) are "on top of each other"; the shortest real bond (H₂) is 0.74 Å.
MIN_INTERATOMIC_DISTANCE = 0.5
#: Largest molecule accepted (the models build dense pairwise distances).
MAX_ATOMS = 500
_MAX_Z = 118


def symbol_to_number(symbol: str) -> int:
    """Atomic number of an element symbol (case-insensitive); ``MoleculeError`` when unknown."""
    s = symbol.strip()
    s = s[:1].upper() + s[1:].lower()
    if s in chemical_symbols[1 : _MAX_Z + 1]:
        return chemical_symbols.index(s)
    raise MoleculeError(f"unknown element {symbol!r}: use a symbol from the periodic table (H, C, N, O, ...)")


def hill_formula(numbers: Sequence[int]) -> str:
    """Hill-order formula: C first, then H, then the rest alphabetically (all alphabetical without C)."""
    counts: dict[str, int] = {}
    for z in numbers:
        sym = chemical_symbols[int(z)]
        counts[sym] = counts.get(sym, 0) + 1
    if "C" in counts:
        order = ["C"] + (["H"] if "H" in counts else []) + sorted(k for k in counts if k not in ("C", "H"))
    else:
        order = sorted(counts)
    return "".join(f"{s}{counts[s] if counts[s] > 1 else ''}" for s in order)


@dataclass(frozen=True, eq=False)
class Molecule:
    """A molecule with fixed atom order.

    Attributes:
        numbers: atomic numbers ``[n_atoms]`` (int64).
        positions: Cartesian positions ``[n_atoms, 3]`` in Å (float64).
        name: a label for people (may be empty).

    The arrays are read-only copies; every transformation returns a new ``Molecule``.
    Construction validates the input and raises :class:`MoleculeError` with a readable message.
    """

    numbers: np.ndarray
    positions: np.ndarray
    name: str = field(default="")

    def __post_init__(self) -> None:
        numbers = np.array(self.numbers, copy=True)
        positions = np.array(self.positions, dtype=np.float64, copy=True)
        if numbers.ndim != 1 or numbers.size == 0:
            raise MoleculeError("a molecule needs at least one atom")
        if not np.issubdtype(numbers.dtype, np.integer):
            if not np.all(np.isfinite(numbers.astype(float))) or not np.all(numbers == np.round(numbers)):
                raise MoleculeError("atomic numbers must be whole numbers")
        numbers = numbers.astype(np.int64)
        if numbers.size > MAX_ATOMS:
            raise MoleculeError(f"{numbers.size} atoms is more than this app handles ({MAX_ATOMS})")
        bad = numbers[(numbers < 1) | (numbers > _MAX_Z)]
        if bad.size:
            raise MoleculeError(f"unknown element with atomic number {int(bad[0])} (valid: 1 to {_MAX_Z})")
        if positions.shape != (numbers.size, 3):
            raise MoleculeError(
                f"positions must have shape ({numbers.size}, 3) for {numbers.size} atoms, got {tuple(positions.shape)}"
            )
        if not np.all(np.isfinite(positions)):
            raise MoleculeError("coordinates contain NaN or infinite values")
        if numbers.size > 1:
            d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)  # [n, n]
            np.fill_diagonal(d, np.inf)
            i, j = np.unravel_index(np.argmin(d), d.shape)
            if d[i, j] < MIN_INTERATOMIC_DISTANCE:
                raise MoleculeError(
                    f"atoms {min(i, j) + 1} and {max(i, j) + 1} are {d[i, j]:.3f} Å apart "
                    f"(less than {MIN_INTERATOMIC_DISTANCE} Å): atoms on top of each other"
                )
        numbers.setflags(write=False)
        positions.setflags(write=False)
        object.__setattr__(self, "numbers", numbers)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "name", str(self.name))

    # -- descriptions -------------------------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        return int(self.numbers.size)

    @property
    def symbols(self) -> list[str]:
        return [chemical_symbols[int(z)] for z in self.numbers]

    @property
    def formula(self) -> str:
        return hill_formula(self.numbers)

    @property
    def masses(self) -> np.ndarray:
        """Atomic masses ``[n_atoms]`` in u."""
        return atomic_masses[self.numbers]

    @property
    def center_of_mass(self) -> np.ndarray:
        """``[3]`` in Å."""
        m = self.masses
        return (m[:, None] * self.positions).sum(0) / m.sum()

    # -- transformations ----------------------------------------------------------------------
    def with_positions(self, positions: np.ndarray) -> "Molecule":
        return Molecule(self.numbers, positions, self.name)

    def centered(self) -> "Molecule":
        """Translated so that the centre of mass is at the origin."""
        return self.with_positions(self.positions - self.center_of_mass)

    def rotated(self, R: np.ndarray) -> "Molecule":
        """Each position r mapped to ``R r`` about the origin (``pos @ Rᵀ``); R may be improper."""
        return self.with_positions(self.positions @ np.asarray(R, dtype=np.float64).T)

    def translated(self, t: Sequence[float]) -> "Molecule":
        return self.with_positions(self.positions + np.asarray(t, dtype=np.float64))

    def permuted(self, perm: Sequence[int]) -> "Molecule":
        """Atoms reordered: new atom i is old atom ``perm[i]``."""
        p = np.asarray(perm)
        if sorted(p.tolist()) != list(range(self.n_atoms)):
            raise MoleculeError("a permutation must list every atom index exactly once")
        return Molecule(self.numbers[p], self.positions[p], self.name)

    # -- formats ------------------------------------------------------------------------------
    def to_xyz(self, comment: str | None = None) -> str:
        """The molecule as an XYZ file (Å)."""
        lines = [str(self.n_atoms), (comment if comment is not None else self.name).replace("\n", " ")]
        for s, (x, y, z) in zip(self.symbols, self.positions):
            lines.append(f"{s:<2s} {x:14.8f} {y:14.8f} {z:14.8f}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"Molecule({self.name!r}, {self.formula}, {self.n_atoms} atoms)"
