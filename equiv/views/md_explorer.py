"""The structure explorer's data: one row of per-frame properties for every frame of a data set or
an MD trajectory, with the model's and the reference's forces, so that a map of the frames
(:func:`equiv.views.md_figures.frame_map_figure`) can lead to the structures where a model fails.

Properties (columns of :attr:`FrameTable.properties`, each ``[n_frames]``):

* data set: ``frame``, ``reference energy (eV)`` (relative to the lowest), ``model energy error (meV)``
  (model − reference, after removing the mean offset), ``force MAE (meV/Å)`` and ``max force error
  (meV/Å)`` of the model against the labels;
* trajectory: ``time (fs)``, ``potential energy (eV)`` (relative to the first frame), ``temperature (K)``,
  and, when xTB single points were computed, ``force MAE vs xTB (meV/Å)``.

Example:
    >>> import numpy as np
    >>> t = trajectory_table([1, 1], np.zeros((3, 2, 3)) + [[0, 0, 0], [0.74, 0, 0]], np.zeros((3, 2, 3)),
    ...                      times_fs=[0, 1, 2], potential_ev=[0, 1, 2], temperature_k=[300, 310, 320])
    >>> sorted(t.properties)
    ['potential energy (eV)', 'temperature (K)', 'time (fs)']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from equiv.graphs import AtomsBatch
from equiv.models import EnergyModel

__all__ = ["FrameTable", "dataset_table", "trajectory_table", "model_predictions", "MAX_EXPLORER_FRAMES"]

#: The explorer evaluates at most this many frames of a data set (evenly spaced).
MAX_EXPLORER_FRAMES = 1000


@dataclass
class FrameTable:
    """Frames and their per-frame properties.

    Attributes:
        numbers: atomic numbers ``[n]``; positions ``[n_frames, n, 3]`` (Å).
        model_forces, reference_forces: ``[n_frames, n, 3]`` (eV/Å) or ``None``.
        frame_ids: each row's frame index in the source ``[n_frames]``.
        properties: name → values ``[n_frames]``.
    """

    numbers: np.ndarray
    positions: np.ndarray
    model_forces: np.ndarray | None
    reference_forces: np.ndarray | None
    frame_ids: np.ndarray
    properties: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.positions)


def model_predictions(model: EnergyModel, numbers: Sequence[int], positions: np.ndarray,
                      chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Model energies ``[n_frames]`` (eV) and forces ``[n_frames, n, 3]`` (eV/Å), batched."""
    dtype = next(model.parameters()).dtype
    energies, forces = [], []
    n = len(numbers)
    for start in range(0, len(positions), chunk):
        part = positions[start:start + chunk]
        batch = AtomsBatch.from_arrays([numbers] * len(part), list(part), dtype=dtype)
        out = model(batch)
        energies.append(out["energy"].detach().to(torch.float64).numpy())
        forces.append(out["forces"].detach().to(torch.float64).numpy().reshape(len(part), n, 3))
    return np.concatenate(energies), np.concatenate(forces)


def _force_errors(model_forces: np.ndarray, reference_forces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = np.abs(model_forces - reference_forces) * 1000.0  # [F, n, 3] meV/Å
    return diff.mean(axis=(1, 2)), diff.max(axis=(1, 2))


def dataset_table(model: EnergyModel, numbers: Sequence[int], positions: np.ndarray, energies: np.ndarray,
                  forces: np.ndarray, max_frames: int = MAX_EXPLORER_FRAMES) -> FrameTable:
    """The explorer's table of a data set (at most ``max_frames`` evenly spaced frames)."""
    ids = np.unique(np.linspace(0, len(positions) - 1, min(len(positions), max_frames)).round().astype(int))
    pos, e_ref, f_ref = positions[ids], np.asarray(energies)[ids], forces[ids]
    e_model, f_model = model_predictions(model, numbers, pos)
    de = (e_model - e_ref) * 1000.0
    mae, worst = _force_errors(f_model, f_ref)
    props = {"frame": ids.astype(float), "reference energy (eV)": e_ref - e_ref.min(),
             "model energy error (meV)": de - de.mean(), "force MAE (meV/Å)": mae, "max force error (meV/Å)": worst}
    return FrameTable(np.asarray(numbers), pos, f_model, f_ref, ids, props)


def trajectory_table(numbers: Sequence[int], positions: np.ndarray, model_forces: np.ndarray, *,
                     times_fs: Sequence[float], potential_ev: Sequence[float], temperature_k: Sequence[float],
                     reference_forces: np.ndarray | None = None) -> FrameTable:
    """The explorer's table of a trajectory's kept frames (``reference_forces``: xTB single points)."""
    pot = np.asarray(potential_ev, dtype=np.float64)
    props = {"time (fs)": np.asarray(times_fs, dtype=np.float64), "potential energy (eV)": pot - pot[0],
             "temperature (K)": np.asarray(temperature_k, dtype=np.float64)}
    if reference_forces is not None:
        props["force MAE vs xTB (meV/Å)"] = _force_errors(model_forces, reference_forces)[0]
    return FrameTable(np.asarray(numbers), np.asarray(positions), model_forces, reference_forces,
                      np.arange(len(positions)), props)
