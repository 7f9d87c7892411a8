"""The executor seam: how a claimed run becomes a running process.

A job is one run record of the run store plus one self-contained command that carries it to its
end and writes everything (status, heartbeats, per-epoch errors, checkpoint, outcome) into that
record::

    python -m equiv.jobs.worker RUN_ID --store /path/to/runs.sqlite

(:func:`job_command`; training runs go through ``equiv.training.execute_run``, data generation
through :func:`equiv.jobs.generate.execute_generate`). An :class:`Executor` only starts that
command somewhere and can say whether it is still going; it never interprets the run. This
machine's executor is :class:`LocalExecutor` (a detached child process per job, its output in a
log file). The cluster's is :class:`equiv.jobs.slurm.SlurmExecutor` (SLURM through ``submitit``;
see :data:`EXECUTORS`): its jobs run the same ``execute_run`` but report through files in a
shared run folder, since SQLite must not be opened over a network filesystem.

Example:
    >>> job = Job(run_id=7, store_path=Path("/tmp/runs.sqlite"), log_path=Path("/tmp/logs/run-7.log"))
    >>> job.command()[1:]
    ['-m', 'equiv.jobs.worker', '7', '--store', '/tmp/runs.sqlite']
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["Job", "JobHandle", "Executor", "LocalExecutor", "LocalJob", "EXECUTORS", "executor_of", "job_command",
           "job_log_path", "log_tail"]

#: Where runs can go (the registry of executors): ``local`` is the default; ``slurm`` is used by
#: ``--executor slurm`` and by the training lab when a cluster is configured (equiv.jobs.cluster).
EXECUTORS = {
    "local": "this machine: a background launcher per device queue (LocalExecutor)",
    "slurm": "a SLURM cluster: one sbatch job per run through submitit (equiv.jobs.slurm.SlurmExecutor)",
}


def executor_of(run) -> str:
    """``slurm`` for a run on the cluster queue, else ``local``."""
    return "slurm" if run.device == "slurm" else "local"


def job_command(run_id: int, store_path: str | os.PathLike) -> list[str]:
    """The self-contained command that executes run ``run_id`` of the store at ``store_path``."""
    return [sys.executable, "-m", "equiv.jobs.worker", str(int(run_id)), "--store", str(store_path)]


def job_log_path(store_path: str | os.PathLike, run_id: int) -> Path:
    """``<store folder>/logs/run-<id>.log``: the job's stdout and stderr."""
    return Path(store_path).parent / "logs" / f"run-{int(run_id)}.log"


def log_tail(path: str | os.PathLike, n_lines: int = 5, max_chars: int = 600) -> str:
    """The last lines of a log file, joined by " | " (empty when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-n_lines:])[-max_chars:]


@dataclass(frozen=True)
class Job:
    """One run to execute: its id, the store it lives in and where its output goes."""

    run_id: int
    store_path: Path
    log_path: Path

    def command(self) -> list[str]:
        return job_command(self.run_id, self.store_path)


class JobHandle(Protocol):
    """A submitted job, as its executor sees it."""

    run_id: int

    def poll(self) -> int | None:
        """``None`` while the job runs; its exit status once it ended (negative: killed by that signal)."""

    def describe(self) -> str:
        """Where it runs, for logs and messages (``pid 1234``, ``SLURM job 5678``)."""


class Executor(Protocol):
    """Starts jobs (the launcher has already claimed their runs in the store)."""

    def submit(self, job: Job) -> JobHandle:
        ...


@dataclass
class LocalJob:
    """A job running as a child process of this machine."""

    run_id: int
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def describe(self) -> str:
        return f"pid {self.process.pid}"


class LocalExecutor:
    """Runs each job as a fresh Python interpreter in its own session (``start_new_session``), so it
    outlives the launcher and the Streamlit server, and no CUDA state is inherited through ``fork``.
    Output goes to the job's log file; the environment (``EQUIV_HOME``, ``EQUIV_RMD17_DIR``, ...)
    is the launcher's."""

    def submit(self, job: Job) -> LocalJob:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log_path, "ab") as log:
            process = subprocess.Popen(job.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, close_fds=True)
        return LocalJob(job.run_id, process)
