"""NequIP-style "uvu" tensor-product paths: selection rules, and an e3nn TensorProduct built from them."""

import pytest
import torch
from e3nn import o3

from equiv.o3 import random_rotation, uvu_paths


@pytest.mark.parametrize("lmax", [0, 1, 2, 3])
@pytest.mark.parametrize("parity", [True, False])
def test_paths_obey_selection_rules(lmax, parity):
    if parity:
        feats = "+".join(f"4x{l}{p}" for l in range(lmax + 1) for p in "eo")
        edge = "+".join(f"1x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1))
    else:
        feats = "+".join(f"4x{l}e" for l in range(lmax + 1))
        edge = "+".join(f"1x{l}e" for l in range(lmax + 1))
    mid, paths = uvu_paths(feats, edge, feats)
    assert len(paths) == len(mid)
    assert [p.i_out for p in paths] == list(range(len(mid)))
    for p in paths:
        a, b, c = o3.Irrep(p.ir_in), o3.Irrep(p.ir_edge), o3.Irrep(p.ir_out)
        assert abs(a.l - b.l) <= c.l <= a.l + b.l and c.p == a.p * b.p
        assert c in o3.Irreps(feats) or c == o3.Irrep("0e")
        assert mid[p.i_out].ir == c and mid[p.i_out].mul == 4
    # No allowed path is missing.
    expected = sum(
        1 for _, a in o3.Irreps(feats) for _, b in o3.Irreps(edge) for c in a * b
        if c in {ir for _, ir in o3.Irreps(feats)} | {o3.Irrep("0e")}
    )
    assert len(paths) == expected


def test_tensor_product_from_paths_is_equivariant():
    torch.set_default_dtype(torch.float64)
    try:
        feats, edge = "3x0e+3x1o+3x2e", "0e+1o+2e"
        mid, paths = uvu_paths(feats, edge, feats)
        tp = o3.TensorProduct(feats, edge, mid, [p.instruction() for p in paths], shared_weights=False, internal_weights=False)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(5, o3.Irreps(feats).dim, generator=g)
        y = torch.randn(5, o3.Irreps(edge).dim, generator=g)
        w = torch.randn(5, tp.weight_numel, generator=g)
        R = random_rotation(generator=g)
        Dx, Dy, Dm = (o3.Irreps(s).D_from_matrix(R) for s in (feats, edge, str(mid)))
        out = tp(x, y, w)
        assert ((tp(x @ Dx.T, y @ Dy.T, w) - out @ Dm.T).abs().max() / out.abs().max()) < 1e-12
    finally:
        torch.set_default_dtype(torch.float32)
