"""The executor seam: how a claimed run becomes a running process.

A job is one run record of the run store plus one self-contained command that carries it to its
end and writes everything (status, heartbeats, per-epoch errors, checkpoint, outcome) into that
record::

    python -m equiv.jobs.worker RUN_ID --store /path/to/runs.sqlite

(:func:`job_command`; every kind goes through the job lifecycle, :mod:`equiv.jobs.lifecycle`).
An :class:`Executor` only starts that command somewhere and can say whether it is still going; it
never interprets the run. This machine's executor is :class:`LocalExecutor` (a detached child
process per job, its output in a log file, started with ``nice`` and, on the CPU queue, an
address-space limit: the ``worker_nice`` and ``worker_address_space_mb`` settings of
:mod:`equiv.runs.limits`). The cluster's is :class:`equiv.jobs.slurm.SlurmExecutor` (SLURM through
``submitit``): its jobs run the same ``execute_run`` but report through files in a shared run
folder, since SQLite must not be opened over a network filesystem.

Example:
    >>> job = Job(run_id=7, store_path=Path("/tmp/runs.sqlite"), log_path=Path("/tmp/logs/run-7.log"))
    >>> job.command()[1:]
    ['-m', 'equiv.jobs.worker', '7', '--store', '/tmp/runs.sqlite']
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from equiv.runs import Limits, load_limits

__all__ = ["Job", "JobHandle", "Executor", "LocalExecutor", "LocalJob", "job_command", "job_log_path", "log_tail",
           "spawn_detached", "worker_limits"]


def job_command(run_id: int, store_path: str | os.PathLike) -> list[str]:
    """The self-contained command that executes run ``run_id`` of the store at ``store_path``."""
    return [sys.executable, "-m", "equiv.jobs.worker", str(int(run_id)), "--store", str(store_path)]


def job_log_path(store_path: str | os.PathLike, run_id: int) -> Path:
    """``<store folder>/logs/run-<id>.log``: the job's stdout and stderr."""
    return Path(store_path).parent / "logs" / f"run-{int(run_id)}.log"


def spawn_detached(command: list[str], log: Path, **popen: Any) -> subprocess.Popen:
    """Start ``command`` as a fresh process in a session of its own (it outlives whoever started
    it: a closed tab, a restarted server), its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, **popen)


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
    """One run to execute: its id, the store it lives in, where its output goes and the device
    queue it was claimed from."""

    run_id: int
    store_path: Path
    log_path: Path
    device: str = "cpu"

    def command(self) -> list[str]:
        return job_command(self.run_id, self.store_path)


class JobHandle(Protocol):
    """A submitted job, as its executor sees it."""

    run_id: int

    def poll(self) -> int | None:
        """``None`` while the job runs; its exit status once it ended (negative: killed by that signal)."""

    def describe(self) -> str:
        """Where it runs, for logs and messages (``pid 1234``, ``SLURM job 5678``)."""

    def signal(self, sig: int) -> bool:
        """Send ``sig`` (SIGTERM, SIGKILL) to the job if it still runs; returns whether it was sent."""


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

    def signal(self, sig: int) -> bool:
        if self.process.poll() is not None:
            return False
        self.process.send_signal(sig)
        return True


def worker_limits(nice: int, address_space_mb: int) -> Callable[[], None]:
    """What a job's child process runs before ``exec``: lower its priority by ``nice`` and cap its
    address space (``RLIMIT_AS``) at ``address_space_mb`` MiB (0: no cap). A run that goes past
    the cap fails with an out-of-memory error of its own instead of pushing the server into swap."""

    def apply() -> None:
        if nice:
            os.nice(nice)
        if address_space_mb:
            limit = int(address_space_mb) * 2**20
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    return apply


class LocalExecutor:
    """Runs each job as a fresh Python interpreter in its own session (``start_new_session``), so it
    outlives the launcher and the Streamlit server, and no CUDA state is inherited through ``fork``.
    Output goes to the job's log file; the environment (``EQUIV_HOME``, ``EQUIV_RMD17_DIR``, ...)
    is the launcher's. Jobs start with the ``worker_nice`` niceness and, on the CPU queue, the
    ``worker_address_space_mb`` address-space limit (CUDA maps far more address space than it
    uses, so CUDA jobs get no cap).

    Args:
        limits: the settings (default: those of each job's store).
        command: the job's command (default :meth:`Job.command`): the seam for other job kinds.
    """

    def __init__(self, limits: Limits | None = None, command: Callable[[Job], list[str]] | None = None):
        self.limits = limits
        self.command = command or Job.command

    def submit(self, job: Job) -> LocalJob:
        limits = self.limits or load_limits(job.store_path)
        cap = limits.worker_address_space_mb if job.device == "cpu" else 0
        return LocalJob(job.run_id, spawn_detached(self.command(job), job.log_path,
                                                   preexec_fn=worker_limits(limits.worker_nice, cap)))
