"""Energy normalisation fitted on the training set (the NequIP recipe).

* Per-species energy shift ``μ_s`` (eV): least squares ``E_k ≈ Σ_s N_ks μ_s`` over training
  frames k, ``N_ks`` the number of atoms of species s in frame k. When the frames do not determine
  every shift (one molecule: every row of N is the same), the solution closest to a common
  per-atom energy ``ē = ΣE / ΣN`` is taken: for one molecule every species gets ``ē``, which
  reproduces the mean energy exactly (``Σ_s N_s μ_s = mean(E)``) without inventing differences
  between elements that the data cannot show.
* Scale ``σ`` (eV): the root mean square of the training forces' Cartesian components
  (:attr:`equiv.data.DataSet.force_rms`), so the network's per-atom outputs are of order one.

Example:
    >>> import numpy as np
    >>> counts = np.array([[2, 1], [4, 2], [1, 1]])          # e.g. H2O-like compositions
    >>> shift = species_energy_shift(counts, counts @ np.array([-0.5, -75.0]))
    >>> np.round(shift, 12).tolist()
    [-0.5, -75.0]
    >>> species_energy_shift(np.array([[6, 2, 1]] * 3), np.array([-90.0, -91.0, -92.0])).round(6).tolist()
    [-10.111111, -10.111111, -10.111111]
"""

from __future__ import annotations

import numpy as np

__all__ = ["species_counts", "species_energy_shift"]


def species_counts(numbers: np.ndarray, species: tuple[int, ...]) -> np.ndarray:
    """Atoms of each species ``[n_species]`` in one molecule with atomic numbers ``numbers``."""
    numbers = np.asarray(numbers)
    return np.array([(numbers == z).sum() for z in species], dtype=np.float64)


def species_energy_shift(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Least-squares per-species energies ``[n_species]`` (eV) from composition counts
    ``[n_frames, n_species]`` and total energies ``[n_frames]`` (eV); when the compositions do not
    determine them, the solution closest to one common per-atom energy."""
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    per_atom = energies.sum() / counts.sum()  # ē, eV per atom
    base = np.full(counts.shape[1], per_atom)
    correction, *_ = np.linalg.lstsq(counts, energies - counts @ base, rcond=None)  # minimum norm
    return base + correction
