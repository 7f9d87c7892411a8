"""Training as a job: a run record of kind ``train`` or ``sweep_member`` carried through
:class:`equiv.training.Trainer` by the job lifecycle (:func:`equiv.jobs.lifecycle.running_job`).

* :func:`create_train_run`: a queued run record from a :class:`TrainConfig` (the config is all a
  worker needs; its device queue is ``cpu`` or ``cuda``).
* :func:`execute_run`: carry a queued (or claimed) training run to its end in this process: the
  data set's metadata, per-epoch errors, the best checkpoint so far, then the result
  ``{"test_metrics": TrainResult.summary(), "checkpoint_path": ...}`` (a cancelled run keeps its
  best checkpoint). ``equiv train`` in the foreground, the background worker
  (``python -m equiv.jobs.worker RUN_ID``) and a cluster job call this one function.

A queued run must fit the server's limits (:mod:`equiv.runs.limits`): its memory estimate
(:mod:`equiv.training.memory`) within ``worker_memory_mb``, and the run counts within the run
quotas (checked by the store).

Example:
    >>> import os, tempfile
    >>> from equiv.runs import RunStore
    >>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    >>> run = create_train_run(TrainConfig(model="gvp", data="xtb:ethanol", n_train=10, epochs=1, device="cpu"), store)
    >>> run.status, run.model, run.molecule, run.device
    ('queued', 'gvp', 'ethanol', 'cpu')
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

from equiv.errors import EquivError, RunError
from equiv.jobs.lifecycle import HEARTBEAT_EVERY_S, TRAINING_KINDS, running_job
from equiv.paths import data_home
from equiv.runs import Run, RunStore
from equiv.training import TrainConfig, Trainer, TrainHooks, TrainResult, planned_device
from equiv.training.config import spec_molecule
from equiv.training.memory import check_memory

__all__ = ["create_train_run", "execute_run", "default_checkpoint_path"]


def default_checkpoint_path(run_id: int, config: TrainConfig) -> Path:
    """``data_home()/checkpoints/run-<id>-<model>-<molecule>.pt``."""
    molecule = config.molecule or "data"
    return data_home() / "checkpoints" / f"run-{run_id}-{config.model}-{molecule}.pt"


def create_train_run(config: TrainConfig | Mapping[str, Any], store: RunStore | None = None, *, kind: str = "train",
                     group_id: str | None = None, idempotency_key: str | None = None,
                     record_rejected: bool = False, owner_pid: int | None = None) -> Run:
    """A queued run record for ``config`` (``kind`` ``train`` or ``sweep_member``).

    With ``owner_pid`` (a foreground run: ``equiv train`` passes its own process id) the record is
    created running for that process, so no background launcher can claim it first.

    ``config`` is a :class:`TrainConfig` or its dict. Invalid settings (an unknown model, CUDA asked
    for but absent, a queued run whose memory estimate exceeds the server's ``worker_memory_mb``,
    ...) raise the :class:`equiv.errors.EquivError` at once; with
    ``record_rejected`` a failed record that says why is written first (``equiv train`` records
    every attempt) and the exception carries its id as ``run_id``.
    """
    if kind not in TRAINING_KINDS:
        raise RunError(f"a training run is of kind {' or '.join(TRAINING_KINDS)}, not {kind!r}")
    store = store or RunStore()
    raw = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    try:
        cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(raw)
        device = planned_device(cfg.device)
        if owner_pid is None:  # a background run on the server: it must fit
            check_memory(cfg, store.limits.worker_memory_mb)
    except EquivError as exc:
        if record_rejected:
            asked = str(raw.get("device") or "cpu")
            run = store.create(kind, raw, device="cuda" if asked.startswith("cuda") else "cpu", group_id=group_id,
                               idempotency_key=idempotency_key, model=raw.get("model"),
                               molecule=spec_molecule(raw.get("data")), owner_pid=os.getpid())
            store.fail(run.id, str(exc))  # created running for us: no launcher claims it in between
            exc.run_id = run.id  # type: ignore[attr-defined]
        raise
    return store.create(kind, cfg.to_dict(), device=device, group_id=group_id,
                        idempotency_key=idempotency_key, model=cfg.model, molecule=cfg.molecule, owner_pid=owner_pid)


def _chain(*hooks):
    hooks = [h for h in hooks if h is not None]

    def call(*args):
        for h in hooks:
            h(*args)

    return call


def execute_run(run_id: int, store: RunStore | None = None, *, hooks: TrainHooks | None = None,
                stop: threading.Event | None = None, heartbeat_every_s: float = HEARTBEAT_EVERY_S,
                resume_path: str | os.PathLike | None = None) -> TrainResult:
    """Run the training run ``run_id`` to its end in this process and record everything in ``store``.

    Args:
        run_id: a queued run, or one claimed with ``RunStore.claim_next`` (this process takes it over).
        store: the run store (default: the data home's; on a cluster node a run folder's).
        hooks: extra callbacks (progress lines, a page's state); the store's come first.
        stop: an event that asks for a clean stop, like a cancel (see
            :func:`equiv.jobs.lifecycle.graceful_stop`).
        heartbeat_every_s: seconds between heartbeats.
        resume_path: the trainer's resume state (saved every epoch; resumed from when it exists:
            a cluster job that was requeued carries on, see :mod:`equiv.training.resume`).

    Returns the :class:`TrainResult` (also when cancelled: ``result.cancelled``). Raises the
    :class:`equiv.errors.EquivError` that failed the run, after recording it as the run's error.
    """
    store = store or RunStore()
    with running_job(store, run_id, TRAINING_KINDS, "a training run", stop=stop,
                     heartbeat_every_s=heartbeat_every_s) as job:
        config = TrainConfig.from_dict(job.spec)
        user = hooks or TrainHooks()

        def log_epoch(report) -> None:
            job.report(report.progress, f"epoch {report.epoch}")
            job.try_write("an epoch record", lambda: store.log_epoch(
                run_id, report.epoch, seconds=report.seconds, lr=report.lr, metrics=report.store_metrics(),
                progress=report.progress))

        combined = TrainHooks(
            on_data=_chain(lambda d: job.try_write("recording the data set", lambda: store.set_dataset(run_id, d)),
                           user.on_data),
            on_epoch=_chain(log_epoch, user.on_epoch),
            on_checkpoint=_chain(lambda p: job.note({"checkpoint_path": str(p)}), user.on_checkpoint),
            on_progress=_chain(job.report, user.on_progress),
            should_stop=lambda: job.stopping() or bool(user.should_stop and user.should_stop()),
        )
        checkpoint = Path(config.checkpoint) if config.checkpoint else default_checkpoint_path(run_id, config)
        result = Trainer(config, combined, checkpoint_path=checkpoint, resume_path=resume_path,
                         metadata={"run_id": run_id, "run_store": str(store.path)}).run()
        job.result = {} if result.checkpoint is None else {"checkpoint_path": str(result.checkpoint)}
        job.cancelled = result.cancelled
        if not result.cancelled:
            job.result["test_metrics"] = result.summary()
            job.dataset = result.dataset
    return result
