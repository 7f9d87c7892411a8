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
from equiv.models import ARCHITECTURES, PRESETS, EnergyModel, build_model, model_from_config, save_checkpoint
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
    def _recheck_threads(cpu_load: CpuLoad | None, threads: int) -> None:
        if cpu_load is not None:
            wanted = choose_threads(None, cpu_load.others_busy(min_interval_s=0.0))
            if wanted != threads:
                torch.set_num_threads(wanted)

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
        c = self.config
        dtype = getattr(torch, c.dtype)
        reset_peak_memory(device)
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
        eval_model = ema.model if ema is not None else model
        self.eval_model = eval_model
        n_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
        optimizer = torch.optim.Adam(model.parameters(), lr=c.lr, amsgrad=True, foreach=True)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=c.plateau_factor,
                                                               patience=c.plateau_patience)
        generator = torch.Generator().manual_seed(c.seed)
        n_train = train_frames.n_frames
        steps_per_epoch = math.ceil(n_train / c.batch_size)
        check_nan_every = 1 if device.type == "cpu" else 25
        # Default CPU threads follow the other processes' load, re-checked after every epoch.
        cpu_load = CpuLoad() if device.type == "cpu" and c.threads is None else None

        history: list[EpochReport] = []
        best_loss, best_epoch, best_val, best_state = math.inf, None, {}, None
        epochs_since_best = 0
        steps = structures = 0
        val_interval, last_val_steps = c.validation_interval, 0
        step_seconds = 0.0
        stopped, cancelled = "", False
        last_progress = -math.inf
        t_train = time.perf_counter()
        epoch = 0
        resumed = None if self.resume_path is None else load_resume_state(self.resume_path, map_location=device)
        if resumed is not None:  # carry on where a stopped process left off (equiv.training.resume)
            resumed.restore(model=model, ema=ema, optimizer=optimizer, scheduler=scheduler, generator=generator)
            epoch, steps, structures, step_seconds = resumed.epoch, resumed.steps, resumed.structures, resumed.step_seconds
            best_loss, best_epoch, best_val, best_state = resumed.best_loss, resumed.best_epoch, resumed.best_val, resumed.best_state
            epochs_since_best, t_train = resumed.epochs_since_best, t_train - resumed.train_seconds
            history = [EpochReport(**r) for r in resumed.history]
            stopped = "epochs" if c.epochs is not None and epoch >= c.epochs else ""
        while not stopped:
            epoch += 1
            if c.lr_schedule == "cosine":
                _set_lr(optimizer, self._cosine_lr(epoch - 1, time.perf_counter() - t_train, steps))
            lr = optimizer.param_groups[0]["lr"]
            order = torch.randperm(n_train, generator=generator).to(device)
            acc = ErrorAccumulator()
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            t_epoch_steps = 0.0
            epoch_structures = 0
            partial = False
            model.train()
            for k in range(steps_per_epoch):
                t_step = time.perf_counter()
                if c.lr_schedule == "cosine":
                    _set_lr(optimizer, self._cosine_lr(epoch - 1 + k / steps_per_epoch, t_step - t_train, steps))
                frames = order[k * c.batch_size:(k + 1) * c.batch_size]
                batch = train_frames.batch(frames)
                out = model(batch)
                loss = _loss(out, batch.energy, batch.forces, self._inv_scale, c.energy_weight, c.force_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if ema is not None:
                    ema.update()
                acc.add(out["energy"], batch.energy, out["forces"], batch.forces)
                loss_sum += loss.detach()
                steps += 1
                epoch_structures += batch.n_graphs
                now = time.perf_counter()
                t_epoch_steps += now - t_step
                if steps % check_nan_every == 0 and not torch.isfinite(loss_sum):
                    raise TrainingError(
                        f"the loss became {'NaN' if torch.isnan(loss_sum) else 'infinite'} at epoch {epoch}, "
                        f"step {k + 1} (learning rate {lr:g}); lower the learning rate (--lr)"
                        + (f"; the best checkpoint so far (epoch {best_epoch}) is kept" if best_epoch else ""))
                elapsed = now - t_train
                if now - last_progress >= _PROGRESS_EVERY_S:
                    last_progress = now
                    frac = self._fraction(epoch - 1 + (k + 1) / steps_per_epoch, elapsed, steps)
                    self._progress(frac, f"epoch {epoch}, step {k + 1}/{steps_per_epoch}")
                if self.hooks.should_stop is not None and self.hooks.should_stop():
                    stopped, cancelled = "cancelled", True
                elif c.max_time_s is not None and elapsed >= c.max_time_s:
                    stopped = "time limit"
                elif c.max_steps is not None and steps >= c.max_steps:
                    stopped = "step limit"
                if stopped:
                    partial = k + 1 < steps_per_epoch
                    break
            if not torch.isfinite(loss_sum):
                raise TrainingError(f"the loss became NaN or infinite at epoch {epoch} (learning rate {lr:g}); "
                                    "lower the learning rate (--lr)")
            structures += epoch_structures
            step_seconds += t_epoch_steps
            if cancelled and best_epoch is not None:
                break  # keep the best checkpoint; no more work
            due = (bool(stopped) or steps - last_val_steps >= val_interval
                   or (c.epochs is not None and epoch >= c.epochs))
            if not due:
                self._recheck_threads(cpu_load, threads)
                threads = torch.get_num_threads() if cpu_load is not None else threads
                continue
            last_val_steps = steps
            val, val_loss = self._evaluate(eval_model, val_batches)
            if not math.isfinite(val_loss):
                raise TrainingError(f"the validation error became NaN or infinite at epoch {epoch} "
                                    f"(learning rate {lr:g}); lower the learning rate (--lr)")
            if c.lr_schedule == "plateau":
                scheduler.step(val_loss)
            is_best = val_loss < best_loss
            if is_best:
                best_loss, best_epoch, best_val = val_loss, epoch, val
                best_state = copy.deepcopy(eval_model.state_dict())
                epochs_since_best = 0
                if self.checkpoint_path is not None:
                    save_checkpoint(eval_model, self.checkpoint_path,
                                    self._checkpoint_metadata(dataset, normalization, epoch, val, None))
                    if self.hooks.on_checkpoint is not None:
                        self.hooks.on_checkpoint(self.checkpoint_path)
            else:
                epochs_since_best += 1
            elapsed = time.perf_counter() - t_train
            report = EpochReport(
                epoch=epoch, seconds=elapsed, lr=lr, steps=steps, structures=structures, train=acc.result(), val=val,
                val_loss=val_loss, best=is_best, partial=partial,
                structures_per_s=epoch_structures / t_epoch_steps if t_epoch_steps > 0 else 0.0,
                progress=self._fraction(epoch, elapsed, steps), peak_memory_mib=peak_memory_mib(device),
                threads=threads)
            history.append(report)
            if self.hooks.on_epoch is not None:
                self.hooks.on_epoch(report)
            if self.resume_path is not None:
                save_resume_state(self.resume_path, ResumeState.capture(
                    model=model, ema=ema, optimizer=optimizer, scheduler=scheduler, generator=generator,
                    history=history, epoch=epoch, steps=steps, structures=structures, step_seconds=step_seconds,
                    train_seconds=time.perf_counter() - t_train, best_loss=best_loss, best_epoch=best_epoch,
                    best_val=best_val, best_state=best_state, epochs_since_best=epochs_since_best))
            new_lr = optimizer.param_groups[0]["lr"]
            if stopped:
                break
            self._recheck_threads(cpu_load, threads)
            threads = torch.get_num_threads() if cpu_load is not None else threads
            if c.epochs is not None and epoch >= c.epochs:
                stopped = "epochs"
            elif c.lr_schedule == "plateau" and new_lr < c.min_lr:
                stopped = f"learning rate below {c.min_lr:g}"
            elif c.early_stop_patience is not None and epochs_since_best >= c.early_stop_patience:
                stopped = f"no improvement for {epochs_since_best} epochs"
        train_seconds = time.perf_counter() - t_train

        test: dict[str, float] = {}
        if best_state is not None:
            eval_model.load_state_dict(best_state)
        if not cancelled:
            self._progress(1.0, "testing")
            test_frames = FrameTensors(splits.test, graph_r_max, dtype, device)
            test, _ = self._evaluate(eval_model, test_frames.batches(c.eval_batch_size))
            # What predicting zero forces would score on the same test set (the "learned nothing" line).
            test["force_mae_zero_mev_per_a"] = zero_force_mae_mev(splits.test)
            if self.checkpoint_path is not None and best_epoch is not None:
                save_checkpoint(eval_model, self.checkpoint_path,
                                self._checkpoint_metadata(dataset, normalization, best_epoch, best_val, test))
        return TrainResult(
            config=c, test=test, best_val=best_val, best_epoch=best_epoch, epochs=epoch, steps=steps,
            stopped=stopped, cancelled=cancelled, seconds=time.perf_counter() - t0, train_seconds=train_seconds,
            structures_per_s=structures / step_seconds if step_seconds > 0 else 0.0,
            device=device.type, device_name=device_name(device), threads=threads,
            peak_memory_mib=peak_memory_mib(device),
            checkpoint=self.checkpoint_path if (self.checkpoint_path is not None and best_epoch is not None) else None,
            dataset=dataset, normalization=normalization, n_parameters=n_parameters,
            model_config=model.config.to_dict(), history=history,
            convergence=check_convergence([(r.steps, r.val.get("force_mae_mev_per_a", math.nan)) for r in history]),
        )


def train(config: TrainConfig, hooks: TrainHooks | None = None, **kwargs: Any) -> TrainResult:
    """Run :class:`Trainer` (``kwargs``: ``splits``, ``checkpoint_path``, ``metadata``)."""
    return Trainer(config, hooks, **kwargs).run()
