"""What every model shares: a config dataclass, species handling, energy normalisation, and a
``forward`` that turns per-atom energies into molecular energies and forces.

The interface (used by the rotation lab, the irreps views and training)::

    out = model(batch)                 # batch: equiv.graphs.AtomsBatch
    out["energy"]        # [n_graphs]         eV
    out["forces"]        # [n_atoms, 3]       eV/Å, −∂E/∂r by autograd (also in eval mode)
    out["atom_vectors"]  # [n_atoms, 3]       a direct l = 1 output per atom (not a gradient)
    out["molecule_vector"] # [n_graphs, 3]    Σ_i atom_vectors
    out["atom_energies"] # [n_atoms]          eV
    out["features"]      # {"0e": [n_atoms, mul, 1], "1o": [n_atoms, mul, 3], ...} hidden features

Per-atom energies are ``scale · ε_i + shift[species_i]``: ``ε_i`` is the network's output, and the
per-species shift (eV) and the scale (eV, the force RMS in the NequIP recipe) are buffers that
training fits on the training set.

Energy bookkeeping is float64 whatever the network's dtype (as in current nequip): the shift and
scale buffers stay float64 through ``model.to(torch.float32)``, and ``atom_energies`` and
``energy`` are float64. Total energies of −4,000 … −18,000 eV resolve only 0.5–2 meV in float32, so
a float32 sum would show 0.1–0.6 meV energy error for an exact model. Forces stay in the network's
dtype (the gradient flows back through the cast).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, TypedDict

import torch
from ase.data import chemical_symbols
from torch import nn

from equiv.errors import EquivError
from equiv.graphs import AtomsBatch, sum_per_graph

__all__ = ["ModelConfig", "EnergyModel", "ModelOutput", "DEFAULT_SPECIES"]

#: H, C, N, O: every molecule of the built-in library.
DEFAULT_SPECIES: tuple[int, ...] = (1, 6, 7, 8)


class _RequiredOutput(TypedDict):
    """The keys of :class:`ModelOutput` that are always there."""

    energy: torch.Tensor  # [n_graphs] eV
    atom_energies: torch.Tensor  # [n_atoms] eV
    atom_vectors: torch.Tensor  # [n_atoms, 3] a direct l = 1 readout (not a gradient)
    molecule_vector: torch.Tensor  # [n_graphs, 3] Σ_i atom_vectors
    features: dict[str, torch.Tensor]  # irrep label ("0e", "1o", ...) → [n_atoms, mul, 2l+1]


class ModelOutput(_RequiredOutput, total=False):
    """What every model returns: a plain dict, typed (shape and unit beside each key; the module
    docstring says what they mean). ``forces`` is there only with ``compute_forces``."""

    forces: torch.Tensor  # [n_atoms, 3] eV/Å = −∂E/∂r


@dataclass(frozen=True)
class ModelConfig:
    """Fields every model has.

    Attributes:
        species: atomic numbers the model accepts (one-hot order).
        r_max: cutoff radius in Å (graph models).
    """

    species: tuple[int, ...] = DEFAULT_SPECIES
    r_max: float = 5.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Rebuild from :meth:`to_dict` output (lists become tuples); unknown keys are an error."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(names)
        if unknown:
            raise EquivError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**clean)


class EnergyModel(nn.Module):
    """Base class: subclasses implement :meth:`atomic_outputs`."""

    #: Registry name of the architecture ("mlp", "gvp", "nequip").
    kind: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        species = tuple(int(z) for z in config.species)
        if len(set(species)) != len(species) or not species:
            raise EquivError("species must be a non-empty list of distinct atomic numbers")
        self.species = species
        table = torch.full((119,), -1, dtype=torch.long)
        table[list(species)] = torch.arange(len(species))
        self.register_buffer("species_table", table, persistent=False)
        self.register_buffer("energy_shift", torch.zeros(len(species), dtype=torch.float64))  # [n_species] eV
        self.register_buffer("energy_scale", torch.ones((), dtype=torch.float64))  # eV

    _FLOAT64_BUFFERS: ClassVar[tuple[str, ...]] = ("energy_shift", "energy_scale")

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        """Like :meth:`nn.Module._apply`, but the energy shift and scale keep float64 (they may
        move to another device)."""
        kept = {name: self._buffers[name] for name in self._FLOAT64_BUFFERS if self._buffers.get(name) is not None}
        out = super()._apply(fn, recurse)
        for name, value in kept.items():
            moved = self._buffers[name]
            self._buffers[name] = value.to(device=moved.device, dtype=torch.float64)
        return out

    @property
    def n_species(self) -> int:
        return len(self.species)

    def species_index(self, numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers ``[n_atoms]`` → one-hot indices ``[n_atoms]``; clear error for unknown elements."""
        idx = self.species_table[numbers.clamp(0, 118)]
        if bool((idx < 0).any()) or bool((numbers > 118).any()):
            bad = sorted({int(z) for z in numbers[idx < 0].tolist()})
            names = ", ".join(chemical_symbols[z] if 0 < z < len(chemical_symbols) else str(z) for z in bad)
            known = ", ".join(chemical_symbols[z] for z in self.species)
            raise EquivError(f"this model knows the elements {known}; the molecule also contains {names}")
        return idx

    def set_energy_normalization(self, shift: torch.Tensor, scale: float | torch.Tensor) -> None:
        """Set the per-species energy shift ``[n_species]`` (eV) and the energy scale (eV)."""
        shift = torch.as_tensor(shift, dtype=self.energy_shift.dtype, device=self.energy_shift.device)
        if shift.shape != self.energy_shift.shape:
            raise EquivError(f"energy shift needs {self.n_species} values (one per species), got {tuple(shift.shape)}")
        self.energy_shift.copy_(shift)
        self.energy_scale.fill_(float(scale))

    # -- to implement -------------------------------------------------------------------------
    def atomic_outputs(
        self, batch: AtomsBatch, positions: torch.Tensor, species: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(ε [n_atoms], atom_vectors [n_atoms, 3], features)`` for positions ``[n_atoms, 3]``."""
        raise NotImplementedError

    # -- the shared forward -------------------------------------------------------------------
    def forward(self, batch: AtomsBatch, compute_forces: bool = True) -> ModelOutput:
        """Energies, forces, atom vectors and hidden features of a batch (see module docstring).

        Forces are taken by autograd in every mode; in training mode the graph is kept
        (``create_graph``) so that a force loss can be backpropagated.
        """
        species = self.species_index(batch.numbers)  # [n_atoms]
        # Keep the graph through the forces when training (force loss) or when the caller asked
        # for derivatives of the outputs by passing positions that require grad.
        keep_graph = self.training or batch.positions.requires_grad
        with torch.enable_grad():
            positions = batch.positions
            if compute_forces and not positions.requires_grad:
                positions = positions.detach().requires_grad_(True)
            eps, atom_vectors, features = self.atomic_outputs(batch, positions, species)
            # float64 from here on: the shift is large and the sum over atoms must not lose meV.
            atom_energies = self.energy_scale * eps.to(torch.float64) + self.energy_shift[species]  # [n_atoms] eV
            energy = sum_per_graph(atom_energies, batch.graph_index, batch.n_graphs)  # [n_graphs] eV
            out: ModelOutput = {
                "energy": energy,
                "atom_energies": atom_energies,
                "atom_vectors": atom_vectors,
                "molecule_vector": sum_per_graph(atom_vectors, batch.graph_index, batch.n_graphs),
                "features": features,
            }
            if compute_forces:
                (grad,) = torch.autograd.grad(energy.sum(), positions, create_graph=keep_graph)
                out["forces"] = -grad  # [n_atoms, 3] eV/Å
        return out if keep_graph else _detach(out)


def _detach(out: ModelOutput) -> ModelOutput:
    return {
        k: ({kk: vv.detach() for kk, vv in v.items()} if isinstance(v, dict) else v.detach()) for k, v in out.items()
    }
