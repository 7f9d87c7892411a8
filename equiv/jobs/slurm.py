"""The SLURM executor: runs go to a cluster through ``submitit`` (``sbatch``), one job per run.

* :class:`SlurmOptions`: partition, time limit (minutes), GPUs, account and any other ``sbatch``
  option (``--slurm-extra KEY=VALUE``).
* :class:`SlurmExecutor`: the :class:`~equiv.jobs.executor.Executor` of the cluster. It writes the
  run's folder (``run.json``, see :mod:`equiv.jobs.cluster_files`) on the shared filesystem and
  submits :class:`ClusterRunJob` with submitit; the handle it returns polls the job's SLURM state.
* :class:`ClusterRunJob`: what runs on the node: :func:`equiv.jobs.train.execute_run` against a
  :class:`~equiv.jobs.cluster_files.RunFolderStore` (files, never SQLite), with the trainer's
  resume state in the run folder. It is a ``submitit.helpers.Checkpointable``: at its time limit
  submitit calls :meth:`ClusterRunJob.checkpoint`, which returns the same job as a
  ``DelayedSubmission``, and requeues it; a job requeued by SLURM (``scontrol requeue``, a
  preemption with ``JobRequeue=1``) starts again the same way. Either way the new start finds
  ``resume.pt`` and carries on from the last finished epoch.
* :func:`slurm_jobs`, :func:`job_detail`, :func:`scancel`: asking SLURM (``squeue``, ``scontrol``,
  ``scancel``). ``sacct`` is not used: it needs SLURM's accounting database, which small clusters
  (and the test cluster of ``scripts/slurm_local.sh``) do not run.

Why submitit rather than our own ``sbatch`` scripts: it writes the batch script, pickles the
callable with its arguments, collects stdout/stderr per job, and handles the time-limit signal
(``USR2`` ``signal_delay_s`` before the limit) with checkpoint-and-requeue.

Example:
    >>> params = SlurmOptions(partition="gpu", time_min=60, gpus=1, extra={"qos": "high", "export": "ALL"}).submitit_parameters()
    >>> params["slurm_qos"], params["slurm_additional_parameters"]
    ('high', {'export': 'ALL'})
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from submitit.helpers import Checkpointable, DelayedSubmission

from equiv.errors import EquivError, RunError
from equiv.jobs.cluster_files import RunFolder, RunFolderStore
from equiv.jobs.executor import Job
from equiv.jobs.lifecycle import graceful_stop

__all__ = ["SlurmOptions", "SlurmExecutor", "SlurmJobHandle", "SlurmJobInfo", "ClusterRunJob", "slurm_jobs",
           "job_detail", "scancel", "parse_extra", "slurm_available", "ACTIVE_SLURM_STATES", "FAILED_SLURM_STATES"]

#: SLURM states of a job that has not ended (PENDING → the run is queued; RUNNING → running).
ACTIVE_SLURM_STATES = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
                       "REQUEUE_FED", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD")
#: SLURM states that fail the run (with the state and SLURM's reason as the run's error).
FAILED_SLURM_STATES = ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED",
                       "SPECIAL_EXIT", "REVOKED")


def parse_extra(items: list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """``["qos=high", "constraint=a100"]`` → ``{"qos": "high", "constraint": "a100"}`` (sbatch's long
    option names, without the dashes); a malformed item raises :class:`EquivError`."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise EquivError(f"--slurm-extra {item!r}: write KEY=VALUE with an sbatch option, e.g. qos=high")
        out[key] = value.strip()
    return out


