"""Training, a library: :class:`TrainConfig` → :func:`train` → :class:`TrainResult`. It knows
nothing of run records or jobs: :mod:`equiv.jobs.train` carries a run record through training.

* :mod:`~equiv.run_settings`: every setting of a run, defined once (bounds, help, flags, link keys);
* :mod:`~equiv.training.config`: a run's settings (JSON-serialisable; a run record stores them).
* :mod:`~equiv.training.trainer`: the loop (Adam/AMSGrad, reduce-on-plateau, EMA, best checkpoint,
  validation per epoch, test in meV and meV/Å).
* :mod:`~equiv.training.evaluate`: test errors of any model on any frames (``equiv evaluate``).
* :mod:`~equiv.training.batching`, :mod:`~equiv.training.normalization`, :mod:`~equiv.training.ema`,
  :mod:`~equiv.training.metrics`, :mod:`~equiv.training.device`: the parts.
"""

from equiv.training.batching import FrameTensors
from equiv.training.config import DEFAULT_LR, DEFAULT_MAX_TIME_S, DEVICES, DTYPES, TrainConfig
from equiv.run_settings import SETTINGS, Setting, setting_problems, size_overrides
from equiv.training.device import choose_threads, cuda_unavailable_reason, planned_device, resolve_device
from equiv.training.ema import WeightEMA
from equiv.training.evaluate import evaluate_batches, evaluate_model, graph_r_max, zero_force_mae_mev
from equiv.training.metrics import METRIC_KEYS, ErrorAccumulator
from equiv.training.normalization import species_counts, species_energy_shift
from equiv.training.trainer import EpochReport, Trainer, TrainHooks, TrainResult, train

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_MAX_TIME_S",
    "DEVICES",
    "DTYPES",
    "METRIC_KEYS",
    "SETTINGS",
    "Setting",
    "EpochReport",
    "ErrorAccumulator",
    "FrameTensors",
    "TrainConfig",
    "TrainHooks",
    "TrainResult",
    "Trainer",
    "WeightEMA",
    "choose_threads",
    "cuda_unavailable_reason",
    "evaluate_batches",
    "evaluate_model",
    "graph_r_max",
    "planned_device",
    "resolve_device",
    "setting_problems",
    "size_overrides",
    "species_counts",
    "species_energy_shift",
    "train",
    "zero_force_mae_mev",
]
