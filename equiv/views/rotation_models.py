"""Which model each panel of the rotation lab shows: a shipped pretrained checkpoint, a checkpoint
the training lab produced for this molecule, or an untrained model.

Every panel is one *slot*: ``gvp``, ``nequip``, ``nequip-so3`` (NequIP with ``parity=False``,
equivariant under rotations only), ``mlp`` (the coordinate MLP trained on frames aligned to the
library orientation: it fits forces in that frame and fails when the molecule turns) and
``mlp-aug`` (the same MLP trained with random-rotation augmentation: roughly, never exactly,
equivariant). Only some molecules have an aligned MLP shipped; the others fall back to an
untrained one, and its label says so (:func:`model_sources`). :func:`model_sources` lists what can fill a slot
(default first); :func:`load_source` builds the model in float64.

Why float64: float32 blurs the very thing the lab shows. An untrained model's forces are tiny
next to its energy, so float32 rounding in the autograd gradient alone reaches relative force
errors of 1e-4 (GVP on CHFClBr), as large as the parity violation of the SO(3)-only model on a
non-planar molecule. In float64 equivariant models show about 1e-15; checkpoints saved in float32
keep their float32-rounded Clebsch–Gordan constants and show about 1e-7. The price is about a
third more time on the CPU (aspirin: NequIP 61 ms instead of 44 ms, GVP 19 instead of 14), which
keeps a rotation change within its 150 ms budget (bench/rotation_latency.py).

Example:
    >>> [s.kind for s in model_sources("gvp", None)]
    ['untrained']
    >>> load_source(model_sources("mlp", None)[0], (8, 1, 1)).kind
    'mlp'
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from equiv.errors import EquivError, RunError
from equiv.models import PRESETS, EnergyModel, build_model, load_checkpoint
from equiv.models.pretrained import pretrained_path
from equiv.molecules import LIBRARY
from equiv.runs import Run, RunStore
from equiv.jobs.lifecycle import TRAINING_KINDS

__all__ = ["MODEL_SLOTS", "ModelSource", "model_sources", "load_source", "check_compatible", "run_source"]

#: slot → (preset, config overrides) of the untrained model.
MODEL_SLOTS: dict[str, tuple[str, dict]] = {
    "gvp": ("gvp", {}),
    "nequip": ("nequip", {}),
    "nequip-so3": ("nequip", {"parity": False}),
    "mlp": ("mlp", {}),
    "mlp-aug": ("mlp", {"augment_rotations": True}),
}
#: What an untrained fallback's label adds when a library molecule has no shipped checkpoint for the slot.
MISSING_PRETRAINED: dict[str, str] = {
    "mlp": "no aligned MLP has been trained for this molecule yet (scripts/train_pretrained.py --models mlp)",
    "mlp-aug": "no augmented MLP is shipped for this molecule",
}
#: Seed of every untrained model (the same weights on every machine).
UNTRAINED_SEED = 0
#: The lab's models run in float64 (see the module docstring).
DTYPE = torch.float64


@dataclass(frozen=True)
class ModelSource:
    """Where a panel's model comes from.

    Attributes:
        slot: a key of :data:`MODEL_SLOTS`.
        kind: ``pretrained`` (shipped in ``assets/pretrained``), ``run`` (a finished training run
            of the run store) or ``untrained``.
        label: what the page's model picker shows.
        path: checkpoint file (``None`` for untrained).
        run_id: the run's id for ``run``.
        missing: for an untrained fallback of a library molecule, why no pretrained model fills the
            slot (:data:`MISSING_PRETRAINED`); else ``None``.
    """

    slot: str
    kind: str
    label: str
    path: str | None = None
    run_id: int | None = None
    missing: str | None = None

    @property
    def trained(self) -> bool:
        return self.kind != "untrained"


def _family(model_name: str | None) -> str | None:
    """Architecture of a run's model name (a preset like ``nequip-l1`` or an architecture)."""
    if not model_name:
        return None
    preset = PRESETS.get(model_name)
    return preset.kind if preset is not None else model_name


def _force_mae(metrics: dict | None) -> float | None:
    for key, value in (metrics or {}).items():
        if "force_mae" in key and isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    return None


def _run_names(molecule: str) -> set[str]:
    """Names a run may give a library molecule: its key, and its rMD17 name (``salicylic``)."""
    entry = LIBRARY.get(molecule)
    return {molecule} | ({entry.rmd17} if entry is not None and entry.rmd17 else set())


def _source_of(slot: str, run: Run) -> ModelSource:
    mae = _force_mae(run.test_metrics)
    detail = f", test force MAE {mae:.1f} meV/Å" if mae is not None else ""
    return ModelSource(slot, "run", f"training run {run.id} ({run.model}{detail})", run.checkpoint_path, run.id)


