"""Irreducible representations of O(3): Wigner-D matrices, Clebsch–Gordan decompositions,
and the outer product of two vectors taken apart into its l = 0, 1, 2 parts.

Bases and normalisation follow e3nn 0.6 exactly, so every number here can be fed to e3nn:

* An irrep is written ``"2e"``: order l = 2, even parity. Its 2l + 1 components are e3nn's real
  basis (for l = 1, e3nn 0.6 orders the components (x, y, z); ``L1_FROM_XYZ`` records it and a test
  checks it against e3nn's spherical harmonics).
* ``wigner_D(ir, R)`` is the matrix with ``Y(R r) = D(R) Y(r)``; for an improper ``R`` it carries
  the parity factor ``p`` of the irrep (odd irreps flip sign under the inversion ``−I``).
* The inverse representation is ``D(R⁻¹) = D(R)ᵀ`` (D is orthogonal). The seminar slide's
  "D(−R)" is wrong: ``−R`` is R composed with the inversion, not the inverse of R.
* Clebsch–Gordan coefficients are e3nn's ``wigner_3j(l1, l2, L)`` (Frobenius norm 1). The
  orthonormal change of basis from ``l1 ⊗ l2`` to the sum of ``L`` blocks is ``√(2L+1)·C``; this is
  what e3nn's ``FullTensorProduct`` computes with its default "component" normalisation.

Example:
    >>> import torch
    >>> dec = decompose_outer_product(torch.tensor([1., 2., 3.]), torch.tensor([4., 5., 6.]))
    >>> [str(p.irrep) for p in dec.parts]
    ['0e', '1e', '2e']
    >>> round(float(dec.trace.components[0]) * 3**0.5, 4)  # a·b
    32.0
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable

import torch
from e3nn import o3

from equiv.o3.rotations import as_tensor

__all__ = [
    "Irrep",
    "L1_FROM_XYZ",
    "as_irrep",
    "vector_to_l1",
    "l1_to_vector",
    "wigner_D",
    "block_diagonal_D",
    "clebsch_gordan",
    "product_irreps",
    "TensorProductDecomposition",
    "OuterProductPart",
    "OuterProductDecomposition",
    "decompose_outer_product",
    "outer_part_from_components",
]

Irrep = o3.Irrep

#: Position of the Cartesian x, y, z components inside e3nn's l = 1 basis (e3nn 0.6: identity).
L1_FROM_XYZ: tuple[int, int, int] = (0, 1, 2)


def as_irrep(ir: str | int | o3.Irrep | tuple[int, int]) -> o3.Irrep:
    """An e3nn ``Irrep`` from ``"1o"``, ``(1, -1)`` or an order ``l`` (natural parity ``(−1)^l``)."""
    if isinstance(ir, o3.Irrep):
        return ir
    if isinstance(ir, int):
        if ir < 0:
            raise ValueError(f"the order l must be ≥ 0, got {ir}")
        return o3.Irrep(ir, (-1) ** ir)
    return o3.Irrep(ir)


def vector_to_l1(v: torch.Tensor) -> torch.Tensor:
    """Cartesian vectors ``[..., 3]`` (x, y, z) as e3nn l = 1 components ``[..., 3]``."""
    return v[..., list(L1_FROM_XYZ)]


def l1_to_vector(c: torch.Tensor) -> torch.Tensor:
    """e3nn l = 1 components ``[..., 3]`` as Cartesian (x, y, z) vectors ``[..., 3]``."""
    inverse = [L1_FROM_XYZ.index(i) for i in range(3)]
    return c[..., inverse]


@functools.lru_cache(maxsize=None)
def _cg_cached(l1: int, l2: int, L: int, dtype: torch.dtype) -> torch.Tensor:
    return o3.wigner_3j(l1, l2, L, dtype=dtype)


def clebsch_gordan(l1: int, l2: int, L: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Real Clebsch–Gordan tensor ``C[m1, m2, M]`` of shape ``[2l1+1, 2l2+1, 2L+1]`` (e3nn's wigner_3j).

    Nonzero only when ``|l1 − l2| ≤ L ≤ l1 + l2``; normalised so that ``‖C‖_F = 1``.
    Raises ``ValueError`` when the triangle rule forbids the triple.
    """
    if not abs(l1 - l2) <= L <= l1 + l2:
        raise ValueError(f"{l1} ⊗ {l2} does not contain L = {L} (need |l1 − l2| ≤ L ≤ l1 + l2)")
    return _cg_cached(l1, l2, L, dtype).clone()


