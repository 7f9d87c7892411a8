"""The seam between the run store and the trainer: a run record in, a finished record out.

* :func:`create_train_run`: a queued run record from a :class:`TrainConfig` (the config is all a
  worker needs; its device queue is ``cpu`` or ``cuda``).
* :func:`execute_run`: take a queued (or claimed) run and carry it to its end in this process:
  status running with this process's id, the data set's metadata, per-epoch errors, a heartbeat
  every few seconds, the best checkpoint's path, then finished with the test metrics, failed with
  a reason, or cancelled (when someone called ``RunStore.request_cancel``; the best checkpoint
  is kept). Whoever runs a job (``equiv train`` in the foreground, the training lab's
  background worker, a cluster job) calls this one function, so the record looks the same.
* ``python -m equiv.training.worker RUN_ID``: the same as a self-contained command.
* :func:`graceful_stop` (from :mod:`equiv.runs.stopping`): SIGINT/SIGTERM ask the run to stop cleanly
  (a second signal interrupts).

A queued run must fit the server's limits (:mod:`equiv.runs.limits`): its memory estimate
(:mod:`equiv.training.memory`) within ``worker_memory_mb``, and the run counts ≤ the run quotas
(checked by the store). While a run trains, a busy store (lock timeout, full disk) costs an epoch
record or a checkpoint note, never the run: those writes are skipped with a warning on stderr, and
the final ``finish`` retries (``RunStore.finish``) while the heartbeat goes on.

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
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from equiv.errors import EquivError, RunError
from equiv.paths import data_home
from equiv.runs import Heartbeat, Run, RunStore, StoreBusy, graceful_stop
from equiv.training.config import TrainConfig, spec_molecule
from equiv.training.device import planned_device
from equiv.training.memory import check_memory
from equiv.training.trainer import EpochReport, TrainHooks, TrainResult, Trainer

__all__ = ["TRAINING_KINDS", "create_train_run", "execute_run", "default_checkpoint_path", "graceful_stop"]

#: Run kinds that :func:`execute_run` runs.
TRAINING_KINDS = ("train", "sweep_member")
#: Seconds between heartbeats; a cancel is noticed at the next one.
HEARTBEAT_EVERY_S = 2.0


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


def _tolerant(write: Callable[..., None], what: str) -> Callable[..., None]:
    """``write`` that, when the store is busy, warns on stderr and goes on (the run is unaffected)."""

    def call(*args) -> None:
        try:
            write(*args)
        except StoreBusy as exc:
            print(f"skipped {what}: {exc}", file=sys.stderr, flush=True)

    return call


def _chain(*hooks):
    hooks = [h for h in hooks if h is not None]

    def call(*args):
        for h in hooks:
            h(*args)

    return call if hooks else None


def execute_run(run_id: int, store: RunStore | None = None, *, hooks: TrainHooks | None = None,
                stop: threading.Event | None = None, heartbeat_every_s: float = HEARTBEAT_EVERY_S,
                resume_path: str | os.PathLike | None = None) -> TrainResult:
    """Run the training run ``run_id`` to its end in this process and record everything in ``store``.

    Args:
        run_id: a queued run, or one claimed with ``RunStore.claim_next`` (this process takes it over).
        store: the run store (default: the data home's).
        hooks: extra callbacks (progress lines, a page's state); the store's come first.
        stop: an event that asks for a clean stop, like a cancel (see :func:`graceful_stop`).
        heartbeat_every_s: seconds between heartbeats.
        resume_path: the trainer's resume state (saved every epoch; resumed from when it exists:
            a cluster job that was requeued carries on, see :mod:`equiv.training.resume`).

    Returns the :class:`TrainResult` (also when cancelled: ``result.cancelled``). Raises the
    :class:`equiv.errors.EquivError` that failed the run, after recording it as the run's error.
    """
    store = store or RunStore()
    run = store.get(run_id)
    if run.kind not in TRAINING_KINDS:
        raise RunError(f"run {run_id} is a {run.kind} run, not a training run")
    if not run.active:
        raise RunError(f"cannot start run {run_id}: it is {run.status}" + (f" ({run.error})" if run.error else ""))
    try:
        config = TrainConfig.from_dict(run.config)
    except EquivError as exc:
        store.fail(run_id, str(exc))
        raise
    store.mark_running(run_id)
    checkpoint = Path(config.checkpoint) if config.checkpoint else default_checkpoint_path(run_id, config)
    user = hooks or TrainHooks()
    with Heartbeat(store, run_id, every_s=heartbeat_every_s) as beat:

        def log_epoch(report: EpochReport) -> None:
            beat.report(report.progress, f"epoch {report.epoch}")
            store.log_epoch(run_id, report.epoch, seconds=report.seconds, lr=report.lr,
                            metrics=report.store_metrics(), progress=report.progress)

        def should_stop() -> bool:
            return (beat.cancel_requested.is_set() or beat.lost.is_set() or (stop is not None and stop.is_set())
                    or bool(user.should_stop and user.should_stop()))

        combined = TrainHooks(
            on_data=_chain(_tolerant(lambda d: store.set_dataset(run_id, d), "recording the data set"), user.on_data),
            on_epoch=_chain(_tolerant(log_epoch, "an epoch record"), user.on_epoch),
            on_checkpoint=_chain(_tolerant(lambda p: store.set_checkpoint(run_id, p), "noting the checkpoint"),
                                 user.on_checkpoint),
            on_progress=_chain(beat.report, user.on_progress),
            should_stop=should_stop,
        )
        trainer = Trainer(config, combined, checkpoint_path=checkpoint,
                          metadata={"run_id": run_id, "run_store": str(store.path)}, resume_path=resume_path)
        with store.recording_failure(run_id):
            result = trainer.run()
        # Still beating: the final write may wait for a busy store (it retries) without the run
        # looking dead meanwhile.
        if beat.lost.is_set():
            pass  # ended elsewhere (reaped, failed as hung): nothing more to write
        elif result.cancelled:
            store.mark_cancelled(run_id, checkpoint_path=result.checkpoint)
        else:
            store.finish(run_id, test_metrics=result.summary(), checkpoint_path=result.checkpoint,
                         dataset=result.dataset)
    return result
