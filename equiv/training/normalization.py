"""Energy normalisation fitted on the training set (the NequIP recipe).

* Per-species energy shift ``μ_s`` (eV): least squares ``E_k ≈ Σ_s N_ks μ_s`` over training
  frames k, ``N_ks`` the number of atoms of species s in frame k. When the frames do not determine
  every shift (one molecule: every row of N is the same), the minimum-norm solution is taken, which
  still reproduces the mean energy exactly: ``Σ_s N_s μ_s = mean(E)``.
* Scale ``σ`` (eV): the root mean square of the training forces' Cartesian components, so the
  network's per-atom outputs are of order one.

Example:
    >>> import numpy as np
    >>> counts = np.array([[2, 1], [4, 2], [1, 1]])          # e.g. H2O-like compositions
    >>> shift = species_energy_shift(counts, counts @ np.array([-0.5, -75.0]))
    >>> np.round(shift, 12).tolist()
    [-0.5, -75.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["species_counts", "species_energy_shift", "force_rms"]


def species_counts(numbers: np.ndarray, species: tuple[int, ...]) -> np.ndarray:
    """Atoms of each species ``[n_species]`` in one molecule with atomic numbers ``numbers``."""
    numbers = np.asarray(numbers)
    return np.array([(numbers == z).sum() for z in species], dtype=np.float64)


def species_energy_shift(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Least-squares per-species energies ``[n_species]`` (eV) from composition counts
    ``[n_frames, n_species]`` and total energies ``[n_frames]`` (eV); minimum norm when the
    compositions do not determine them."""
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return solution


def force_rms(forces: np.ndarray) -> float:
    """Root mean square of all force components (eV/Å)."""
    forces = np.asarray(forces, dtype=np.float64)
    return float(np.sqrt(np.mean(forces**2)))
