"""When a simulation has failed, and the bond-length distribution h(r).

**Stability rule** (checked after every MD step): a trajectory is *unstable* from the first step at
which

* a bonded pair is stretched beyond :attr:`StabilityRule.max_stretch` (1.5×) its length in the
  starting geometry (bonds: pairs closer than 1.2 × the sum of their covalent radii at the start;
  a molecule that fragments stretches at least one of them), or
* any two atoms are closer than :attr:`StabilityRule.min_distance` (0.5 Å: a collision), or
* a position, energy or force is not finite.

The MD stops there and reports ``stable: false`` with ``unstable_at_fs`` (the simulated time of
that step) and the reason. Hydrogen hopping between neighbours counts as unstable too (its bond
stretches): at the temperatures here, that is a model failure, not chemistry.

**h(r)** (Fu et al., "Forces are not enough", TMLR 2023): the distribution of all interatomic
distances over a trajectory, h(r) = ⟨1/n_pairs Σ_{i<j} δ(r − |x_i − x_j|)⟩, as a normalised
histogram (∫ h dr = 1). The distance between two is ∫ |h(r) − h_ref(r)| dr (0 … 2).

Example:
    >>> import numpy as np
    >>> pos = np.array([[0.0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    >>> covalent_bonds([8, 1, 1], pos)
    [(0, 1), (0, 2)]
    >>> rule = StabilityRule.for_molecule([8, 1, 1], pos)
    >>> rule.check(pos) is None, rule.check(pos * [2.0, 1, 1]) is not None
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase.data import chemical_symbols, covalent_radii

__all__ = ["StabilityRule", "covalent_bonds", "pair_distances", "hr_histogram", "hr_distance", "HR_R_MAX", "HR_BINS",
           "RULE_TEXT"]

#: Range and resolution of h(r) (Å).
HR_R_MAX = 10.0
HR_BINS = 500
RULE_TEXT = ("unstable when a bonded pair (from the start geometry) stretches beyond 1.5× its start length, "
             "two atoms come closer than 0.5 Å, or anything becomes non-finite")


def covalent_bonds(numbers: Sequence[int], positions: np.ndarray, factor: float = 1.2) -> list[tuple[int, int]]:
    """Pairs (i < j) closer than ``factor`` × the sum of their covalent radii."""
    pos = np.asarray(positions, dtype=np.float64)
    radii = covalent_radii[np.asarray(numbers, dtype=np.int64)]  # [n]
    d = pair_matrix(pos)  # [n, n]
    i, j = np.nonzero(np.triu(d < factor * (radii[:, None] + radii[None, :]), k=1))
    return [(int(a), int(b)) for a, b in zip(i, j)]


def pair_matrix(positions: np.ndarray) -> np.ndarray:
    """All distances ``[n, n]`` (Å) of positions ``[n, 3]``."""
    diff = positions[:, None, :] - positions[None, :, :]
    return np.sqrt((diff * diff).sum(-1))


def pair_distances(positions: np.ndarray) -> np.ndarray:
    """Distances of all pairs i < j: positions ``[..., n, 3]`` → ``[..., n(n−1)/2]`` (Å)."""
    pos = np.asarray(positions, dtype=np.float64)
    n = pos.shape[-2]
    i, j = np.triu_indices(n, k=1)
    diff = pos[..., i, :] - pos[..., j, :]
    return np.sqrt((diff * diff).sum(-1))


@dataclass(frozen=True)
class StabilityRule:
    """The rule of the module docstring for one molecule.

    Attributes:
        numbers: atomic numbers ``[n]``.
        bonds: bonded pairs ``[n_bonds, 2]`` of the start geometry.
        start_lengths: their lengths ``[n_bonds]`` (Å).
        max_stretch: a bond longer than this × its start length is broken.
        min_distance: two atoms closer than this (Å) have collided.
    """

    numbers: tuple[int, ...]
    bonds: np.ndarray
    start_lengths: np.ndarray
    max_stretch: float = 1.5
    min_distance: float = 0.5

    @classmethod
    def for_molecule(cls, numbers: Sequence[int], positions: np.ndarray, max_stretch: float = 1.5,
                     min_distance: float = 0.5) -> "StabilityRule":
        pos = np.asarray(positions, dtype=np.float64)
        pairs = np.array(covalent_bonds(numbers, pos), dtype=np.int64).reshape(-1, 2)
        lengths = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=-1) if len(pairs) else np.zeros(0)
        return cls(tuple(int(z) for z in numbers), pairs, lengths, max_stretch, min_distance)

    def _name(self, i: int) -> str:
        return f"{chemical_symbols[self.numbers[i]]}{i}"

    def check(self, positions: np.ndarray) -> str | None:
        """``None`` when ``positions`` ``[n, 3]`` pass, else why not (one sentence)."""
        pos = np.asarray(positions, dtype=np.float64)
        if not np.isfinite(pos).all():
            return "positions became non-finite"
        d = pair_matrix(pos)
        np.fill_diagonal(d, np.inf)
        if d.min() < self.min_distance:
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            return f"atoms {self._name(int(i))} and {self._name(int(j))} collided ({d[i, j]:.2f} Å apart)"
        if len(self.bonds):
            lengths = np.linalg.norm(pos[self.bonds[:, 0]] - pos[self.bonds[:, 1]], axis=-1)  # [n_bonds]
            ratio = lengths / self.start_lengths
            k = int(np.argmax(ratio))
            if ratio[k] > self.max_stretch:
                i, j = self.bonds[k]
                return (f"bond {self._name(i)}–{self._name(j)} stretched to {lengths[k]:.2f} Å "
                        f"({ratio[k]:.2f}× its start length {self.start_lengths[k]:.2f} Å)")
        return None


def hr_histogram(positions: np.ndarray, r_max: float = HR_R_MAX, bins: int = HR_BINS) -> tuple[np.ndarray, np.ndarray]:
    """h(r) of frames ``[n_frames, n, 3]``: (bin centres ``[bins]`` in Å, density ``[bins]`` in 1/Å,
    integrating to 1 over the pairs inside ``r_max``)."""
    d = pair_distances(positions).ravel()
    counts, edges = np.histogram(d, bins=bins, range=(0.0, r_max))
    width = edges[1] - edges[0]
    total = max(int(counts.sum()), 1)
    return 0.5 * (edges[1:] + edges[:-1]), counts / (total * width)


def hr_distance(h: np.ndarray, h_ref: np.ndarray, r_max: float = HR_R_MAX) -> float:
    """∫ |h(r) − h_ref(r)| dr of two histograms on the same bins (0: identical, 2: disjoint)."""
    h, h_ref = np.asarray(h, dtype=np.float64), np.asarray(h_ref, dtype=np.float64)
    return float(np.abs(h - h_ref).sum() * (r_max / len(h)))
