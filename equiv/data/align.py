"""Align frames to a reference orientation (Kabsch), turning forces with them.

A non-equivariant model on raw coordinates (the coordinate MLP) can only learn forces when every
frame it sees is in one orientation. :func:`align_frames` finds, per frame, the proper rotation R
(det +1) that best lays the frame's chosen atoms (by default the heavy atoms) onto the reference's
(least squares after removing both centroids; Kabsch 1976, with the sign correction that excludes
reflections), and applies it to the whole frame:

    x' = (x − c) Rᵀ + c_ref        F' = F Rᵀ

with c, c_ref the centroids of the chosen atoms of the frame and of the reference. Forces are polar
vectors, so they turn with the positions (and ignore the translation): energies are unchanged and
F' = −∂E/∂x' still holds. Positions are rows, so a rotated frame is ``x @ R.T`` (README,
"Conventions").

Example:
    >>> import numpy as np
    >>> ref = np.array([[0.0, 0, 0], [1.5, 0, 0], [0, 1.2, 0], [0, 0, 0.9]])
    >>> c, s = np.cos(0.7), np.sin(0.7)
    >>> R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    >>> bool(np.allclose(kabsch_rotation(ref @ R.T, ref), R.T))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from equiv.data.dataset import DataSet
from equiv.errors import DataError
from equiv.molecules import Molecule

__all__ = ["alignment_atoms", "kabsch_rotation", "align_frames", "align_dataset"]


def alignment_atoms(numbers: np.ndarray) -> np.ndarray:
    """Boolean mask ``[n_atoms]`` of the atoms to align on: the heavy atoms (Z > 1), or every atom
    when fewer than three are heavy (water's one oxygen fixes no orientation)."""
    numbers = np.asarray(numbers)
    heavy = numbers > 1
    return heavy if int(heavy.sum()) >= 3 else np.ones_like(heavy, dtype=bool)


def kabsch_rotation(mobile: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Proper rotations R that minimise Σᵢ ‖(mᵢ − m̄) Rᵀ − (tᵢ − t̄)‖².

    Args:
        mobile: ``[..., n, 3]`` Å (one frame or a batch of frames).
        target: ``[n, 3]`` or ``[..., n, 3]`` Å, broadcast against ``mobile``.

    Returns:
        ``[..., 3, 3]`` float64 with det +1; apply as ``mobile @ R.T`` (after centring).
    """
    m = np.asarray(mobile, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    m = m - m.mean(axis=-2, keepdims=True)  # [..., n, 3]
    t = t - t.mean(axis=-2, keepdims=True)  # [..., n, 3]
    h = np.swapaxes(m, -1, -2) @ t  # [..., 3, 3] = Σ mᵢ tᵢᵀ
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))  # [...]
    d = np.where(d == 0, 1.0, d)
    corr = np.broadcast_to(np.eye(3), d.shape + (3, 3)).copy()
    corr[..., 2, 2] = d
    return np.swapaxes(vt, -1, -2) @ corr @ np.swapaxes(u, -1, -2)  # R = V diag(1, 1, d) Uᵀ


def align_frames(positions: np.ndarray, forces: np.ndarray | None, reference: np.ndarray,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Turn every frame onto ``reference`` (see the module docstring).

    Args:
        positions: ``[n_frames, n_atoms, 3]`` Å.
        forces: ``[n_frames, n_atoms, 3]`` eV/Å, or ``None``.
        reference: ``[n_atoms, 3]`` Å, the same atoms in the same order.
        mask: ``[n_atoms]`` bool, the atoms fitted (default: all).

    Returns:
        aligned positions ``[n_frames, n_atoms, 3]`` (Å), aligned forces (eV/Å, or ``None``) and the
        rotations ``[n_frames, 3, 3]`` applied.
    """
    pos = np.asarray(positions, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[1:] != ref.shape or ref.shape[-1] != 3:
        raise DataError(f"cannot align frames of shape {pos.shape} to a reference of shape {ref.shape}")
    sel = np.ones(ref.shape[0], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    R = kabsch_rotation(pos[:, sel], ref[sel])  # [n_frames, 3, 3]
    c = pos[:, sel].mean(axis=1, keepdims=True)  # [n_frames, 1, 3]
    c_ref = ref[sel].mean(axis=0)  # [3]
    aligned = np.einsum("fij,faj->fai", R, pos - c) + c_ref
    turned = None if forces is None else np.einsum("fij,faj->fai", R, np.asarray(forces, dtype=np.float64))
    return aligned, turned, R


def align_dataset(ds: DataSet, reference: Molecule) -> DataSet:
    """``ds`` with every frame aligned on its heavy atoms (:func:`alignment_atoms`) to ``reference``
    (the same atoms in the same order, e.g. the library geometry), forces turned with it; energies
    unchanged. The metadata's ``generation["aligned"]`` records what was done."""
    if tuple(int(z) for z in reference.numbers) != tuple(int(z) for z in ds.numbers):
        raise DataError(f"{ds.name} ({ds.formula}, {ds.n_atoms} atoms) does not have the atoms of "
                        f"{reference.name} in the same order; it cannot be aligned to it")
    mask = alignment_atoms(ds.numbers)
    positions, forces, _ = align_frames(ds.positions, ds.forces, reference.positions, mask)
    note: dict[str, Any] = {"to": f"{reference.name} (library orientation)", "method": "Kabsch",
                            "atoms": "heavy atoms" if not mask.all() else "all atoms",
                            "forces": "rotated with the frame"}
    meta = ds.metadata.replace(generation={**dict(ds.metadata.generation), "aligned": note})
    return DataSet(ds.numbers, positions, ds.energies, forces, meta)
