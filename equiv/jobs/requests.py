"""What a person asks the training lab for, checked with reasons, and turned into a queued run.

:class:`TrainRequest` holds the form's fields (model, data set kind and molecule, sizes, budget,
device, seed and the few hyperparameters people tune). :func:`check_request` returns every reason
it cannot run as one sentence each (more training structures than the data set has, CUDA chosen
where there is none, no local rMD17 copy and how to get one, a generated data set that does not
exist yet, nonsense numbers), or the :class:`~equiv.training.TrainConfig` to queue.
:func:`data_status` says what the chosen data set is and how large it really is.

Example:
    >>> check = check_request(TrainRequest(model="gvp", data_kind="xtb", molecule="ethanol", n_train=0))
    >>> check.ok, check.problems[0]
    (False, 'The training-set size must be at least 1 structure, not 0.')
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from equiv.data import (
    MDSettings,
    XTB_LEVEL_OF_THEORY,
    default_xtb_path,
    find_dataset,
    rmd17_data_dir,
    rmd17_missing_message,
)
from equiv.data.rmd17 import RMD17_LEVEL_OF_THEORY
from equiv.errors import EquivError
from equiv.molecules import LIBRARY
from equiv.runs import Run, RunStore

__all__ = ["LAB_MODELS", "MODEL_TITLES", "DATA_KINDS", "REQUEST_MAXIMA", "TrainRequest", "RequestCheck", "DataStatus", "check_request",
           "data_status", "preset_size", "request_key", "launch_request", "DEFAULT_GENERATE_FRAMES",
           "generate_settings", "queue_generation", "DEFAULT_SWEEP_STEPS"]

#: The models the lab offers, in menu order.
LAB_MODELS = ("mlp", "gvp", "nequip-l0", "nequip-l1", "nequip-l2", "nequip-l3")
MODEL_TITLES = {
    "mlp": "MLP on coordinates (not equivariant)",
    "gvp": "GVP-GNN (equivariant, vectors)",
    "nequip-l0": "NequIP l_max = 0 (invariant features)",
    "nequip-l1": "NequIP l_max = 1",
    "nequip-l2": "NequIP l_max = 2",
    "nequip-l3": "NequIP l_max = 3",
}
#: Data-set kinds: generated GFN2-xTB molecular dynamics of a library molecule, or rMD17.
DATA_KINDS = {"xtb": f"generated MD ({XTB_LEVEL_OF_THEORY})", "rmd17": f"rMD17 ({RMD17_LEVEL_OF_THEORY})"}
#: Frames the lab's "generate" button makes by default (the generator's default: 4 trajectories,
#: 20 fs apart; about a minute for ethanol on 2 cores).
DEFAULT_GENERATE_FRAMES = 1200
#: The highest values a request may ask for (the form's inputs allow the same).
REQUEST_MAXIMA = {"epochs": 100_000, "seconds": 7 * 24 * 3600, "steps": 100_000_000, "layers": 8, "channels": 256,
                  "batch": 1000}
#: Optimizer steps per member of a sweep when no budget is given (the training lab's sweep default:
#: its default grid, 24 small runs, takes about 15 minutes on a 2-core CPU; see the README).
DEFAULT_SWEEP_STEPS = 1000


def preset_size(model: str) -> tuple[int, int]:
    """(layers, channels) of a preset as built by default (MLP: hidden layers and width)."""
    from equiv.models import ARCHITECTURES, PRESETS

    preset = PRESETS[model]
    cfg = ARCHITECTURES[preset.kind].config_class
    fields_ = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__ if hasattr(cfg, f)}
    fields_.update(preset.overrides)
    if preset.kind == "mlp":
        hidden = tuple(fields_["hidden"])
        return len(hidden), int(hidden[0])
    if preset.kind == "gvp":
        return int(fields_["n_layers"]), int(fields_["scalar_channels"])
    return int(fields_["n_layers"]), int(fields_["channels"])


@dataclass(frozen=True)
class TrainRequest:
    """The training lab's form (units: seconds).

    Attributes:
        model: one of :data:`LAB_MODELS`.
        data_kind: ``xtb`` (generated data of a library molecule) or ``rmd17``.
        molecule: library key (``ethanol``, ``salicylic_acid``).
        n_train, n_val: training and validation structures; n_test: test structures (``None``: all).
        epochs, max_time_s, steps: budget; ``None`` or 0 means no limit of that kind (one is needed).
            ``steps`` alone (the fair budget of a sweep: the same optimizer steps for every member)
            trains with a cosine schedule to zero over the steps, so every run ends annealed.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed, lr (``None``: the architecture's default), batch_size.
        layers, channels: model size (``None``: the preset's; see :func:`preset_size`).
        data_dir: the rMD17 folder (``None``: ``$EQUIV_RMD17_DIR`` or the data home).
        dtype: ``float32`` or ``float64``.
    """

    model: str = "nequip-l1"
    data_kind: str = "xtb"
    molecule: str = "ethanol"
    n_train: int = 100
    n_val: int = 50
    n_test: int | None = None
    epochs: int | None = 30
    max_time_s: float | None = None
    steps: int | None = None
    device: str = "auto"
    seed: int = 0
    lr: float | None = None
    batch_size: int = 5
    layers: int | None = None
    channels: int | None = None
    data_dir: str | None = None
    dtype: str = "float32"

    @property
    def spec(self) -> str:
        return f"{self.data_kind}:{self.molecule}"

    def replace(self, **changes: Any) -> "TrainRequest":
        return TrainRequest(**{**asdict(self), **changes})


@dataclass(frozen=True)
class DataStatus:
    """The chosen data set on this machine.

    Attributes:
        spec: ``xtb:ethanol`` or ``rmd17:ethanol``.
        label: what it is, for people (with the level of theory).
        available: it can be loaded now.
        pool_size: structures for training + validation; test_size: test structures.
        message: why it is not available and what to do (``None`` when available).
        path: the file (generated data) or folder (rMD17).
        generating: the queued or running ``generate`` run that will make it (generated data only).
        train_pool_size, val_pool_size: data split by trajectory: the most training and validation
            structures (``None``: both come from ``pool_size``).
    """

    spec: str
    label: str
    available: bool
    pool_size: int = 0
    test_size: int = 0
    message: str | None = None
    path: str | None = None
    generating: Run | None = None
    train_pool_size: int | None = None
    val_pool_size: int | None = None


def _rmd17_folder(data_dir: str | None) -> Path:
    return rmd17_data_dir(data_dir).resolve()


def data_status(kind: str, molecule: str, data_dir: str | None = None, store: RunStore | None = None) -> DataStatus:
    """What the data set ``kind:molecule`` is and whether (and how large) it is here."""
    entry = LIBRARY.get(molecule)
    title = entry.title if entry else molecule
    if kind == "rmd17":
        label = f"rMD17 {title} ({RMD17_LEVEL_OF_THEORY}, Christensen & von Lilienfeld 2020)"
        if entry is None or entry.rmd17 is None:
            rmd17 = [e.title for e in LIBRARY.values() if e.rmd17]
            return DataStatus(f"rmd17:{molecule}", label, False,
                              message=f"rMD17 has no {title}; it has {', '.join(rmd17)}. Use generated data instead.")
        spec = f"rmd17:{molecule}"
        found = find_dataset(spec, data_dir)
        if found is None:
            return DataStatus(spec, label, False, message=rmd17_missing_message(molecule, 1, data_dir) + ".",
                              path=str(_rmd17_folder(data_dir)))
        return DataStatus(spec, label, True, found.pool_size, found.test_size, path=found.path)
    if kind == "xtb":
        spec = f"xtb:{molecule}"
        label = f"generated {title} MD ({XTB_LEVEL_OF_THEORY}, 500 K)"
        if entry is None:
            return DataStatus(spec, label, False, message=f"no molecule {molecule!r} in the library")
        path = default_xtb_path(molecule)
        found = find_dataset(spec)
        if found is None:
            from equiv.jobs.generate import active_generation

            generating = active_generation(store or RunStore(), path)
            if generating is not None:
                done = f", {generating.progress:.0%} done" if generating.progress else ""
                message = (f"The {title} data set is being generated (run {generating.id}, {generating.status}{done}); "
                           "you can launch once it is ready.")
            else:
                message = (f"No generated data set for {title} yet ({path} does not exist). Generate it below: "
                           "GFN2-xTB molecular dynamics, a background job that does not block the page.")
            return DataStatus(spec, label, False, message=message, path=str(path), generating=generating)
        if found.outdated:
            from equiv.data import MDSettings, generate_command

            return DataStatus(spec, label, False, message=(
                f"The generated {title} data set is outdated: {found.outdated}. Generate it again below, or run "
                f"`{generate_command(molecule, settings=MDSettings())} --force`."), path=found.path)
        return DataStatus(spec, label, True, found.pool_size, found.test_size, path=found.path,
                          train_pool_size=found.train_pool_size, val_pool_size=found.val_pool_size)
    return DataStatus(f"{kind}:{molecule}", kind, False, message=f"unknown data-set kind {kind!r}; use xtb or rmd17")


@dataclass(frozen=True)
class RequestCheck:
    """The outcome of :func:`check_request`: ``config`` when ``ok``, else the ``problems``."""

    request: TrainRequest
    problems: list[str] = field(default_factory=list)
    config: Any = None  # equiv.training.TrainConfig
    data: DataStatus | None = None
    device_queue: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.config is not None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_problems(r: TrainRequest) -> list[str]:
    out = []

    def whole_at_least(name: str, value: Any, low: int, high: int, unit: str = "") -> None:
        if not _whole(value) or value < low:
            out.append(f"{name} must be at least {low}{unit}, not {value}.")
        elif value > high:
            out.append(f"{name} of {value:,} is beyond what this lab runs (at most {high:,}).")

    whole_at_least("The training-set size", r.n_train, 1, 10_000_000, " structure")
    whole_at_least("The validation-set size", r.n_val, 1, 10_000_000, " structure")
    if r.n_test is not None:
        whole_at_least("The test-set size", r.n_test, 1, 10_000_000, " structure")
    whole_at_least("The batch size", r.batch_size, 1, REQUEST_MAXIMA["batch"])
    if not _whole(r.seed) or r.seed < 0:
        out.append(f"The seed must be a whole number of 0 or more, not {r.seed}.")
    epochs = r.epochs or None
    seconds = r.max_time_s or None
    steps = r.steps or None
    if epochs is None and seconds is None and steps is None:
        out.append("Give a budget: a number of optimizer steps, of epochs, a time limit, or several.")
    if epochs is not None:
        whole_at_least("The number of epochs", epochs, 1, REQUEST_MAXIMA["epochs"])
    if steps is not None:
        whole_at_least("The number of steps", steps, 1, REQUEST_MAXIMA["steps"])
    if seconds is not None and not (isinstance(seconds, (int, float)) and math.isfinite(seconds)
                                    and 0 < seconds <= REQUEST_MAXIMA["seconds"]):
        out.append(f"The time limit must be above 0 s and at most a week, not {seconds}.")
    if r.lr is not None and not (isinstance(r.lr, (int, float)) and math.isfinite(r.lr) and 0 < r.lr <= 1):
        out.append(f"The learning rate must lie above 0 and at most 1, not {r.lr}.")
    if r.layers is not None:
        whole_at_least("The number of layers", r.layers, 1, REQUEST_MAXIMA["layers"])
    if r.channels is not None:
        whole_at_least("The number of channels", r.channels, 1, REQUEST_MAXIMA["channels"])
    if _whole(r.batch_size) and _whole(r.n_train) and r.n_train >= 1 and r.batch_size > r.n_train:
        out.append(f"The batch size ({r.batch_size}) is larger than the training set ({r.n_train} structures).")
    return out


def check_request(request: TrainRequest, store: RunStore | None = None) -> RequestCheck:
    """Every reason ``request`` cannot run (one sentence each), or its :class:`TrainConfig`."""
    from equiv.training import DEVICES, TrainConfig, cuda_unavailable_reason, size_overrides

    r = request
    problems: list[str] = []
    if r.model not in LAB_MODELS:
        problems.append(f"Unknown model {r.model!r}; choose one of {', '.join(LAB_MODELS)}.")
    problems += _number_problems(r)
    device_queue = None
    if r.device not in DEVICES:
        problems.append(f"The device is auto, cpu or cuda, not {r.device!r}.")
    else:
        reason = cuda_unavailable_reason()
        if r.device == "cuda" and reason is not None:
            problems.append(f"CUDA was chosen, but torch.cuda.is_available() is False here: {reason}. Choose auto or cpu.")
        device_queue = "cuda" if r.device == "cuda" or (r.device == "auto" and reason is None) else "cpu"
    data = data_status(r.data_kind, r.molecule, r.data_dir, store)
    if not data.available:
        problems.append(data.message or f"{data.spec} is not available")
    elif _whole(r.n_train) and _whole(r.n_val) and r.n_train >= 1 and r.n_val >= 1:
        if data.train_pool_size is not None and data.val_pool_size is not None:
            if r.n_train > data.train_pool_size:
                problems.append(f"{data.label} has {data.train_pool_size:,} training structures (its trajectories "
                                f"other than the validation and test ones); {r.n_train:,} were asked for.")
            if r.n_val > data.val_pool_size:
                problems.append(f"{data.label} has {data.val_pool_size:,} validation structures (one trajectory); "
                                f"{r.n_val:,} were asked for.")
        elif r.n_train + r.n_val > data.pool_size:
            room = data.pool_size - r.n_val
            advice = (f"use at most {room:,} training structures with {r.n_val:,} for validation" if room >= 1
                      else f"the validation set alone takes them all; use fewer than {data.pool_size:,} "
                           "validation structures")
            problems.append(f"{data.label} has {data.pool_size:,} structures for training and validation; "
                            f"{r.n_train:,} + {r.n_val:,} were asked for: {advice}.")
        if r.n_test is not None and _whole(r.n_test) and r.n_test > data.test_size:
            problems.append(f"{data.label} has {data.test_size:,} test structures, not {r.n_test:,}.")
    if problems:
        return RequestCheck(r, problems, None, data, device_queue)
    data_dir = str(_rmd17_folder(r.data_dir)) if r.data_kind == "rmd17" else None
    try:
        config = TrainConfig(
            model=r.model, model_options=size_overrides(r.model, r.layers, r.channels), data=data.spec,
            data_dir=data_dir, n_train=r.n_train, n_val=r.n_val, n_test=r.n_test, epochs=r.epochs or None,
            max_time_s=float(r.max_time_s) if r.max_time_s else None, max_steps=r.steps or None,
            lr_schedule="cosine" if r.steps else "plateau", batch_size=r.batch_size, lr=r.lr,
            device=r.device, dtype=r.dtype, seed=r.seed, labels={"launched_from": "training lab"},
        )
    except EquivError as exc:
        return RequestCheck(r, [str(exc)], None, data, device_queue)
    return RequestCheck(r, [], config, data, device_queue)


def request_key(nonce: str, config: Any) -> str:
    """An idempotency key for launching ``config`` from one form instance (``nonce``): the same
    form submitted twice with the same settings is one run."""
    text = json.dumps(config.to_dict(), sort_keys=True)
    return "form:" + hashlib.sha256(f"{nonce}\n{text}".encode()).hexdigest()[:32]


def launch_request(check: RequestCheck, nonce: str, store: RunStore | None = None, *, launch: bool = True) -> Run:
    """Queue the checked request (idempotent per ``nonce`` and settings) and (with ``launch``) make
    sure a launcher serves its device. Raises :class:`EquivError` when the check did not pass."""
    from equiv.jobs.launcher import ensure_launcher
    from equiv.training import create_train_run

    if not check.ok:
        raise EquivError(" ".join(check.problems) or "the request was not checked")
    store = store or RunStore()
    run = create_train_run(check.config, store, idempotency_key=request_key(nonce, check.config))
    if launch and run.active:
        ensure_launcher(run.device, store)
    return run


def generate_settings(frames: int = DEFAULT_GENERATE_FRAMES, seed: int = 0) -> MDSettings:
    """The lab's generation settings: the generator's defaults (500 K, 0.5 fs, 4 trajectories, every
    40th step after 600 equilibration steps) with ``frames`` kept."""
    return MDSettings(frames=frames, seed=seed)


def queue_generation(molecule: str, frames: int, nonce: str, store: RunStore | None = None, *,
                     launch: bool = True) -> Run:
    """Queue (once per ``nonce``) the generation of ``xtb:<molecule>`` and make sure a CPU launcher
    runs it; an already active generation of that file is returned instead."""
    from equiv.jobs.generate import active_generation, create_generate_run
    from equiv.jobs.launcher import ensure_launcher

    store = store or RunStore()
    active = active_generation(store, default_xtb_path(molecule))
    if active is not None:
        if launch:
            ensure_launcher(active.device, store)
        return active
    settings = generate_settings(frames)
    key = "generate:" + hashlib.sha256(f"{nonce}\n{molecule}\n{json.dumps(asdict(settings), sort_keys=True)}".encode()).hexdigest()[:32]
    run = create_generate_run(molecule, settings, store, idempotency_key=key)
    if launch and run.active:
        ensure_launcher(run.device, store)
    return run
