"""Irreps: the outer-product decomposition, Clebsch–Gordan decompositions and Wigner-D matrices.

float64 tolerances: 1e-12 for identities, 1e-10 for equivariance; float32: 1e-5/1e-4.
"""

import itertools
import math

import pytest
import torch
from e3nn import o3

from equiv.o3 import (
    L1_FROM_XYZ,
    TensorProductDecomposition,
    block_diagonal_D,
    clebsch_gordan,
    decompose_outer_product,
    inversion,
    l1_to_vector,
    outer_part_from_components,
    product_irreps,
    random_rotation,
    reflection,
    spherical_harmonics,
    vector_to_l1,
    wigner_D,
)

I3 = torch.eye(3, dtype=torch.float64)


def vec(*xs):
    return torch.tensor(xs, dtype=torch.float64)


# -- the l = 1 basis -----------------------------------------------------------------------------


def test_l1_basis_matches_e3nn_spherical_harmonics(rng):
    # e3nn's Y_1(r) ∝ r in e3nn's l = 1 order: this pins L1_FROM_XYZ to the installed e3nn.
    r = torch.randn(10, 3, dtype=torch.float64, generator=rng)
    Y1 = o3.spherical_harmonics(1, r, normalize=False, normalization="component")
    assert (Y1 - math.sqrt(3) * vector_to_l1(r)).abs().max() < 1e-14
    assert torch.equal(l1_to_vector(vector_to_l1(r)), r)
    assert sorted(L1_FROM_XYZ) == [0, 1, 2]


# -- outer product decomposition -----------------------------------------------------------------


def test_seed_example_exact_values():
    d = decompose_outer_product([1, 2, 3], [4, 5, 6])
    assert torch.equal(d.outer, torch.outer(vec(1, 2, 3), vec(4, 5, 6)))
    # trace part: (a·b)/3 I = 32/3 I
    assert (d.trace.matrix - 32 / 3 * I3).abs().max() < 1e-14
    # antisymmetric: (abᵀ − baᵀ)/2 = −½[a × b]×, so (A₁₂, A₂₀, A₀₁) = (a × b)/2 = (−3, 6, −3)/2
    A = d.antisymmetric.matrix
    assert torch.allclose(torch.stack([A[1, 2], A[2, 0], A[0, 1]]), vec(-3, 6, -3) / 2, atol=1e-14)
    assert (A + A.T).abs().max() == 0
    # symmetric traceless: symmetric and trace-free
    S = d.symmetric_traceless.matrix
    assert (S - S.T).abs().max() < 1e-14 and abs(torch.trace(S).item()) < 1e-13
    assert [str(p.irrep) for p in d.parts] == ["0e", "1e", "2e"]
    assert [p.components.numel() for p in d.parts] == [1, 3, 5]


def test_slide_mistakes_are_not_made():
    a, b = vec(1, 2, 3), vec(4, 5, 6)
    d = decompose_outer_product(a, b)
    outer = torch.outer(a, b)
    # Trace with a_i b_j (the slide) would be the sum of all entries, not a·b.
    assert abs(d.trace.matrix[0, 0].item() * 3 - (a @ b).item()) < 1e-13
    assert abs(outer.sum().item() - (a @ b).item()) > 1
    # f + fᵀ without removing the trace (the slide) is not traceless and double counts.
    wrong = outer + outer.T
    assert abs(torch.trace(wrong).item()) > 1
    assert (d.symmetric_traceless.matrix - wrong).abs().max() > 1


def test_parts_sum_back_exactly(rng):
    for _ in range(50):
        a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
        d = decompose_outer_product(a, b)
        assert d.reconstruction_error() < 1e-12


