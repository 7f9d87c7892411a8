"""Self-describing checkpoints: architecture, config, weights, dtype and a format version.

A checkpoint is a ``torch.save`` file holding only plain data (loaded with ``weights_only=True``)::

    {"format": "equiv-checkpoint", "format_version": 1, "kind": "nequip",
     "config": {...}, "dtype": "float32", "state_dict": {...}, "metadata": {...}}

``metadata`` is free-form JSON-like data (training data set, metrics, ...).

Example:
    >>> import tempfile, os
    >>> from equiv.models import build_model
    >>> m = build_model("gvp", scalar_channels=8, vector_channels=4)
    >>> path = os.path.join(tempfile.mkdtemp(), "gvp.pt")
    >>> _ = save_checkpoint(m, path, {"note": "untrained"})
    >>> load_checkpoint(path).metadata["note"]
    'untrained'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from equiv.errors import EquivError
from equiv.models.base import EnergyModel
from equiv.models.registry import model_from_config

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_FORMAT_VERSION", "CheckpointError", "LoadedCheckpoint",
           "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "equiv-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CheckpointError(EquivError):
    """A file is not an equiv checkpoint, is damaged, or has another format version."""


@dataclass
class LoadedCheckpoint:
    model: EnergyModel
    metadata: dict[str, Any]
    path: Path


def save_checkpoint(model: EnergyModel, path: str | os.PathLike, metadata: dict[str, Any] | None = None, *,
                    weights: torch.dtype | None = None) -> Path:
    """Write ``model`` (any dtype/device; stored on CPU) and ``metadata`` to ``path`` atomically and
    durably: into ``<path>.tmp``, fsynced, renamed over ``path``, and the folder fsynced, so a crash
    or power loss leaves the old checkpoint or the new one, never a torn file; a failed save
    removes its ``.tmp``.

    ``weights`` stores the trainable parameters in another dtype (``torch.float16`` for the shipped
    pretrained files: half the size). Loading casts them to the model's dtype, so the model is built
    and evaluated as before, with rounded weights: equivariance is exact whatever the weights, only
    the fit changes (measure it with the stored file). Buffers (the float64 energy shift) stay as
    they are.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = next(model.parameters()).dtype
    parameters = {name for name, _ in model.named_parameters()}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if weights is not None:
        state = {k: v.to(weights) if k in parameters and v.is_floating_point() else v for k, v in state.items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "kind": model.kind,
        "config": model.config.to_dict(),
        "dtype": str(dtype).removeprefix("torch."),
        "state_dict": state,
        "metadata": metadata or {},
    }
    if weights is not None:
        payload["stored_weights"] = str(weights).removeprefix("torch.")
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the model of a checkpoint (in its saved dtype unless ``dtype`` is given)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged file, not a torch file, unsafe content
        raise CheckpointError(f"{path.name} is not a readable equiv checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path.name} is not an equiv checkpoint")
    version = payload.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name} has checkpoint format version {version}; this equiv reads version "
            f"{CHECKPOINT_FORMAT_VERSION}. Retrain the model, or use the equiv version that wrote it."
        )
    saved_dtype = _DTYPES.get(payload.get("dtype", "float32"), torch.float32)
    # Built straight in the asked dtype: e3nn's constants (Clebsch–Gordan, change of basis) are
    # float64 at build; a detour through float32 would round them, and a float32 checkpoint loaded
    # in float64 would then be equivariant to 1e-8 only, not to 1e-15.
    model = model_from_config(payload["kind"], payload["config"], dtype=dtype or saved_dtype, seed=None)
    try:
        model.load_state_dict(payload["state_dict"])  # the saved weights, converted to that dtype
    except RuntimeError as exc:
        raise CheckpointError(f"{path.name}: weights do not match its config ({str(exc).splitlines()[0]})") from None
    model = model.to(device=device)
    model.eval()
    return LoadedCheckpoint(model, dict(payload.get("metadata", {})), path)
