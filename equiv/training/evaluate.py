"""Test errors of a model on a data set's frames: what training reports, for any model.

The same pieces as :class:`equiv.training.Trainer` uses for its test split: frames batched by
:class:`~equiv.training.FrameTensors`, errors summed by :class:`~equiv.training.ErrorAccumulator`
(energy per molecule in meV, force per Cartesian component in meV/Å), and the zero-force line
(:func:`zero_force_mae_mev`: what predicting F = 0 scores on the same frames).

Example:
    >>> import numpy as np, torch
    >>> from equiv.data import DataSet, DataSetMetadata
    >>> from equiv.models import build_model
    >>> meta = DataSetMetadata(name="demo", molecule="H2", level_of_theory="none", source="doctest")
    >>> ds = DataSet([1, 1], np.zeros((3, 2, 3)) + [[0, 0, 0], [0.74, 0, 0]], np.zeros(3), np.ones((3, 2, 3)), meta)
    >>> m = evaluate_model(build_model("gvp", numbers=[1, 1], dtype=torch.float64), ds)
    >>> m["force_mae_zero_mev_per_a"], m["n_test"]
    (1000.0, 3)
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from equiv.data import DataSet
from equiv.graphs import AtomsBatch
from equiv.models import EnergyModel
from equiv.training.batching import FrameTensors
from equiv.training.metrics import ErrorAccumulator

__all__ = ["evaluate_batches", "evaluate_model", "graph_r_max", "zero_force_mae_mev"]


def graph_r_max(model: EnergyModel) -> float | None:
    """The radius graph's cutoff (Å) the model's batches need; ``None`` for the MLP (no graph)."""
    return None if model.kind == "mlp" else float(model.config.r_max)


def zero_force_mae_mev(ds: DataSet) -> float:
    """Force MAE (meV/Å) of predicting zero forces on ``ds``: its mean |F| component."""
    return 1000 * float(np.abs(ds.forces).mean())


def evaluate_batches(model: EnergyModel, batches: Iterable[AtomsBatch]) -> dict[str, float]:
    """Energy and force MAE/RMSE (``METRIC_KEYS``) of ``model`` in eval mode over ``batches``
    (forces without a double-backward graph); the model's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    acc = ErrorAccumulator()
    for batch in batches:
        out = model(batch)
        acc.add(out["energy"], batch.energy, out["forces"], batch.forces)
    model.train(was_training)
    return acc.result()


def evaluate_model(model: EnergyModel, ds: DataSet, batch_size: int = 50) -> dict[str, float | int]:
    """Test errors of ``model`` on every frame of ``ds`` (in the model's dtype and device):
    ``energy_mae_mev``, ``energy_rmse_mev``, ``force_mae_mev_per_a``, ``force_rmse_mev_per_a``,
    ``force_mae_zero_mev_per_a`` and ``n_test``."""
    param = next(model.parameters())
    frames = FrameTensors(ds, graph_r_max(model), param.dtype, param.device)
    with torch.random.fork_rng(devices=[]):
        metrics: dict[str, float | int] = dict(evaluate_batches(model, frames.batches(batch_size)))
    metrics["force_mae_zero_mev_per_a"] = zero_force_mae_mev(ds)
    metrics["n_test"] = ds.n_frames
    return metrics
