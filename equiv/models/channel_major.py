"""Fast evaluation of NequIP's e3nn modules in a channel-major layout.

On a CPU, NequIP on small molecules is bound by the number of kernels, not by arithmetic: e3nn
evaluates every path of every ``Linear``, ``TensorProduct`` and ``Gate`` with its own small einsum,
and training differentiates twice (forces, then the force loss), multiplying the count. When every
irrep block has a multiplicity that is a multiple of C (true for NequIP's features), the features
can be held as ``x[n, D, C]``: one *column* per (block, group of C channels, component m), C channels
each. Then

* an e3nn ``Linear`` is one batched matmul over irrep types (inputs gathered by an index map),
* the species-dependent self-connection (``FullyConnectedTensorProduct(h, one-hot)``) is the
  same with one weight matrix per species,
* the "uvu" tensor product with per-edge weights is one batched matmul over edges,
* the gate is a handful of gathers and activations.

Each class here *evaluates an existing e3nn module with that module's own weights*, called like
that module (``linear(x, weight)``, ``tp(x, y, weight)``, ``gate(x)``): parameters, normalisation
constants and checkpoints are e3nn's; only the order of operations changes. Tests compare every
output with the plain e3nn evaluation (1e-12 in float64).

They read e3nn 0.6 internals (instructions' path weights and shapes, flat weight order, ``Gate.sc``):
with another e3nn (:func:`e3nn_internals_known`) NequIP uses e3nn's own evaluation, and a layout
refuses to be built.

Example:
    >>> import torch
    >>> from e3nn import o3
    >>> torch.set_default_dtype(torch.float64)
    >>> lin = o3.Linear("8x0e+4x1o+4x1o", "4x0e+4x1o")
    >>> lay_in, lay_out = ChannelLayout(lin.irreps_in, 4), ChannelLayout(lin.irreps_out, 4)
    >>> fast = ChannelMajorLinear(lin, lay_in, lay_out)
    >>> x = torch.randn(3, lin.irreps_in.dim)
    >>> y = lay_out.from_channel_major(fast(lay_in.to_channel_major(x), lin.weight))
    >>> bool((y - lin(x)).abs().max() < 1e-12)
    True
    >>> torch.set_default_dtype(torch.float32)
"""

from __future__ import annotations

import math
from typing import Iterator, NamedTuple

import e3nn
import torch
from e3nn import o3
from torch import nn

__all__ = [
    "ChannelLayout",
    "ChannelMajorLinear",
    "ChannelMajorSpeciesLinear",
    "ChannelMajorTensorProduct",
    "ChannelMajorGate",
    "channel_major_supported",
    "e3nn_internals_known",
]

def e3nn_internals_known() -> bool:
    """Whether the installed e3nn is the 0.6 series, whose internals these classes read."""
    return e3nn.__version__.startswith("0.6.")


class Column(NamedTuple):
    """A column of a channel-major layout: channel group ``group`` of irrep block ``block``, component ``m``."""
    block: int
    group: int
    m: int
    ir: o3.Irrep


class ChannelGroup(NamedTuple):
    """C consecutive channels of an irrep block: the block, and the group's number in it."""
    block: int
    group: int


class _TypePlan(NamedTuple):
    """An output irrep type of a linear map: input columns from ``start`` (``k`` groups; −1: no
    input of that type), ``d`` components, ``j`` output groups, weights ``[offset, offset + size)``."""
    start: int
    k: int
    d: int
    j: int
    offset: int
    size: int


class _GroupPair(NamedTuple):
    """Two channel groups joined by a path: the type's weight offset and output group count ``j``,
    input group ``gi`` (group ``q`` of its block), output group ``go`` (group ``qo`` of its block)."""
    offset: int
    j: int
    gi: int
    q: int
    go: int
    qo: int


def channel_major_supported(irreps: o3.Irreps, C: int) -> bool:
    """Whether every block of ``irreps`` has a multiplicity that is a multiple of ``C``."""
    return all(mul % C == 0 for mul, _ in o3.Irreps(irreps))


