"""A fused evaluation of e3nn's channel-wise ("uvu") tensor product with per-edge weights.

e3nn's ``TensorProduct`` evaluates each path ``l1 ⊗ l2 → l3`` with its own einsum; on a CPU with
small molecules the hundreds of small kernels dominate NequIP's run time. For the NequIP case
(every input-1 irrep with the same multiplicity C, input-2 irreps with multiplicity 1, "uvu"
paths with per-edge weights) all paths fit into two dense products:

    M[e, i, k] = Σ_j K[j, i, k] · y[e, j]          # K holds every path's Clebsch–Gordan block
                                                  #   times its path weight
    out[e, u, k] = w[e, path(k), u] · Σ_i x[e, u, i] · M[e, i, k]   # path(k): the path of column k

where x is input 1 in a channel-major layout ``[n_edges, C, D1]`` (D1 = Σ (2l+1) over its irreps).
The result equals ``tp(x, y, w)`` to rounding (tested in float64 to 1e-12), with e3nn's weight layout
and normalisation, so checkpoints do not depend on which evaluation is used.

Example:
    >>> import torch
    >>> from e3nn import o3
    >>> torch.set_default_dtype(torch.float64)
    >>> from equiv.o3 import uvu_paths
    >>> mid, paths = uvu_paths("4x0e+4x1o", "0e+1o", "4x0e+4x1o+4x1e")
    >>> tp = o3.TensorProduct("4x0e+4x1o", "0e+1o", mid, [p.instruction() for p in paths],
    ...     shared_weights=False, internal_weights=False)
    >>> fused = FusedChannelwiseTP(tp)
    >>> x, y, w = torch.randn(7, 16), torch.randn(7, 4), torch.randn(7, tp.weight_numel)
    >>> bool((fused(x, y, w) - tp(x, y, w)).abs().max() < 1e-12)
    True
    >>> torch.set_default_dtype(torch.float32)
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

__all__ = ["FusedChannelwiseTP", "fusable", "to_channel_major", "from_channel_major"]


def fusable(tp: o3.TensorProduct) -> bool:
    """Whether :class:`FusedChannelwiseTP` can evaluate ``tp``: uniform input-1 multiplicity,
    multiplicity-1 input 2, "uvu" paths with per-edge weights, each into its own output block
    (as :func:`equiv.o3.uvu_paths` builds them)."""
    muls = {mul for mul, _ in tp.irreps_in1}
    return (
        len(muls) == 1
        and all(mul == 1 for mul, _ in tp.irreps_in2)
        and all(ins.connection_mode == "uvu" and ins.has_weight for ins in tp.instructions)
        and not tp.shared_weights
        and all(mul == next(iter(muls)) for mul, _ in tp.irreps_out)
        and len({ins.i_out for ins in tp.instructions}) == len(tp.instructions)  # one path per output block
    )


def to_channel_major(x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
    """e3nn layout ``[n, Σ mul·(2l+1)]`` → ``[n, mul, Σ (2l+1)]`` (uniform multiplicity)."""
    blocks = [x[:, sl].reshape(x.shape[0], mul, ir.dim) for (mul, ir), sl in zip(irreps, irreps.slices())]
    return torch.cat(blocks, dim=2)


def from_channel_major(x: torch.Tensor, irreps: o3.Irreps, starts: list[int] | None = None) -> torch.Tensor:
    """``[n, mul, Σ (2l+1)]`` → e3nn layout ``[n, Σ mul·(2l+1)]``; block k of ``irreps`` is read
    from column ``starts[k]`` (default: the blocks in order)."""
    if starts is None:
        starts = _starts(irreps)[:-1]
    blocks = [x[:, :, s : s + ir.dim].reshape(x.shape[0], mul * ir.dim) for (mul, ir), s in zip(irreps, starts)]
    return torch.cat(blocks, dim=1)


class FusedChannelwiseTP(nn.Module):
    """Evaluates an e3nn "uvu" ``TensorProduct`` (see module docstring); inputs and output in e3nn layout.

    Paths are grouped by their input-1 irrep block a, and each group is one batched product
    ``x_a [n, C, 2l_a+1] @ M_a [n, 2l_a+1, cols_a]``: the dense form over all of D1 would mostly
    multiply zeros. Output columns are produced group after group; ``column_start`` records where
    each output block of ``irreps_out`` landed.
    """

    def __init__(self, tp: o3.TensorProduct):
        super().__init__()
        if not fusable(tp):
            raise ValueError("FusedChannelwiseTP needs uniform input-1 multiplicities and uvu paths with per-edge weights")
        self.irreps_in1, self.irreps_in2, self.irreps_out = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
        self.mul = tp.irreps_in1[0].mul
        self.n_paths = len(tp.instructions)
        dtype = torch.get_default_dtype()
        start1 = _starts(self.irreps_in1)
        slices2 = self.irreps_in2.slices()
        d2 = self.irreps_in2.dim
        self.d1 = start1[-1]
        self.in_slices: list[tuple[int, int]] = []
        self.group_sizes: list[tuple[int, int]] = []  # (2l_a+1, number of output columns)
        column_start = [0] * len(self.irreps_out)
        col = 0
        for g, a in enumerate(sorted({ins.i_in1 for ins in tp.instructions})):
            paths = [(p, ins) for p, ins in enumerate(tp.instructions) if ins.i_in1 == a]
            d_a = self.irreps_in1[a].ir.dim
            n_cols = sum(self.irreps_out[ins.i_out].ir.dim for _, ins in paths)
            K = torch.zeros(d2, d_a, n_cols, dtype=torch.float64)  # [D2, d_a, cols_a]
            expand = torch.zeros(len(paths), n_cols, dtype=torch.float64)  # [paths_a, cols_a] 0/1
            c = 0
            for q, (p, ins) in enumerate(paths):
                l1, l2 = self.irreps_in1[ins.i_in1].ir.l, self.irreps_in2[ins.i_in2].ir.l
                ir_out = self.irreps_out[ins.i_out].ir
                w3j = o3.wigner_3j(l1, l2, ir_out.l, dtype=torch.float64)  # [2l1+1, 2l2+1, 2l3+1]
                K[slices2[ins.i_in2], :, c : c + ir_out.dim] += ins.path_weight * w3j.permute(1, 0, 2)
                expand[q, c : c + ir_out.dim] = 1.0
                column_start[ins.i_out] = col + c
                c += ir_out.dim
            self.in_slices.append((start1[a], start1[a + 1]))
            self.group_sizes.append((d_a, n_cols))
            self.register_buffer(f"K{g}", K.reshape(d2, d_a * n_cols).to(dtype), persistent=False)
            self.register_buffer(f"expand{g}", expand.to(dtype), persistent=False)
            self.register_buffer(f"paths{g}", torch.tensor([p for p, _ in paths]), persistent=False)
            col += n_cols
        self.d_out = col
        self.column_start = column_start

    def forward_channel_major(self, x1: torch.Tensor, x2: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x1 [n, C, D1]``, ``x2 [n, D2]``, ``weight [n, n_paths·C]`` → ``[n, C, D_out]``
        (output blocks at ``column_start``)."""
        w = weight.view(-1, self.n_paths, self.mul)  # [n, n_paths, C]
        outs = []
        for g, ((lo, hi), (d_a, n_cols)) in enumerate(zip(self.in_slices, self.group_sizes)):
            M = (x2 @ getattr(self, f"K{g}")).view(-1, d_a, n_cols)  # [n, d_a, cols_a]
            T = torch.bmm(x1[:, :, lo:hi], M)  # [n, C, cols_a]
            w_g = w.index_select(1, getattr(self, f"paths{g}")).transpose(1, 2)  # [n, C, paths_a]
            outs.append(T * (w_g @ getattr(self, f"expand{g}")))  # each column scaled by its path's weight
        return torch.cat(outs, dim=2)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        out = self.forward_channel_major(to_channel_major(x1, self.irreps_in1), x2, weight)
        return from_channel_major(out, self.irreps_out, self.column_start)


def _starts(irreps: o3.Irreps) -> list[int]:
    starts = [0]
    for _, ir in irreps:
        starts.append(starts[-1] + ir.dim)
    return starts
