"""How far a run is: the fraction of its budget, elapsed time, an estimate of the time left, and
a status line, from its record in the run store.

Example:
    >>> eta_seconds(0.25, 30.0)
    90.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from equiv.formatting import format_duration
from equiv.runs import EpochRecord, Run

__all__ = ["RunProgress", "run_progress", "eta_seconds", "status_line"]


def eta_seconds(fraction: float | None, elapsed_s: float | None) -> float | None:
    """Time left if the rest goes as fast as the part done (``None`` before 1 % is done)."""
    if fraction is None or elapsed_s is None or fraction < 0.01:
        return None
    if fraction >= 1:
        return 0.0
    return elapsed_s * (1.0 - fraction) / fraction


@dataclass(frozen=True)
class RunProgress:
    """Progress of one run (times in seconds).

    Attributes:
        fraction: 0–1 of the budget (1 for an ended run that finished).
        elapsed_s: since it started (``None`` while queued).
        eta_s: estimated time left (``None`` when unknown).
        epochs: epochs logged so far; latest: the last epoch's record.
        text: one line for a progress bar.
    """

    fraction: float
    elapsed_s: float | None
    eta_s: float | None
    epochs: int
    latest: EpochRecord | None
    text: str


def run_progress(run: Run, epochs: Sequence[EpochRecord] = (), now: float | None = None) -> RunProgress:
    now = time.time() if now is None else now
    fraction = float(run.progress or 0.0)
    if run.status == "finished":
        fraction = 1.0
    elapsed = None
    if run.started_at is not None:
        end = run.finished_at if not run.active else now
        elapsed = max(0.0, (end or now) - run.started_at)
    latest = epochs[-1] if epochs else None
    eta = None
    if run.status == "running":
        # The budget's fraction counts training time, which starts after the data are loaded: time
        # it from the latest epoch's record (training seconds at the moment it was logged).
        trained = elapsed
        if latest is not None and latest.logged_at is not None:
            trained = max(0.0, now - (latest.logged_at - latest.seconds))
        eta = eta_seconds(fraction, trained)
    parts = ["<1%" if 0 < fraction < 0.01 else f"{fraction:.0%}"]
    if latest is not None:
        parts.append(f"{latest.epoch} epoch{'s' if latest.epoch != 1 else ''} done")
    if run.message and (latest is None or not run.message.startswith("epoch")):
        parts.append(run.message)  # loading data, testing, frames of a generation...
    if latest is not None and latest.val_force_mae_mev_per_a is not None:
        parts.append(f"validation F MAE {latest.val_force_mae_mev_per_a:.1f} meV/Å")
    if elapsed is not None:
        parts.append(f"{format_duration(elapsed)} elapsed")
    if eta is not None:
        parts.append(f"about {format_duration(eta)} left")
    return RunProgress(fraction, elapsed, eta, len(epochs), latest, " · ".join(parts))


def status_line(run: Run, queue_position: int | None = None) -> str:
    """``run 12 · gvp on xtb:ethanol · 100 train · running on cpu`` (plus the queue place or error)."""
    cfg = run.config
    what = run.model or run.kind
    if run.kind == "generate":
        what = f"generate {cfg.get('frames', '?')} frames of {run.molecule}"
        data = ""
    else:
        data = f" on {cfg.get('data', '?')} · {cfg.get('n_train', '?')} train"
    line = f"run {run.id} · {what}{data} · {run.status}"
    if run.status == "queued":
        line += f" on {run.device}" + (f" ({queue_position} ahead in the queue)" if queue_position else " (next)")
    elif run.status == "running":
        line += f" on {run.device}" + (f" (pid {run.pid})" if run.pid else "")
    return line
