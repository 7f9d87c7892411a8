"""The numbers behind the rotation lab: model outputs for a molecule and its rotated copies, what
the outputs should be if the model were equivariant, and the GFN2-xTB reference.

For a transformation g (a rotation R, or a rotation followed by a mirror) and a per-atom vector
output f, the lab compares

    f(g·x)      the model run on the transformed molecule, with
    g·f(x)      the output for the original molecule, transformed afterwards,

and reports ``‖f(g·x) − g·f(x)‖ / ‖f(x)‖`` (Frobenius over atoms) and the energy change
``E(g·x) − E(x)`` in meV. Forces and atom vectors are polar vectors: g acts on them as on positions.

Positions are rows, so the transformed molecule is ``x @ gᵀ``. Everything returned is float64
NumPy (the models run in their own dtype; the lab uses float64, see
:mod:`equiv.views.rotation_models`).

Example:
    >>> from equiv.molecules import load_molecule
    >>> from equiv.models import build_model
    >>> from equiv.o3 import axis_angle_to_matrix
    >>> water = load_molecule("water").centered()
    >>> model = build_model("gvp", numbers=water.numbers, dtype=torch.float64)
    >>> g = axis_angle_to_matrix([0, 0, 1], 1.0).numpy()
    >>> base, turned = evaluate(model, water.numbers, [water.positions, water.positions @ g.T])
    >>> compare(base, turned, g).force_error < 1e-10  # rounding; the MLP is off by ~1
    True
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from equiv.errors import EquivError
from equiv.graphs import AtomsBatch
from equiv.models import EnergyModel
from equiv.models.equivariance import relative_error
from equiv.o3 import axis_angle_to_matrix

__all__ = [
    "MAX_BATCH_ATOMS",
    "MAX_BATCH_PAIRS",
    "MAX_MODEL_ATOMS",
    "MAX_MODEL_PAIRS",
    "PAIR_CUTOFF",
    "MAX_XTB_ATOMS",
    "Comparison",
    "Outputs",
    "compare",
    "evaluate",
    "neighbour_pairs",
    "turntable_angles",
    "turntable_transforms",
    "xtb_outputs",
]

#: The reference panel runs GFN2-xTB only up to this many atoms (a single point for aspirin,
#: 21 atoms, takes about 50 ms here; see bench/rotation_latency.py).
MAX_XTB_ATOMS = 30
#: The model panels run up to this many atoms and neighbour pairs within :data:`PAIR_CUTOFF`
#: (ordered pairs, as the models count edges). Memory goes with the edges: the four untrained
#: models of an uploaded molecule (float64, forces) over a full turn of 36 frames peaked at 1.07 GB
#: for the whole process with a 101-atom alkane (2,392 pairs) and 854 MB with an 80-atom one (1,892
#: pairs; bench/rotation_memory.py). Larger molecules get a note instead of a panel.
MAX_MODEL_ATOMS = 150
MAX_MODEL_PAIRS = 2000
PAIR_CUTOFF = 5.0
#: A batched forward pass over several frames (a spin or the error curve) holds at most this many
#: atoms (the models build a dense distance matrix over the batch) and neighbour pairs.
MAX_BATCH_ATOMS = 1024
MAX_BATCH_PAIRS = 2000

_EVAL_LOCK = threading.Lock()


@dataclass(frozen=True)
class Outputs:
    """One model's outputs for one geometry (float64 NumPy).

    Attributes:
        energy: eV.
        forces: ``[n_atoms, 3]`` eV/Å.
        atom_vectors: ``[n_atoms, 3]`` (``None`` for the xTB reference).
        features: hidden features by irrep, ``{"1o": [n_atoms, mul, 3], ...}`` (may be empty).
    """

    energy: float
    forces: np.ndarray
    atom_vectors: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)

    def vectors(self, kind: str) -> np.ndarray | None:
        """``forces`` or ``atom_vectors`` ``[n_atoms, 3]``."""
        return self.forces if kind == "forces" else self.atom_vectors


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Evaluate on one intra-op thread, one evaluation at a time.

    These molecules are tiny: the work is thousands of small kernels, where more threads only add
    synchronisation, and on a shared 2-core machine two threads per evaluation made NequIP 3×
    slower (bench/models_forward.py: 288 ms with 2 threads against 87 ms with one, aspirin).
    """
    with _EVAL_LOCK:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def neighbour_pairs(positions: np.ndarray, cutoff: float = PAIR_CUTOFF) -> int:
    """Ordered pairs of distinct atoms closer than ``cutoff`` (Å): the edges of a radius graph.

    >>> neighbour_pairs(np.array([[0.0, 0, 0], [1, 0, 0], [9, 0, 0]]))
    2
    """
    pos = np.asarray(positions, dtype=np.float64)  # [n_atoms, 3]
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)  # [n_atoms, n_atoms]
    return int((d2 < cutoff * cutoff).sum()) - len(pos)


