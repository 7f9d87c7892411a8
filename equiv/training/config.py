"""What a training run is asked to do: :class:`TrainConfig` (JSON-serialisable; it is what a run
record stores, so a queued run can be executed anywhere from its record alone).

Defaults follow the NequIP rMD17 recipe where it has one: Adam with AMSGrad, lr 0.01 (GVP:
0.003), batch 5,
loss weights force 1000 / energy 1 (energy per molecule), EMA 0.99, reduce-on-plateau with
patience 50 and factor 0.8, stop when the learning rate falls below 1e-6.

Example:
    >>> cfg = TrainConfig(model="gvp", data="xtb:ethanol", n_train=100, epochs=5)
    >>> cfg.molecule, cfg.budget_text()
    ('ethanol', '5 epochs')
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from equiv.errors import DataError, TrainingError
from equiv.run_settings import BY_KEY, setting_problems

__all__ = ["TrainConfig", "DEFAULT_LR", "LR_SCHEDULES", "DEFAULT_MAX_TIME_S", "DTYPES", "DEVICES", "spec_molecule"]

#: Budget when neither epochs, a time limit nor a step limit is given.
DEFAULT_MAX_TIME_S = 300.0
#: Learning rate by architecture when none is given: the NequIP recipe's 0.01, except GVP, whose
#: forces collapsed to zero for good at 0.01 on water (GFN2-xTB, 250 frames; 0.003 reached
#: 58 meV/Å in 30 s), and at 0.005 too (800 frames, 4,000 cosine steps: 697 meV/Å, the zero-force
#: error, where 0.003 reached 53).
DEFAULT_LR = {"nequip": 0.01, "mlp": 0.01, "gvp": 0.003}
#: The settings table's choices (equiv.run_settings), by name.
DTYPES = BY_KEY["dtype"].rule.options
LR_SCHEDULES = BY_KEY["lr_schedule"].rule.options
DEVICES = BY_KEY["device"].rule.options


def spec_molecule(spec: Any) -> str | None:
    """The molecule a data-set spec names (``rmd17:ethanol`` → ``ethanol``); ``None`` for a file
    or a spec that is not one."""
    from equiv.data import parse_spec

    try:
        return parse_spec(str(spec)).molecule
    except DataError:
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _default(key: str) -> Any:
    """The default of setting ``key`` (:data:`equiv.run_settings.SETTINGS`): one definition."""
    return BY_KEY[key].default


#: Fields whose Python default differs from the setting's (the lab's and the command line's), and
#: why: the API's defaults are the published protocol's and a plain run's.
_API_DEFAULTS = {
    "model": "the full NequIP preset (the lab starts from the quicker l_max 1)",
    "n_train": "950, the MD17 protocol's training set (the lab starts from 100)",
    "epochs": "no epoch limit: a config without a budget trains for DEFAULT_MAX_TIME_S (the lab's 30 epochs are its form's)",
    "max_time_s": "None (the form's 0 means the same: no limit)",
    "max_steps": "None (the form's 0 means the same: no limit)",
    "lr_schedule": "reduce-on-plateau, the NequIP recipe (the setting's empty value lets config_values choose: cosine for a step budget alone)",
}


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings (units: seconds, eV, Å).

    Every field but ``model_options`` and ``labels`` is a setting of
    :data:`equiv.run_settings.SETTINGS`, which says what it means, what values it takes and which
    flag sets it (a field's setting has its name, or names it as ``field``). What the table does
    not say:

    * ``model`` is any preset of :data:`equiv.models.PRESETS`; ``model_options`` overrides the
      preset's config (``{"channels": 16}``); ``avg_num_neighbors`` is measured on the training
      set unless given there.
    * Budget: training stops at whichever of ``epochs``, ``max_time_s`` (training and validation,
      not data loading or the test) and ``max_steps`` comes first; none given:
      :data:`DEFAULT_MAX_TIME_S`; 0 means no limit of that kind. ``max_steps`` alone is the fair
      budget of a sweep. ``lr_schedule="cosine"`` anneals to zero over whichever runs out first.
    * ``val_every_steps`` ``None``: validate after every epoch, except with a step budget alone,
      where it is ``max_steps // 20`` (a small training set is not validated hundreds of times).
    * ``lr`` ``None``: :data:`DEFAULT_LR` of the architecture (Adam with AMSGrad); the loss weights
      apply to energy (per molecule) and force (per component) mean squared errors in units of the
      training set's force RMS; ``ema_decay`` ``None`` or 0: no EMA.
    * ``threads`` ``None``: the cores other processes leave idle, re-checked after every epoch
      (:mod:`equiv.training.device`). Results are bit-identical for the same seed and thread count.
    * ``labels``: free-form strings kept in the run record and the checkpoint's metadata.
    """

    # Defaults are the settings table's (_default), except where the Python API differs on
    # purpose (_API_DEFAULTS says why).
    model: str = "nequip"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    data: str = _default("data_spec")
    data_dir: str | None = _default("data_dir")
    energy_key: str | None = _default("energy_key")
    forces_key: str | None = _default("forces_key")
    n_train: int = 950
    n_val: int = _default("n_val")
    n_test: int | None = _default("n_test")
    epochs: int | None = None
    max_time_s: float | None = None
    max_steps: int | None = None
    val_every_steps: int | None = _default("val_every_steps")
    batch_size: int = _default("batch")
    eval_batch_size: int = _default("eval_batch_size")
    lr: float | None = _default("lr")
    energy_weight: float = _default("energy_weight")
    force_weight: float = _default("force_weight")
    ema_decay: float | None = _default("ema_decay")
    lr_schedule: str = "plateau"
    plateau_patience: int = _default("plateau_patience")
    plateau_factor: float = _default("plateau_factor")
    min_lr: float = _default("min_lr")
    early_stop_patience: int | None = _default("early_stop_patience")
    device: str = _default("device")
    dtype: str = _default("dtype")
    seed: int = _default("seed")
    threads: int | None = _default("threads")
    checkpoint: str | None = _default("checkpoint")
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_options", _jsonable(dict(self.model_options)))
        object.__setattr__(self, "labels", {str(k): str(v) for k, v in dict(self.labels).items()})
        for name in ("epochs", "max_time_s", "max_steps"):  # 0: no limit of that kind
            if getattr(self, name) == 0:
                object.__setattr__(self, name, None)
        if self.epochs is None and self.max_time_s is None and self.max_steps is None:
            object.__setattr__(self, "max_time_s", DEFAULT_MAX_TIME_S)
        self._check()
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR.get(self.model_kind, 0.01))

    def _check(self) -> None:
        """Every problem at once, by the rules of :data:`equiv.run_settings.SETTINGS`."""
        problems = setting_problems(self.to_dict(), by_field=True)
        if problems:
            raise TrainingError(" ".join(problems))

    # -- derived ----------------------------------------------------------------------------
    @property
    def molecule(self) -> str | None:
        """The library molecule of the data set (``None`` for a file)."""
        return spec_molecule(self.data)

    @property
    def model_kind(self) -> str:
        from equiv.models import PRESETS

        return PRESETS[self.model].kind

    @property
    def validation_interval(self) -> int:
        """Optimizer steps between validations (see ``val_every_steps``); 1 means every epoch."""
        if self.val_every_steps is not None:
            return self.val_every_steps
        if self.max_steps is not None and self.epochs is None:
            return max(1, self.max_steps // 20)
        return 1

    def budget_text(self) -> str:
        parts = []
        if self.epochs is not None:
            parts.append(f"{self.epochs} epochs")
        if self.max_time_s is not None:
            parts.append(f"{self.max_time_s:g} s")
        if self.max_steps is not None:
            parts.append(f"{self.max_steps} steps")
        return " or ".join(parts)

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Rebuild from :meth:`to_dict` output; keys that are not fields are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise TrainingError(f"unknown training settings: {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
