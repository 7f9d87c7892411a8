"""What the run store hands out: :class:`Run` (one row of ``runs``) and :class:`EpochRecord` (one
row of ``epochs``). Times are Unix seconds (UTC); errors in meV and meV/Å."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Run", "EpochRecord", "STATUSES", "ACTIVE_STATUSES", "EPOCH_METRICS"]

#: Every status a run can have.
STATUSES = ("queued", "running", "finished", "failed", "cancelled")
#: Statuses that can still change.
ACTIVE_STATUSES = ("queued", "running")
#: Per-epoch error columns (meV, meV/Å); other metrics go into ``extra``.
EPOCH_METRICS = tuple(
    f"{part}_{quantity}"
    for part in ("train", "val")
    for quantity in ("energy_mae_mev", "energy_rmse_mev", "force_mae_mev_per_a", "force_rmse_mev_per_a")
)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class Run:
    """One run: a job of some ``kind`` with its spec (``config``) and, once known, its ``result``.

    Attributes:
        id: integer id, increasing in creation order.
        kind: the kind of job (``train``, ``generate``, ...; see :mod:`equiv.jobs.kinds`).
        status: one of :data:`STATUSES`.
        config: the job's spec, what was asked for (JSON object).
        dataset: data-set metadata (JSON object) or ``None`` before it is known.
        model, molecule: copied from the config for filtering (may be ``None``).
        device: ``cpu`` or ``cuda`` (queues are per device).
        group_id: sweep or group id, or ``None``.
        idempotency_key: a caller's key that makes creation happen once.
        pid, pid_start, host: the worker process (id, start time in Unix seconds, host name).
        created_at, started_at, finished_at, heartbeat_at: Unix seconds.
        progress: fraction done (0–1) as last reported, and ``message``, a short status line.
        result: what the job produced (JSON object; a partial one while it runs, such as a training
            run's best checkpoint so far) or ``None``.
        error: why it failed (or was cancelled), or ``None``.
        cancel_requested: a cancel was asked for while it ran.
        owner: who queued it (a browser session's id, for the per-session quota) or ``None``.
    """

    id: int
    kind: str
    status: str
    config: dict[str, Any]
    dataset: dict[str, Any] | None
    model: str | None
    molecule: str | None
    device: str
    group_id: str | None
    idempotency_key: str | None
    pid: int | None
    pid_start: float | None
    host: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    progress: float | None
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    owner: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Run":
        data = {f.name: row[f.name] for f in fields(cls)}
        data["config"] = _json(data["config"]) or {}
        data["dataset"] = _json(data["dataset"])
        data["result"] = _json(data["result"])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def test_metrics(self) -> dict[str, Any] | None:
        """A training run's test errors (meV, meV/Å) and facts, from its result."""
        return (self.result or {}).get("test_metrics")

    @property
    def checkpoint_path(self) -> str | None:
        """A training run's best checkpoint (so far), from its result."""
        return (self.result or {}).get("checkpoint_path")

    @property
    def seconds(self) -> float | None:
        """Wall time from start to finish (or to the last heartbeat while running)."""
        if self.started_at is None:
            return None
        end = self.finished_at or self.heartbeat_at
        return None if end is None else max(0.0, end - self.started_at)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds, "test_metrics": self.test_metrics,
                "checkpoint_path": self.checkpoint_path}


@dataclass(frozen=True)
class EpochRecord:
    """Errors after one epoch. ``seconds`` is the wall time since training started, ``logged_at``
    when the epoch was recorded (Unix seconds); errors are in meV (energy) and meV/Å (force
    components); ``None`` where not measured."""

    run_id: int
    epoch: int
    seconds: float
    lr: float | None
    train_energy_mae_mev: float | None
    train_energy_rmse_mev: float | None
    train_force_mae_mev_per_a: float | None
    train_force_rmse_mev_per_a: float | None
    val_energy_mae_mev: float | None
    val_energy_rmse_mev: float | None
    val_force_mae_mev_per_a: float | None
    val_force_rmse_mev_per_a: float | None
    extra: dict[str, Any]
    logged_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "EpochRecord":
        data = {f.name: row[f.name] for f in fields(cls)}
        data["extra"] = _json(data["extra"]) or {}
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