class ChannelLayout(nn.Module):
    """The columns of ``irreps`` in channel-major layout ``[n, D, C]``.

    Columns are grouped by irrep type (in order of first appearance), then by component m, then by
    channel group: a type with k groups of C channels (over all its blocks) and dimension d fills
    ``d·k`` consecutive columns, column ``start + m·k + g``, so that ``x[:, start:start+d·k]`` viewed
    as ``[n, d, k·C]`` is ready for one matrix product per type. Column ``(b, q, m)`` channel ``c`` is
    e3nn's flat index ``start_b + (q·C + c)·(2l+1) + m``.
    """

    def __init__(self, irreps: o3.Irreps | str, C: int):
        super().__init__()
        if not e3nn_internals_known():
            raise RuntimeError(f"the channel-major layout reads e3nn 0.6.x internals; e3nn {e3nn.__version__} is "
                               "installed: use e3nn's own evaluation (NequIP does so by itself)")
        self.irreps = o3.Irreps(irreps)
        self.C = C
        if not channel_major_supported(self.irreps, C):
            raise ValueError(f"{self.irreps}: every multiplicity must be a multiple of {C}")
        self.types: list[o3.Irrep] = []
        groups: dict[o3.Irrep, list[ChannelGroup]] = {}
        for b, (mul, ir) in enumerate(self.irreps):
            if ir not in groups:
                self.types.append(ir)
                groups[ir] = []
            groups[ir] += [ChannelGroup(b, q) for q in range(mul // C)]
        self.groups = groups  # type → its channel groups
        columns: list[Column] = []
        self.type_start: dict[o3.Irrep, int] = {}
        for ir in self.types:
            self.type_start[ir] = len(columns)
            for m in range(ir.dim):
                columns += [Column(b, q, m, ir) for b, q in groups[ir]]
        self.columns = columns
        self.D = len(columns)
        self._column_lookup = {(b, q, m): k for k, (b, q, m, _) in enumerate(columns)}
        slices = self.irreps.slices()
        channels = torch.arange(C)
        flat = [slices[b].start + (q * C + channels) * ir.dim + m for b, q, m, ir in columns]
        index = torch.cat(flat) if flat else torch.zeros(0, dtype=torch.long)  # [D·C]
        inverse = torch.empty_like(index)
        inverse[index] = torch.arange(index.numel())
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("inverse", inverse, persistent=False)

    def to_channel_major(self, x: torch.Tensor) -> torch.Tensor:
        """e3nn layout ``[n, dim]`` → ``[n, D, C]``."""
        return x.index_select(1, self.index).view(x.shape[0], self.D, self.C)

    def from_channel_major(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, D, C]`` → e3nn layout ``[n, dim]``."""
        return x.reshape(x.shape[0], self.D * self.C).index_select(1, self.inverse)

    def column(self, b: int, q: int, m: int) -> int:
        """Column of block b, channel group q, component m."""
        return self._column_lookup[(b, q, m)]


class _PerTypeMap(nn.Module):
    """Shared machinery of the linear maps: one matrix product per irrep type of the output,
    ``x[:, type columns]`` as ``[n, d, k·C]`` times ``W_t [k·C, S·j·C]``, with every ``W_t`` cut
    from the module's flat e3nn weight vector by one precomputed gather."""

    def _setup(self, lay_in: ChannelLayout, lay_out: ChannelLayout, S: int = 1) -> None:
        self.C, self.S = lay_in.C, S
        self.plan: list[_TypePlan] = []  # per output type
        offset = 0
        for ir in lay_out.types:
            j = len(lay_out.groups[ir])
            if ir not in lay_in.groups:
                self.plan.append(_TypePlan(-1, 0, ir.dim, j, offset, 0))
                continue
            start, k = lay_in.type_start[ir], len(lay_in.groups[ir])
            size = k * self.C * S * j * self.C
            self.plan.append(_TypePlan(start, k, ir.dim, j, offset, size))
            offset += size
        self.weight_entries = offset

    def _weight_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Empty ``(index, scale)`` tables: weight-table entry → flat e3nn weight index and factor."""
        return (
            torch.full((self.weight_entries,), -1, dtype=torch.long),
            torch.zeros(self.weight_entries, dtype=torch.float64),
        )

    def _group_pairs(
        self, lay_in: ChannelLayout, lay_out: ChannelLayout, i_in: int, i_out: int
    ) -> Iterator[_GroupPair]:
        """For a path from input block ``i_in`` to output block ``i_out`` (same irrep type): every
        pair of their channel groups."""
        ir = lay_in.irreps[i_in].ir
        plan = self.plan[lay_out.types.index(ir)]
        for gi, (b, q) in enumerate(lay_in.groups[ir]):
            if b != i_in:
                continue
            for go, (bo, qo) in enumerate(lay_out.groups[ir]):
                if bo == i_out:
                    yield _GroupPair(plan.offset, plan.j, gi, q, go, qo)

    def _register_weights(self, widx: torch.Tensor, wscale: torch.Tensor, numel: int) -> None:
        widx = torch.where(widx < 0, torch.full_like(widx, numel), widx)
        self.register_buffer("widx", widx, persistent=False)
        self.register_buffer("wscale", wscale.to(torch.get_default_dtype()), persistent=False)

    def _weights(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.cat([weight, weight.new_zeros(1)]).index_select(0, self.widx) * self.wscale

    def _products(self, x: torch.Tensor, weight: torch.Tensor, one_hot: torch.Tensor | None) -> list[torch.Tensor]:
        """Per output type: ``[n, d·j, C]`` blocks, in output-layout order."""
        n, C, S = x.shape[0], self.C, self.S
        W_all = self._weights(weight)
        blocks = []
        for start, k, d, j, offset, size in self.plan:
            if start < 0:
                blocks.append(x.new_zeros(n, d * j, C))
                continue
            X = x[:, start : start + d * k, :].reshape(n, d, k * C)  # [n, d, k·C]
            W = W_all[offset : offset + size].view(k * C, S * j * C)
            Y = X @ W  # [n, d, S·j·C]
            if one_hot is not None:
                Y = (Y.view(n, d, S, j * C) * one_hot.view(n, 1, S, 1)).sum(dim=2)  # [n, d, j·C]
            blocks.append(Y.reshape(n, d * j, C))
        return blocks


class ChannelMajorLinear(_PerTypeMap):
    """Evaluates an ``o3.Linear`` (no biases) on channel-major features, with its own ``weight``."""

    def __init__(self, linear: o3.Linear, lay_in: ChannelLayout, lay_out: ChannelLayout):
        super().__init__()
        if linear.irreps_in != lay_in.irreps or linear.irreps_out != lay_out.irreps:
            raise ValueError("layouts must describe the Linear's irreps")
        if getattr(linear, "bias_numel", 0):
            raise ValueError("Linear with biases is not supported")
        self._setup(lay_in, lay_out)
        C = self.C
        widx, wscale = self._weight_tables()
        ar = torch.arange(C)
        offset = 0
        for ins in linear.instructions:
            mul_in, mul_out = ins.path_shape
            for base, j, gi, q, go, qo in self._group_pairs(lay_in, lay_out, ins.i_in, ins.i_out):
                rows = (gi * C + ar)[:, None]  # row of W_t
                cols = (go * C + ar)[None, :]  # column of W_t
                pos = base + rows * (j * C) + cols
                widx[pos] = offset + (q * C + ar)[:, None] * mul_out + (qo * C + ar)[None, :]
                wscale[pos] = ins.path_weight
            offset += mul_in * mul_out
        self._register_weights(widx, wscale, linear.weight_numel)

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x [n, D_in, C]``, the Linear's flat ``weight`` → ``[n, D_out, C]``."""
        return torch.cat(self._products(x, weight, None), dim=1)


class ChannelMajorSpeciesLinear(_PerTypeMap):
    """Evaluates ``FullyConnectedTensorProduct(irreps_in, "S x 0e", irreps_out)`` with a one-hot
    second input: a linear map per species (NequIP's self-connection)."""

    def __init__(self, fctp: o3.FullyConnectedTensorProduct, lay_in: ChannelLayout, lay_out: ChannelLayout):
        super().__init__()
        in2 = fctp.irreps_in2
        if len(in2) != 1 or in2[0].ir != o3.Irrep("0e"):
            raise ValueError("the second input must be one block of scalars (the species one-hot)")
        if fctp.irreps_in1 != lay_in.irreps or fctp.irreps_out != lay_out.irreps:
            raise ValueError("layouts must describe the tensor product's irreps")
        S = in2[0].mul
        self._setup(lay_in, lay_out, S)
        C = self.C
        widx, wscale = self._weight_tables()
        ar = torch.arange(C)
        s_ar = torch.arange(S)
        offset = 0
        for ins in fctp.instructions:
            if ins.connection_mode != "uvw":
                raise ValueError("expected uvw instructions")
            mul_in, _, mul_out = ins.path_shape
            ir = lay_in.irreps[ins.i_in1].ir
            alpha = ins.path_weight / math.sqrt(ir.dim)  # e3nn's code for a scalar 2nd input divides by √(2l+1)
            for base, j, gi, q, go, qo in self._group_pairs(lay_in, lay_out, ins.i_in1, ins.i_out):
                rows = (gi * C + ar)[:, None, None]
                cols = (s_ar[None, :, None] * j + go) * C + ar[None, None, :]  # (s, group, channel)
                pos = base + rows * (S * j * C) + cols
                widx[pos] = offset + ((q * C + ar)[:, None, None] * S + s_ar[None, :, None]) * mul_out + (qo * C + ar)[None, None, :]
                wscale[pos] = alpha
            offset += mul_in * S * mul_out
        self._register_weights(widx, wscale, fctp.weight_numel)

    def forward(self, x: torch.Tensor, one_hot: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x [n, D_in, C]``, ``one_hot [n, S]``, flat ``weight`` → ``[n, D_out, C]``."""
        return torch.cat(self._products(x, weight, one_hot), dim=1)


class ChannelMajorTensorProduct(nn.Module):
    """Evaluates NequIP's "uvu" ``TensorProduct`` (per-edge weights, one path per output block):

        M[e, k, i] = Σ_j K[j, k, i] · y[e, j]          (K: every path's Clebsch–Gordan block × path weight)
        out[e, k, u] = w[e, path(k), u] · Σ_i M[e, k, i] · x[e, i, u]
    """

    def __init__(self, tp: o3.TensorProduct, lay_in: ChannelLayout, lay_out: ChannelLayout):
        super().__init__()
        if tp.shared_weights or any(ins.connection_mode != "uvu" or not ins.has_weight for ins in tp.instructions):
            raise ValueError("expected uvu paths with per-edge weights")
        if len({ins.i_out for ins in tp.instructions}) != len(tp.instructions):
            raise ValueError("each output block must come from one path")
        if any(mul != 1 for mul, _ in tp.irreps_in2):
            raise ValueError("the second input must have multiplicity 1")
        if any(mul != lay_in.C for mul, _ in list(tp.irreps_in1) + list(tp.irreps_out)):
            raise ValueError("every block must have multiplicity C")
        self.C = lay_in.C
        self.n_paths = len(tp.instructions)
        d2 = tp.irreps_in2.dim
        slices2 = tp.irreps_in2.slices()
        K = torch.zeros(d2, lay_out.D, lay_in.D, dtype=torch.float64)  # [D2, D_out, D_in]
        expand = torch.zeros(lay_out.D, self.n_paths, dtype=torch.float64)  # [D_out, n_paths] 0/1
        for p, ins in enumerate(tp.instructions):
            ir1, ir2, ir3 = tp.irreps_in1[ins.i_in1].ir, tp.irreps_in2[ins.i_in2].ir, tp.irreps_out[ins.i_out].ir
            w3j = o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64)  # [2l1+1, 2l2+1, 2l3+1]
            rows_in = [lay_in.column(ins.i_in1, 0, m) for m in range(ir1.dim)]
            rows_out = [lay_out.column(ins.i_out, 0, m) for m in range(ir3.dim)]
            block = ins.path_weight * w3j.permute(1, 2, 0)  # [2l2+1, 2l3+1, 2l1+1]
            j2 = torch.arange(slices2[ins.i_in2].start, slices2[ins.i_in2].stop)
            K.index_put_((j2[:, None, None], torch.tensor(rows_out)[None, :, None], torch.tensor(rows_in)[None, None, :]), block, accumulate=True)
            expand[rows_out, p] = 1.0
        self.D_in, self.D_out = lay_in.D, lay_out.D
        dtype = torch.get_default_dtype()
        self.register_buffer("K", K.reshape(d2, lay_out.D * lay_in.D).to(dtype), persistent=False)
        self.register_buffer("expand", expand.to(dtype), persistent=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x [E, D_in, C]``, ``y [E, D2]``, ``weight [E, n_paths·C]`` → ``[E, D_out, C]``."""
        M = (y @ self.K).view(-1, self.D_out, self.D_in)  # [E, D_out, D_in]
        T = torch.bmm(M, x)  # [E, D_out, C]
        w = self.expand @ weight.view(-1, self.n_paths, self.C)  # [E, D_out, C]
        return T * w


class ChannelMajorGate(nn.Module):
    """Evaluates an e3nn ``Gate`` on channel-major features, with the gate's own activations."""

    def __init__(self, gate, lay_in: ChannelLayout, lay_out: ChannelLayout):
        super().__init__()
        C = lay_in.C
        # Where the gate's cut puts each input position: probe it with the positions themselves.
        probe = torch.arange(gate.irreps_in.dim, dtype=torch.float64)[None, :]
        scalars, gates, gated = (t[0].round().long() for t in gate.sc(probe))
        # e3nn position of each column's first channel → column (the layout's own index map).
        position_to_column = {p: k for k, p in enumerate(lay_in.index[::C].tolist())}

        def columns(values: torch.Tensor, irreps: o3.Irreps) -> list[int]:
            cols = []
            for (mul, ir), sl in zip(irreps, irreps.slices()):
                for q in range(mul // C):
                    for m in range(ir.dim):
                        cols.append(position_to_column[int(values[sl.start + q * C * ir.dim + m])])
            return cols

        acts = []
        for i, ((mul, ir), sl) in enumerate(zip(gate.irreps_scalars, gate.irreps_scalars.slices())):
            cols = columns(scalars[sl], o3.Irreps([(mul, ir)]))
            acts.append(gate.act_scalars.acts[i])
            self.register_buffer(f"scalar_cols{i}", torch.tensor(cols), persistent=False)
        self.scalar_acts = acts
        gate_cols = columns(gates, gate.irreps_gates) if gate.irreps_gates.dim else []
        gate_act_of_col = []
        for i, (mul, _) in enumerate(gate.irreps_gates):
            gate_act_of_col += [i] * (mul // C)
        if len(set(gate_act_of_col)) > 1 and len({id(gate.act_gates.acts[i]) for i in set(gate_act_of_col)}) > 1:
            raise ValueError("gates with different activations are not supported")
        self.gate_act = gate.act_gates.acts[0] if gate.irreps_gates.dim else None
        gated_cols, gate_of_gated = [], []
        channel_offset = 0
        for (mul, ir), sl in zip(gate.irreps_gated, gate.irreps_gated.slices()):
            block_cols = columns(gated[sl], o3.Irreps([(mul, ir)]))
            for q in range(mul // C):
                gated_cols += block_cols[q * ir.dim : (q + 1) * ir.dim]
                gate_of_gated += [(channel_offset + q * C) // C] * ir.dim
            channel_offset += mul
        self.register_buffer("gate_cols", torch.tensor(gate_cols, dtype=torch.long), persistent=False)
        self.register_buffer("gated_cols", torch.tensor(gated_cols, dtype=torch.long), persistent=False)
        self.register_buffer("gate_of_gated", torch.tensor(gate_of_gated, dtype=torch.long), persistent=False)
        # Output columns: scalars then gated, which must be the layout of gate.irreps_out.
        expected = [ir for mul, ir in gate.irreps_scalars for _ in range(mul // C) for _ in range(ir.dim)]
        expected += [ir for mul, ir in gate.irreps_gated for _ in range(mul // C) for _ in range(ir.dim)]
        if [c.ir for c in lay_out.columns] != expected:
            raise ValueError("the output layout does not match the gate's irreps_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, D_in, C]`` → ``[n, D_out, C]``."""
        parts = []
        for i, act in enumerate(self.scalar_acts):
            xs = x.index_select(1, getattr(self, f"scalar_cols{i}"))
            parts.append(xs if act is None else act(xs))
        if self.gated_cols.numel():
            g = self.gate_act(x.index_select(1, self.gate_cols))  # [n, n_gate_cols, C]
            parts.append(x.index_select(1, self.gated_cols) * g.index_select(1, self.gate_of_gated))
        return torch.cat(parts, dim=1)
