"""Errors of predicted energies and forces, accumulated on the device over batches.

Energy errors are per molecule (total energy, meV); force errors per Cartesian component (meV/Å).
Sums stay on the device in float64 until :meth:`ErrorAccumulator.result`, so accumulating costs no
host synchronisation on a GPU.

Example:
    >>> import torch
    >>> acc = ErrorAccumulator()
    >>> f64 = torch.float64
    >>> acc.add(torch.tensor([1.0, 2.0], dtype=f64), torch.tensor([1.001, 1.998], dtype=f64),
    ...         torch.zeros(3, 3, dtype=f64), torch.full((3, 3), 0.002, dtype=f64))
    >>> {k: round(v, 6) for k, v in acc.result().items()}
    {'energy_mae_mev': 1.5, 'energy_rmse_mev': 1.581139, 'force_mae_mev_per_a': 2.0, 'force_rmse_mev_per_a': 2.0}
"""

from __future__ import annotations

import math

import torch

__all__ = ["ErrorAccumulator", "METRIC_KEYS"]

#: Keys of :meth:`ErrorAccumulator.result`.
METRIC_KEYS = ("energy_mae_mev", "energy_rmse_mev", "force_mae_mev_per_a", "force_rmse_mev_per_a")


class ErrorAccumulator:
    """Running sums of absolute and squared errors (eV in, meV out)."""

    def __init__(self) -> None:
        self._sums: torch.Tensor | None = None  # [4]: Σ|ΔE|, Σ ΔE², Σ|ΔF|, Σ ΔF²
        self.n_energies = 0
        self.n_force_components = 0

    def add(self, energy: torch.Tensor, energy_ref: torch.Tensor, forces: torch.Tensor, forces_ref: torch.Tensor) -> None:
        """Energies ``[n_graphs]`` (eV) and forces ``[n_atoms, 3]`` (eV/Å), predicted and reference."""
        de = (energy.detach() - energy_ref).to(torch.float64)
        df = (forces.detach() - forces_ref).to(torch.float64)
        sums = torch.stack([de.abs().sum(), (de * de).sum(), df.abs().sum(), (df * df).sum()])
        self._sums = sums if self._sums is None else self._sums + sums
        self.n_energies += de.numel()
        self.n_force_components += df.numel()

    def result(self) -> dict[str, float]:
        """MAE and RMSE of energies (meV) and force components (meV/Å); NaN when empty."""
        if self._sums is None:
            return {k: math.nan for k in METRIC_KEYS}
        e_abs, e_sq, f_abs, f_sq = self._sums.tolist()
        ne, nf = self.n_energies, self.n_force_components
        return {
            "energy_mae_mev": 1000 * e_abs / ne,
            "energy_rmse_mev": 1000 * math.sqrt(e_sq / ne),
            "force_mae_mev_per_a": 1000 * f_abs / nf,
            "force_rmse_mev_per_a": 1000 * math.sqrt(f_sq / nf),
        }
