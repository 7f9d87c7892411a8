"""Rotations and improper rotations of 3D space, torch-first.

Conventions used everywhere in ``equiv``:

* A rotation is a 3×3 orthogonal matrix ``R`` acting on **column** vectors, ``r ↦ R r``.
  Positions are stored as rows ``pos[n_atoms, 3]``, so a rotated molecule is
  ``pos @ R.T``. (The seminar writes the same thing with row vectors as ``x R``.)
* Rotations are *active*: they move the molecule, not the coordinate frame.
* An improper rotation (det = −1) is a rotation times the inversion ``−I``; a reflection through
  the plane with unit normal ``n`` is ``I − 2 n nᵀ``.
* The inverse of a rotation is its transpose, ``R⁻¹ = Rᵀ`` (not "R with the angle negated
  written as D(−R)", as the seminar slide had it; ``-R`` is a different, improper matrix).
* Euler angles default to the ZYZ convention of quantum mechanics:
  ``R(α, β, γ) = R_z(α) R_y(β) R_z(γ)`` (intrinsic z-y'-z'', angles in radians,
  α, γ ∈ (−π, π], β ∈ [0, π]). ``convention="yxy"`` gives e3nn's
  ``R_y(α) R_x(β) R_y(γ)``.
* Quaternions are ``(w, x, y, z)`` with ``w = cos(θ/2)``; ``q`` and ``−q`` are the same rotation.

Every function accepts batches: leading dimensions ``[...]`` are carried through.

Example:
    >>> R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(torch.pi / 2))
    >>> torch.allclose(R @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    True
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = [
    "as_tensor",
    "random_rotation",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "euler_to_matrix",
    "matrix_to_euler",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "random_quaternion",
    "inversion",
    "reflection",
    "is_orthogonal",
    "is_proper",
    "rotation_angle",
]

TensorLike = torch.Tensor | float | Sequence[float]


def as_tensor(x: TensorLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` as a floating tensor (float64 unless ``x`` already is a floating tensor or dtype is given)."""
    if isinstance(x, torch.Tensor):
        if dtype is not None:
            return x.to(dtype)
        return x if x.is_floating_point() else x.to(torch.float64)
    return torch.as_tensor(x, dtype=dtype or torch.float64)