@dataclass(frozen=True)
class SlurmOptions:
    """What each job asks SLURM for.

    Attributes:
        partition: ``--partition``; ``None``: the cluster's default.
        time_min: ``--time`` in minutes (the job is checkpointed and requeued at the limit).
        gpus: GPUs per job (``--gpus-per-node``; 0 for a CPU job).
        cpus: CPUs per job (``--cpus-per-task``).
        mem_gb: memory per job in GB (``--mem``); ``None``: the cluster's default.
        account: ``--account``.
        extra: any other sbatch option, ``{"qos": "high"}`` → ``--qos=high``.
        signal_delay_s: how long before the time limit submitit checkpoints and requeues.
    """

    partition: str | None = None
    time_min: int = 60
    gpus: int = 0
    cpus: int = 1
    mem_gb: float | None = None
    account: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    signal_delay_s: int = 60

    def __post_init__(self):
        if self.time_min < 1:
            raise EquivError(f"--slurm-time must be 1 minute or more, not {self.time_min}")
        if self.gpus < 0 or self.cpus < 1:
            raise EquivError("--slurm-gpus must be 0 or more and the CPUs per job 1 or more")

    def submitit_parameters(self) -> dict[str, Any]:
        """Parameters for ``submitit.AutoExecutor.update_parameters`` (``slurm_`` prefixed)."""
        params: dict[str, Any] = {"timeout_min": int(self.time_min), "cpus_per_task": int(self.cpus),
                                  "slurm_signal_delay_s": int(self.signal_delay_s), "nodes": 1, "tasks_per_node": 1}
        if self.gpus:
            params["gpus_per_node"] = int(self.gpus)
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.mem_gb is not None:
            params["mem_gb"] = float(self.mem_gb)
        if self.account:
            params["slurm_account"] = self.account
        known = _submitit_slurm_parameters()
        additional = {}
        for key, value in self.extra.items():
            name = key.replace("-", "_")
            if name in known:
                params[f"slurm_{name}"] = value
            else:  # any other sbatch option: submitit writes it as #SBATCH --key=value
                additional[name] = value
        if additional:
            params["slurm_additional_parameters"] = additional
        return params

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "time_min": self.time_min, "gpus": self.gpus, "cpus": self.cpus,
                "mem_gb": self.mem_gb, "account": self.account, "extra": dict(self.extra),
                "signal_delay_s": self.signal_delay_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SlurmOptions":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def _submitit_slurm_parameters() -> set[str]:
    """The sbatch options submitit knows by name (the rest go into ``additional_parameters``)."""
    import inspect

    from submitit.slurm.slurm import _make_sbatch_string

    return set(inspect.signature(_make_sbatch_string).parameters) - {"command", "folder", "map_count",
                                                                      "additional_parameters"}


