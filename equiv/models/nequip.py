"""NequIP (Batzner et al., Nat. Commun. 2022), written from the paper with e3nn 0.6.

Per layer, for atom i with features h_i (irreps up to l_max, both parities when ``parity``):

* ``m_ij = TP(Linear₁(h_j), Y(r̂_ij); W(‖r_ij‖))``: an e3nn ``TensorProduct`` with "uvu"
  (channel-wise) instructions whose weights W are produced per edge by a radial MLP of the
  Bessel × envelope features; Y are spherical harmonics of the edge direction up to l_max
  ("component" normalisation);
* ``h_i ← Gate(Linear₂(Σ_j m_ij / √avg_neighbours) + SelfConnection(h_i, species_i))``, the
  self-connection being a species-dependent ``FullyConnectedTensorProduct(h, one-hot)``;
  the gate applies SiLU to even scalars, tanh to odd scalars, and multiplies every l > 0 irrep by an
  activated scalar gate; an optional residual adds the old features when irreps match.

Energy: ε_i = Linear(Linear(h_i → C/2 × 0e) → 1 × 0e), then ``E = Σ_i scale · ε_i + shift[Z_i]``.
``atom_vectors`` = Linear(h_i → 1 × 1o) (zero when l_max = 0: scalar features carry no vector).

With ``parity=False`` every irrep is labelled even (0e, 1e, 2e, …) and the spherical harmonics too:
the network is then equivariant under rotations only (SO(3)), not reflections, because paths
such as 1 ⊗ 1 → 1 (a cross product) are treated as if they were polar. The rotation lab uses this to
show O(3) versus SO(3).

e3nn optimisation settings: e3nn 0.6's defaults (``jit_mode="eager"``, ``specialized_code`` and
``optimize_einsums`` on) are kept. TorchScript ("script") is deprecated in torch ≥ 2.10 and makes
building each TensorProduct take seconds, which matters when the app and sweeps build many small
models; ``bench/`` measures the alternatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import nn
from torch.nn import functional as F

from equiv.graphs import AtomsBatch, edge_vectors, scatter_sum
from equiv.models import activation_moments
from equiv.models.base import EnergyModel, ModelConfig
from equiv.models.channel_major import (
    ChannelLayout,
    ChannelMajorGate,
    ChannelMajorLinear,
    ChannelMajorSpeciesLinear,
    ChannelMajorTensorProduct,
    channel_major_supported,
    e3nn_internals_known,
)
from equiv.models.radial import RadialEmbedding
from equiv.o3 import l1_to_vector, uvu_paths

activation_moments.install()  # e3nn's gate constants without drawing 10^6 samples per activation

__all__ = ["NequIPConfig", "NequIP", "Interaction", "hidden_irreps", "edge_irreps"]


def hidden_irreps(channels: int, l_max: int, parity: bool) -> o3.Irreps:
    """``C × (0e + 0o + 1e + 1o + …)`` up to l_max with parity, else ``C × (0e + 1e + …)``."""
    parities = "eo" if parity else "e"
    return o3.Irreps([(channels, (l, 1 if p == "e" else -1)) for l in range(l_max + 1) for p in parities])


def edge_irreps(l_max: int, parity: bool) -> o3.Irreps:
    """Spherical-harmonic irreps of the edge direction: ``0e + 1o + 2e + …`` (or all even)."""
    return o3.Irreps([(1, (l, (-1) ** l if parity else 1)) for l in range(l_max + 1)])


def _path_exists(irreps_in: o3.Irreps, irreps_edge: o3.Irreps, ir_out: o3.Irrep) -> bool:
    return any(ir_out in ir1 * ir2 for _, ir1 in irreps_in for _, ir2 in irreps_edge)


_ACT = {1: F.silu, -1: torch.tanh}


class Interaction(nn.Module):
    """One NequIP layer: convolution, self-connection and gate (see module docstring); its
    ``channel_major`` evaluates the same modules on channel-major features (``None`` if impossible)."""

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_hidden: o3.Irreps,
        irreps_edge: o3.Irreps,
        n_species: int,
        n_basis: int,
        radial_hidden: tuple[int, ...],
        avg_num_neighbors: float,
        resnet: bool,
    ):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        irreps_edge = o3.Irreps(irreps_edge)
        # Output irreps: those of the hidden set that the tensor product can reach.
        scalars = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l == 0 and _path_exists(self.irreps_in, irreps_edge, ir)])
        gated = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l > 0 and _path_exists(self.irreps_in, irreps_edge, ir)])
        gate_ir = "0e" if _path_exists(self.irreps_in, irreps_edge, o3.Irrep("0e")) else "0o"
        gates = o3.Irreps([(m, gate_ir) for m, _ in gated])
        self.gate = e3nn_nn.Gate(
            scalars, [_ACT[ir.p] for _, ir in scalars], gates, [_ACT[ir.p] for _, ir in gates], gated
        )
        self.irreps_out = self.gate.irreps_out
        conv_out = self.gate.irreps_in  # scalars + gates + gated

        self.linear_1 = o3.Linear(self.irreps_in, self.irreps_in)
        irreps_mid, paths = uvu_paths(self.irreps_in, irreps_edge, conv_out)
        self.tp = o3.TensorProduct(
            self.irreps_in,
            irreps_edge,
            irreps_mid,
            [p.instruction() for p in paths],
            shared_weights=False,
            internal_weights=False,
        )
        self.radial_mlp = e3nn_nn.FullyConnectedNet([n_basis, *radial_hidden, self.tp.weight_numel], F.silu)
        self.linear_2 = o3.Linear(irreps_mid, conv_out)
        self.self_connection = o3.FullyConnectedTensorProduct(self.irreps_in, f"{n_species}x0e", conv_out)
        self.inv_sqrt_neighbors = 1.0 / math.sqrt(avg_num_neighbors)
        self.resnet = resnet and self.irreps_in == self.irreps_out
        self.channel_major = _ChannelMajorInteraction(self) if _ChannelMajorInteraction.supports(self) else None

    def forward(
        self,
        h: torch.Tensor,
        one_hot: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
    ) -> torch.Tensor:
        """Features ``h`` in either layout, e3nn's ``[n_atoms, irreps_in.dim]`` or channel-major
        ``[n_atoms, D_in, C]`` (three dimensions), → the same layout of ``irreps_out``."""
        ops = self if h.dim() == 2 else self.channel_major  # the same calls with e3nn's weights
        i, j = edge_index  # receiver, neighbour
        x = ops.linear_1(h, self.linear_1.weight)  # [n_atoms, dim_in] or [n_atoms, D_in, C]
        weights = self.radial_mlp(edge_radial)  # [n_edges, weight_numel]
        messages = ops.tp(x.index_select(0, j), edge_sh, weights)  # [n_edges, dim_mid] or [n_edges, D_mid, C]
        agg = scatter_sum(messages, i, h.shape[0]) * self.inv_sqrt_neighbors  # [n_atoms, dim_mid] (or D_mid, C)
        out = ops.linear_2(agg, self.linear_2.weight) + ops.self_connection(h, one_hot, self.self_connection.weight)
        out = ops.gate(out)  # [n_atoms, dim_out] or [n_atoms, D_out, C]
        return h + out if self.resnet else out


class _ChannelMajorInteraction(nn.Module):
    """A layer's e3nn modules evaluated on channel-major features ``[n_atoms, D, C]``, called like
    the e3nn modules themselves (see :mod:`equiv.models.channel_major`)."""

    @staticmethod
    def supports(layer: Interaction) -> bool:
        C = layer.irreps_in[0].mul
        return e3nn_internals_known() and all(
            channel_major_supported(irreps, C)
            for irreps in (layer.irreps_in, layer.tp.irreps_out, layer.gate.irreps_in, layer.gate.irreps_out)
        ) and all(mul == C for mul, _ in list(layer.irreps_in) + list(layer.tp.irreps_out))

    def __init__(self, layer: Interaction):
        super().__init__()
        C = layer.irreps_in[0].mul
        lay_in = ChannelLayout(layer.irreps_in, C)
        lay_mid = ChannelLayout(layer.tp.irreps_out, C)
        lay_conv = ChannelLayout(layer.gate.irreps_in, C)
        self.lay_out = ChannelLayout(layer.gate.irreps_out, C)
        self.linear_1 = ChannelMajorLinear(layer.linear_1, lay_in, lay_in)
        self.tp = ChannelMajorTensorProduct(layer.tp, lay_in, lay_mid)
        self.linear_2 = ChannelMajorLinear(layer.linear_2, lay_mid, lay_conv)
        self.self_connection = ChannelMajorSpeciesLinear(layer.self_connection, lay_in, lay_conv)
        self.gate = ChannelMajorGate(layer.gate, lay_conv, self.lay_out)


@dataclass(frozen=True)
class NequIPConfig(ModelConfig):
    """NequIP hyperparameters. Defaults: the project's CPU benchmark configuration
    (l_max 2, 3 layers, 32 channels, r_max 5 Å, 8 Bessels, p = 6, radial MLP 2 × 64).

    Attributes:
        l_max: highest order of features and spherical harmonics (0–3).
        n_layers: interaction layers; channels: multiplicity of every hidden irrep.
        parity: O(3) features (both parities) or SO(3) only (all labelled even).
        n_basis, cutoff_p: radial basis size and envelope exponent; trainable_bessel: learn the frequencies.
        radial_hidden: hidden layer widths of the radial MLP.
        avg_num_neighbors: the neighbour sum is divided by its square root.
        resnet: add residual connections where irreps allow.

    The evaluation layout is not a hyperparameter: see :attr:`NequIP.channel_major`.
    """

    l_max: int = 2
    n_layers: int = 3
    channels: int = 32
    parity: bool = True
    n_basis: int = 8
    cutoff_p: int = 6
    trainable_bessel: bool = True
    radial_hidden: tuple[int, ...] = (64, 64)
    avg_num_neighbors: float = 10.0
    resnet: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> "NequIPConfig":
        """As :meth:`ModelConfig.from_dict`; ``fast`` (the layout flag that checkpoints and run
        records before the layout was chosen at build time carry) is ignored."""
        return super().from_dict({k: v for k, v in data.items() if k != "fast"})


class NequIP(EnergyModel):
    """NequIP energy model (see module docstring).

    ``channel_major``, chosen when the model is built or loaded and never saved: the layers run in
    the layout of :mod:`equiv.models.channel_major` (same weights, same numbers to 1e-12 in float64,
    several times fewer kernels) wherever every layer allows it; set it False for e3nn's own path.
    """

    kind = "nequip"
    config_class = NequIPConfig

    def __init__(self, config: NequIPConfig):
        super().__init__(config)
        if not 0 <= config.l_max <= 3:
            raise ValueError("NequIP l_max must be between 0 and 3")
        C = config.channels
        self.irreps_edge = edge_irreps(config.l_max, config.parity)
        self.irreps_hidden = hidden_irreps(C, config.l_max, config.parity)
        self.embedding = o3.Linear(f"{self.n_species}x0e", f"{C}x0e")
        self.radial = RadialEmbedding(config.r_max, config.n_basis, config.cutoff_p, config.trainable_bessel)
        layers = []
        irreps = o3.Irreps(f"{C}x0e")
        for _ in range(config.n_layers):
            layer = Interaction(
                irreps, self.irreps_hidden, self.irreps_edge, self.n_species, config.n_basis,
                tuple(config.radial_hidden), config.avg_num_neighbors, config.resnet,
            )
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = nn.ModuleList(layers)
        self.irreps_final = irreps
        self.readout_hidden = o3.Linear(irreps, f"{max(C // 2, 1)}x0e")
        self.readout_energy = o3.Linear(f"{max(C // 2, 1)}x0e", "1x0e")
        vector_ir = "1o" if config.parity else "1e"
        self.has_vectors = o3.Irrep(vector_ir) in irreps
        self.readout_vector = o3.Linear(irreps, f"1x{vector_ir}") if self.has_vectors else None
        self.channel_major = all(layer.channel_major is not None for layer in self.layers)

    def atomic_outputs(self, batch: AtomsBatch, positions: torch.Tensor, species: torch.Tensor):
        cfg = self.config
        edge_index = batch.radius_graph(cfg.r_max)  # [2, n_edges]
        vec = edge_vectors(positions, edge_index)  # [n_edges, 3]
        r = vec.norm(dim=-1)  # [n_edges]
        edge_sh = o3.spherical_harmonics(self.irreps_edge, vec, normalize=True, normalization="component")  # [n_edges, dim_sh]
        edge_radial = self.radial(r)  # [n_edges, n_basis]
        one_hot = F.one_hot(species, self.n_species).to(positions.dtype)  # [n_atoms, n_species]
        h = self.embedding(one_hot)  # [n_atoms, C]
        if self.channel_major:
            h = h.view(h.shape[0], 1, -1)  # channel-major [n_atoms, 1, C]: C scalars are one column
        for layer in self.layers:
            h = layer(h, one_hot, edge_index, edge_sh, edge_radial)
        if self.channel_major:
            h = self.layers[-1].channel_major.lay_out.from_channel_major(h)  # [n_atoms, dim]
        eps = self.readout_energy(self.readout_hidden(h)).squeeze(-1)  # [n_atoms]
        if self.readout_vector is not None:
            vectors = l1_to_vector(self.readout_vector(h))  # [n_atoms, 3] Cartesian
        else:
            vectors = positions.new_zeros(positions.shape)
        return eps, vectors, self.split_features(h)

    def split_features(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hidden features ``[n_atoms, dim]`` → ``{"1o": [n_atoms, mul, 3], ...}`` (last layer)."""
        out = {}
        for (mul, ir), sl in zip(self.irreps_final, self.irreps_final.slices()):
            out[str(ir)] = h[:, sl].reshape(h.shape[0], mul, ir.dim)
        return out
