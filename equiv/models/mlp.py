"""A plain multilayer perceptron on raw coordinates: the non-equivariant baseline.

The input is the flattened, centred coordinates of a molecule with a fixed number of atoms in a
fixed order (``[n_graphs, 3 n_atoms]``); the output is the energy (forces by autograd) and, from a
separate linear head on the last hidden layer, one vector per atom. Nothing ties the outputs to
rotations of the input, so they do not co-rotate. Centring makes it translation invariant;
it is neither rotation nor permutation invariant.

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

import torch
from ase.data import chemical_symbols
from torch import nn

from equiv.errors import EquivError
from equiv.graphs import AtomsBatch
from equiv.models.base import EnergyModel, ModelConfig
from equiv.o3 import random_rotation

__all__ = ["MLPConfig", "CoordinateMLP"]


@dataclass(frozen=True)
class MLPConfig(ModelConfig):
    """Attributes:
    numbers: the fixed molecule (atomic numbers in input order); required.
    hidden: hidden layer widths.
    augment_rotations: random-rotation augmentation while training.
    """

    numbers: tuple[int, ...] = ()
    hidden: tuple[int, ...] = (128, 128, 128)
    augment_rotations: bool = False

    def __post_init__(self) -> None:
        if self.numbers and set(self.species) != set(self.numbers):
            object.__setattr__(self, "species", tuple(sorted(set(int(z) for z in self.numbers))))


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
        hidden = self.body(x.reshape(batch.n_graphs, 3 * n))  # [n_graphs, width]
        eps = self.energy_head(hidden).reshape(-1)  # [n_atoms]
        vectors = self.vector_head(hidden).view(batch.n_graphs, n, 3)  # [n_graphs, n, 3]
        if R is not None:
            vectors = vectors @ R  # back to the unrotated frame: v ↦ Rᵀ v
        return eps, vectors.reshape(-1, 3), {}
