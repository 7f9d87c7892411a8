"""The training loop: :func:`train` (``config → result``) and :class:`Trainer`.

Recipe (NequIP's for rMD17, see /work/shared/REFERENCE.md):

* loss ``w_E · mean((ΔE/σ)²) + w_F · mean((ΔF/σ)²)`` over a batch, ΔE per molecule (total
  energy), ΔF per Cartesian component, σ the training set's force RMS (so the loss is unit-free);
* per-species energy shift by least squares and scale σ on the training set
  (:mod:`equiv.training.normalization`); ``avg_num_neighbors`` measured on the training set;
* Adam with AMSGrad; reduce-on-plateau of the validation loss; an exponential moving average
  (EMA) of the weights, which is what validation, the test and the checkpoint use;
* validation after every epoch; the best (lowest validation loss) EMA weights are kept in memory
  and written atomically to the checkpoint; the test split is evaluated with them at the end;
* stop at the budget (epochs, seconds, steps), when the learning rate falls below ``min_lr``,
  after ``early_stop_patience`` epochs without improvement, or when ``should_stop`` says so
  (a cancel: the best checkpoint is kept, no test is run).

Speed: every frame's neighbour mask is computed once (:class:`FrameTensors`), a batch is a few
gathers, evaluation is batched and builds no double-backward graph, metrics accumulate on the
device, flush-to-zero is on, and threads are chosen for this machine (see
:mod:`equiv.training.device`).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from equiv.data import Splits, load_splits
from equiv.errors import TrainingError
from equiv.models import ARCHITECTURES, PRESETS, EnergyModel, build_model, coordinate_statistics, model_from_config, save_checkpoint
from equiv.training.batching import FrameTensors
from equiv.training.config import TrainConfig
from equiv.training.device import (
    CpuLoad,
    choose_threads,
    device_name,
    peak_memory_mib,
    reset_peak_memory,
    resolve_device,
    training_numerics,
)
from equiv.training.convergence import Convergence, check_convergence
from equiv.training.ema import WeightEMA
from equiv.training.evaluate import evaluate_batches, zero_force_mae_mev
from equiv.training.metrics import METRIC_KEYS, ErrorAccumulator
from equiv.training.normalization import species_counts, species_energy_shift
from equiv.training.resume import ResumeState, load_resume_state, save_resume_state

__all__ = ["EpochReport", "TrainHooks", "TrainResult", "Trainer", "train"]

_PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True)
class EpochReport:
    """What happened in one epoch (errors in meV per molecule and meV/Å per component).

    Attributes:
        epoch: 1, 2, …; ``partial`` when the budget ran out inside it.
        seconds: wall time since training started (steps and validation).
        lr: learning rate during the epoch.
        steps, structures: optimizer steps and training structures so far.
        train: errors of the training batches as they were trained on (current weights).
        val: validation errors (EMA weights); val_loss: the loss on the validation set.
        best: this epoch's weights are the best so far (written to the checkpoint).
        structures_per_s: training throughput in this epoch (optimizer steps only).
        progress: fraction of the budget used (0–1).
        peak_memory_mib: peak GPU memory so far, ``None`` on CPU.
        threads: CPU threads during the epoch.
    """

    epoch: int
    seconds: float
    lr: float
    steps: int
    structures: int
    train: dict[str, float]
    val: dict[str, float]
    val_loss: float
    best: bool
    partial: bool
    structures_per_s: float
    progress: float
    peak_memory_mib: float | None = None
    threads: int = 1

    def store_metrics(self) -> dict[str, Any]:
        """Metrics as :meth:`equiv.runs.RunStore.log_epoch` takes them (``train_…``, ``val_…``
        columns, the rest kept as extras)."""
        out: dict[str, Any] = {f"train_{k}": v for k, v in self.train.items()}
        out.update({f"val_{k}": v for k, v in self.val.items()})
        out.update(val_loss=self.val_loss, best=self.best, partial=self.partial, steps=self.steps,
                   structures_per_s=self.structures_per_s, threads=self.threads)
        if self.peak_memory_mib is not None:
            out["peak_memory_mib"] = self.peak_memory_mib
        return out


@dataclass
class TrainHooks:
    """Callbacks (all optional). They run in the training thread; keep them quick.

    Attributes:
        on_data: the data set's description (metadata, sizes, split) once it is loaded.
        on_epoch: an :class:`EpochReport` after every epoch's validation.
        on_checkpoint: the path, after a better checkpoint was written.
        on_progress: ``(fraction, message)`` about once a second.
        should_stop: polled between optimizer steps; ``True`` stops cleanly (a cancel).
    """

    on_data: Callable[[dict[str, Any]], None] | None = None
    on_epoch: Callable[[EpochReport], None] | None = None
    on_checkpoint: Callable[[Path], None] | None = None
    on_progress: Callable[[float, str], None] | None = None
    should_stop: Callable[[], bool] | None = None


@dataclass
class TrainResult:
    """The outcome of a training run.

    Attributes:
        config: the settings.
        test: test errors of the best weights (``energy_mae_mev``, ``energy_rmse_mev``,
            ``force_mae_mev_per_a``, ``force_rmse_mev_per_a``) and the zero-force baseline
            ``force_mae_zero_mev_per_a`` (the mean |F| component of the test set); empty when cancelled.
        best_val: validation errors of the best epoch; best_epoch: its number (``None`` if none).
        epochs, steps: epochs (the last may be partial) and optimizer steps run.
        stopped: why training ended (``"epochs"``, ``"time limit"``, ``"step limit"``,
            ``"learning rate below …"``, ``"no improvement for … epochs"``, ``"cancelled"``).
        cancelled: stopped by ``should_stop``.
        seconds: wall time of the whole run (loading data to test); train_seconds: training and
            validation; structures_per_s: training throughput (optimizer steps only).
        device, device_name, threads, peak_memory_mib: where it ran (CPU threads at the end; peak
            GPU memory, ``None`` on CPU).
        checkpoint: the best checkpoint's path (``None`` when none was written).
        dataset: the data set's metadata, sizes and split protocol.
        normalization: per-species energy shifts (eV), scale (eV), average neighbours.
        n_parameters: trainable parameters; model_config: the model's full config;
        history: every :class:`EpochReport` (one per validation).
        convergence: :class:`~equiv.training.convergence.Convergence` of the validation history
            (the one stated rule of :mod:`equiv.training.convergence`).
    """

    config: TrainConfig
    test: dict[str, float]
    best_val: dict[str, float]
    best_epoch: int | None
    epochs: int
    steps: int
    stopped: str
    cancelled: bool
    seconds: float
    train_seconds: float
    structures_per_s: float
    device: str
    device_name: str
    threads: int
    peak_memory_mib: float | None
    checkpoint: Path | None
    dataset: dict[str, Any]
    normalization: dict[str, Any]
    n_parameters: int
    model_config: dict[str, Any] = field(default_factory=dict)
    history: list[EpochReport] = field(default_factory=list)
    convergence: Convergence | None = None

    def summary(self) -> dict[str, Any]:
        """Flat JSON-ready summary: the test errors under their own keys plus the run's facts
        (what ``equiv train --json`` prints and a run record keeps as its test metrics)."""
        return {
            **{k: self.test.get(k) for k in METRIC_KEYS},
            "force_mae_zero_mev_per_a": self.test.get("force_mae_zero_mev_per_a"),
            "model": self.config.model,
            "data": self.config.data,
            "n_train": self.config.n_train,
            "n_val": self.config.n_val,
            "n_test": self.dataset.get("split", {}).get("n_test"),
            "epochs": self.epochs,
            "steps": self.steps,
            "best_epoch": self.best_epoch,
            "best_val": self.best_val,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 2),
            "train_seconds": round(self.train_seconds, 2),
            "structures_per_s": round(self.structures_per_s, 2),
            "device": self.device,
            "device_name": self.device_name,
            "threads": self.threads,
            "peak_memory_mib": None if self.peak_memory_mib is None else round(self.peak_memory_mib, 1),
            "n_parameters": self.n_parameters,
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "normalization": self.normalization,
            "budget": self.config.budget_text(),
            "max_steps": self.config.max_steps,
            "lr_schedule": self.config.lr_schedule,
            "converged": None if self.convergence is None else self.convergence.converged,
            "convergence_improvement": None if self.convergence is None else self.convergence.relative_improvement,
            "convergence_rule": None if self.convergence is None else self.convergence.rule,
        }


def _model_options(config: TrainConfig) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.model_options.items()}


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _loss(out: dict[str, torch.Tensor], energy: torch.Tensor, forces: torch.Tensor, inv_scale: float,
          w_energy: float, w_force: float) -> torch.Tensor:
    # float64: model energies and reference energies are float64 (see equiv.models.base)
    de = (out["energy"].to(torch.float64) - energy.to(torch.float64)) * inv_scale  # [n_graphs], units of σ
    df = (out["forces"] - forces) * inv_scale  # [n_atoms, 3]
    return w_energy * de.pow(2).mean() + w_force * df.pow(2).mean()


class Trainer:
    """One training run of ``config`` (see the module docstring).

    Args:
        config: :class:`TrainConfig`.
        hooks: :class:`TrainHooks`.
        splits: data already split (default: :func:`equiv.data.load_splits` from the config).
        checkpoint_path: where the best checkpoint goes (default ``config.checkpoint``; ``None``:
            the best weights are kept in memory only).
        metadata: extra entries for the checkpoint's metadata (run id, command, ...).
        resume_path: where the loop's state goes after every epoch (:mod:`equiv.training.resume`);
            when the file exists at the start, training carries on from it (``None``: not kept).
    """

    def __init__(self, config: TrainConfig, hooks: TrainHooks | None = None, *, splits: Splits | None = None,
                 checkpoint_path: str | Path | None = None, metadata: dict[str, Any] | None = None,
                 resume_path: str | Path | None = None):
        self.config = config
        self.hooks = hooks or TrainHooks()
        self.splits = splits
        path = checkpoint_path if checkpoint_path is not None else config.checkpoint
        self.checkpoint_path = None if path is None else Path(path)
        self.metadata = dict(metadata or {})
        self.resume_path = None if resume_path is None else Path(resume_path)
        self.model: EnergyModel | None = None
        self.eval_model: EnergyModel | None = None

    # -- entry point ------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train, validate, test; raises :class:`TrainingError` (or another
        :class:`equiv.errors.EquivError`) with a readable message when it cannot."""
        t0 = time.perf_counter()
        device = resolve_device(self.config.device)
        with training_numerics(device, self.config.threads) as threads, torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            try:
                return self._run(device, threads, t0)
            except torch.OutOfMemoryError:
                raise TrainingError(self._oom_message(device)) from None
            except RuntimeError as exc:
                if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
                    raise TrainingError(f"out of memory with batch size {self.config.batch_size} "
                                        f"({self.config.model}): use a smaller batch size or model") from None
                raise

    def _oom_message(self, device: torch.device) -> str:
        where = device_name(device)
        total = ""
        if device.type == "cuda":
            total = f" ({torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB)"
            torch.cuda.empty_cache()
        return (f"out of GPU memory on {where}{total} with batch size {self.config.batch_size} "
                f"({self.config.model}); use a smaller --batch-size or model")

    def _progress(self, fraction: float, message: str) -> None:
        if self.hooks.on_progress is not None:
            self.hooks.on_progress(min(1.0, max(0.0, fraction)), message)

    # -- setup ------------------------------------------------------------------------------
    def _load(self) -> Splits:
        c = self.config
        if self.splits is not None:
            return self.splits
        return load_splits(c.data, c.n_train, c.n_val, c.seed, c.data_dir, n_test=c.n_test,
                           energy_key=c.energy_key, forces_key=c.forces_key)

    def _build(self, splits: Splits, train: FrameTensors, dtype: torch.dtype, device: torch.device) -> tuple[EnergyModel, dict]:
        c = self.config
        preset = PRESETS[c.model]
        config_class = ARCHITECTURES[preset.kind].config_class
        options = _model_options(c)
        if "avg_num_neighbors" in config_class.__dataclass_fields__ and "avg_num_neighbors" not in options:
            options["avg_num_neighbors"] = max(1.0, round(train.mean_neighbors(), 4))
        augmented = options.get("augment_rotations", preset.overrides.get("augment_rotations", False))
        if "input_mean" in config_class.__dataclass_fields__ and "input_mean" not in options and not augmented:
            options.update(coordinate_statistics(splits.train.positions))  # the MLP's standardized inputs
        model = build_model(c.model, dtype=dtype, seed=c.seed, numbers=splits.train.numbers, **options)
        counts = species_counts(splits.train.numbers, model.species)  # [n_species]
        shift = species_energy_shift(np.tile(counts, (splits.train.n_frames, 1)), splits.train.energies)
        scale = splits.train.force_rms
        if not scale > 0:  # no forces in the data: fall back to the energy spread
            scale = float(np.std(splits.train.energies)) or 1.0
        model.set_energy_normalization(torch.as_tensor(shift), scale)
        normalization = {
            "energy_shift_ev": {str(z): float(s) for z, s in zip(model.species, shift)},
            "energy_scale_ev": scale,
            "avg_num_neighbors": options.get("avg_num_neighbors"),
        }
        return model.to(device).train(), normalization

    # -- the loop ---------------------------------------------------------------------------
    def _evaluate(self, model: EnergyModel, batches: list) -> tuple[dict[str, float], float]:
        """Errors and loss of ``model`` in eval mode (forces without a double-backward graph)."""
        metrics = evaluate_batches(model, batches)
        c = self.config
        loss = (c.energy_weight * (metrics["energy_rmse_mev"] / 1000 * self._inv_scale) ** 2
                + c.force_weight * (metrics["force_rmse_mev_per_a"] / 1000 * self._inv_scale) ** 2)
        return metrics, loss

    def _cosine_lr(self, epoch_float: float, elapsed: float, steps: int) -> float:
        """Cosine annealing from the initial learning rate to zero over the budget."""
        return self.config.lr * 0.5 * (1.0 + math.cos(math.pi * self._fraction(epoch_float, elapsed, steps)))

    def _fraction(self, epoch_float: float, elapsed: float, steps: int) -> float:
        c = self.config
        parts = []
        if c.epochs is not None:
            parts.append(epoch_float / c.epochs)
        if c.max_time_s is not None:
            parts.append(elapsed / c.max_time_s)
        if c.max_steps is not None:
            parts.append(steps / c.max_steps)
        return min(1.0, max(parts))

    @staticmethod
    def _recheck_threads(cpu_load: CpuLoad | None, state: "_LoopState") -> None:
        """Follow the other processes' load (default CPU threads only)."""
        if cpu_load is not None:
            wanted = choose_threads(None, cpu_load.others_busy(min_interval_s=0.0))
            if wanted != state.threads:
                torch.set_num_threads(wanted)
            state.threads = torch.get_num_threads()

    def _checkpoint_metadata(self, dataset: dict[str, Any], normalization: dict, epoch: int | None,
                             val: dict | None, test: dict | None) -> dict[str, Any]:
        return {
            "trained_by": "equiv.training",
            "config": self.config.to_dict(),
            "dataset": dataset,
            "normalization": normalization,
            "epoch": epoch,
            "val_metrics": val,
            "test_metrics": test,
            "labels": dict(self.config.labels),
            **self.metadata,
        }

    def _run(self, device: torch.device, threads: int, t0: float) -> TrainResult:
        reset_peak_memory(device)
        parts = self._setup(device)
        state = self._start(parts, threads)
        while not state.stopped:
            self._epoch(parts, state)
        train_seconds = time.perf_counter() - state.t_train
        test = self._test(parts, state)
        c, model = self.config, parts.model
        return TrainResult(
            config=c, test=test, best_val=state.best_val, best_epoch=state.best_epoch, epochs=state.epoch,
            steps=state.steps, stopped=state.stopped, cancelled=state.cancelled, seconds=time.perf_counter() - t0,
            train_seconds=train_seconds,
            structures_per_s=state.structures / state.step_seconds if state.step_seconds > 0 else 0.0,
            device=device.type, device_name=device_name(device), threads=state.threads,
            peak_memory_mib=peak_memory_mib(device),
            checkpoint=self.checkpoint_path if (self.checkpoint_path is not None and state.best_epoch is not None) else None,
            dataset=parts.dataset, normalization=parts.normalization,
            n_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
            model_config=model.config.to_dict(), history=state.history,
            convergence=check_convergence([(r.steps, r.val.get("force_mae_mev_per_a", math.nan)) for r in state.history]),
        )

    def _setup(self, device: torch.device) -> "_Parts":
        """Data, model, EMA, optimizer and schedule of a run."""
        c = self.config
        dtype = getattr(torch, c.dtype)
        self._progress(0.0, "loading data")
        splits = self._load()
        dataset = splits.describe()  # the same for the hook, every checkpoint and the result
        if self.hooks.on_data is not None:
            self.hooks.on_data(dataset)
        preset_fields = {**PRESETS[c.model].overrides, **_model_options(c)}
        r_max = float(preset_fields.get("r_max", ARCHITECTURES[PRESETS[c.model].kind].config_class.r_max))
        graph_r_max = r_max if PRESETS[c.model].kind != "mlp" else None  # the MLP has no graph
        train_frames = FrameTensors(splits.train, graph_r_max, dtype, device)
        val_batches = FrameTensors(splits.val, graph_r_max, dtype, device).batches(c.eval_batch_size)

        self._progress(0.0, "building the model")
        model, normalization = self._build(splits, train_frames, dtype, device)
        self.model = model
        self._inv_scale = 1.0 / normalization["energy_scale_ev"]
        ema = None
        if c.ema_decay:
            shadow = model_from_config(model.kind, model.config, dtype=dtype, seed=None).to(device)
            ema = WeightEMA(model, c.ema_decay, shadow=shadow)
        self.eval_model = ema.model if ema is not None else model
        optimizer = torch.optim.Adam(model.parameters(), lr=c.lr, amsgrad=True, foreach=True)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=c.plateau_factor,
                                                               patience=c.plateau_patience)
        return _Parts(
            splits=splits, dataset=dataset, graph_r_max=graph_r_max, dtype=dtype, device=device,
            train_frames=train_frames, val_batches=val_batches, model=model, ema=ema, eval_model=self.eval_model,
            normalization=normalization, optimizer=optimizer, scheduler=scheduler,
            generator=torch.Generator().manual_seed(c.seed),
            steps_per_epoch=math.ceil(train_frames.n_frames / c.batch_size),
            check_nan_every=1 if device.type == "cpu" else 25,
            # Default CPU threads follow the other processes' load, re-checked after every epoch.
            cpu_load=CpuLoad() if device.type == "cpu" and c.threads is None else None,
        )

    def _start(self, parts: "_Parts", threads: int) -> "_LoopState":
        """The loop's state at the start: fresh, or where a stopped process left off (equiv.training.resume)."""
        state = _LoopState(t_train=time.perf_counter(), threads=threads)
        resumed = None if self.resume_path is None else load_resume_state(self.resume_path, map_location=parts.device)
        if resumed is None:
            return state
        resumed.restore(model=parts.model, ema=parts.ema, optimizer=parts.optimizer, scheduler=parts.scheduler,
                        generator=parts.generator)
        state.epoch, state.steps, state.structures = resumed.epoch, resumed.steps, resumed.structures
        state.step_seconds = resumed.step_seconds
        state.best_loss, state.best_epoch, state.best_val = resumed.best_loss, resumed.best_epoch, resumed.best_val
        state.best_state, state.epochs_since_best = resumed.best_state, resumed.epochs_since_best
        state.t_train -= resumed.train_seconds
        state.history = [EpochReport(**r) for r in resumed.history]
        c = self.config
        state.stopped = "epochs" if c.epochs is not None and state.epoch >= c.epochs else ""
        return state

    def _epoch(self, parts: "_Parts", state: "_LoopState") -> None:
        """One epoch: its optimizer steps, then (when due) validation, the checkpoint and the stop rules."""
        c = self.config
        state.epoch += 1
        run = self._train_steps(parts, state)
        if not torch.isfinite(run.loss_sum):
            raise TrainingError(f"the loss became NaN or infinite at epoch {state.epoch} (learning rate {run.lr:g}); "
                                "lower the learning rate (--lr)")
        state.structures += run.structures
        state.step_seconds += run.seconds
        if state.cancelled and state.best_epoch is not None:
            return  # keep the best checkpoint; no more work
        due = (bool(state.stopped) or state.steps - state.last_val_steps >= c.validation_interval
               or (c.epochs is not None and state.epoch >= c.epochs))
        if not due:
            self._recheck_threads(parts.cpu_load, state)
            return
        state.last_val_steps = state.steps
        self._validate(parts, state, run)
        if state.stopped:
            return
        self._recheck_threads(parts.cpu_load, state)
        state.stopped = self._stop_rule(parts, state)

    def _train_steps(self, parts: "_Parts", state: "_LoopState") -> "_EpochSteps":
        """The optimizer steps of one epoch (fewer when the budget ends or a cancel comes in it)."""
        c, model, optimizer = self.config, parts.model, parts.optimizer
        if c.lr_schedule == "cosine":
            _set_lr(optimizer, self._cosine_lr(state.epoch - 1, time.perf_counter() - state.t_train, state.steps))
        run = _EpochSteps(lr=optimizer.param_groups[0]["lr"], loss_sum=torch.zeros((), dtype=torch.float64, device=parts.device))
        order = parts.shuffled_order()  # [n_train]
        model.train()
        for k in range(parts.steps_per_epoch):
            t_step = time.perf_counter()
            if c.lr_schedule == "cosine":
                _set_lr(optimizer, self._cosine_lr(state.epoch - 1 + k / parts.steps_per_epoch, t_step - state.t_train,
                                                   state.steps))
            batch = parts.train_frames.batch(order[k * c.batch_size:(k + 1) * c.batch_size])
            out = model(batch)
            loss = _loss(out, batch.energy, batch.forces, self._inv_scale, c.energy_weight, c.force_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if parts.ema is not None:
                parts.ema.update()
            run.acc.add(out["energy"], batch.energy, out["forces"], batch.forces)
            run.loss_sum += loss.detach()
            state.steps += 1
            run.structures += batch.n_graphs
            now = time.perf_counter()
            run.seconds += now - t_step
            if state.steps % parts.check_nan_every == 0 and not torch.isfinite(run.loss_sum):
                raise TrainingError(
                    f"the loss became {'NaN' if torch.isnan(run.loss_sum) else 'infinite'} at epoch {state.epoch}, "
                    f"step {k + 1} (learning rate {run.lr:g}); lower the learning rate (--lr)"
                    + (f"; the best checkpoint so far (epoch {state.best_epoch}) is kept" if state.best_epoch else ""))
            self._step_progress(parts, state, k, now)
            state.stopped = self._budget_rule(state, now - state.t_train)
            if state.stopped:
                state.cancelled = state.stopped == "cancelled"
                run.partial = k + 1 < parts.steps_per_epoch
                break
        return run

    def _step_progress(self, parts: "_Parts", state: "_LoopState", k: int, now: float) -> None:
        if now - state.last_progress >= _PROGRESS_EVERY_S:
            state.last_progress = now
            frac = self._fraction(state.epoch - 1 + (k + 1) / parts.steps_per_epoch, now - state.t_train, state.steps)
            self._progress(frac, f"epoch {state.epoch}, step {k + 1}/{parts.steps_per_epoch}")

    def _budget_rule(self, state: "_LoopState", elapsed: float) -> str:
        """Why to stop after this step ("" to go on): a cancel, the time or the step budget."""
        c = self.config
        if self.hooks.should_stop is not None and self.hooks.should_stop():
            return "cancelled"
        if c.max_time_s is not None and elapsed >= c.max_time_s:
            return "time limit"
        if c.max_steps is not None and state.steps >= c.max_steps:
            return "step limit"
        return ""

    def _stop_rule(self, parts: "_Parts", state: "_LoopState") -> str:
        """Why to stop after a validation ("" to go on): the epochs, the learning-rate floor, early stopping."""
        c = self.config
        if c.epochs is not None and state.epoch >= c.epochs:
            return "epochs"
        if c.lr_schedule == "plateau" and parts.optimizer.param_groups[0]["lr"] < c.min_lr:
            return f"learning rate below {c.min_lr:g}"
        if c.early_stop_patience is not None and state.epochs_since_best >= c.early_stop_patience:
            return f"no improvement for {state.epochs_since_best} epochs"
        return ""

    def _validate(self, parts: "_Parts", state: "_LoopState", run: "_EpochSteps") -> None:
        """Validate the EMA weights, keep and checkpoint the best, report the epoch, save the resume state."""
        c = self.config
        val, val_loss = self._evaluate(parts.eval_model, parts.val_batches)
        if not math.isfinite(val_loss):
            raise TrainingError(f"the validation error became NaN or infinite at epoch {state.epoch} "
                                f"(learning rate {run.lr:g}); lower the learning rate (--lr)")
        if c.lr_schedule == "plateau":
            parts.scheduler.step(val_loss)
        is_best = val_loss < state.best_loss
        if is_best:
            state.best_loss, state.best_epoch, state.best_val = val_loss, state.epoch, val
            state.best_state = copy.deepcopy(parts.eval_model.state_dict())
            state.epochs_since_best = 0
            if self.checkpoint_path is not None:
                save_checkpoint(parts.eval_model, self.checkpoint_path,
                                self._checkpoint_metadata(parts.dataset, parts.normalization, state.epoch, val, None))
                if self.hooks.on_checkpoint is not None:
                    self.hooks.on_checkpoint(self.checkpoint_path)
        else:
            state.epochs_since_best += 1
        elapsed = time.perf_counter() - state.t_train
        report = EpochReport(
            epoch=state.epoch, seconds=elapsed, lr=run.lr, steps=state.steps, structures=state.structures,
            train=run.acc.result(), val=val, val_loss=val_loss, best=is_best, partial=run.partial,
            structures_per_s=run.structures / run.seconds if run.seconds > 0 else 0.0,
            progress=self._fraction(state.epoch, elapsed, state.steps), peak_memory_mib=peak_memory_mib(parts.device),
            threads=state.threads)
        state.history.append(report)
        if self.hooks.on_epoch is not None:
            self.hooks.on_epoch(report)
        if self.resume_path is not None:
            save_resume_state(self.resume_path, ResumeState.capture(
                model=parts.model, ema=parts.ema, optimizer=parts.optimizer, scheduler=parts.scheduler,
                generator=parts.generator, history=state.history, epoch=state.epoch, steps=state.steps,
                structures=state.structures, step_seconds=state.step_seconds,
                train_seconds=time.perf_counter() - state.t_train, best_loss=state.best_loss,
                best_epoch=state.best_epoch, best_val=state.best_val, best_state=state.best_state,
                epochs_since_best=state.epochs_since_best))

    def _test(self, parts: "_Parts", state: "_LoopState") -> dict[str, float]:
        """Test errors of the best weights (none after a cancel) and the zero-force baseline."""
        c = self.config
        if state.best_state is not None:
            parts.eval_model.load_state_dict(state.best_state)
        if state.cancelled:
            return {}
        self._progress(1.0, "testing")
        test_frames = FrameTensors(parts.splits.test, parts.graph_r_max, parts.dtype, parts.device)
        test, _ = self._evaluate(parts.eval_model, test_frames.batches(c.eval_batch_size))
        # What predicting zero forces would score on the same test set (the "learned nothing" line).
        test["force_mae_zero_mev_per_a"] = zero_force_mae_mev(parts.splits.test)
        if self.checkpoint_path is not None and state.best_epoch is not None:
            save_checkpoint(parts.eval_model, self.checkpoint_path,
                            self._checkpoint_metadata(parts.dataset, parts.normalization, state.best_epoch,
                                                      state.best_val, test))
        return test


@dataclass
class _Parts:
    """What :meth:`Trainer._setup` builds for a run (fixed while it trains)."""

    splits: Splits
    dataset: dict[str, Any]
    graph_r_max: float | None
    dtype: torch.dtype
    device: torch.device
    train_frames: FrameTensors
    val_batches: list
    model: EnergyModel
    ema: WeightEMA | None
    eval_model: EnergyModel  # the EMA's weights when there is an EMA: validation, test and checkpoints use it
    normalization: dict[str, Any]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    generator: torch.Generator
    steps_per_epoch: int
    check_nan_every: int
    cpu_load: CpuLoad | None

    def shuffled_order(self) -> torch.Tensor:
        """The next epoch's frame order, from the run's seeded generator (``[n_train]``)."""
        return torch.randperm(self.train_frames.n_frames, generator=self.generator).to(self.device)


@dataclass
class _LoopState:
    """What changes while a run trains (and what a resume restores)."""

    t_train: float
    threads: int
    epoch: int = 0
    steps: int = 0
    structures: int = 0
    step_seconds: float = 0.0
    history: list[EpochReport] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int | None = None
    best_val: dict[str, float] = field(default_factory=dict)
    best_state: dict[str, Any] | None = None
    epochs_since_best: int = 0
    last_val_steps: int = 0
    last_progress: float = -math.inf
    stopped: str = ""
    cancelled: bool = False


@dataclass
class _EpochSteps:
    """The optimizer steps of one epoch: learning rate at its start, training errors, loss sum, time."""

    lr: float
    loss_sum: torch.Tensor  # [] float64
    acc: ErrorAccumulator = field(default_factory=ErrorAccumulator)
    seconds: float = 0.0
    structures: int = 0
    partial: bool = False


def train(config: TrainConfig, hooks: TrainHooks | None = None, **kwargs: Any) -> TrainResult:
    """Run :class:`Trainer` (``kwargs``: ``splits``, ``checkpoint_path``, ``metadata``)."""
    return Trainer(config, hooks, **kwargs).run()
