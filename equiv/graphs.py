"""Molecular graphs: batches of molecules of any sizes, radius graphs, per-graph sums.

A batch is one disconnected graph: atoms of all molecules are concatenated, ``graph_index`` says
which molecule each atom belongs to, and edges never cross molecules. Molecules here are small, so
the radius graph is a dense pairwise computation in torch (no compiled graph libraries).

Edge convention: ``edge_index[0]`` is the receiving (centre) atom i, ``edge_index[1]`` the
neighbour j, and the edge vector is ``r_ij = pos[j] − pos[i]`` (Å). Each pair appears in both
directions.

Example:
    >>> from equiv.molecules import load_molecule
    >>> batch = AtomsBatch.from_molecules([load_molecule("water"), load_molecule("ethanol")])
    >>> batch.n_graphs, batch.n_atoms, batch.radius_graph(5.0).shape
    (2, 12, torch.Size([2, 78]))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from equiv.molecules import Molecule

__all__ = ["AtomsBatch", "radius_graph", "scatter_sum", "sum_per_graph", "edge_vectors"]


def radius_graph(positions: torch.Tensor, graph_index: torch.Tensor, r_max: float) -> torch.Tensor:
    """All ordered pairs (i, j), i ≠ j, of the same graph with ``|r_j − r_i| < r_max``.

    Shapes: positions ``[n_atoms, 3]`` (Å), graph_index ``[n_atoms]`` → edge_index ``[2, n_edges]``,
    sorted by receiver i, then neighbour j. Computed without gradient (indices only).
    """
    with torch.no_grad():
        d = torch.cdist(positions, positions)  # [n_atoms, n_atoms]
        mask = (d < r_max) & (graph_index[:, None] == graph_index[None, :])
        mask.fill_diagonal_(False)
        return mask.nonzero().T.contiguous()  # [2, n_edges]


def edge_vectors(positions: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """``r_ij = pos[j] − pos[i]`` ``[n_edges, 3]`` (Å), differentiable in the positions."""
    # index_select rather than fancy indexing: its backward is a fast index_add.
    return positions.index_select(0, edge_index[1]) - positions.index_select(0, edge_index[0])


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """``out[k] = Σ_{i: index[i] = k} values[i]``: values ``[n, ...]``, index ``[n]`` → ``[size, ...]``.

    Used for neighbour sums (index = receiving atom of each edge) and per-graph sums.
    """
    out = torch.zeros((size, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add_(0, index, values)


def sum_per_graph(values: torch.Tensor, graph_index: torch.Tensor, n_graphs: int) -> torch.Tensor:
    """Sum per-atom values ``[n_atoms, ...]`` into per-graph values ``[n_graphs, ...]``."""
    return scatter_sum(values, graph_index, n_graphs)


@dataclass(frozen=True)
class AtomsBatch:
    """Several molecules as one graph.

    Attributes:
        numbers: atomic numbers ``[n_atoms]`` (int64).
        positions: positions ``[n_atoms, 3]`` in Å.
        graph_index: molecule index of each atom ``[n_atoms]`` (int64, sorted, 0 … n_graphs−1).
        n_graphs: number of molecules.
        energy: optional reference energies ``[n_graphs]`` in eV.
        forces: optional reference forces ``[n_atoms, 3]`` in eV/Å.
        edge_index: optional precomputed radius graph ``[2, n_edges]``, with the cutoff it was made for.
    """

    numbers: torch.Tensor
    positions: torch.Tensor
    graph_index: torch.Tensor
    n_graphs: int
    energy: torch.Tensor | None = None
    forces: torch.Tensor | None = None
    edge_index: torch.Tensor | None = None
    edge_cutoff: float | None = None

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        numbers: Sequence[np.ndarray | torch.Tensor],
        positions: Sequence[np.ndarray | torch.Tensor],
        energy: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        forces: Sequence[np.ndarray | torch.Tensor] | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> "AtomsBatch":
        """Batch molecules given as per-molecule arrays: numbers ``[n_i]``, positions ``[n_i, 3]``,
        optional energy (one per molecule, eV) and forces ``[n_i, 3]`` (eV/Å)."""
        nums = [torch.tensor(np.asarray(n), dtype=torch.long) for n in numbers]
        pos = [torch.tensor(np.asarray(p), dtype=dtype) for p in positions]
        counts = torch.tensor([len(n) for n in nums])
        graph_index = torch.repeat_interleave(torch.arange(len(nums)), counts)
        # torch.tensor copies: the batch never shares memory with the caller's (possibly read-only) arrays.
        e = None if energy is None else torch.tensor(np.asarray(energy), dtype=dtype).reshape(len(nums)).to(device)
        f = None if forces is None else torch.cat([torch.tensor(np.asarray(x), dtype=dtype) for x in forces]).to(device)
        return cls(
            numbers=torch.cat(nums).to(device),
            positions=torch.cat(pos).to(device),
            graph_index=graph_index.to(device),
            n_graphs=len(nums),
            energy=e,
            forces=f,
        )

    @classmethod
    def from_molecules(
        cls, molecules: Sequence[Molecule], dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
    ) -> "AtomsBatch":
        """Batch :class:`~equiv.molecules.Molecule` objects (no labels)."""
        return cls.from_arrays([m.numbers for m in molecules], [m.positions for m in molecules], dtype=dtype, device=device)

    # -- properties -------------------------------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def atoms_per_graph(self) -> torch.Tensor:
        """``[n_graphs]`` atom counts."""
        return torch.bincount(self.graph_index, minlength=self.n_graphs)

    # -- transformations --------------------------------------------------------------------------
    def radius_graph(self, r_max: float) -> torch.Tensor:
        """The edges within ``r_max`` (reuses the precomputed one when it was made for ``r_max``)."""
        if self.edge_index is not None and self.edge_cutoff == r_max:
            return self.edge_index
        return radius_graph(self.positions, self.graph_index, r_max)

    def with_edges(self, r_max: float) -> "AtomsBatch":
        """A copy carrying its precomputed radius graph for ``r_max``."""
        return replace(self, edge_index=radius_graph(self.positions, self.graph_index, r_max), edge_cutoff=r_max)

    def with_positions(self, positions: torch.Tensor) -> "AtomsBatch":
        """Same atoms at new positions (labels and edges dropped: they belong to the old positions)."""
        return AtomsBatch(self.numbers, positions, self.graph_index, self.n_graphs)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "AtomsBatch":
        """Move to a device and/or cast the floating tensors."""

        def cast(t: torch.Tensor | None, floating: bool) -> torch.Tensor | None:
            if t is None:
                return None
            return t.to(device=device, dtype=dtype if floating else None)

        return AtomsBatch(
            numbers=cast(self.numbers, False),
            positions=cast(self.positions, True),
            graph_index=cast(self.graph_index, False),
            n_graphs=self.n_graphs,
            energy=cast(self.energy, True),
            forces=cast(self.forces, True),
            edge_index=cast(self.edge_index, False),
            edge_cutoff=self.edge_cutoff,
        )
