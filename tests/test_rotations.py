"""Group properties of rotations in float64 (1e-12) and float32, and the conversions between forms."""

import math

import pytest
import torch

from equiv.o3 import (
    axis_angle_to_matrix,
    euler_to_matrix,
    inversion,
    is_orthogonal,
    is_proper,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    quaternion_to_matrix,
    random_rotation,
    reflection,
    rotation_angle,
)

I3 = torch.eye(3, dtype=torch.float64)


def test_random_rotations_are_orthogonal_with_det_one(rng):
    R = random_rotation(200, generator=rng)
    assert R.shape == (200, 3, 3) and R.dtype == torch.float64
    assert (R.transpose(-1, -2) @ R - I3).abs().max() < 1e-12
    assert (torch.linalg.det(R) - 1).abs().max() < 1e-12


def test_random_rotations_float32(rng):
    R = random_rotation(50, dtype=torch.float32, generator=rng)
    assert R.dtype == torch.float32
    assert bool(is_orthogonal(R).all()) and bool(is_proper(R).all())


def test_random_rotations_are_haar_distributed(rng):
    # Under the Haar measure the rotation angle has density (1 − cos θ)/π, so E[cos θ] = −1/2 and
    # the rotated z axis is uniform on the sphere (mean 0).
    R = random_rotation(20000, generator=rng)
    cos_theta = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    assert abs(cos_theta.mean().item() + 0.5) < 0.02
    assert R[..., :, 2].mean(0).abs().max() < 0.03


def test_random_rotation_is_reproducible():
    a = random_rotation(3, generator=torch.Generator().manual_seed(7))
    b = random_rotation(3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_composition_and_inverse(rng):
    R1, R2 = random_rotation(2, generator=rng)
    R12 = R1 @ R2
    assert bool(is_orthogonal(R12)) and bool(is_proper(R12))
    assert (R1.T @ R1 - I3).abs().max() < 1e-12  # R⁻¹ = Rᵀ
    assert (torch.linalg.inv(R1) - R1.T).abs().max() < 1e-12
    # -R is NOT the inverse (the slide's D(−R) mistake): it is improper.
    assert not bool(is_proper(-R1))
    assert (R1 @ (-R1).T - I3).abs().max() > 0.1


def test_axis_angle_known_values():
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    R = axis_angle_to_matrix(z, math.pi / 2)
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-15)
    # Axis length does not matter, angle is right-handed.
    assert torch.allclose(axis_angle_to_matrix(3 * z, math.pi / 2), R, atol=1e-15)
    assert torch.allclose(axis_angle_to_matrix(z, -math.pi / 2), R.T, atol=1e-15)


def test_axis_angle_round_trip(rng):
    R = random_rotation(100, generator=rng)
    axis, angle = matrix_to_axis_angle(R)
    assert (axis_angle_to_matrix(axis, angle) - R).abs().max() < 1e-12
    assert (rotation_angle(R) - angle).abs().max() < 1e-12


@pytest.mark.parametrize("angle", [0.0, 1e-9, math.pi - 1e-9, math.pi])
def test_axis_angle_edge_angles(angle):
    axis = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    R = axis_angle_to_matrix(axis, angle)
    back_axis, back_angle = matrix_to_axis_angle(R)
    assert (axis_angle_to_matrix(back_axis, back_angle) - R).abs().max() < 1e-12


def test_zero_axis_is_refused():
    with pytest.raises(ValueError, match="nonzero"):
        axis_angle_to_matrix([0.0, 0.0, 0.0], 1.0)


@pytest.mark.parametrize("convention", ["zyz", "yxy"])
def test_euler_round_trip(rng, convention):
    R = random_rotation(100, generator=rng)
    a, b, g = matrix_to_euler(R, convention)
    assert (euler_to_matrix(a, b, g, convention) - R).abs().max() < 1e-12
    assert bool(((b >= 0) & (b <= math.pi)).all())


@pytest.mark.parametrize("convention", ["zyz", "yxy"])
@pytest.mark.parametrize("beta", [0.0, math.pi])
def test_euler_gimbal_lock(convention, beta):
    R = euler_to_matrix(0.7, beta, -0.2, convention)
    a, b, g = matrix_to_euler(R, convention)
    assert (euler_to_matrix(a, b, g, convention) - R).abs().max() < 1e-12


def test_euler_zyz_is_the_stated_product():
    a, b, g = 0.3, 1.1, -2.0
    Rz = lambda t: axis_angle_to_matrix([0.0, 0.0, 1.0], t)  # noqa: E731
    Ry = lambda t: axis_angle_to_matrix([0.0, 1.0, 0.0], t)  # noqa: E731
    assert (euler_to_matrix(a, b, g) - Rz(a) @ Ry(b) @ Rz(g)).abs().max() < 1e-15


def test_euler_yxy_matches_e3nn():
    from e3nn import o3

    a, b, g = (torch.tensor(v, dtype=torch.float64) for v in (0.3, 1.1, -2.0))
    assert (euler_to_matrix(a, b, g, "yxy") - o3.angles_to_matrix(a, b, g)).abs().max() < 1e-15


def test_quaternion_round_trip_and_double_cover(rng):
    R = random_rotation(100, generator=rng)
    q = matrix_to_quaternion(R)
    assert (q.norm(dim=-1) - 1).abs().max() < 1e-12
    assert (quaternion_to_matrix(q) - R).abs().max() < 1e-12
    assert (quaternion_to_matrix(-q) - R).abs().max() < 1e-12


def test_quaternion_of_quarter_turn():
    q = torch.tensor([math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)], dtype=torch.float64)
    R = quaternion_to_matrix(q)
    assert (R - axis_angle_to_matrix([0.0, 0.0, 1.0], math.pi / 2)).abs().max() < 1e-15


def test_improper_rotations():
    P = inversion()
    assert torch.equal(P, -I3) and not bool(is_proper(P))
    M = reflection([0.0, 0.0, 2.0])
    assert torch.allclose(M, torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)))
    assert abs(torch.linalg.det(M).item() + 1) < 1e-15 and bool(is_orthogonal(M))
    assert (M @ M - I3).abs().max() < 1e-15  # a reflection is its own inverse
    n = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    assert torch.allclose(reflection(n) @ n, -n, atol=1e-15)
    with pytest.raises(ValueError):
        reflection([0.0, 0.0, 0.0])


def test_batched_shapes():
    axes = torch.randn(4, 5, 3, dtype=torch.float64)
    angles = torch.rand(4, 5, dtype=torch.float64)
    assert axis_angle_to_matrix(axes, angles).shape == (4, 5, 3, 3)
    assert euler_to_matrix(angles, angles, angles).shape == (4, 5, 3, 3)
