"""One job lifecycle: how a run of any kind (training, data generation, MD; here or on a cluster
node) goes from claimed to finished, failed or cancelled.

A job is a run record: a ``kind``, a spec (the record's ``config``, JSON) and a result (JSON). The
function that executes a kind (:data:`KINDS`) does its work inside :func:`running_job`, which
first checks the kind, marks the run running for this process (pid, start time, host) and starts
a :class:`~equiv.runs.Heartbeat`; in the block the job reports progress (``job.report``), checks
for a cancel or stop (``job.check`` raises :class:`Stopped`), notes partial results
(``job.note``) and sets ``job.result``. When the block ends the run is finished with the result;
cancelled (keeping the partial result) after :class:`Stopped` or with ``job.cancelled`` set;
failed with a one-line reason (:func:`failure_reason`) after any other exception, which goes on;
and left alone when it ended elsewhere meanwhile (``job.lost``: reaped, failed as hung). The last
write happens while the heartbeat still beats, so a busy store (it retries) does not make the run
look dead; writes on the way go through :meth:`ActiveJob.try_write`, so a busy store costs a
record, never the run. :func:`graceful_stop` turns SIGINT and SIGTERM into the ``stop`` event.

Example:
    >>> import os, tempfile
    >>> from equiv.runs import RunStore
    >>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    >>> run = store.create("generate", {"frames": 2})
    >>> with running_job(store, run.id, ("generate",), "a data generation") as job:
    ...     job.report(0.5, "1/2 frames")
    ...     job.result = {"n_frames": job.spec["frames"]}
    >>> store.get(run.id).status, store.get(run.id).result
    ('finished', {'n_frames': 2})
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from equiv.errors import EquivError, RunError
from equiv.runs import Heartbeat, Run, RunGone, RunStore, StoreBusy

__all__ = ["KINDS", "TRAINING_KINDS", "HEARTBEAT_EVERY_S", "ActiveJob", "Stopped", "failure_reason", "graceful_stop",
           "running_job"]

#: Every kind of job and the function that carries one to its end (``module:function``, imported
#: only when a job of that kind runs: training needs torch).
KINDS = {
    "train": "equiv.jobs.train:execute_run",
    "sweep_member": "equiv.jobs.train:execute_run",  # a training run that is part of a sweep
    "generate": "equiv.jobs.generate:execute_generate",  # GFN2-xTB data generation
    "md": "equiv.jobs.md:execute_md",  # molecular dynamics with a model
}
TRAINING_KINDS = ("train", "sweep_member")
#: Seconds between heartbeats; a cancel is noticed at the next one.
HEARTBEAT_EVERY_S = 2.0


class Stopped(Exception):
    """Raised by :meth:`ActiveJob.check` when the job should stop: a cancel was requested, a stop
    signal came, or the run ended elsewhere."""


def failure_reason(exc: BaseException) -> str:
    """What a run that failed with ``exc`` records, on one line: an :class:`EquivError`'s message,
    ``interrupted`` (a second Ctrl-C) or ``internal error: Type: message``."""
    if isinstance(exc, EquivError):
        text = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


@dataclass
class ActiveJob:
    """A job inside :func:`running_job`: its store (on a cluster node a
    :class:`~equiv.jobs.cluster_files.RunFolderStore`), its record as marked running, and what it
    records at the end (``result`` and ``dataset``, or ``cancelled``)."""

    store: Any
    run: Run
    beat: Heartbeat
    stop: threading.Event | None = None
    result: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    cancelled: bool = False

    @property
    def spec(self) -> dict[str, Any]:
        return self.run.config

    @property
    def lost(self) -> bool:
        return self.beat.lost.is_set()

    def report(self, progress: float | None = None, message: str | None = None) -> None:
        """Progress (fraction 0–1 and a short status line), sent with the next heartbeat."""
        self.beat.report(progress, message)

    def stopping(self) -> bool:
        return self.beat.cancel_requested.is_set() or self.lost or (self.stop is not None and self.stop.is_set())

    def check(self) -> None:
        if self.stopping():
            raise Stopped

    def try_write(self, what: str, write: Callable[[], Any]) -> None:
        """``write()``; when the store is busy, a warning on stderr instead (the run goes on)."""
        try:
            write()
        except StoreBusy as exc:
            print(f"skipped {what}: {exc}", file=sys.stderr, flush=True)

    def note(self, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` into the run's partial result now (e.g. the best checkpoint so far)."""
        self.try_write("noting a partial result", lambda: self.store.update_result(self.run.id, changes))


@contextlib.contextmanager
def running_job(store: RunStore | Any, run_id: int, kinds: Sequence[str], what: str, *,
                stop: threading.Event | None = None, heartbeat_every_s: float = HEARTBEAT_EVERY_S
                ) -> Iterator[ActiveJob]:
    """Carry run ``run_id`` (queued, or claimed by a launcher: this process takes it over) through
    the block (see the module docstring). ``what`` names the kinds in the message for a run of
    another kind; a store whose ``records_interrupts`` is false (a cluster node's) records no
    failure for ``KeyboardInterrupt`` or ``SystemExit`` (SLURM's state says what became of the job)."""
    run = store.get(run_id)
    if run.kind not in kinds:
        raise RunError(f"run {run_id} is a {run.kind} run, not {what}")
    if not run.active:
        raise RunError(f"cannot start run {run_id}: it is {run.status}" + (f" ({run.error})" if run.error else ""))
    run = store.mark_running(run_id)
    with Heartbeat(store, run_id, every_s=heartbeat_every_s) as beat:
        job = ActiveJob(store, run, beat, stop)
        try:
            yield job
        except Stopped:
            job.cancelled = True
        except RunGone:
            raise  # the run ended elsewhere (reaped, cancelled): nothing to record
        except BaseException as exc:
            if getattr(store, "records_interrupts", True) or not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                with contextlib.suppress(RunError):  # the exception on its way must not be replaced
                    store.fail(run_id, failure_reason(exc))
            raise
        if job.lost:
            return
        if job.cancelled:
            store.mark_cancelled(run_id, result=job.result)
        else:
            store.finish(run_id, job.result, dataset=job.dataset)


@contextlib.contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGINT (Ctrl-C) and SIGTERM set the yielded event, which a job treats like a cancel (stop
    cleanly; a training run keeps its best checkpoint); a second signal raises
    ``KeyboardInterrupt``. Outside the main thread the event is only set by the caller."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
