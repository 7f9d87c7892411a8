"""A cluster run's folder: how a job on a compute node reports to the run store without opening it.

SQLite must not be used over a network filesystem (its locks are not reliable there), so a job on
a cluster node never opens ``runs.sqlite``. It writes everything the run store would get into
files of its own run folder, on the filesystem shared by the login and compute nodes, and the
process that submitted it (:mod:`equiv.jobs.cluster`, on the login node) reads them back into the
store. Every file is written atomically (a temporary file, ``fsync``, ``os.replace``), so a
reader sees the old version or the new one, never half a file::

    <run folder>/
        run.json            the run record at submission (config, kind, ...; written by the submitter)
        state.json          the node's view: starts, host, pid, heartbeat, progress, message,
                            data set metadata, the partial result (best checkpoint), "stopped"
                            after a signal
        epochs/00007.json   one file per epoch (errors, lr, seconds, progress)
        outcome.json        the end: finished (the result) or failed (the reason)
        resume.pt           the trainer's resume state (equiv.training.resume)
        checkpoint.pt       the best checkpoint
        slurm/              submitit's files (the pickled job, stdout/stderr per SLURM job)

:class:`RunFolderStore` offers the part of :class:`equiv.runs.RunStore` that the job lifecycle
(:mod:`equiv.jobs.lifecycle`) and :func:`equiv.jobs.train.execute_run` use, writing into a
:class:`RunFolder` instead; so a cluster job runs the very same code as a local one. A stop on a signal (SIGTERM from ``scancel``, a
requeue or a preemption) is recorded as ``stopped`` in ``state.json``, not as an outcome: whether
the run was cancelled or will resume is SLURM's to say, and the ingest loop asks it.

Example:
    >>> import tempfile
    >>> folder = RunFolder(tempfile.mkdtemp())
    >>> folder.write_json("state.json", {"starts": 1})
    >>> folder.read_json("state.json"), folder.read_json("outcome.json")
    ({'starts': 1}, None)
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

from equiv.errors import RunError
from equiv.runs import Run, load_limits, this_host

__all__ = ["RunFolder", "RunFolderStore", "atomic_write_text"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old content or the new, never a part:
    a temporary file in the same folder, ``fsync``, ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunFolder:
    """The files of one cluster run (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def resume_path(self) -> Path:
        return self.path / "resume.pt"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def slurm_folder(self) -> Path:
        return self.path / "slurm"

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(obj, sort_keys=True, default=str))

    def read_json(self, name: str) -> Any:
        """The object in ``name``, or ``None`` when the file is not there."""
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def epochs_after(self, epoch: int) -> list[dict[str, Any]]:
        """The epoch records with numbers above ``epoch``, in order."""
        folder = self.path / "epochs"
        if not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.glob("[0-9]*.json") if int(p.stem) > epoch)
        return [self.read_json(f"epochs/{name}") for name in names]

    def log_tail(self, job_id: str | None) -> str:
        """The end of the SLURM job's stderr (submitit's ``<job id>_0_log.err``), or ``""``."""
        from equiv.jobs.executor import log_tail

        if job_id is None:
            return ""
        return log_tail(self.slurm_folder / f"{job_id}_0_log.err")


