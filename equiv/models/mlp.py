"""A plain multilayer perceptron on raw coordinates: the non-equivariant baseline.

The input is the flattened, centred coordinates of a molecule with a fixed number of atoms in a
fixed order (``[n_graphs, 3 n_atoms]``); the output is the energy (forces by autograd) and, from a
separate linear head on the last hidden layer, one vector per atom. Nothing ties the outputs to
rotations of the input, so they do not co-rotate. Centring makes it translation invariant;
it is neither rotation nor permutation invariant.

Standardization: with ``input_mean`` and ``input_std`` (``3 n_atoms`` values each, Å, set by
:func:`coordinate_statistics` from the training frames; the trainer does this), the network sees
``(x − mean) / std`` per coordinate, the displacements from the training frames' mean geometry in
units of their spread, instead of raw positions dominated by that fixed geometry. It is a fixed
affine map of the coordinates, so it changes nothing about (non-)equivariance. Checkpoints from
before it (empty tuples) see raw centred coordinates.

With ``augment_rotations=True`` every training forward pass turns each molecule by a fresh
Haar-random rotation R before the network and turns the atom vectors back by Rᵀ. Because forces
are −∂E/∂r through that rotation, this is exactly training on rotated copies (R x, E, R F):
augmentation lowers the rotation error but cannot remove it.

Example:
    >>> from equiv.molecules import load_molecule
    >>> from equiv.graphs import AtomsBatch
    >>> water = load_molecule("water")
    >>> model = CoordinateMLP(MLPConfig(numbers=tuple(water.numbers.tolist())))
    >>> model(AtomsBatch.from_molecules([water], dtype=torch.float32))["forces"].shape
    torch.Size([3, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase.data import chemical_symbols
from torch import nn

from equiv.errors import EquivError
from equiv.graphs import AtomsBatch
from equiv.models.base import EnergyModel, ModelConfig
from equiv.o3 import random_rotation

__all__ = ["MLPConfig", "CoordinateMLP", "coordinate_statistics"]


@dataclass(frozen=True)
class MLPConfig(ModelConfig):
    """Attributes:
    numbers: the fixed molecule (atomic numbers in input order); required.
    hidden: hidden layer widths.
    augment_rotations: random-rotation augmentation while training.
    input_mean, input_std: per-coordinate standardization of the centred coordinates
        (``3 n_atoms`` values each, Å; empty: none); see :func:`coordinate_statistics`.
    """

    numbers: tuple[int, ...] = ()
    hidden: tuple[int, ...] = (128, 128, 128)
    augment_rotations: bool = False
    input_mean: tuple[float, ...] = ()
    input_std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.numbers and set(self.species) != set(self.numbers):
            object.__setattr__(self, "species", tuple(sorted(set(int(z) for z in self.numbers))))
        for name in ("input_mean", "input_std"):
            values = getattr(self, name)
            if values and len(values) != 3 * len(self.numbers):
                raise EquivError(f"{name} needs 3 × {len(self.numbers)} values (one per coordinate), got {len(values)}")
        if self.input_std and min(self.input_std) <= 0:
            raise EquivError("input_std must be positive")


def coordinate_statistics(positions: np.ndarray, floor: float = 1e-3) -> dict[str, tuple[float, ...]]:
    """``input_mean`` and ``input_std`` for :class:`MLPConfig` from training frames.

    Args:
        positions: ``[n_frames, n_atoms, 3]`` Å (centred here, as the MLP centres them).
        floor: smallest std (Å), so that a coordinate that never moves is not blown up.

    Returns:
        {"input_mean": 3 n_atoms values, "input_std": 3 n_atoms values}, Å.

    >>> stats = coordinate_statistics(np.array([[[0.0, 0, 0], [1, 0, 0]], [[0, 0, 0], [1.2, 0, 0]]]))
    >>> [round(v, 2) for v in stats["input_mean"][:3]], [round(v, 2) for v in stats["input_std"][:3]]
    ([-0.55, 0.0, 0.0], [0.05, 0.0, 0.0])
    """
    x = np.asarray(positions, dtype=np.float64)
    x = (x - x.mean(axis=1, keepdims=True)).reshape(len(x), -1)  # [n_frames, 3 n_atoms]
    return {"input_mean": tuple(float(v) for v in x.mean(axis=0)),
            "input_std": tuple(float(v) for v in np.maximum(x.std(axis=0), floor))}


class CoordinateMLP(EnergyModel):
    """MLP on flattened centred coordinates (see module docstring)."""

    kind = "mlp"
    config_class = MLPConfig

    def __init__(self, config: MLPConfig):
        if not config.numbers:
            raise EquivError("the MLP needs a fixed molecule: give its atomic numbers (numbers=...)")
        super().__init__(config)
        n = len(config.numbers)
        self.register_buffer("numbers", torch.tensor(config.numbers, dtype=torch.long), persistent=False)
        self.register_buffer("input_mean", torch.tensor(config.input_mean or [0.0] * (3 * n)), persistent=False)  # [3 n] Å
        self.register_buffer("input_std", torch.tensor(config.input_std or [1.0] * (3 * n)), persistent=False)  # [3 n] Å
        layers: list[nn.Module] = []
        width = 3 * n
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.energy_head = nn.Linear(width, n)  # per-atom ε so that the species shifts apply per atom
        self.vector_head = nn.Linear(width, 3 * n)

    def _check(self, batch: AtomsBatch) -> None:
        n = len(self.config.numbers)
        ok = (
            batch.n_atoms == n * batch.n_graphs
            and bool((batch.atoms_per_graph == n).all())
            and torch.equal(batch.numbers.view(-1, n), self.numbers.expand(batch.n_graphs, n))
        )
        if not ok:
            formula = "".join(chemical_symbols[z] for z in self.config.numbers)
            raise EquivError(
                f"this MLP was built for one molecule with {n} atoms in a fixed order ({formula}); "
                "it cannot take other molecules or reordered atoms"
            )

    def atomic_outputs(self, batch: AtomsBatch, positions: torch.Tensor, species: torch.Tensor):
        self._check(batch)
        n = len(self.config.numbers)
        x = positions.view(batch.n_graphs, n, 3)  # [n_graphs, n, 3]
        x = x - x.mean(dim=1, keepdim=True)
        R = None
        if self.training and self.config.augment_rotations:
            R = random_rotation(batch.n_graphs, dtype=x.dtype).to(x.device)  # [n_graphs, 3, 3]
            x = x @ R.transpose(-1, -2)
        z = (x.reshape(batch.n_graphs, 3 * n) - self.input_mean) / self.input_std  # [n_graphs, 3 n]
        hidden = self.body(z)  # [n_graphs, width]
        eps = self.energy_head(hidden).reshape(-1)  # [n_atoms]
        vectors = self.vector_head(hidden).view(batch.n_graphs, n, 3)  # [n_graphs, n, 3]
        if R is not None:
            vectors = vectors @ R  # back to the unrotated frame: v ↦ Rᵀ v
        return eps, vectors.reshape(-1, 3), {}