class ClusterRunJob(Checkpointable):
    """The callable a SLURM job runs: carry run ``run_id`` of the run folder ``folder`` to its end
    (or to the next stop), reporting through the folder's files.

    Returns the status it left the run in (``finished``, ``failed`` or ``stopped``)."""

    def __init__(self, folder: str, run_id: int):
        self.folder, self.run_id = str(folder), int(run_id)

    def __call__(self) -> str:
        from equiv.jobs.train import execute_run

        folder = RunFolder(self.folder)
        store = RunFolderStore(folder)
        try:
            # SIGTERM (scancel, a requeue, a preemption; submitit itself ignores it) stops the run
            # cleanly after keeping its state; a second one interrupts.
            with graceful_stop() as stop:
                execute_run(self.run_id, store, stop=stop, resume_path=folder.resume_path)  # type: ignore[arg-type]
        except EquivError as exc:
            print(f"run {self.run_id} failed: {exc}", flush=True)
            return "failed"
        state = folder.read_json("state.json") or {}
        outcome = folder.read_json("outcome.json") or {}
        return outcome.get("status") or state.get("status", "stopped")

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Near the time limit or on preemption (submitit's ``USR2``): requeue this same job; it
        resumes from the trainer's resume state in the run folder (written after every epoch)."""
        print(f"run {self.run_id}: checkpoint (time limit or preemption); requeued to resume from its last epoch",
              flush=True)
        return DelayedSubmission(ClusterRunJob(self.folder, self.run_id))


@dataclass(frozen=True)
class SlurmJobInfo:
    """One job as ``squeue`` sees it: id, state (``PENDING``, ``RUNNING``, ``COMPLETED``, ...),
    reason (why pending / why it ended) and node list."""

    job_id: str
    state: str
    reason: str
    nodes: str


def _run(command: list[str], timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise RunError(f"{command[0]} not found: SLURM's client commands are not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise RunError(f"{command[0]} did not answer within {timeout_s:g} s (is slurmctld up?)") from None


def slurm_available() -> str | None:
    """``None`` when SLURM answers here; otherwise why not (one sentence)."""
    try:
        done = _run(["sinfo", "-h", "-o", "%P"], timeout_s=10)
    except RunError as exc:
        return str(exc)
    if done.returncode != 0:
        return f"sinfo failed: {(done.stderr or done.stdout).strip()[:200]}"
    return None


def slurm_jobs(job_ids: list[str] | None = None) -> dict[str, SlurmJobInfo]:
    """The jobs SLURM still knows (finished ones for ``MinJobAge``, 300 s by default), by id."""
    done = _run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%N"])
    if done.returncode != 0:
        raise RunError(f"squeue failed: {(done.stderr or done.stdout).strip()[:200]}")
    out = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4:
            out[parts[0]] = SlurmJobInfo(*parts)
    if job_ids is not None:
        wanted = set(job_ids)
        out = {k: v for k, v in out.items() if k in wanted}
    return out


def job_detail(job_id: str) -> dict[str, str]:
    """``scontrol show job -o``'s fields of a job (``JobState``, ``Reason``, ``ExitCode``,
    ``Restarts``, ...); empty when SLURM no longer knows it."""
    try:
        done = _run(["scontrol", "show", "job", "-o", str(job_id)])
    except RunError:
        return {}
    if done.returncode != 0:
        return {}
    fields = {}
    for token in done.stdout.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def scancel(job_id: str, signal_name: str | None = None) -> None:
    """``scancel [--signal=SIG] JOB``; :class:`RunError` when it fails."""
    command = ["scancel"] + ([f"--signal={signal_name}"] if signal_name else []) + [str(job_id)]
    done = _run(command)
    if done.returncode != 0:
        raise RunError(f"scancel {job_id} failed: {(done.stderr or done.stdout).strip()[:200]}")


@dataclass
class SlurmJobHandle:
    """A submitted SLURM job (the :class:`~equiv.jobs.executor.JobHandle` of the cluster)."""

    run_id: int
    job_id: str
    folder: RunFolder

    def poll(self) -> int | None:
        """``None`` while SLURM runs or holds it; 0 when it completed; 1 when it ended otherwise."""
        info = slurm_jobs([self.job_id]).get(self.job_id)
        if info is None or info.state not in ACTIVE_SLURM_STATES:
            return 0 if info is not None and info.state == "COMPLETED" else 1
        return None

    def describe(self) -> str:
        return f"SLURM job {self.job_id}"


class SlurmExecutor:
    """Submits runs to SLURM with submitit (see the module docstring).

    Args:
        options: what each job asks for.
        run_root: the shared folder that holds the run folders (``run-<id>/``); it must be on a
            filesystem the compute nodes see at the same path.
    """

    name = "slurm"

    def __init__(self, options: SlurmOptions, run_root: str | os.PathLike):
        self.options = options
        self.run_root = Path(run_root)

    def folder(self, run_id: int) -> RunFolder:
        return RunFolder(self.run_root / f"run-{int(run_id)}")

    def prepare(self, run: Any) -> RunFolder:
        """Write the run folder's ``run.json``: the record with the checkpoint inside the folder."""
        folder = self.folder(run.id)
        folder.path.mkdir(parents=True, exist_ok=True)
        record = run.to_dict()
        record.pop("seconds", None)
        record["config"] = {**record["config"], "checkpoint": record["config"].get("checkpoint")
                            or str(folder.checkpoint_path)}
        folder.write_json("run.json", record)
        return folder

    def submit_run(self, run: Any) -> SlurmJobHandle:
        """Prepare the folder and ``sbatch`` the job; :class:`RunError` when submission fails."""
        import submitit

        folder = self.prepare(run)
        executor = submitit.AutoExecutor(folder=folder.slurm_folder, cluster="slurm")
        executor.update_parameters(name=f"equiv-run-{run.id}", **self.options.submitit_parameters())
        try:
            job = executor.submit(ClusterRunJob(str(folder.path), run.id))
        except Exception as exc:  # submitit raises a bare Exception/FailedJobError with sbatch's message
            raise RunError(f"sbatch refused run {run.id}: {str(exc).strip().splitlines()[-1][:300]}") from None
        return SlurmJobHandle(run.id, str(job.job_id), folder)

    def submit(self, job: Job) -> SlurmJobHandle:
        from equiv.runs import RunStore

        return self.submit_run(RunStore(job.store_path).get(job.run_id))

