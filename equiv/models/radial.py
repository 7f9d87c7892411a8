"""Radial features of edge lengths: NequIP's Bessel basis times a polynomial cutoff envelope.

* Bessel basis: ``b_n(r) = (2 / r_max) · sin(n π r / r_max) / r`` for n = 1 … N (frequencies
  trainable as in the NequIP paper).
* Polynomial envelope (p = 6 by default), with ``x = r / r_max``:
  ``u(x) = 1 − (p+1)(p+2)/2 · x^p + p(p+2) · x^(p+1) − p(p+1)/2 · x^(p+2)`` for x < 1, and 0 beyond.
  u and its first two derivatives vanish at r_max, so energies and forces are smooth when a
  neighbour crosses the cutoff.

Example:
    >>> import torch
    >>> emb = RadialEmbedding(r_max=5.0, n_basis=8, p=6)
    >>> emb(torch.tensor([1.0, 4.99, 6.0])).shape
    torch.Size([3, 8])
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BesselBasis", "PolynomialCutoff", "RadialEmbedding"]


class BesselBasis(nn.Module):
    """``[n_edges]`` lengths (Å) → ``[n_edges, n_basis]`` Bessel features."""

    def __init__(self, r_max: float, n_basis: int = 8, trainable: bool = True):
        super().__init__()
        self.r_max = float(r_max)
        self.prefactor = 2.0 / self.r_max
        weights = math.pi * torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype())
        if trainable:
            self.frequencies = nn.Parameter(weights)
        else:
            self.register_buffer("frequencies", weights)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r[:, None] / self.r_max  # [n_edges, 1]
        return self.prefactor * torch.sin(self.frequencies * x) / r[:, None]  # [n_edges, n_basis]


class PolynomialCutoff(nn.Module):
    """The smooth envelope ``u(r / r_max)`` ``[n_edges]`` (see module docstring)."""

    def __init__(self, r_max: float, p: int = 6):
        super().__init__()
        self.r_max = float(r_max)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = r / self.r_max
        u = (
            1.0
            - (p + 1.0) * (p + 2.0) / 2.0 * x**p
            + p * (p + 2.0) * x ** (p + 1)
            - p * (p + 1.0) / 2.0 * x ** (p + 2)
        )
        return u * (x < 1.0)


class RadialEmbedding(nn.Module):
    """Bessel basis times the cutoff envelope: ``[n_edges]`` → ``[n_edges, n_basis]``."""

    def __init__(self, r_max: float, n_basis: int = 8, p: int = 6, trainable: bool = True):
        super().__init__()
        self.basis = BesselBasis(r_max, n_basis, trainable)
        self.cutoff = PolynomialCutoff(r_max, p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.basis(r) * self.cutoff(r)[:, None]