class RunFolderStore:
    """What the job lifecycle needs of a :class:`~equiv.runs.RunStore`, written to a
    :class:`RunFolder` (on a compute node; nothing here opens SQLite).

    Args:
        folder: the run folder; its ``run.json`` (written by the submitter) holds the run record.
    """

    #: ``SystemExit`` and ``KeyboardInterrupt`` are no outcome here: submitit exits the process to
    #: requeue it (time limit, preemption), and a second SIGTERM is SLURM ending the job; SLURM's
    #: state says what became of it (see :func:`equiv.jobs.lifecycle.running_job`).
    records_interrupts = False

    def __init__(self, folder: RunFolder | str | os.PathLike):
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self._lock = threading.Lock()  # the heartbeat thread and the training thread both write state.json
        #: The limits a worker follows (the heartbeat's ``hang_after_s``): the node's environment
        #: (EQUIV_*) and the defaults, since no run store (and no limits.json beside it) is here.
        self.limits = load_limits(self.folder.path)

    @property
    def path(self) -> Path:
        return self.folder.path

    # -- state.json ---------------------------------------------------------------------------
    def _update_state(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            state = self.folder.read_json("state.json") or {}
            state.update({k: v for k, v in changes.items() if v is not None})
            state["heartbeat_at"] = time.time()
            self.folder.write_json("state.json", state)
            return state

    def _outcome(self, status: str, **data: Any) -> None:
        with self._lock:
            if self.folder.read_json("outcome.json") is None:  # the first outcome stands
                self.folder.write_json("outcome.json", {"status": status, "at": time.time(), **data})

    def _result_with(self, changes: Mapping[str, Any] | None) -> dict[str, Any]:
        """The partial result in ``state.json`` merged with ``changes``."""
        return {**((self.folder.read_json("state.json") or {}).get("result") or {}), **(changes or {})}

    # -- the RunStore methods a job calls -----------------------------------------------------
    def get(self, run_id: int) -> Run:
        record = self.folder.read_json("run.json")
        if record is None:
            raise RunError(f"no run {run_id} in {self.folder.path} (run.json is missing)")
        outcome = self.folder.read_json("outcome.json") or {}
        status = outcome.get("status") or ("running" if self.folder.read_json("state.json") else "queued")
        return Run(**{**{f.name: record.get(f.name) for f in fields(Run)}, "status": status,
                      "error": outcome.get("error")})

    def mark_running(self, run_id: int, *, pid: int | None = None, dataset: Mapping[str, Any] | None = None) -> Run:
        """A start on a node: ``starts`` counts them (a requeued job starts again)."""
        state = self.folder.read_json("state.json") or {}
        self._update_state(status="running", starts=int(state.get("starts", 0)) + 1, pid=pid or os.getpid(),
                           host=this_host(), started_at=state.get("started_at") or time.time(),
                           slurm_job_id=os.environ.get("SLURM_JOB_ID"), dataset=dataset)
        return self.get(run_id)

    def heartbeat(self, run_id: int, *, progress: float | None = None, message: str | None = None) -> bool:
        self._update_state(progress=progress, message=message)
        return False  # a cluster run is cancelled with scancel (a SIGTERM), not a flag

    def log_epoch(self, run_id: int, epoch: int, *, seconds: float, lr: float | None = None,
                  metrics: Mapping[str, Any] | None = None, progress: float | None = None) -> None:
        self.folder.write_json(f"epochs/{int(epoch):05d}.json", {
            "epoch": int(epoch), "seconds": float(seconds), "lr": lr, "metrics": dict(metrics or {}),
            "progress": progress, "logged_at": time.time()})
        self._update_state(progress=progress)

    def update_result(self, run_id: int, changes: Mapping[str, Any]) -> None:
        self._update_state(result=self._result_with(changes))

    def set_dataset(self, run_id: int, dataset: Mapping[str, Any]) -> None:
        self._update_state(dataset=dict(dataset))

    def finish(self, run_id: int, result: Mapping[str, Any] | None = None, *,
               dataset: Mapping[str, Any] | None = None) -> Run:
        self._outcome("finished", result=self._result_with(result),
                      dataset=None if dataset is None else dict(dataset))
        return self.get(run_id)

    def fail(self, run_id: int, reason: str) -> Run:
        self._outcome("failed", error=str(reason))
        return self.get(run_id)

    def mark_cancelled(self, run_id: int, *, result: Mapping[str, Any] | None = None) -> Run:
        """A stop on a signal: not an outcome (SLURM says whether it was a cancel or a requeue)."""
        self._update_state(status="stopped", stopped_at=time.time(), result=self._result_with(result))
        return self.get(run_id)

    def reap(self) -> list[Run]:
        """Nothing to reap on a node (the login node's watcher follows SLURM's states)."""
        return []