def _proper_part(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``R`` ``[..., 3, 3]`` into its proper rotation and det ``[...]`` (±1)."""
    det = torch.sign(torch.linalg.det(R))
    return R * det[..., None, None], det


def _wigner_D_proper(l: int, R: torch.Tensor) -> torch.Tensor:
    """D^l of proper rotations by the exact recursion ``D^l = Qᵀ (D^(l−1) ⊗ D^1) Q``.

    ``Q = √(2l+1) C(l−1, 1, l)`` is an isometry intertwining the two sides, so every D^l is built
    from R alone to machine precision, without Euler angles (which lose accuracy near
    gimbal lock).
    """
    if l == 0:
        return torch.ones(*R.shape[:-2], 1, 1, dtype=R.dtype, device=R.device)
    D1 = R[..., list(L1_FROM_XYZ), :][..., :, list(L1_FROM_XYZ)]  # [..., 3, 3]
    D = D1
    for k in range(2, l + 1):
        Q = math.sqrt(2 * k + 1) * _cg_cached(k - 1, 1, k, R.dtype).to(R.device)  # [2k-1, 3, 2k+1]
        D = torch.einsum("iaK,...ij,...ab,jbL->...KL", Q, D, D1, Q)
    return D


def wigner_D(ir: str | int | o3.Irrep, R: torch.Tensor) -> torch.Tensor:
    """Wigner-D matrix ``[..., 2l+1, 2l+1]`` of the irrep for (im)proper rotations ``[..., 3, 3]``.

    Satisfies ``D(R1 R2) = D(R1) D(R2)``, ``D(Rᵀ) = D(R)ᵀ`` and, for improper R,
    ``D(R) = p · D(det(R) R)`` with p the irrep's parity. An integer ``ir`` means ``(l, (−1)^l)``.

    Example:
        >>> import torch
        >>> from equiv.o3.rotations import inversion
        >>> wigner_D("1o", inversion()).diagonal().tolist(), wigner_D("1e", inversion()).diagonal().tolist()
        ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])
    """
    irrep = as_irrep(ir)
    R = as_tensor(R)
    proper, det = _proper_part(R)
    D = _wigner_D_proper(irrep.l, proper)
    if irrep.p == -1:
        D = D * det[..., None, None]
    return D


def block_diagonal_D(irreps: str | o3.Irreps, R: torch.Tensor) -> torch.Tensor:
    """Block-diagonal ``D = ⊕ D^l(R)`` ``[..., dim, dim]`` for an irreps string such as ``"0e+1e+2e"``."""
    R = as_tensor(R)
    blocks = [wigner_D(ir, R) for mul, ir in o3.Irreps(irreps) for _ in range(mul)]
    dim = sum(b.shape[-1] for b in blocks)
    out = torch.zeros(*R.shape[:-2], dim, dim, dtype=R.dtype, device=R.device)
    i = 0
    for b in blocks:
        d = b.shape[-1]
        out[..., i : i + d, i : i + d] = b
        i += d
    return out


def product_irreps(ir1: str | int | o3.Irrep, ir2: str | int | o3.Irrep) -> list[o3.Irrep]:
    """The irreps in ``ir1 ⊗ ir2``: ``L = |l1 − l2| … l1 + l2``, each with parity ``p1·p2``."""
    a, b = as_irrep(ir1), as_irrep(ir2)
    return [o3.Irrep(L, a.p * b.p) for L in range(abs(a.l - b.l), a.l + b.l + 1)]


@dataclass(frozen=True)
class TensorProductDecomposition:
    """The decomposition of ``ir1 ⊗ ir2`` into irreps, with its orthonormal change of basis.

    Attributes:
        ir1, ir2: the two input irreps.
        irreps_out: the output irreps in increasing L.

    Example:
        >>> dec = TensorProductDecomposition.of("1o", "1o")
        >>> str(dec.irreps_out), dec.dimension_check()
        ('1x0e+1x1e+1x2e', (9, 9))
    """

    ir1: o3.Irrep
    ir2: o3.Irrep
    irreps_out: o3.Irreps

    @classmethod
    def of(cls, ir1: str | int | o3.Irrep, ir2: str | int | o3.Irrep) -> "TensorProductDecomposition":
        a, b = as_irrep(ir1), as_irrep(ir2)
        return cls(a, b, o3.Irreps([(1, ir) for ir in product_irreps(a, b)]))

    def dimension_check(self) -> tuple[int, int]:
        """``((2l1+1)(2l2+1), Σ_L (2L+1))``: the two sides of the dimension count (always equal)."""
        return self.ir1.dim * self.ir2.dim, self.irreps_out.dim

    def cg(self, L: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Clebsch–Gordan tensor ``[2l1+1, 2l2+1, 2L+1]`` of the output block L."""
        return clebsch_gordan(self.ir1.l, self.ir2.l, L, dtype)

    def change_of_basis(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Orthogonal ``Q`` ``[(2l1+1)(2l2+1), Σ(2L+1)]`` mapping ``x1 ⊗ x2`` to the L blocks."""
        cols = [
            math.sqrt(2 * ir.l + 1) * self.cg(ir.l, dtype).reshape(self.ir1.dim * self.ir2.dim, ir.dim)
            for _, ir in self.irreps_out
        ]
        return torch.cat(cols, dim=1)

    def __call__(self, x1: torch.Tensor, x2: torch.Tensor) -> list[torch.Tensor]:
        """Components ``[..., 2L+1]`` of each output block for inputs ``[..., 2l1+1]``, ``[..., 2l2+1]``."""
        return [
            math.sqrt(2 * ir.l + 1) * torch.einsum("ijk,...i,...j->...k", self.cg(ir.l, x1.dtype), x1, x2)
            for _, ir in self.irreps_out
        ]


@dataclass(frozen=True)
class OuterProductPart:
    """One irreducible part of ``a bᵀ``.

    Attributes:
        name: "trace", "antisymmetric" or "symmetric_traceless".
        irrep: its irrep (``0e``, ``1e``, ``2e`` for two polar vectors).
        matrix: the part as a Cartesian 3×3 matrix ``[3, 3]``.
        components: its ``2l+1`` spherical components in e3nn's basis and normalisation ``[2l+1]``.
    """

    name: str
    irrep: o3.Irrep
    matrix: torch.Tensor
    components: torch.Tensor


@dataclass(frozen=True)
class OuterProductDecomposition:
    """``a bᵀ = trace + antisymmetric + symmetric_traceless`` (see :func:`decompose_outer_product`)."""

    a: torch.Tensor
    b: torch.Tensor
    outer: torch.Tensor
    trace: OuterProductPart
    antisymmetric: OuterProductPart
    symmetric_traceless: OuterProductPart

    @property
    def parts(self) -> tuple[OuterProductPart, OuterProductPart, OuterProductPart]:
        return (self.trace, self.antisymmetric, self.symmetric_traceless)

    def reconstruction_error(self) -> float:
        """``max |a bᵀ − Σ parts|``: zero up to rounding."""
        total = self.trace.matrix + self.antisymmetric.matrix + self.symmetric_traceless.matrix
        return float((total - self.outer).abs().max())

    def to_dict(self) -> dict:
        """JSON-ready dict: ``outer`` and each part with ``matrix``, ``components``, ``irrep``."""
        out: dict = {"a": self.a.tolist(), "b": self.b.tolist(), "outer": {"matrix": self.outer.tolist()}}
        for p in self.parts:
            out[p.name] = {"matrix": p.matrix.tolist(), "components": p.components.tolist(), "irrep": str(p.irrep)}
        return out


def _cartesian_to_l_basis(M: torch.Tensor) -> torch.Tensor:
    """Rewrite a 3×3 Cartesian tensor ``[..., 3, 3]`` in e3nn's l = 1 ⊗ l = 1 index order."""
    idx = list(L1_FROM_XYZ)
    return M[..., idx, :][..., :, idx]


def _l_basis_to_cartesian(M: torch.Tensor) -> torch.Tensor:
    inv = [L1_FROM_XYZ.index(i) for i in range(3)]
    return M[..., inv, :][..., :, inv]


def outer_part_from_components(L: int, components: torch.Tensor) -> torch.Tensor:
    """The Cartesian 3×3 matrix ``[..., 3, 3]`` of the l = L part from its components ``[..., 2L+1]``.

    Inverse of the projection used in :func:`decompose_outer_product`:
    ``M = Σ_M c_M √(2L+1) C(1, 1, L)[:, :, M]``.
    """
    C = math.sqrt(2 * L + 1) * _cg_cached(1, 1, L, components.dtype).to(components.device)  # [3, 3, 2L+1]
    return _l_basis_to_cartesian(torch.einsum("ijk,...k->...ij", C, components))


def decompose_outer_product(
    a: torch.Tensor | Iterable[float],
    b: torch.Tensor | Iterable[float],
    a_irrep: str = "1o",
    b_irrep: str = "1o",
) -> OuterProductDecomposition:
    """Take ``a bᵀ`` apart into its irreducible pieces (1 ⊗ 1 = 0 ⊕ 1 ⊕ 2).

    The correct formulas (the seminar slides had the trace as ``a_i b_j`` and the l = 2 part as
    ``f + fᵀ``, both wrong):

    * trace, l = 0: ``(a·b)/3 · I`` (uses ``Σ_i a_i b_i``);
    * antisymmetric, l = 1: ``(a bᵀ − b aᵀ)/2 = −½ [a × b]×``: its entries ``(A₁₂, A₂₀, A₀₁)`` are
      ``(a × b)/2``, and its spherical components are ``(a × b)/√2``;
    * symmetric traceless, l = 2: ``(a bᵀ + b aᵀ)/2 − (a·b)/3 · I`` (the trace must be removed).

    Components are in e3nn's basis and normalisation (those of ``FullTensorProduct("1o", "1o")``),
    so ``Σ_L |components_L|² = ‖a bᵀ‖_F²``. For polar vectors (``1o``) the parts are ``0e``, ``1e``,
    ``2e``: the cross product is a pseudovector.

    Shapes: ``a``, ``b`` ``[3]`` (float64 unless given as a float32 tensor).
    """
    a_t, b_t = as_tensor(a), as_tensor(b)
    if a_t.shape != (3,) or b_t.shape != (3,):
        raise ValueError("a and b must each have exactly three components")
    if a_t.dtype != b_t.dtype:
        b_t = b_t.to(a_t.dtype)
    eye = torch.eye(3, dtype=a_t.dtype)
    outer = torch.outer(a_t, b_t)  # [3, 3]
    dot = a_t @ b_t
    mats = {
        "trace": dot / 3 * eye,
        "antisymmetric": (outer - outer.T) / 2,
        "symmetric_traceless": (outer + outer.T) / 2 - dot / 3 * eye,
    }
    irs = product_irreps(a_irrep, b_irrep)  # [0p, 1p, 2p]
    parts = {}
    outer_l = _cartesian_to_l_basis(outer)
    for (name, M), ir in zip(mats.items(), irs):
        C = math.sqrt(2 * ir.l + 1) * _cg_cached(1, 1, ir.l, a_t.dtype)  # [3, 3, 2l+1]
        comps = torch.einsum("ijk,ij->k", C, outer_l)
        parts[name] = OuterProductPart(name, ir, M, comps)
    return OuterProductDecomposition(a_t, b_t, outer, **parts)
