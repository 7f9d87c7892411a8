"""How much memory a training run will need: a rough, deliberately generous estimate checked
before a run is queued on a shared server (the ``worker_memory_mb`` limit of
:mod:`equiv.runs.limits`), so a run that would not fit is refused with a message instead of
pushing the machine into swap.

The estimate is the worker's fixed cost (interpreter, torch, e3nn, the trainer; measured) plus the
autograd graphs of a training batch and an evaluation batch: per structure, per edge, per layer,
``channels × (l_max + 1)² × parities`` feature numbers, times a factor for the intermediate tensors
(messages, tensor products, gates, the force derivative). Measured peak resident memory
(``bench/worker_memory.py``) grows with the training *and* the evaluation batch (the allocator
keeps what training used), about 3.3 times the feature bytes per structure for NequIP; the factor
below is 1.5 times that. Written here rather
than taken from a library: no library estimates the memory of these models.

Example:
    >>> from equiv.training import TrainConfig
    >>> small = estimate_memory_mb(TrainConfig(model="nequip-l1", data="xtb:ethanol", n_train=10, epochs=1,
    ...                                        model_options={"channels": 4, "n_layers": 1}))
    >>> big = estimate_memory_mb(TrainConfig(model="nequip-paper", data="xtb:aspirin", n_train=100, epochs=1,
    ...                                      batch_size=50, eval_batch_size=200))
    >>> small < 1500 < big
    True
"""

from __future__ import annotations

from equiv.errors import TrainingError
from equiv.training.config import TrainConfig

__all__ = ["BASE_MB", "estimate_memory_mb", "check_memory"]

#: A training worker's resident memory with a tiny model (Python, torch, e3nn, the trainer):
#: measured 421 MiB on CPU (bench/worker_memory.py); rounded up.
BASE_MB = 600.0
#: Bytes held per byte of edge features of one structure (measured about 3.3 for NequIP).
FACTOR = 5.0
#: Neighbours per atom when the molecule is not known (a file data set).
DEFAULT_ATOMS = 25


def _n_atoms(config: TrainConfig) -> int:
    from equiv.molecules import LIBRARY

    entry = LIBRARY.get(config.molecule or "")
    if entry is None:
        return DEFAULT_ATOMS
    try:
        from equiv.molecules import load_molecule

        return int(load_molecule(config.molecule).n_atoms)
    except Exception:  # noqa: BLE001 - an estimate falls back to a typical size
        return DEFAULT_ATOMS


def _model_size(config: TrainConfig) -> tuple[int, int, int]:
    """(layers, channels, numbers per channel) of the config's model."""
    from equiv.models import PRESETS

    preset = PRESETS[config.model]
    options = {**preset.overrides, **dict(config.model_options)}
    if preset.kind == "nequip":
        l_max = int(options.get("l_max", 2))
        parities = 2 if options.get("parity", True) else 1
        return int(options.get("n_layers", 3)), int(options.get("channels", 32)), (l_max + 1) ** 2 * parities
    if preset.kind == "gvp":
        scalars, vectors = int(options.get("scalar_channels", 32)), int(options.get("vector_channels", 16))
        return int(options.get("n_layers", 3)), 1, scalars + 3 * vectors
    return 1, 1, 1  # the MLP: no graph, a few vectors per structure


def estimate_memory_mb(config: TrainConfig) -> float:
    """A generous estimate of a training run's peak resident memory (MiB)."""
    atoms = _n_atoms(config)
    edges = atoms * max(1, min(atoms - 1, 40))
    layers, channels, per_channel = _model_size(config)
    number_bytes = 8 if config.dtype == "float64" else 4
    per_structure = edges * channels * per_channel * layers * number_bytes * FACTOR
    return BASE_MB + (config.batch_size + config.eval_batch_size) * per_structure / 2**20


def check_memory(config: TrainConfig, limit_mb: float) -> float:
    """The estimate; :class:`TrainingError` saying the estimate and the limit when it exceeds
    ``limit_mb`` (0: no limit)."""
    estimate = estimate_memory_mb(config)
    if limit_mb and estimate > limit_mb:
        raise TrainingError(
            f"this run would need about {estimate:,.0f} MiB of memory by its estimate, more than the "
            f"{limit_mb:,.0f} MiB a run may use on this server (worker_memory_mb); use a smaller batch size "
            f"(now {config.batch_size}, evaluation {config.eval_batch_size}), fewer channels or layers, or a "
            "smaller l_max")
    return estimate
