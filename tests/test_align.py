"""Kabsch alignment (equiv.data.align): recovers known rotations, turns forces with the frame."""

import numpy as np
import pytest

from equiv.data import DataSet, DataSetMetadata
from equiv.data.align import align_dataset, align_frames, alignment_atoms, kabsch_rotation
from equiv.errors import DataError
from equiv.molecules import load_molecule


def _rotations(n: int, seed: int) -> np.ndarray:
    """Haar-random proper rotations ``[n, 3, 3]`` (QR of Gaussian matrices, signs fixed)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    q[np.linalg.det(q) < 0] *= -1
    return q


def _pair_energy_forces(pos: np.ndarray) -> tuple[float, np.ndarray]:
    """A rotation-invariant test potential E = Σ_{i<j} (r_ij − 1.3)²  (eV, Å) and its forces −∂E/∂x."""
    d = pos[:, None, :] - pos[None, :, :]  # [n, n, 3]
    r = np.linalg.norm(d, axis=-1) + np.eye(len(pos))
    g = 2 * (r - 1.3) / r * (1 - np.eye(len(pos)))  # dE/dr / r
    energy = float(((r - 1.3) ** 2 * np.triu(np.ones_like(r), 1)).sum())
    return energy, -(g[..., None] * d).sum(axis=1)


def test_kabsch_recovers_a_known_rotation_to_1e12():
    ref = load_molecule("aspirin").positions
    for R in _rotations(20, 0):
        moved = ref @ R.T + np.array([0.3, -2.0, 5.0])
        found = kabsch_rotation(moved, ref)
        assert np.abs(found - R.T).max() < 1e-12
        assert abs(np.linalg.det(found) - 1) < 1e-12


def test_batched_alignment_puts_every_frame_onto_the_reference():
    mol = load_molecule("ethanol")
    Rs = _rotations(7, 1)
    frames = np.einsum("fij,aj->fai", Rs, mol.positions) + np.arange(21.0).reshape(7, 1, 3)
    aligned, _, used = align_frames(frames, None, mol.positions, alignment_atoms(mol.numbers))
    assert np.abs(aligned - mol.positions).max() < 1e-12
    assert np.abs(used - np.swapaxes(Rs, 1, 2)).max() < 1e-12


def test_forces_turn_with_the_positions():
    """Aligned forces are the forces of the aligned geometry (a rotation-invariant potential), and
    the energy is unchanged: the frame is rigidly turned, not distorted."""
    mol = load_molecule("ethanol")
    rng = np.random.default_rng(3)
    frames = np.stack([(mol.positions + rng.normal(scale=0.1, size=mol.positions.shape)) @ R.T
                       for R in _rotations(5, 2)])
    forces = np.stack([_pair_energy_forces(p)[1] for p in frames])
    aligned, turned, R = align_frames(frames, forces, mol.positions, alignment_atoms(mol.numbers))
    for k in range(len(frames)):
        e_before, _ = _pair_energy_forces(frames[k])
        e_after, f_after = _pair_energy_forces(aligned[k])
        assert abs(e_after - e_before) < 1e-10
        assert np.abs(turned[k] - f_after).max() < 1e-10
        assert np.abs(turned[k] - forces[k] @ R[k].T).max() < 1e-14
    # The frames were noisy, so alignment is a best fit, not exact; it is still closer than before.
    heavy = alignment_atoms(mol.numbers)
    assert np.abs(aligned[:, heavy] - mol.positions[heavy]).max() < 0.5
    assert np.abs(frames - mol.positions).max() > 1.0


def test_a_mirror_image_is_not_reflected_back():
    ref = load_molecule("aspirin").positions
    mirrored = ref * np.array([-1.0, 1.0, 1.0])
    R = kabsch_rotation(mirrored, ref)
    assert abs(np.linalg.det(R) - 1) < 1e-12  # proper: alignment never mirrors a frame


def test_alignment_atoms_are_heavy_atoms_unless_too_few():
    assert alignment_atoms(load_molecule("ethanol").numbers).sum() == 3
    assert alignment_atoms(load_molecule("water").numbers).all()


def test_align_dataset_records_it_and_refuses_other_atoms():
    mol = load_molecule("ethanol")
    Rs = _rotations(4, 5)
    pos = np.einsum("fij,aj->fai", Rs, mol.positions)
    meta = DataSetMetadata(name="test", molecule="ethanol", level_of_theory="none", source="test")
    ds = DataSet(mol.numbers, pos, np.arange(4.0), pos * 0.1, meta)
    out = align_dataset(ds, mol)
    assert out.metadata.generation["aligned"]["atoms"] == "heavy atoms"
    assert np.abs(out.positions - mol.positions).max() < 1e-12
    assert np.abs(out.forces - 0.1 * mol.positions).max() < 1e-12
    assert np.array_equal(out.energies, ds.energies)
    with pytest.raises(DataError, match="same order"):
        align_dataset(ds, load_molecule("water"))