def random_quaternion(
    *shape: int, dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniformly distributed unit quaternions ``[*shape, 4]`` (w, x, y, z), with ``w ≥ 0``.

    A normalised 4D Gaussian is uniform on S³, which maps to the Haar measure on SO(3).
    """
    q = torch.randn(*shape, 4, dtype=dtype, generator=generator)  # [*shape, 4]
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def random_rotation(
    *shape: int, dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Haar-random (uniformly distributed) rotation matrices ``[*shape, 3, 3]``, det = +1.

    Example:
        >>> R = random_rotation(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> bool(is_orthogonal(R)) and bool(is_proper(R))
        True
    """
    return quaternion_to_matrix(random_quaternion(*shape, dtype=dtype, generator=generator))


def _skew(v: torch.Tensor) -> torch.Tensor:
    """The cross-product matrix ``[v]×`` with ``[v]× u = v × u``; ``[..., 3] -> [..., 3, 3]``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack(
        [torch.stack([o, -z, y], -1), torch.stack([z, o, -x], -1), torch.stack([-y, x, o], -1)], -2
    )


def axis_angle_to_matrix(axis: TensorLike, angle: TensorLike) -> torch.Tensor:
    """Rotation by ``angle`` (radians, right-handed) about ``axis`` (any nonzero length).

    Rodrigues' formula ``R = I + sin θ [n]× + (1 − cos θ) [n]×²``.
    Shapes: axis ``[..., 3]``, angle ``[...]`` → ``[..., 3, 3]``.

    Raises:
        ValueError: if the axis has zero length.
    """
    axis_t = as_tensor(axis)
    angle_t = as_tensor(angle, dtype=axis_t.dtype)
    norm = axis_t.norm(dim=-1, keepdim=True)  # [..., 1]
    if bool((norm == 0).any()):
        raise ValueError("the rotation axis must have nonzero length")
    n = axis_t / norm
    K = _skew(n)  # [..., 3, 3]
    s = torch.sin(angle_t)[..., None, None]
    c = torch.cos(angle_t)[..., None, None]
    eye = torch.eye(3, dtype=n.dtype, device=n.device).expand(K.shape)
    return eye + s * K + (1 - c) * (K @ K)


def matrix_to_axis_angle(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit axis ``[..., 3]`` and angle ``[...]`` in [0, π] of proper rotations ``[..., 3, 3]``.

    Goes through the quaternion, which is accurate at every angle (also near 0 and π).
    For the identity the axis is arbitrary and returned as (0, 0, 1).
    """
    q = matrix_to_quaternion(R)  # [..., 4], w >= 0
    w, v = q[..., 0], q[..., 1:]
    s = v.norm(dim=-1)  # sin(θ/2)
    angle = 2 * torch.atan2(s, w)
    z = torch.zeros_like(v)
    z[..., 2] = 1
    axis = torch.where(s[..., None] > 0, v / s.clamp_min(torch.finfo(v.dtype).tiny)[..., None], z)
    return axis, angle


def _elementary(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Rotation about a coordinate axis ``x``, ``y`` or ``z``: ``[...] -> [..., 3, 3]``."""
    c, s = torch.cos(angle), torch.sin(angle)
    o, i = torch.zeros_like(angle), torch.ones_like(angle)
    rows = {
        "x": [[i, o, o], [o, c, -s], [o, s, c]],
        "y": [[c, o, s], [o, i, o], [-s, o, c]],
        "z": [[c, -s, o], [s, c, o], [o, o, i]],
    }[axis]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


_EULER_AXES = {"zyz": ("z", "y", "z"), "yxy": ("y", "x", "y")}


def euler_to_matrix(
    alpha: TensorLike, beta: TensorLike, gamma: TensorLike, convention: str = "zyz"
) -> torch.Tensor:
    """``R = R_a(α) R_b(β) R_a(γ)`` for ``convention`` "zyz" (default) or "yxy" (e3nn's).

    Shapes: α, β, γ broadcast to ``[...]``; returns ``[..., 3, 3]``.
    """
    if convention not in _EULER_AXES:
        raise ValueError(f"unknown Euler convention {convention!r}; use 'zyz' or 'yxy'")
    a1, a2, a3 = _EULER_AXES[convention]
    a = as_tensor(alpha)
    b, g = as_tensor(beta, dtype=a.dtype), as_tensor(gamma, dtype=a.dtype)
    a, b, g = torch.broadcast_tensors(a, b, g)
    return _elementary(a1, a) @ _elementary(a2, b) @ _elementary(a3, g)


def matrix_to_euler(R: torch.Tensor, convention: str = "zyz") -> tuple[torch.Tensor, ...]:
    """Euler angles (α, β, γ) of proper rotations ``[..., 3, 3]``; inverse of :func:`euler_to_matrix`.

    At gimbal lock (β = 0 or π) only α ± γ is defined; γ is then set to 0.
    """
    if convention not in _EULER_AXES:
        raise ValueError(f"unknown Euler convention {convention!r}; use 'zyz' or 'yxy'")
    if convention == "yxy":
        return _matrix_to_yxy(R)
    # R = Rz(a) Ry(b) Rz(g): R[2,2] = cos b, R[0,2] = cos a sin b, R[1,2] = sin a sin b,
    # R[2,0] = -sin b cos g, R[2,1] = sin b sin g.
    sb = torch.hypot(R[..., 0, 2], R[..., 1, 2])
    beta = torch.atan2(sb, R[..., 2, 2])
    eps = 1e3 * torch.finfo(R.dtype).eps
    regular = sb > eps
    alpha = torch.where(regular, torch.atan2(R[..., 1, 2], R[..., 0, 2]), torch.atan2(R[..., 1, 0], R[..., 0, 0]))
    gamma = torch.where(regular, torch.atan2(R[..., 2, 1], -R[..., 2, 0]), torch.zeros_like(alpha))
    # At beta = pi, Rz(a) Ry(pi) = [[-cos a, -sin a, 0], [-sin a, cos a, 0], [0, 0, -1]].
    at_pi = (~regular) & (R[..., 2, 2] < 0)
    alpha = torch.where(at_pi, torch.atan2(-R[..., 1, 0], R[..., 1, 1]), alpha)
    return alpha, beta, gamma


def _matrix_to_yxy(R: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Euler angles of ``R = R_y(α) R_x(β) R_y(γ)``."""
    # Column 1 = R_y(a) R_x(b) e_y = (sin a sin b, cos b, cos a sin b);
    # row 1 = e_yᵀ R_x(b) R_y(g) = (sin b sin g, cos b, −sin b cos g).
    sb = torch.hypot(R[..., 0, 1], R[..., 2, 1])
    beta = torch.atan2(sb, R[..., 1, 1])
    eps = 1e3 * torch.finfo(R.dtype).eps
    regular = sb > eps
    alpha = torch.where(regular, torch.atan2(R[..., 0, 1], R[..., 2, 1]), torch.atan2(R[..., 0, 2], R[..., 0, 0]))
    gamma = torch.where(regular, torch.atan2(R[..., 1, 0], -R[..., 1, 2]), torch.zeros_like(alpha))
    # At beta = pi: R_y(a) R_x(pi) = [[cos a, 0, -sin a], [0, -1, 0], [-sin a, 0, -cos a]].
    at_pi = (~regular) & (R[..., 1, 1] < 0)
    alpha = torch.where(at_pi, torch.atan2(-R[..., 0, 2], R[..., 0, 0]), alpha)
    return alpha, beta, gamma


def quaternion_to_matrix(q: TensorLike) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` of quaternions ``[..., 4]`` (w, x, y, z; normalised here)."""
    q_t = as_tensor(q)
    q_t = q_t / q_t.norm(dim=-1, keepdim=True)
    w, x, y, z = q_t.unbind(-1)
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Unit quaternion ``[..., 4]`` (w ≥ 0) of proper rotations ``[..., 3, 3]``.

    Uses the numerically stable branch (largest diagonal element) for every input.
    """
    m = R
    t = torch.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )  # [..., 4] = 4 * (w², x², y², z²)
    k = t.argmax(-1, keepdim=True)  # [..., 1]
    # Each row: the quaternion computed from one branch, scaled by 4 * component.
    cand = torch.stack(
        [
            torch.stack([t[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            torch.stack([m[..., 2, 1] - m[..., 1, 2], t[..., 1], m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1),
            torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], t[..., 2], m[..., 2, 1] + m[..., 1, 2]], -1),
            torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], t[..., 3]], -1),
        ],
        -2,
    )  # [..., 4 branches, 4]
    q = torch.gather(cand, -2, k[..., None].expand(*k.shape[:-1], 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def inversion(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The inversion ``−I`` (parity): polar vectors flip sign, pseudovectors do not."""
    return -torch.eye(3, dtype=dtype)


def reflection(normal: TensorLike) -> torch.Tensor:
    """Reflection through the plane with normal ``n``: ``I − 2 n nᵀ / |n|²``; ``[..., 3] -> [..., 3, 3]``."""
    n = as_tensor(normal)
    norm = n.norm(dim=-1, keepdim=True)
    if bool((norm == 0).any()):
        raise ValueError("the mirror-plane normal must have nonzero length")
    n = n / norm
    eye = torch.eye(3, dtype=n.dtype, device=n.device)
    return eye - 2 * n[..., :, None] * n[..., None, :]


def is_orthogonal(R: torch.Tensor, atol: float | None = None) -> torch.Tensor:
    """Whether ``RᵀR = I`` within ``atol`` (default 1e-12 in float64, 1e-5 in float32)."""
    if atol is None:
        atol = 1e-12 if R.dtype == torch.float64 else 1e-5
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    return ((R.transpose(-1, -2) @ R - eye).abs().amax(dim=(-1, -2)) <= atol)


def is_proper(R: torch.Tensor) -> torch.Tensor:
    """Whether det R = +1 (a rotation) rather than −1 (an improper rotation)."""
    return torch.linalg.det(R) > 0


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """Rotation angle in [0, π] of the proper part ``det(R)·R``."""
    d = torch.linalg.det(R)[..., None, None]
    return matrix_to_axis_angle(R * d)[1]
