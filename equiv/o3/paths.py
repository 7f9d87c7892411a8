"""Which tensor-product paths a NequIP-style convolution has: ``l_in ⊗ l_edge → l_out``.

Pure irreps bookkeeping, shared by the NequIP model (which builds its e3nn ``TensorProduct`` from
it) and the irreps lab (which lists the paths), so both always agree.

Example:
    >>> mid, paths = uvu_paths("8x0e+8x1o", "1x0e+1x1o", "8x0e+8x1o")
    >>> str(mid)
    '8x0e+8x0e+8x1o+8x1o'
    >>> [(p.ir_in, p.ir_edge, p.ir_out) for p in paths]
    [('0e', '0e', '0e'), ('1o', '1o', '0e'), ('0e', '1o', '1o'), ('1o', '0e', '1o')]
"""

from __future__ import annotations

from dataclasses import dataclass

from e3nn import o3

__all__ = ["TensorProductPath", "uvu_paths"]


@dataclass(frozen=True)
class TensorProductPath:
    """One "uvu" path: input block ``i_in`` (irrep ``ir_in``, ``mul`` channels) times edge block
    ``i_edge`` into output block ``i_out`` of the sorted ``irreps_mid``."""

    i_in: int
    i_edge: int
    i_out: int
    ir_in: str
    ir_edge: str
    ir_out: str
    mul: int

    def instruction(self) -> tuple[int, int, int, str, bool]:
        """The e3nn ``TensorProduct`` instruction: channel-wise ("uvu"), with a per-edge weight."""
        return (self.i_in, self.i_edge, self.i_out, "uvu", True)


def uvu_paths(
    irreps_in: str | o3.Irreps, irreps_edge: str | o3.Irreps, irreps_out: str | o3.Irreps
) -> tuple[o3.Irreps, list[TensorProductPath]]:
    """Paths of NequIP's convolution and the irreps of its output (``irreps_mid``).

    Every product ``ir_in ⊗ ir_edge`` contributes the irreps it contains that appear in
    ``irreps_out`` (always including the scalars ``0e``), each with the multiplicity of ``ir_in``
    (the "uvu" mode keeps channels separate). ``irreps_mid`` is sorted by irrep, as e3nn expects
    for a following ``Linear``; the paths point into the sorted order and are listed in it.

    Returns:
        ``(irreps_mid, paths)``.
    """
    irreps_in, irreps_edge, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_edge), o3.Irreps(irreps_out)
    wanted = {ir for _, ir in irreps_out} | {o3.Irrep("0e")}
    mid: list[tuple[int, o3.Irrep]] = []
    raw: list[tuple[int, int, int]] = []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_edge) in enumerate(irreps_edge):
            for ir_out in ir_in * ir_edge:
                if ir_out in wanted:
                    raw.append((i, j, len(mid)))
                    mid.append((mul, ir_out))
    irreps_mid, perm, _ = o3.Irreps(mid).sort()
    paths = [
        TensorProductPath(i, j, perm[k], str(irreps_in[i].ir), str(irreps_edge[j].ir), str(mid[k][1]), irreps_in[i].mul)
        for i, j, k in raw
    ]
    paths.sort(key=lambda p: p.i_out)
    return irreps_mid, paths
