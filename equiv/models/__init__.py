"""Models behind one interface: GVP-GNN, NequIP and a non-equivariant MLP.

``model(batch)`` returns a dict with ``energy`` [n_graphs] (eV), ``forces`` [n_atoms, 3] (eV/Å,
−∂E/∂r), ``atom_vectors`` [n_atoms, 3], ``molecule_vector`` [n_graphs, 3], ``atom_energies``
[n_atoms] (eV) and ``features`` (hidden features by irrep). See :mod:`equiv.models.base`.
"""

from equiv.models.base import DEFAULT_SPECIES, EnergyModel, ModelConfig
from equiv.models.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    CheckpointError,
    LoadedCheckpoint,
    load_checkpoint,
    save_checkpoint,
)
from equiv.models.gvp import GVP, GVPConfig, GVPLayerNorm, GVPModel
from equiv.models.mlp import CoordinateMLP, MLPConfig, coordinate_statistics
from equiv.models.nequip import NequIP, NequIPConfig
from equiv.models.radial import BesselBasis, PolynomialCutoff, RadialEmbedding
from equiv.models.registry import ARCHITECTURES, PRESETS, build_model, model_from_config

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_FORMAT_VERSION",
    "DEFAULT_SPECIES",
    "GVP",
    "PRESETS",
    "BesselBasis",
    "CheckpointError",
    "CoordinateMLP",
    "coordinate_statistics",
    "EnergyModel",
    "GVPConfig",
    "GVPLayerNorm",
    "GVPModel",
    "LoadedCheckpoint",
    "MLPConfig",
    "ModelConfig",
    "NequIP",
    "NequIPConfig",
    "PolynomialCutoff",
    "RadialEmbedding",
    "build_model",
    "load_checkpoint",
    "model_from_config",
    "save_checkpoint",
]
