"""Measure how equivariant a model is on a molecule.

For a transformation g of the molecule (rotation R, translation t, atom permutation P, or an
improper rotation) and each output f, the relative error is

    ‖f(g·x) − D(g) f(x)‖ / ‖f(x)‖

with D(g) = 1 for the energy, and for per-atom vectors (forces, atom_vectors) D acting as
``v_i ↦ R v_i`` (rotations and reflections), ``v_i ↦ v_i`` (translations) and ``v ↦ P v``
(permutations). The energy change ΔE (meV) is reported too. Improper rotations act on forces
as polar vectors (−∂E/∂r is polar whatever the model) and on atom_vectors as polar vectors.

Example:
    >>> from equiv.models import build_model
    >>> from equiv.molecules import load_molecule
    >>> import torch
    >>> water = load_molecule("water")
    >>> rep = equivariance_report(build_model("gvp", dtype=torch.float64), water, trials=2)
    >>> rep["forces"]["rotation"] < 1e-10
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from equiv.graphs import AtomsBatch
from equiv.models.base import EnergyModel
from equiv.molecules import Molecule
from equiv.o3 import random_rotation, reflection

__all__ = ["equivariance_report", "relative_error", "OUTPUTS"]

OUTPUTS = ("energy", "forces", "atom_vectors")


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``‖actual − expected‖ / ‖expected‖`` (Frobenius; absolute when ``expected`` is zero)."""
    denom = float(expected.norm())
    diff = float((actual - expected).norm())
    return diff / denom if denom > 0 else diff


def _run(model: EnergyModel, numbers: np.ndarray, positions: torch.Tensor) -> dict[str, torch.Tensor]:
    batch = AtomsBatch.from_arrays([numbers], [positions.detach().cpu().numpy()], dtype=positions.dtype)
    batch = batch.to(device=next(model.parameters()).device)
    out = model(batch)
    return {k: out[k].detach().cpu() for k in OUTPUTS}


def _element_preserving_permutation(numbers: np.ndarray, g: torch.Generator) -> torch.Tensor:
    """A random permutation that only exchanges atoms of the same element."""
    perm = torch.arange(len(numbers))
    for z in np.unique(numbers):
        idx = torch.from_numpy(np.flatnonzero(numbers == z))
        perm[idx] = idx[torch.randperm(len(idx), generator=g)]
    return perm


def equivariance_report(
    model: EnergyModel,
    molecule: Molecule,
    trials: int = 5,
    reflections: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Maximum relative errors over ``trials`` random transformations, per output and kind.

    Returns ``{"energy": {"rotation": …, "translation": …, "permutation": …[, "reflection": …]},
    "forces": {…}, "atom_vectors": {…}, "energy_change_mev": {…}, "dtype": "float64", "trials": N}``.
    The model runs in its own dtype. Models with a fixed input order (the MLP) get permutations
    that only swap atoms of the same element, so the input still has the order they accept.
    """
    was_training = model.training
    model.eval()
    dtype = next(model.parameters()).dtype
    g = torch.Generator().manual_seed(seed)
    numbers = molecule.numbers
    x = torch.tensor(molecule.positions, dtype=torch.float64)
    base = _run(model, numbers, x.to(dtype))
    kinds = ["rotation", "translation", "permutation"] + (["reflection"] if reflections else [])
    errors: dict[str, dict[str, float]] = {k: {kind: 0.0 for kind in kinds} for k in OUTPUTS}
    delta_e: dict[str, float] = {kind: 0.0 for kind in kinds}
    fixed_order = model.kind == "mlp"

    def record(kind: str, out: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
        for k in OUTPUTS:
            errors[k][kind] = max(errors[k][kind], relative_error(out[k], expected[k]))
        delta_e[kind] = max(delta_e[kind], 1000 * float((out["energy"] - base["energy"]).abs().max()))

    for _ in range(trials):
        R = random_rotation(generator=g)  # float64
        out = _run(model, numbers, (x @ R.T).to(dtype))
        Rd = R.to(dtype)
        record("rotation", out, {"energy": base["energy"], "forces": base["forces"] @ Rd.T, "atom_vectors": base["atom_vectors"] @ Rd.T})

        t = 10.0 * torch.randn(3, generator=g, dtype=torch.float64)
        out = _run(model, numbers, (x + t).to(dtype))
        record("translation", out, base)

        perm = _element_preserving_permutation(numbers, g) if fixed_order else torch.randperm(len(numbers), generator=g)
        out = _run(model, numbers[perm.numpy()], x[perm].to(dtype))
        record("permutation", out, {"energy": base["energy"], "forces": base["forces"][perm], "atom_vectors": base["atom_vectors"][perm]})

        if reflections:
            M = reflection(torch.randn(3, generator=g, dtype=torch.float64)) @ random_rotation(generator=g)  # det −1
            out = _run(model, numbers, (x @ M.T).to(dtype))
            Md = M.to(dtype)
            record("reflection", out, {"energy": base["energy"], "forces": base["forces"] @ Md.T, "atom_vectors": base["atom_vectors"] @ Md.T})

    model.train(was_training)
    return {
        **errors,
        "energy_change_mev": delta_e,
        "dtype": str(dtype).removeprefix("torch."),
        "trials": trials,
        "model": model.kind,
        "molecule": molecule.name,
    }