def evaluate(model: EnergyModel, numbers: Sequence[int], positions: Sequence[np.ndarray] | np.ndarray) -> list[Outputs]:
    """Run ``model`` (energy, forces, atom vectors, features) on several geometries of one molecule
    in batches of at most :data:`MAX_BATCH_ATOMS` atoms and :data:`MAX_BATCH_PAIRS` neighbour
    pairs: positions ``[n_frames, n_atoms, 3]`` (Å) → one :class:`Outputs` per frame."""
    frames = [np.asarray(p, dtype=np.float64) for p in positions]
    pairs = max((neighbour_pairs(f) for f in frames), default=0)
    per_batch = max(1, min(MAX_BATCH_ATOMS // max(1, len(numbers)), MAX_BATCH_PAIRS // max(1, pairs)))
    if len(frames) > per_batch:
        return [out for k in range(0, len(frames), per_batch) for out in evaluate(model, numbers, frames[k:k + per_batch])]
    if not frames:
        return []
    n = len(numbers)
    dtype = next(model.parameters()).dtype
    batch = AtomsBatch.from_arrays([np.asarray(numbers)] * len(frames), frames, dtype=dtype)
    with _one_thread():
        out = model(batch)
    energy = out["energy"].double().numpy()  # [n_frames]
    forces = out["forces"].double().numpy().reshape(len(frames), n, 3)
    vectors = out["atom_vectors"].double().numpy().reshape(len(frames), n, 3)
    features = {k: v.double().numpy().reshape(len(frames), n, *v.shape[1:]) for k, v in out["features"].items()}
    return [
        Outputs(float(energy[k]), forces[k], vectors[k], {name: f[k] for name, f in features.items()})
        for k in range(len(frames))
    ]


@dataclass(frozen=True)
class Comparison:
    """f(g·x) against g·f(x) for one model and one transformation g.

    Attributes:
        transform: g ``[3, 3]``.
        rotated: outputs for the transformed molecule, f(g·x).
        expected_forces, expected_vectors: g·f(x) ``[n_atoms, 3]`` (vectors ``None`` for xTB).
        energy_change_mev: E(g·x) − E(x) in meV.
        force_error, vector_error: relative errors (``nan`` where there is nothing to compare).
    """

    transform: np.ndarray
    rotated: Outputs
    expected_forces: np.ndarray
    expected_vectors: np.ndarray | None
    energy_change_mev: float
    force_error: float
    vector_error: float

    def expected(self, kind: str) -> np.ndarray | None:
        return self.expected_forces if kind == "forces" else self.expected_vectors

    def error(self, kind: str) -> float:
        return self.force_error if kind == "forces" else self.vector_error


def _rel(actual: np.ndarray, expected: np.ndarray) -> float:
    return relative_error(torch.from_numpy(actual), torch.from_numpy(expected))


def compare(base: Outputs, rotated: Outputs, transform: np.ndarray) -> Comparison:
    """Compare f(g·x) (``rotated``) with g·f(x) (from ``base``, the outputs for x)."""
    g = np.asarray(transform, dtype=np.float64)
    expected_forces = base.forces @ g.T
    expected_vectors = None
    vector_error = math.nan
    if base.atom_vectors is not None and rotated.atom_vectors is not None:
        expected_vectors = base.atom_vectors @ g.T
        if float(np.abs(base.atom_vectors).max(initial=0.0)) > 0:
            vector_error = _rel(rotated.atom_vectors, expected_vectors)
    return Comparison(
        transform=g,
        rotated=rotated,
        expected_forces=expected_forces,
        expected_vectors=expected_vectors,
        energy_change_mev=1000.0 * (rotated.energy - base.energy),
        force_error=_rel(rotated.forces, expected_forces),
        vector_error=vector_error,
    )


# -- turntable: the spin animation and the error-versus-angle plot -----------------------------


def turntable_angles(n_frames: int) -> np.ndarray:
    """``n_frames`` angles in degrees evenly covering one turn: 0, 360/n, …"""
    if n_frames < 1:
        raise EquivError("a turn needs at least one frame")
    return np.arange(n_frames) * (360.0 / n_frames)


def turntable_transforms(axis: Sequence[float], angles_deg: np.ndarray, start: np.ndarray, mirror: np.ndarray | None) -> np.ndarray:
    """``g_k = M · A(axis, θ_k) · start`` for each angle θ_k (``M`` the mirror or identity):
    ``[n_frames, 3, 3]``. ``start`` is the proper rotation the turn begins from."""
    A = axis_angle_to_matrix(
        torch.tensor(axis, dtype=torch.float64).expand(len(angles_deg), 3), torch.from_numpy(np.radians(angles_deg))
    ).numpy()  # [n, 3, 3]
    g = A @ np.asarray(start, dtype=np.float64)
    return np.asarray(mirror) @ g if mirror is not None else g


# -- the GFN2-xTB reference ---------------------------------------------------------------------


def xtb_outputs(numbers: Sequence[int], positions: np.ndarray) -> tuple[Outputs, float]:
    """GFN2-xTB energy (eV) and forces (eV/Å) of a neutral molecule (one unpaired electron when
    the electron count is odd), and the wall time in seconds.

    Raises:
        EquivError: more than :data:`MAX_XTB_ATOMS` atoms, or the calculation failed.
    """
    from ase import Atoms
    from ase.calculators.calculator import CalculationFailed

    from equiv.data.xtb import XTBCalculator, single_openmp_thread

    zs = np.asarray(numbers, dtype=np.int64)
    if zs.size > MAX_XTB_ATOMS:
        raise EquivError(f"GFN2-xTB is shown for molecules of up to {MAX_XTB_ATOMS} atoms (this one has {zs.size})")
    atoms = Atoms(numbers=zs, positions=np.asarray(positions, dtype=np.float64))
    atoms.calc = XTBCalculator(uhf=int(zs.sum()) % 2)
    single_openmp_thread()
    t0 = time.perf_counter()
    try:
        forces = atoms.get_forces()
        energy = atoms.get_potential_energy()
    except (CalculationFailed, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EquivError(f"GFN2-xTB failed for this molecule: {reason}") from None
    return Outputs(float(energy), np.asarray(forces, dtype=np.float64)), time.perf_counter() - t0
