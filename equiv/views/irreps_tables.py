"""The numbers of the irreps lab as tables, with the checks that go with them.

Every number comes from ``equiv.o3`` (one source of truth); this module only arranges them and
measures the identities the page claims, as max abs errors against float64 tolerances.

Example:
    >>> from equiv.o3 import decompose_outer_product
    >>> table = part_components_table(decompose_outer_product([1, 2, 3], [4, 5, 6]).antisymmetric)
    >>> table["component"].tolist()
    ['x', 'y', 'z']
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import torch

from equiv.o3 import (
    OuterProductDecomposition,
    OuterProductPart,
    TensorProductDecomposition,
    as_irrep,
    clebsch_gordan,
    component_labels,
    decompose_outer_product,
    l1_to_vector,
    outer_part_from_components,
    product_irreps,
    spherical_harmonics,
    uvu_paths,
    vector_to_l1,
    wigner_D,
)
from equiv.views.checks import Check

if TYPE_CHECKING:
    from e3nn.o3 import Irreps

__all__ = [
    "PART_TITLES",
    "cg_checks",
    "cg_coefficients_table",
    "cg_inputs",
    "harmonics_mixing",
    "nequip_irreps",
    "nequip_path_grid",
    "nequip_paths",
    "outer_product_checks",
    "part_components_table",
    "rotation_checks",
    "selection_rule_table",
    "transformed_components_table",
    "vectors_table",
    "wigner_checks",
    "wrong_inverse_error",
]

#: Display names of the three parts of a bᵀ.
PART_TITLES = {"trace": "trace", "antisymmetric": "antisymmetric", "symmetric_traceless": "symmetric traceless"}

_XYZ = ["x", "y", "z"]


def _maxabs(x: torch.Tensor) -> float:
    return float(x.abs().max()) if x.numel() else 0.0


def _unit_directions(n: int, seed: int) -> torch.Tensor:
    """``n`` fixed random unit vectors ``[n, 3]`` (float64)."""
    r = torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return r / r.norm(dim=-1, keepdim=True)


# -- outer product ---------------------------------------------------------------------------------


def part_components_table(part: OuterProductPart) -> pd.DataFrame:
    """``component`` (e3nn's order, labelled) and ``value`` of one part's spherical components."""
    return pd.DataFrame({"component": component_labels(part.irrep), "value": part.components.tolist()})


def outer_product_checks(dec: OuterProductDecomposition) -> list[Check]:
    """The identities of the outer-product decomposition, measured (tolerances scale with |a bᵀ|)."""
    a, b = dec.a, dec.b
    scale = _maxabs(dec.outer)
    cross = torch.linalg.cross(a, b)  # [3]
    dot = a @ b
    A, S = dec.antisymmetric.matrix, dec.symmetric_traceless.matrix
    norm2 = (dec.outer**2).sum()
    comps2 = sum((p.components**2).sum() for p in dec.parts)
    rebuilt = max(
        _maxabs(outer_part_from_components(p.irrep.l, p.components) - p.matrix) for p in dec.parts
    )
    return [
        Check.scaled("T + A + S = a bᵀ", dec.reconstruction_error(), scale),
        Check.scaled("tr S = 0", abs(float(torch.trace(S))), scale),
        Check.scaled("A = −Aᵀ and S = Sᵀ", max(_maxabs(A + A.T), _maxabs(S - S.T)), scale),
        Check.scaled("(A_yz, A_zx, A_xy) = (a × b)/2", _maxabs(torch.stack([A[1, 2], A[2, 0], A[0, 1]]) - cross / 2), scale),
        Check.scaled("l = 1 components (x, y, z) = (a × b)/√2", _maxabs(l1_to_vector(dec.antisymmetric.components) - cross / math.sqrt(2)), scale),
        Check.scaled("l = 0 component = (a·b)/√3", abs(float(dec.trace.components[0] - dot / math.sqrt(3))), scale),
        Check.scaled("Σ_l |c_l|² = ‖a bᵀ‖²_F", abs(float(comps2 - norm2)), scale**2),
        Check.scaled("components → matrices (Σ_M c_M √(2l+1) C(1,1,l)_M = part)", rebuilt, scale),
    ]


# -- rotate and reflect ------------------------------------------------------------------------------


def vectors_table(a: torch.Tensor, b: torch.Tensor, R: torch.Tensor) -> pd.DataFrame:
    """Rows ``a``, ``R a``, ``b``, ``R b``; columns x, y, z."""
    rows = {"a": a, "R a": R @ a, "b": b, "R b": R @ b}
    return pd.DataFrame([[float(x) for x in v] for v in rows.values()], index=list(rows), columns=_XYZ)


def transformed_components_table(a: torch.Tensor, b: torch.Tensor, R: torch.Tensor) -> pd.DataFrame:
    """Each part's components before, after rotating the inputs, and as predicted by ``D^l(R)``.

    Columns: ``part``, ``irrep``, ``component``, ``part(a, b)``, ``part(R a, R b)``,
    ``D(R) part(a, b)``.
    """
    before = decompose_outer_product(a, b)
    after = decompose_outer_product(R @ a, R @ b)
    rows = []
    for p, q in zip(before.parts, after.parts):
        predicted = wigner_D(p.irrep, R) @ p.components
        for label, x, y, z in zip(component_labels(p.irrep), p.components, q.components, predicted):
            rows.append([PART_TITLES[p.name], str(p.irrep), label, float(x), float(y), float(z)])
    columns = ["part", "irrep", "component", "part(a, b)", "part(R a, R b)", "D(R) part(a, b)"]
    return pd.DataFrame(rows, columns=columns)


def rotation_checks(a: torch.Tensor, b: torch.Tensor, R: torch.Tensor) -> list[Check]:
    """``part(R a, R b) = D^l(R) part(a, b)`` for each part, in components and as matrices."""
    before = decompose_outer_product(a, b)
    after = decompose_outer_product(R @ a, R @ b)
    scale = _maxabs(before.outer)
    checks = [
        Check.scaled(
            f"{PART_TITLES[p.name]} ({p.irrep}): part(R a, R b) = D^{p.irrep.l}(R) part(a, b)",
            _maxabs(q.components - wigner_D(p.irrep, R) @ p.components),
            scale,
        )
        for p, q in zip(before.parts, after.parts)
    ]
    cartesian = max(_maxabs(q.matrix - R @ p.matrix @ R.T) for p, q in zip(before.parts, after.parts))
    checks.append(Check.scaled("as 3×3 matrices: part(R a, R b) = R part(a, b) Rᵀ", cartesian, scale))
    polar = _maxabs(l1_to_vector(wigner_D("1o", R) @ vector_to_l1(a)) - R @ a)
    checks.append(Check.scaled("a is polar (1o): D^1o(R) a = R a", polar, _maxabs(a)))
    return checks


# -- Clebsch–Gordan ----------------------------------------------------------------------------------


def selection_rule_table(ir1: str, ir2: str) -> pd.DataFrame:
    """Rows L = 0 … l1 + l2 + 1: whether ``|l1 − l2| ≤ L ≤ l1 + l2``, the irrep and its dimension."""
    allowed = {ir.l: ir for ir in product_irreps(ir1, ir2)}
    rows = []
    for L in range(0, max(allowed) + 2):
        ir = allowed.get(L)
        rows.append([L, "no", "", None] if ir is None else [L, "yes", str(ir), ir.dim])
    table = pd.DataFrame(rows, columns=["L", "|l1 − l2| ≤ L ≤ l1 + l2", "irrep", "dimension 2L+1"])
    return table.astype({"dimension 2L+1": "Int64"})


def cg_coefficients_table(l1: int, l2: int, L: int, atol: float = 1e-12) -> pd.DataFrame:
    """The nonzero Clebsch–Gordan coefficients ``C[m1, m2, M]`` (columns m1, m2, M, C)."""
    C = clebsch_gordan(l1, l2, L)  # [2l1+1, 2l2+1, 2L+1]
    idx = (C.abs() > atol).nonzero().tolist()
    rows = [[i - l1, j - l2, k - L, float(C[i, j, k])] for i, j, k in idx]
    return pd.DataFrame(rows, columns=["m1", "m2", "M", "C"])


def cg_inputs(ir1: str, ir2: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed random inputs ``[2l1+1]``, ``[2l2+1]`` for the decomposition's checks."""
    g = torch.Generator().manual_seed(seed)
    a, b = as_irrep(ir1), as_irrep(ir2)
    return torch.randn(a.dim, dtype=torch.float64, generator=g), torch.randn(b.dim, dtype=torch.float64, generator=g)


def cg_checks(ir1: str, ir2: str, R: torch.Tensor, seed: int = 0) -> list[Check]:
    """Orthonormality, dimension count, norm and equivariance of the decomposition ``ir1 ⊗ ir2``."""
    dec = TensorProductDecomposition.of(ir1, ir2)
    Q = dec.change_of_basis()  # [d1 d2, Σ(2L+1)]
    eye = torch.eye(Q.shape[1], dtype=Q.dtype)
    n_in, n_out = dec.dimension_check()
    x1, x2 = cg_inputs(ir1, ir2, seed)
    outs = dec(x1, x2)
    rotated = dec(wigner_D(dec.ir1, R) @ x1, wigner_D(dec.ir2, R) @ x2)
    norm_in = float((x1**2).sum() * (x2**2).sum())
    checks = [
        Check("(2l1+1)(2l2+1) − Σ_L (2L+1)", float(abs(n_in - n_out)), 0.0),
        Check("QᵀQ = I (orthonormal change of basis)", _maxabs(Q.T @ Q - eye)),
        Check.scaled("Σ_L |out_L|² = |x1|² |x2|²", abs(sum(float((o**2).sum()) for o in outs) - norm_in), norm_in),
    ]
    for (_, ir), o, o_rot in zip(dec.irreps_out, outs, rotated):
        checks.append(
            Check(f"L = {ir.l} ({ir}): out(D x1, D x2) = D^{ir.l}(R) out(x1, x2)", _maxabs(o_rot - wigner_D(ir, R) @ o))
        )
    return checks


# -- spherical harmonics ------------------------------------------------------------------------------


def harmonics_mixing(
    l: int, m: int, R: torch.Tensor, l_fit_max: int = 4, n_points: int = 400, seed: int = 0
) -> tuple[pd.DataFrame, list[Check]]:
    """What rotating ``Y_lm`` gives, measured by fitting the rotated function with all ``Y_l'm'``.

    The rotated function ``f'(r̂) = Y_lm(R⁻¹ r̂)`` is sampled at ``n_points`` fixed directions and
    least-squares fitted with the ``(l_fit_max + 1)²`` harmonics ``Y_l'm'``, ``l' ≤ l_fit_max``
    (e3nn's integral normalisation). Prediction: the coefficients are column ``m`` of ``D^l(R)``
    inside order l and zero for every other order.

    Returns:
        A table (columns ``l'``, ``component``, ``fitted coefficient``, ``D^l(R) column m``) and the
        checks.
    """
    r = _unit_directions(n_points, seed)  # [n, 3]
    h = torch.zeros(2 * l + 1, dtype=torch.float64)
    h[m + l] = 1.0
    rotated = spherical_harmonics(l, r @ R) @ h  # f(R⁻¹ r) with R⁻¹ r = Rᵀ r, as rows r R   [n]
    basis = torch.cat([spherical_harmonics(k, r) for k in range(l_fit_max + 1)], dim=-1)  # [n, (l_fit_max+1)²]
    fitted = torch.linalg.lstsq(basis, rotated[:, None]).solution[:, 0]  # [(l_fit_max+1)²]
    D_col = wigner_D(l, R) @ h  # [2l+1]
    predicted = torch.zeros_like(fitted)
    predicted[l * l : (l + 1) ** 2] = D_col
    outside = torch.ones_like(fitted, dtype=torch.bool)
    outside[l * l : (l + 1) ** 2] = False
    rows = [
        [k, label, float(fitted[k * k + i]), float(predicted[k * k + i])]
        for k in range(l_fit_max + 1)
        for i, label in enumerate(component_labels(k))
    ]
    table = pd.DataFrame(rows, columns=["l'", "component", "fitted coefficient", f"D^{l}(R) column m={m}"])
    direct = _maxabs(rotated - spherical_harmonics(l, r) @ D_col)
    checks = [
        Check(f"Y_l,m(R⁻¹ r̂) = Σ_m' D^{l}_m'm(R) Y_l,m'(r̂) at {n_points} directions", direct),
        Check(f"fit: coefficients of order {l} = D^{l}(R) e_m", _maxabs(fitted - predicted) if l <= l_fit_max else math.nan),
        Check(f"fit: largest coefficient of any order l' ≠ {l}", _maxabs(fitted[outside])),
        Check("|D^l(R) e_m| = 1 (the rotation keeps the norm)", abs(float(D_col.norm()) - 1.0)),
    ]
    return table, checks


# -- Wigner-D -------------------------------------------------------------------------------------------


def wigner_checks(ir: str, R1: torch.Tensor, R2: torch.Tensor, n_points: int = 50, seed: int = 0) -> list[Check]:
    """``D(R1 R2) = D(R1) D(R2)``, ``D(R⁻¹) = D(R)ᵀ``, orthogonality and, for natural parity,
    ``Y_l(R r̂) = D^l(R) Y_l(r̂)``."""
    irrep = as_irrep(ir)
    D1, D2 = wigner_D(irrep, R1), wigner_D(irrep, R2)
    eye = torch.eye(irrep.dim, dtype=D1.dtype)
    checks = [
        Check("D(R₁ R₂) = D(R₁) D(R₂)", _maxabs(wigner_D(irrep, R1 @ R2) - D1 @ D2)),
        Check("D(R₁⁻¹) = D(R₁)ᵀ", _maxabs(wigner_D(irrep, torch.linalg.inv(R1)) - D1.T)),
        Check("D(R₁)ᵀ D(R₁) = I", _maxabs(D1.T @ D1 - eye)),
    ]
    if irrep.p == (-1) ** irrep.l:
        r = _unit_directions(n_points, seed)  # [n, 3]
        lhs = spherical_harmonics(irrep.l, r @ R1.T)  # Y(R r) as rows [n, 2l+1]
        rhs = spherical_harmonics(irrep.l, r) @ D1.T
        checks.append(Check(f"Y_{irrep.l}(R₁ r̂) = D(R₁) Y_{irrep.l}(r̂) at {n_points} directions", _maxabs(lhs - rhs)))
    return checks


def wrong_inverse_error(ir: str, R: torch.Tensor) -> float:
    """``max |D(−R) − D(R)ᵀ|``: how far the slides' "D(−R)" is from the true inverse ``D(R)ᵀ``."""
    return _maxabs(wigner_D(ir, -R) - wigner_D(ir, R).T)


# -- NequIP messages ------------------------------------------------------------------------------------


def nequip_irreps(lmax: int, mul: int, layer: str = "hidden") -> tuple[str, str, str]:
    """``(features in, edge spherical harmonics, features out)`` of a NequIP convolution.

    Hidden features carry both parities up to ``lmax`` (``mul`` channels each); the first layer's
    input is ``mul`` scalars (the species embedding). Edge attributes are ``Y_0 … Y_lmax`` with
    their natural parities (0e + 1o + 2e + 3o …).
    """
    hidden = "+".join(f"{mul}x{l}{p}" for l in range(lmax + 1) for p in "eo")
    edge = "+".join(f"1x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1))
    return (f"{mul}x0e" if layer == "first" else hidden), edge, hidden


def nequip_paths(lmax: int, mul: int, layer: str = "hidden") -> tuple[Irreps, pd.DataFrame]:
    """``irreps_mid`` (simplified; its ``dim`` is the message dimension) and one row a path (columns
    ``path``, ``h_j``, ``Y(r̂_ij)``, ``→ out``, ``channels``, ``instruction``), straight from
    :func:`equiv.o3.uvu_paths`."""
    irreps_mid, paths = uvu_paths(*nequip_irreps(lmax, mul, layer))
    rows = [[k + 1, p.ir_in, p.ir_edge, p.ir_out, p.mul, str(p.instruction())] for k, p in enumerate(paths)]
    return irreps_mid.simplify(), pd.DataFrame(rows, columns=["path", "h_j", "Y(r̂_ij)", "→ out", "channels", "instruction"])



def nequip_path_grid(paths: pd.DataFrame) -> pd.DataFrame:
    """The paths of :func:`nequip_paths` as a grid: rows ``h_j`` irreps, columns edge irreps, each
    cell the outputs of that pair (e.g. ``"0e, 1e, 2e"``), empty where no output is kept."""
    grid = paths.groupby(["h_j", "Y(r̂_ij)"], sort=False)["→ out"].agg(", ".join).unstack(fill_value="")
    rows = list(dict.fromkeys(paths["h_j"].sort_values(key=lambda c: c.map(_irrep_order))))
    cols = list(dict.fromkeys(paths["Y(r̂_ij)"].sort_values(key=lambda c: c.map(_irrep_order))))
    return grid.reindex(index=rows, columns=cols, fill_value="").rename_axis(index="h_j \\ Y(r̂_ij)", columns=None)


def _irrep_order(ir: str) -> tuple[int, int]:
    """Sort key: by l, even before odd."""
    irrep = as_irrep(ir)
    return (irrep.l, 0 if irrep.p == 1 else 1)
