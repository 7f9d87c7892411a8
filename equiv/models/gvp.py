"""GVP-GNN (Jing et al., ICLR 2021; vector gating from Jing et al. 2021), written from the paper.

Features are tuples ``(s, V)``: scalars ``s [n, n_s]`` and vectors ``V [n, n_v, 3]``. A geometric
vector perceptron (GVP) only takes linear combinations of vectors (over the channel axis, never
over xyz), their norms, and functions of scalars, so it is E(3)-equivariant: rotating or
reflecting every input vector rotates or reflects every output vector, and leaves the scalars
unchanged.

One GVP, for input ``(s, V)``:

1. ``V_h = W_h V`` (bias-free linear map over vector channels),
2. ``s' = W_s [s ; ‖V_h‖] + b`` (norms clamped away from zero so gradients stay finite),
3. ``V' = W_μ V_h``,
4. vector nonlinearity: gating ``V' · sigmoid(W_g σ_g(s'))`` or ``V' · σ(‖V'‖)``,
5. scalar activation ``σ(s')``.

Where this differs from gvp-pytorch (the authors' code): a convolution layer there *averages* the
messages over the neighbours (``torch_scatter`` mean). Here the messages are multiplied by a
smooth cutoff envelope ``u(r)`` (the same polynomial as NequIP's, going to zero at r_max) and
*summed*, then divided by √(average number of neighbours) measured on the training set
(:class:`GVPConvLayer`). Why: the energy must be a smooth function of the positions for forces to
be its gradient. With a hard radius graph and a mean, an atom crossing r_max changes the neighbour
count and so every other message's weight in a jump, and the energy (and the forces, which are
−∂E/∂r here, not a separate output as in gvp-pytorch's tasks) are discontinuous; the envelope makes
a leaving neighbour's message fade to zero, which only a sum (not a mean) preserves. The fixed
√(avg neighbours) keeps the sum's scale near a mean's without depending on the count, as in NequIP.

Example:
    >>> import torch
    >>> gvp = GVP((4, 2), (8, 3))
    >>> s, V = gvp(torch.randn(5, 4), torch.randn(5, 2, 3))
    >>> s.shape, V.shape
    (torch.Size([5, 8]), torch.Size([5, 3, 3]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from equiv.graphs import AtomsBatch, edge_vectors, scatter_sum
from equiv.models.base import EnergyModel, ModelConfig
from equiv.models.radial import RadialEmbedding

__all__ = ["GVP", "GVPLayerNorm", "GVPConvLayer", "GVPConfig", "GVPModel", "vector_norm"]

Activation = Callable[[torch.Tensor], torch.Tensor] | None
ScalarVector = tuple[torch.Tensor, torch.Tensor]


def vector_norm(V: torch.Tensor, eps: float = 1e-8, keepdim: bool = False) -> torch.Tensor:
    """``‖v‖`` over the xyz axis of ``[..., 3]`` with the squared norm clamped at ≥ eps."""
    return torch.sqrt(torch.clamp((V * V).sum(-1, keepdim=keepdim), min=eps))


class GVP(nn.Module):
    """Geometric vector perceptron ``(s [n, si], V [n, vi, 3]) → (s [n, so], V [n, vo, 3])``.

    Args:
        in_dims: ``(si, vi)``; out_dims: ``(so, vo)``.
        h_dim: hidden vector channels (default ``max(vi, vo)``).
        activations: ``(scalar_act, vector_act)``; ``vector_act`` is σ_g inside the gate, or σ
            applied to ‖V'‖ without gating. ``None`` disables.
        vector_gate: gate vectors by a linear map of the scalars (the 2021 variant).
    """

    def __init__(
        self,
        in_dims: tuple[int, int],
        out_dims: tuple[int, int],
        h_dim: int | None = None,
        activations: tuple[Activation, Activation] = (F.silu, torch.sigmoid),
        vector_gate: bool = True,
    ):
        super().__init__()
        self.si, self.vi = in_dims
        self.so, self.vo = out_dims
        self.scalar_act, self.vector_act = activations
        self.vector_gate = vector_gate
        if self.vi:
            self.h_dim = h_dim or max(self.vi, self.vo)
            self.wh = nn.Linear(self.vi, self.h_dim, bias=False)
            self.ws = nn.Linear(self.h_dim + self.si, self.so)
            if self.vo:
                self.wv = nn.Linear(self.h_dim, self.vo, bias=False)
                if vector_gate:
                    self.wsv = nn.Linear(self.so, self.vo)
        else:
            self.ws = nn.Linear(self.si, self.so)

    def forward(self, s: torch.Tensor, V: torch.Tensor) -> ScalarVector:
        if self.vi:
            Vh = self.wh(V.transpose(-1, -2))  # [n, 3, h]: mixes channels, never xyz
            s = self.ws(torch.cat([s, vector_norm(Vh.transpose(-1, -2))], dim=-1))  # [n, so]
            if self.vo:
                V = self.wv(Vh).transpose(-1, -2)  # [n, vo, 3]
                if self.vector_gate:
                    gate_in = self.vector_act(s) if self.vector_act is not None else s
                    V = V * torch.sigmoid(self.wsv(gate_in))[..., None]
                elif self.vector_act is not None:
                    V = V * self.vector_act(vector_norm(V, keepdim=True))
            else:
                V = s.new_zeros(s.shape[0], 0, 3)
        else:
            s = self.ws(s)
            V = s.new_zeros(s.shape[0], self.vo, 3)
        if self.scalar_act is not None:
            s = self.scalar_act(s)
        return s, V


class GVPLayerNorm(nn.Module):
    """Layer norm for ``(s, V)``: ordinary LayerNorm on s; V divided by √(mean over channels of ‖v‖²)."""

    def __init__(self, dims: tuple[int, int], eps: float = 1e-8):
        super().__init__()
        self.scalar_norm = nn.LayerNorm(dims[0])
        self.eps = eps

    def forward(self, s: torch.Tensor, V: torch.Tensor) -> ScalarVector:
        if V.shape[-2] == 0:
            return self.scalar_norm(s), V
        sq = torch.clamp((V * V).sum(-1, keepdim=True), min=self.eps)  # [n, nv, 1]
        return self.scalar_norm(s), V / torch.sqrt(sq.mean(dim=-2, keepdim=True))


class GVPConvLayer(nn.Module):
    """One message-passing layer with residuals and GVP layer norms.

    Message ``m_ij = GVP³([s_j, e_ij, s_i], [V_j, ê_ij, V_i]) · u(r_ij)`` (last GVP without
    activations; ``u`` is the cutoff envelope, so messages fade smoothly at r_max), summed over
    neighbours j and divided by √(average number of neighbours). Then
    ``x ← norm(x + Σ_j m_ij)`` and ``x ← norm(x + FF(x))``.
    """

    def __init__(self, node_dims: tuple[int, int], edge_dims: tuple[int, int], avg_num_neighbors: float, vector_gate: bool):
        super().__init__()
        ns, nv = node_dims
        es, ev = edge_dims
        kw = {"vector_gate": vector_gate}
        self.message = nn.ModuleList(
            [
                GVP((2 * ns + es, 2 * nv + ev), (ns, nv), **kw),
                GVP((ns, nv), (ns, nv), **kw),
                GVP((ns, nv), (ns, nv), activations=(None, None), **kw),
            ]
        )
        self.feedforward = nn.ModuleList(
            [GVP((ns, nv), (4 * ns, 2 * nv), **kw), GVP((4 * ns, 2 * nv), (ns, nv), activations=(None, None), **kw)]
        )
        self.norm = nn.ModuleList([GVPLayerNorm(node_dims), GVPLayerNorm(node_dims)])
        self.inv_sqrt_neighbors = 1.0 / math.sqrt(avg_num_neighbors)

    def forward(
        self,
        s: torch.Tensor,
        V: torch.Tensor,
        edge_index: torch.Tensor,
        edge_s: torch.Tensor,
        edge_V: torch.Tensor,
        envelope: torch.Tensor,
    ) -> ScalarVector:
        i, j = edge_index  # receiver, neighbour
        ms = torch.cat([s.index_select(0, j), edge_s, s.index_select(0, i)], dim=-1)  # [n_edges, 2 ns + es]
        mV = torch.cat([V.index_select(0, j), edge_V, V.index_select(0, i)], dim=-2)  # [n_edges, 2 nv + ev, 3]
        for gvp in self.message:
            ms, mV = gvp(ms, mV)
        ms = ms * envelope[:, None]
        mV = mV * envelope[:, None, None]
        agg_s = scatter_sum(ms, i, s.shape[0]) * self.inv_sqrt_neighbors  # [n_atoms, ns]
        agg_V = scatter_sum(mV, i, V.shape[0]) * self.inv_sqrt_neighbors  # [n_atoms, nv, 3]
        s, V = self.norm[0](s + agg_s, V + agg_V)
        fs, fV = s, V
        for gvp in self.feedforward:
            fs, fV = gvp(fs, fV)
        return self.norm[1](s + fs, V + fV)


@dataclass(frozen=True)
class GVPConfig(ModelConfig):
    """GVP-GNN hyperparameters (defaults sized for quick CPU runs).

    Attributes:
        n_layers: message-passing layers.
        scalar_channels, vector_channels: node feature sizes (n_s, n_v).
        n_basis: Bessel functions for the edge scalars; cutoff_p: envelope exponent.
        vector_gate: vector gating (True) or σ(‖v‖) nonlinearity (False).
        avg_num_neighbors: normalisation of the neighbour sum.
    """

    n_layers: int = 3
    scalar_channels: int = 32
    vector_channels: int = 16
    n_basis: int = 8
    cutoff_p: int = 6
    vector_gate: bool = True
    avg_num_neighbors: float = 10.0


class GVPModel(EnergyModel):
    """GVP-GNN energy model.

    Inputs as on the seminar slide: node scalars = one-hot atom type (node vectors start at zero);
    edge scalars = radial Bessel features; edge vectors = unit directions to the neighbours.
    Readouts: energy = Σ_i MLP(s_i); ``atom_vectors`` = one vector channel of a final GVP;
    molecule vector = Σ_i atom_vectors (``molecule_vector`` in the output).
    """

    kind = "gvp"
    config_class = GVPConfig

    def __init__(self, config: GVPConfig):
        super().__init__(config)
        ns, nv = config.scalar_channels, config.vector_channels
        self.embed = GVP((self.n_species, 0), (ns, nv), activations=(None, None), vector_gate=config.vector_gate)
        self.radial = RadialEmbedding(config.r_max, config.n_basis, config.cutoff_p, trainable=False)
        self.layers = nn.ModuleList(
            [GVPConvLayer((ns, nv), (config.n_basis, 1), config.avg_num_neighbors, config.vector_gate) for _ in range(config.n_layers)]
        )
        self.readout = GVP((ns, nv), (ns, 1), vector_gate=config.vector_gate)
        self.energy_mlp = nn.Sequential(nn.Linear(ns, ns), nn.SiLU(), nn.Linear(ns, 1))

    def atomic_outputs(self, batch: AtomsBatch, positions: torch.Tensor, species: torch.Tensor):
        cfg = self.config
        edge_index = batch.radius_graph(cfg.r_max)  # [2, n_edges]
        vec = edge_vectors(positions, edge_index)  # [n_edges, 3]
        r = vector_norm(vec, eps=1e-12)  # [n_edges]
        envelope = self.radial.cutoff(r)  # [n_edges]
        edge_s = self.radial.basis(r) * envelope[:, None]  # [n_edges, n_basis]: self.radial(r), envelope computed once
        edge_V = (vec / r[:, None])[:, None, :]  # [n_edges, 1, 3]
        one_hot = F.one_hot(species, self.n_species).to(positions.dtype)  # [n_atoms, n_species]
        s, V = self.embed(one_hot, positions.new_zeros(positions.shape[0], 0, 3))
        for layer in self.layers:
            s, V = layer(s, V, edge_index, edge_s, edge_V, envelope)
        features = {"0e": s[..., None], "1o": V}
        s_out, V_out = self.readout(s, V)
        eps = self.energy_mlp(s_out).squeeze(-1)  # [n_atoms]
        return eps, V_out[:, 0, :], features