def test_components_are_e3nn_full_tensor_product(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    d = decompose_outer_product(a, b)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn bakes its CG constants in the default dtype
    try:
        tp = o3.FullTensorProduct("1o", "1o")
    finally:
        torch.set_default_dtype(old)
    ref = tp(vector_to_l1(a), vector_to_l1(b))  # [9] = 0e + 1e + 2e
    ours = torch.cat([p.components for p in d.parts])
    assert (ours - ref).abs().max() < 1e-12
    assert str(tp.irreps_out) == "1x0e+1x1e+1x2e"


def test_known_component_values(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    d = decompose_outer_product(a, b)
    assert abs(d.trace.components[0].item() - (a @ b).item() / math.sqrt(3)) < 1e-12
    assert (l1_to_vector(d.antisymmetric.components) - torch.linalg.cross(a, b) / math.sqrt(2)).abs().max() < 1e-12


def test_components_and_matrices_agree(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    d = decompose_outer_product(a, b)
    for p in d.parts:
        assert (outer_part_from_components(p.irrep.l, p.components) - p.matrix).abs().max() < 1e-12
        # Orthonormal change of basis: the Frobenius norm of each part equals its component norm.
        assert abs(p.matrix.norm().item() - p.components.norm().item()) < 1e-12


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_each_part_transforms_with_its_own_D(rng, dtype, tol):
    for R in random_rotation(20, generator=rng):
        a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
        d = decompose_outer_product(a.to(dtype), b.to(dtype))
        dr = decompose_outer_product((R @ a).to(dtype), (R @ b).to(dtype))
        Rd = R.to(dtype)
        for p, pr in zip(d.parts, dr.parts):
            D = wigner_D(p.irrep, Rd)
            scale = max(p.components.norm().item(), 1e-30)
            assert (pr.components - D @ p.components).norm().item() / scale < tol
            # The Cartesian matrix transforms as R M Rᵀ.
            assert (pr.matrix - Rd @ p.matrix @ Rd.T).abs().max().item() / scale < tol


def test_part_norms_are_invariant(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    R = random_rotation(generator=rng)
    for p, pr in zip(decompose_outer_product(a, b).parts, decompose_outer_product(R @ a, R @ b).parts):
        assert abs(p.components.norm().item() - pr.components.norm().item()) < 1e-12


def test_inversion_parity_of_parts(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    P = inversion()
    d, dp = decompose_outer_product(a, b), decompose_outer_product(P @ a, P @ b)
    # The cross product (1e) does not flip, while a polar vector (1o) does.
    assert (dp.antisymmetric.components - d.antisymmetric.components).abs().max() < 1e-14
    assert d.antisymmetric.components.norm() > 0.1
    assert (wigner_D("1o", P) @ vector_to_l1(a) - vector_to_l1(P @ a)).abs().max() < 1e-15
    assert (vector_to_l1(P @ a) + vector_to_l1(a)).abs().max() < 1e-15
    for p, pp in zip(d.parts, dp.parts):
        assert (pp.components - wigner_D(p.irrep, P) @ p.components).abs().max() < 1e-14


def test_reflection_acts_on_parts_with_parity(rng):
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=rng)
    M = reflection(torch.randn(3, dtype=torch.float64, generator=rng))
    d, dm = decompose_outer_product(a, b), decompose_outer_product(M @ a, M @ b)
    for p, pm in zip(d.parts, dm.parts):
        assert (pm.components - wigner_D(p.irrep, M) @ p.components).abs().max() < 1e-12


def test_parallel_vectors_have_no_antisymmetric_part():
    a = vec(1.0, -2.0, 0.5)
    d = decompose_outer_product(a, 3 * a)
    assert d.antisymmetric.components.abs().max() < 1e-14
    assert d.antisymmetric.matrix.abs().max() < 1e-14


def test_zero_vector():
    d = decompose_outer_product([0, 0, 0], [1, 2, 3])
    assert all(p.components.abs().max() == 0 for p in d.parts)


def test_bad_vector_shape():
    with pytest.raises(ValueError, match="three components"):
        decompose_outer_product([1, 2], [1, 2, 3])


# -- general Clebsch–Gordan decomposition --------------------------------------------------------

ALL_L = range(5)


@pytest.mark.parametrize("l1,l2", list(itertools.product(ALL_L, ALL_L)))
def test_dimensions_add_up(l1, l2):
    dec = TensorProductDecomposition.of(l1, l2)
    lhs, rhs = dec.dimension_check()
    assert lhs == (2 * l1 + 1) * (2 * l2 + 1) == rhs
    assert [ir.l for _, ir in dec.irreps_out] == list(range(abs(l1 - l2), l1 + l2 + 1))


@pytest.mark.parametrize("l1,l2", list(itertools.product(ALL_L, ALL_L)))
def test_change_of_basis_is_orthogonal(l1, l2):
    Q = TensorProductDecomposition.of(l1, l2).change_of_basis()
    n = Q.shape[0]
    assert Q.shape == (n, n)
    assert (Q.T @ Q - torch.eye(n, dtype=torch.float64)).abs().max() < 1e-12


def test_cg_orthonormal_between_blocks():
    # Different L blocks of the same l1 ⊗ l2 are orthogonal; each is normalised.
    for l1, l2 in [(1, 1), (2, 3), (4, 4)]:
        Ls = range(abs(l1 - l2), l1 + l2 + 1)
        for L, M in itertools.product(Ls, Ls):
            C1, C2 = clebsch_gordan(l1, l2, L), clebsch_gordan(l1, l2, M)
            inner = torch.einsum("ijk,ijk->", C1, C2).item() if L == M else torch.einsum("ijk,ijl->kl", C1, C2).abs().max().item()
            assert abs(inner - (1.0 if L == M else 0.0)) < 1e-12


def test_cg_triangle_rule():
    with pytest.raises(ValueError, match="does not contain"):
        clebsch_gordan(1, 1, 3)


@pytest.mark.parametrize("l1,l2", [(0, 2), (1, 2), (2, 2), (3, 1), (4, 4)])
def test_cg_is_equivariant(rng, l1, l2):
    R = random_rotation(generator=rng)
    dec = TensorProductDecomposition.of(l1, l2)
    x1 = torch.randn(2 * l1 + 1, dtype=torch.float64, generator=rng)
    x2 = torch.randn(2 * l2 + 1, dtype=torch.float64, generator=rng)
    out = dec(x1, x2)
    out_r = dec(wigner_D(l1, R) @ x1, wigner_D(l2, R) @ x2)
    for (_, ir), y, yr in zip(dec.irreps_out, out, out_r):
        assert (yr - wigner_D(ir, R) @ y).norm() / y.norm() < 1e-10


def test_output_parity():
    assert [str(ir) for ir in product_irreps("1o", "1o")] == ["0e", "1e", "2e"]
    assert [str(ir) for ir in product_irreps("1o", "2e")] == ["1o", "2o", "3o"]
    assert [str(ir) for ir in product_irreps("1e", "1o")] == ["0o", "1o", "2o"]


# -- Wigner-D --------------------------------------------------------------------------------------


@pytest.mark.parametrize("l", list(ALL_L))
def test_wigner_D_homomorphism_inverse_identity(rng, l):
    R1, R2 = random_rotation(2, generator=rng)
    D = lambda R: wigner_D(l, R)  # noqa: E731
    n = 2 * l + 1
    assert (D(R1 @ R2) - D(R1) @ D(R2)).abs().max() < 1e-12
    assert (D(R1.T) - D(R1).T).abs().max() < 1e-12
    assert (D(R1) @ D(R1).T - torch.eye(n, dtype=torch.float64)).abs().max() < 1e-12
    assert (D(torch.eye(3, dtype=torch.float64)) - torch.eye(n, dtype=torch.float64)).abs().max() < 1e-14


@pytest.mark.parametrize("l", list(ALL_L))
def test_wigner_D_matches_e3nn_and_rotates_spherical_harmonics(rng, l):
    R = random_rotation(generator=rng)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its angle-based D in the default dtype
    try:
        ref = o3.Irrep(l, (-1) ** l).D_from_matrix(R)
    finally:
        torch.set_default_dtype(old)
    assert (wigner_D(l, R) - ref).abs().max() < 1e-12
    r = torch.randn(7, 3, dtype=torch.float64, generator=rng)
    assert (spherical_harmonics(l, r @ R.T) - spherical_harmonics(l, r) @ wigner_D(l, R).T).abs().max() < 1e-12


def test_wigner_D_near_gimbal_lock_is_exact():
    # Tiny rotations: Euler-angle routes lose ~sqrt(eps); the recursion stays exact.
    from equiv.o3 import axis_angle_to_matrix

    R = axis_angle_to_matrix([0.3, 0.2, 1.0], 1e-9)
    for l in ALL_L:
        D = wigner_D(l, R)
        assert (D @ D.T - torch.eye(2 * l + 1, dtype=torch.float64)).abs().max() < 1e-14
        assert (D - torch.eye(2 * l + 1, dtype=torch.float64)).abs().max() < 1e-8


@pytest.mark.parametrize("l", list(ALL_L))
def test_wigner_D_improper_parity(rng, l):
    R = random_rotation(generator=rng)
    for p, sign in (("e", 1), ("o", -1)):
        ir = f"{l}{p}"
        assert (wigner_D(ir, -R) - sign * wigner_D(ir, R)).abs().max() < 1e-12
        assert (wigner_D(ir, inversion()) - sign * torch.eye(2 * l + 1, dtype=torch.float64)).abs().max() < 1e-15


def test_wigner_D_float32(rng):
    R = random_rotation(generator=rng, dtype=torch.float32)
    D = wigner_D(3, R)
    assert D.dtype == torch.float32
    assert (D @ D.T - torch.eye(7)).abs().max() < 1e-5


def test_wigner_D_batched(rng):
    R = random_rotation(4, 2, generator=rng)
    D = wigner_D(2, R)
    assert D.shape == (4, 2, 5, 5)
    assert (D[1, 0] - wigner_D(2, R[1, 0])).abs().max() < 1e-14


def test_block_diagonal_D(rng):
    R = random_rotation(generator=rng)
    D = block_diagonal_D("0e+1e+2e", R)
    assert D.shape == (9, 9)
    assert (D[1:4, 1:4] - wigner_D("1e", R)).abs().max() == 0
    assert D[0, 1:].abs().max() == 0 and D[4:, :4].abs().max() == 0