def _run_sources(slot: str, molecule: str, store_path: str | Path | None) -> list[ModelSource]:
    if slot == "nequip-so3":
        return []
    family = MODEL_SLOTS[slot][0]
    names = _run_names(molecule)
    try:
        runs = RunStore(store_path).list_runs(status="finished")
    except RunError:  # a damaged or busy run store: the pretrained and untrained models remain
        return []
    found = []
    for run in runs:
        if run.molecule not in names or run.kind not in TRAINING_KINDS or not run.checkpoint_path or _family(run.model) != family:
            continue
        if not Path(run.checkpoint_path).is_file():
            continue
        found.append(_source_of(slot, run))
    return found


def run_source(run_id: str | int, store_path: str | Path | None = None) -> tuple[str, ModelSource]:
    """(library molecule, model source) of a finished training run, for a link that opens the lab
    with that run's checkpoint (``/rotate?run=12``). :class:`EquivError` says why a run cannot be
    shown (unknown, not finished, no checkpoint, not a library molecule)."""
    try:
        run = RunStore(store_path).get(int(str(run_id).strip()))
    except ValueError:
        raise EquivError(f"a run is given by its number, not {str(run_id)[:40]!r}") from None
    if run.kind == "generate":
        raise EquivError(f"run {run.id} generated data; it trained no model")
    if run.status != "finished":
        raise EquivError(f"run {run.id} is {run.status}; only finished runs can be shown")
    if not run.checkpoint_path or not Path(run.checkpoint_path).is_file():
        raise EquivError(f"run {run.id} has no checkpoint file on this machine")
    key = next((k for k in LIBRARY if run.molecule in _run_names(k)), None)
    if key is None:
        raise EquivError(f"run {run.id} was trained on {run.molecule or 'a file'}, which is not a library molecule")
    family = _family(run.model)
    slot = next((s for s, (preset, overrides) in MODEL_SLOTS.items() if preset == family and not overrides), None)
    if slot is None:
        raise EquivError(f"run {run.id} trained a {run.model}, which the rotation lab does not show")
    return key, _source_of(slot, run)


def model_sources(slot: str, molecule: str | None, store_path: str | Path | None = None) -> list[ModelSource]:
    """What can fill ``slot`` for a library molecule (``None`` for an uploaded one), default first:
    the shipped pretrained checkpoint if there is one, then the training lab's finished runs for
    this molecule (newest first), then the untrained model."""
    if slot not in MODEL_SLOTS:
        raise EquivError(f"unknown model slot {slot!r}; one of {', '.join(MODEL_SLOTS)}")
    sources: list[ModelSource] = []
    if molecule is not None:
        path = pretrained_path(molecule, slot)
        if path is not None:
            sources.append(ModelSource(slot, "pretrained", "pretrained (shipped with the app)", str(path)))
        sources += _run_sources(slot, molecule, store_path)
    label = f"untrained (random weights, seed {UNTRAINED_SEED})"
    missing = None
    if molecule is not None and slot in MISSING_PRETRAINED and not any(s.kind == "pretrained" for s in sources):
        missing = MISSING_PRETRAINED[slot]
        label += f": {missing}"
    sources.append(ModelSource(slot, "untrained", label, missing=missing))
    return sources


def check_compatible(model: EnergyModel, numbers: Sequence[int]) -> None:
    """Raise :class:`EquivError` when ``model`` cannot take the molecule ``numbers``."""
    zs = [int(z) for z in numbers]
    model.species_index(torch.tensor(zs))  # unknown elements → EquivError with the element names
    fixed = getattr(model.config, "numbers", None)
    if fixed is not None and tuple(fixed) != tuple(zs):
        raise EquivError(
            f"this MLP checkpoint was trained on a molecule of {len(fixed)} atoms in another order; "
            f"it cannot take this one ({len(zs)} atoms)"
        )


def load_source(source: ModelSource, numbers: Sequence[int]) -> EnergyModel:
    """The float64 model of ``source`` for the molecule with atomic numbers ``numbers``.

    Untrained models are built for the molecule's elements (the MLP for its atom count and order).
    A checkpoint that cannot take the molecule raises :class:`EquivError`.
    """
    if source.kind == "untrained":
        preset, overrides = MODEL_SLOTS[source.slot]
        return build_model(preset, dtype=DTYPE, seed=UNTRAINED_SEED, numbers=tuple(numbers), **overrides)
    if source.path is None:
        raise EquivError(f"{source.label}: no checkpoint file")
    try:
        stat = os.stat(source.path)
    except OSError:
        raise EquivError(f"{source.label}: its checkpoint {source.path} is not on this machine") from None
    model = _checkpoint_model(str(source.path), stat.st_mtime_ns, stat.st_size)
    check_compatible(model, numbers)
    return model


@functools.lru_cache(maxsize=16)
def _checkpoint_model(path: str, mtime_ns: int, size: int) -> EnergyModel:
    """A checkpoint's float64 model, built once per file version for the whole server (a NequIP
    build takes about a second; ``python -m equiv.serve`` loads the default molecule's before the
    first visitor). Shared: callers evaluate it and never change it."""
    return load_checkpoint(path, dtype=DTYPE).model
