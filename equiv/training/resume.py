"""Resume state: everything the training loop needs to carry on after its process was stopped
(a SLURM job preempted, requeued or at its time limit), written after every epoch.

The best checkpoint (:func:`equiv.models.save_checkpoint`) holds only the best EMA weights, which
is what a user loads; carrying on needs more: the current weights, the EMA's shadow and update
count, Adam's moments, the plateau scheduler, the batch-order generator, the counters (epoch,
steps, structures, seconds) and the best-so-far bookkeeping. :class:`ResumeState` is that, saved
atomically (tmp file, fsync, ``os.replace``) with ``torch.save`` and loaded by
:meth:`equiv.training.Trainer` when it is given a ``resume_path`` that exists. Resuming is
exact: the same seed and thread count give the same weights as an uninterrupted run (tested).

Example:
    >>> import tempfile, os
    >>> load_resume_state(os.path.join(tempfile.mkdtemp(), "missing.pt")) is None
    True
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["ResumeState", "load_resume_state", "save_resume_state"]


@dataclass
class ResumeState:
    """The training loop's state after a whole epoch.

    Attributes:
        epoch, steps, structures: counters so far; step_seconds: time in optimizer steps;
            train_seconds: training time so far (the time budget continues from it).
        best_loss, best_epoch, best_val, best_state, epochs_since_best: the best epoch so far and
            its EMA weights (a state dict).
        history: every epoch's report as a dict.
        model, ema, ema_updates, optimizer, scheduler, generator: state dicts (ema ``None``
            without EMA) and the generator's state (a uint8 tensor).
    """

    epoch: int
    steps: int
    structures: int
    step_seconds: float
    train_seconds: float
    best_loss: float
    best_epoch: int | None
    best_val: dict[str, float]
    best_state: dict[str, torch.Tensor] | None
    epochs_since_best: int
    history: list[dict[str, Any]]
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    ema_updates: int
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    generator: torch.Tensor

    @classmethod
    def capture(cls, *, model, ema, optimizer, scheduler, generator: torch.Generator, history: list,
                **counters: Any) -> "ResumeState":
        """The state of the given objects (copied to the CPU by ``torch.save``) and counters."""
        return cls(model=model.state_dict(), ema=None if ema is None else ema.model.state_dict(),
                   ema_updates=0 if ema is None else ema.num_updates, optimizer=optimizer.state_dict(),
                   scheduler=scheduler.state_dict(), generator=generator.get_state(),
                   history=[asdict(r) for r in history], **counters)

    def restore(self, *, model, ema, optimizer, scheduler, generator: torch.Generator) -> None:
        """Load the saved states into freshly built objects of the same run."""
        model.load_state_dict(self.model)
        if ema is not None and self.ema is not None:
            ema.model.load_state_dict(self.ema)
            ema.num_updates = self.ema_updates
        optimizer.load_state_dict(self.optimizer)
        scheduler.load_state_dict(self.scheduler)
        generator.set_state(self.generator)


def save_resume_state(path: str | os.PathLike, state: ResumeState) -> None:
    """Write ``state`` to ``path`` atomically (a reader sees the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(asdict(state), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_resume_state(path: str | os.PathLike, map_location: Any = "cpu") -> ResumeState | None:
    """The state saved at ``path``, or ``None`` when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    return ResumeState(**torch.load(path, map_location=map_location, weights_only=False))
