"""Real spherical harmonics (e3nn's) and functions on the sphere built from them.

``Y_l(r̂)`` has 2l + 1 components in e3nn's real basis; ``Y_l(R r̂) = D^l(R) Y_l(r̂)``.
A set of coefficients ``h_l`` ``[2l+1]`` defines the spherical function
``f(r̂) = Σ_m h_lm Y_lm(r̂)``; rotating the coefficients by ``D^l(R)`` rotates the function:
``f'(r̂) = f(Rᵀ r̂)``. This is how the rotation lab draws hidden features as glyphs.

Example:
    >>> import torch
    >>> Y = spherical_harmonics(1, torch.tensor([[0.0, 0.0, 2.0]]))
    >>> Y.shape
    torch.Size([1, 3])
"""

from __future__ import annotations

import torch
from e3nn import o3

__all__ = ["spherical_harmonics", "sphere_grid", "spherical_function"]


def spherical_harmonics(l: int, directions: torch.Tensor, normalization: str = "integral") -> torch.Tensor:
    """Real spherical harmonics ``[..., 2l+1]`` of (not necessarily unit) directions ``[..., 3]``.

    ``normalization``: "integral" (∫ Y_lm² dΩ = 1), "component" (Σ_m Y_lm² = 2l+1) or
    "norm" (Σ_m Y_lm² = 1), as in e3nn.
    """
    return o3.spherical_harmonics(l, directions, normalize=True, normalization=normalization)


def sphere_grid(n_theta: int = 40, n_phi: int = 80, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Unit vectors ``[n_theta, n_phi, 3]`` on a polar grid (θ from 0 to π, φ from 0 to 2π, closed)."""
    theta = torch.linspace(0, torch.pi, n_theta, dtype=dtype)
    phi = torch.linspace(0, 2 * torch.pi, n_phi, dtype=dtype)
    t, p = torch.meshgrid(theta, phi, indexing="ij")  # [n_theta, n_phi]
    return torch.stack([torch.sin(t) * torch.cos(p), torch.sin(t) * torch.sin(p), torch.cos(t)], dim=-1)


def spherical_function(l: int, coefficients: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """``f(r̂) = Σ_m h_m Y_lm(r̂)`` ``[...]`` for coefficients ``[2l+1]`` at directions ``[..., 3]``."""
    Y = spherical_harmonics(l, directions.to(coefficients.dtype))  # [..., 2l+1]
    return Y @ coefficients
