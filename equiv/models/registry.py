"""Models by name: ``mlp``, ``gvp``, ``nequip`` (quick CPU defaults), ``nequip-l0`` … ``nequip-l3``
(the default with another l_max, for data-efficiency sweeps) and ``nequip-paper`` (the rMD17
configuration of the NequIP paper: 5 layers, 64 channels, l_max 3, r_max 4 Å, 8 Bessels, p = 6,
radial MLP 3 × 64).

Models are built in float64 (so e3nn's constant matrices are exact) and then cast to the requested
dtype; initialisation is seeded without touching the global random state.

Example:
    >>> model = build_model("nequip", l_max=1, channels=8, seed=0)
    >>> model.config.l_max, model.kind
    (1, 'nequip')
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from equiv.errors import EquivError
from equiv.models.base import EnergyModel, ModelConfig
from equiv.models.gvp import GVPModel
from equiv.models.mlp import CoordinateMLP
from equiv.models.nequip import NequIP

__all__ = ["ARCHITECTURES", "PRESETS", "Preset", "build_model", "model_from_config"]

#: Architecture kind → model class.
ARCHITECTURES: dict[str, type[EnergyModel]] = {cls.kind: cls for cls in (CoordinateMLP, GVPModel, NequIP)}


@dataclass(frozen=True)
class Preset:
    """A named configuration: an architecture and config overrides."""

    kind: str
    overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""


PRESETS: dict[str, Preset] = {
    "mlp": Preset("mlp", {}, "MLP on flattened coordinates (not equivariant)"),
    "gvp": Preset("gvp", {}, "GVP-GNN with vector gating, 3 layers, 32 scalar + 16 vector channels"),
    "nequip": Preset("nequip", {}, "NequIP, l_max 2, 3 layers, 32 channels"),
    **{
        f"nequip-l{l}": Preset("nequip", {"l_max": l}, f"NequIP with l_max = {l}, otherwise default")
        for l in range(4)
    },
    "nequip-paper": Preset(
        "nequip",
        {"n_layers": 5, "channels": 64, "l_max": 3, "r_max": 4.0, "n_basis": 8, "cutoff_p": 6, "radial_hidden": (64, 64, 64)},
        "NequIP paper rMD17 configuration (5 layers, 64 channels, l_max 3, r_max 4 Å)",
    ),
}

_BUILD_LOCK = threading.Lock()  # torch's default dtype is global: serialise model construction


def model_from_config(
    kind: str, config: ModelConfig | dict, dtype: torch.dtype = torch.float32, seed: int | None = 0
) -> EnergyModel:
    """Build an architecture from a config (object or dict) in ``dtype``, in eval mode."""
    if kind not in ARCHITECTURES:
        raise EquivError(f"unknown model architecture {kind!r}; choose one of {', '.join(ARCHITECTURES)}")
    cls = ARCHITECTURES[kind]
    cfg = config if isinstance(config, ModelConfig) else cls.config_class.from_dict(config)
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            model = cls(cfg)
        finally:
            torch.set_default_dtype(previous)
    return model.to(dtype).eval()


def build_model(
    name: str,
    *,
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
    numbers: np.ndarray | tuple[int, ...] | None = None,
    **overrides: Any,
) -> EnergyModel:
    """A model from a preset name plus config overrides.

    Args:
        name: a key of :data:`PRESETS`.
        dtype: parameter dtype (float32 or float64).
        seed: initialisation seed (``None``: use the global random state).
        numbers: atomic numbers of the molecule; required by ``mlp`` (fixed atom order). For graph
            models it sets ``species`` when not given explicitly.
        overrides: config fields, e.g. ``l_max=1``, ``channels=16``.
    """
    if name not in PRESETS:
        raise EquivError(f"unknown model {name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    cls = ARCHITECTURES[preset.kind]
    fields = {**preset.overrides, **overrides}
    if numbers is not None:
        zs = tuple(int(z) for z in np.asarray(numbers).tolist())
        if preset.kind == "mlp":
            fields.setdefault("numbers", zs)
        fields.setdefault("species", tuple(sorted(set(zs))))
    try:
        cfg = cls.config_class(**fields)
    except TypeError as exc:
        raise EquivError(f"bad options for {name}: {exc}") from None
    return model_from_config(preset.kind, cfg, dtype=dtype, seed=seed)
