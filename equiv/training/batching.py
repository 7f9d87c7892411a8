"""A data set's frames as tensors on the training device, batched without Python work per atom.

Every frame of a :class:`equiv.data.DataSet` has the same atoms in the same order, so a batch of
B frames is B copies of one atom list: positions ``[B·n, 3]`` are a gather and a reshape, and the
radius graph comes from neighbour masks computed once per data set: ``mask[f, i, j]`` says
whether atoms i and j of frame f are closer than r_max (the test of
:func:`equiv.graphs.radius_graph`). A batch's edges are the nonzeros of ``mask[frames]`` with atom
indices offset by ``b · n``, in the same order as ``radius_graph`` (receiver, then neighbour).

Example:
    >>> import numpy as np
    >>> from equiv.data import DataSet, DataSetMetadata
    >>> meta = DataSetMetadata(name="demo", molecule="H2", level_of_theory="none", source="doctest")
    >>> pos = np.zeros((4, 2, 3)); pos[:, 1, 0] = [0.7, 0.8, 6.0, 0.9]
    >>> frames = FrameTensors(DataSet([1, 1], pos, np.zeros(4), np.zeros((4, 2, 3)), meta), r_max=5.0)
    >>> frames.batch(torch.tensor([0, 2])).edge_index.tolist()   # frame 2's atoms are 6 Å apart
    [[0, 1], [1, 0]]
    >>> frames.mean_neighbors()
    0.75
"""

from __future__ import annotations

import torch

from equiv.data import DataSet
from equiv.graphs import AtomsBatch

__all__ = ["FrameTensors"]

_MASK_CHUNK = 256  # frames per cdist call while building the masks


class FrameTensors:
    """The frames of one data set on ``device`` in ``dtype``.

    Attributes:
        numbers: ``[n_atoms]`` int64.
        positions: ``[n_frames, n_atoms, 3]`` Å; energies ``[n_frames]`` eV, always float64 (total
            energies of −4,000 … −18,000 eV resolve only 0.5–2 meV in float32); forces
            ``[n_frames, n_atoms, 3]`` eV/Å.
        neighbor_mask: ``[n_frames, n_atoms, n_atoms]`` bool, or ``None`` when ``r_max`` is ``None``
            (models without a graph, such as the MLP).
    """

    def __init__(self, ds: DataSet, r_max: float | None, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu"):
        self.dataset = ds
        self.r_max = r_max
        self.device = torch.device(device)
        self.dtype = dtype
        self.n_frames, self.n_atoms = ds.n_frames, ds.n_atoms
        self.numbers = torch.tensor(ds.numbers, dtype=torch.long, device=self.device)
        self.positions = torch.tensor(ds.positions, dtype=dtype, device=self.device)
        self.energies = torch.tensor(ds.energies, dtype=torch.float64, device=self.device)
        self.forces = torch.tensor(ds.forces, dtype=dtype, device=self.device)
        self.neighbor_mask = None if r_max is None else self._masks(ds, r_max)
        self._layout: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _masks(self, ds: DataSet, r_max: float) -> torch.Tensor:
        # Distances in float64 from the data set's own float64 positions, like radius_graph on them.
        pos = torch.tensor(ds.positions, dtype=torch.float64)
        eye = torch.eye(self.n_atoms, dtype=torch.bool)
        chunks = []
        for start in range(0, self.n_frames, _MASK_CHUNK):
            p = pos[start:start + _MASK_CHUNK]
            chunks.append((torch.cdist(p, p) < r_max) & ~eye)  # [chunk, n_atoms, n_atoms]
        return torch.cat(chunks).to(self.device)

    def __len__(self) -> int:
        return self.n_frames

    def mean_neighbors(self) -> float:
        """Mean number of neighbours within r_max per atom (for ``avg_num_neighbors``)."""
        if self.neighbor_mask is None:
            return float(self.n_atoms - 1)
        return float(self.neighbor_mask.sum(dtype=torch.float64)) / (self.n_frames * self.n_atoms)

    def _numbers_and_graph_index(self, n_graphs: int) -> tuple[torch.Tensor, torch.Tensor]:
        if n_graphs not in self._layout:
            self._layout[n_graphs] = (
                self.numbers.repeat(n_graphs),
                torch.arange(n_graphs, device=self.device).repeat_interleave(self.n_atoms),
            )
        return self._layout[n_graphs]

    def batch(self, frames: torch.Tensor) -> AtomsBatch:
        """The frames with indices ``frames`` ``[B]`` (on this device) as one labelled batch, with
        its radius graph precomputed."""
        n_graphs = int(frames.shape[0])
        numbers, graph_index = self._numbers_and_graph_index(n_graphs)
        edge_index = None
        if self.neighbor_mask is not None:
            b, i, j = self.neighbor_mask.index_select(0, frames).nonzero(as_tuple=True)  # [n_edges] each
            offset = b * self.n_atoms
            edge_index = torch.stack([offset + i, offset + j])  # [2, n_edges]
        return AtomsBatch(
            numbers=numbers,
            positions=self.positions.index_select(0, frames).reshape(-1, 3),  # [B·n, 3]
            graph_index=graph_index,
            n_graphs=n_graphs,
            energy=self.energies.index_select(0, frames),  # [B]
            forces=self.forces.index_select(0, frames).reshape(-1, 3),  # [B·n, 3]
            edge_index=edge_index,
            edge_cutoff=self.r_max,
        )

    def batches(self, batch_size: int) -> list[AtomsBatch]:
        """All frames in order, in batches of ``batch_size`` (for evaluation; built once)."""
        order = torch.arange(self.n_frames, device=self.device)
        return [self.batch(order[s:s + batch_size]) for s in range(0, self.n_frames, batch_size)]
