"""The executor flags of ``equiv train`` and ``equiv sweep`` (``--executor slurm --slurm-*``) and
what they do: send the runs to a SLURM cluster (:mod:`equiv.jobs.cluster`) instead of this
machine's launcher.

  equiv sweep ... --executor slurm --slurm-partition gpu --slurm-time 60 --slurm-gpus 1 \\
      [--slurm-account A] [--slurm-extra qos=high] [--cluster-dir /shared/equiv-runs]
  equiv train ... --executor slurm --slurm-partition gpu
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from equiv.cli.output import print_json
from equiv.errors import EquivError

__all__ = ["add_executor_flags", "settings_from_args", "submit_train", "submit_sweep"]

_SLURM_FLAGS = ("slurm_partition", "slurm_time", "slurm_gpus", "slurm_cpus", "slurm_mem_gb", "slurm_account",
                "slurm_extra", "cluster_dir")


def add_executor_flags(p: argparse.ArgumentParser) -> None:
    """``--executor local|slurm`` and the ``--slurm-*`` options, as one argument group."""
    g = p.add_argument_group("executor (where the runs go; default this machine)")
    g.add_argument("--executor", choices=["local", "slurm"], default="local",
                   help="local: this machine's background launcher (default); slurm: one SLURM job per run via submitit")
    g.add_argument("--slurm-partition", metavar="P", help="SLURM partition (default: the cluster's default)")
    g.add_argument("--slurm-time", type=int, metavar="MINUTES",
                   help="time limit per job in minutes (default 60); at the limit the job is requeued and resumes")
    g.add_argument("--slurm-gpus", type=int, metavar="N", help="GPUs per job (default 0)")
    g.add_argument("--slurm-cpus", type=int, metavar="N", help="CPUs per job (default 1)")
    g.add_argument("--slurm-mem-gb", type=float, metavar="GB", help="memory per job (default: the cluster's default)")
    g.add_argument("--slurm-account", metavar="A", help="SLURM account to charge")
    g.add_argument("--slurm-extra", action="append", metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. qos=high or constraint=a100 (repeatable)")
    g.add_argument("--cluster-dir", metavar="DIR",
                   help="the run folders, on a filesystem the compute nodes share "
                        "(default $EQUIV_CLUSTER_DIR or <data home>/cluster-runs)")


def settings_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~equiv.jobs.cluster.ClusterSettings` of ``--executor slurm``: the configured
    cluster (``cluster.json`` / ``EQUIV_SLURM_*``) with the flags on top; ``None`` for local."""
    given = [f for f in _SLURM_FLAGS if getattr(args, f, None) not in (None, [])]
    if args.executor != "slurm":
        if given:
            raise EquivError(f"--{given[0].replace('_', '-')} needs --executor slurm")
        return None
    from pathlib import Path

    from equiv.jobs.cluster import ClusterSettings, cluster_settings, default_run_root
    from equiv.jobs.slurm import SlurmOptions, parse_extra

    base = cluster_settings()
    options = base.options.to_dict() if base else {}
    for key, flag in (("partition", "slurm_partition"), ("time_min", "slurm_time"), ("gpus", "slurm_gpus"),
                      ("cpus", "slurm_cpus"), ("mem_gb", "slurm_mem_gb"), ("account", "slurm_account")):
        if getattr(args, flag) is not None:
            options[key] = getattr(args, flag)
    if args.slurm_extra:
        options["extra"] = {**options.get("extra", {}), **parse_extra(args.slurm_extra)}
    root = Path(args.cluster_dir) if args.cluster_dir else (base.run_root if base else default_run_root())
    return ClusterSettings(SlurmOptions.from_dict(options), root.resolve())


def _report(runs: list, jobs: list, as_json: bool, extra: dict | None = None) -> None:
    by_run = {j.run_id: j.job_id for j in jobs}
    if as_json:
        print_json({**(extra or {}), "executor": "slurm", "runs": [r.id for r in runs],
                    "slurm_jobs": {str(k): v for k, v in by_run.items()}})
        return
    for run in runs:
        print(f"run {run.id}: SLURM job {by_run.get(run.id, '-')}")
    print("a cluster watcher ingests their progress into the run store (`equiv runs sync` does one pass by hand)",
          file=sys.stderr)


def submit_train(args: argparse.Namespace, config: dict, settings: Any) -> int:
    """``equiv train --executor slurm``: one queued cluster run, submitted; returns at once."""
    from equiv.jobs.cluster import create_cluster_run, submit_runs
    from equiv.runs import RunStore

    store = RunStore()
    run = create_cluster_run(config, store)
    jobs = submit_runs([run], store, settings)
    _report([run], jobs, args.json, {"run_id": run.id})
    return 0 if jobs else 1


def submit_sweep(args: argparse.Namespace, plan: Any, settings: Any) -> tuple[str, list]:
    """``equiv sweep --executor slurm``: queue the grid on the cluster queue and submit it."""
    from equiv.jobs.cluster import queue_cluster_sweep
    from equiv.runs import RunStore

    store = RunStore()
    group, runs, jobs = queue_cluster_sweep(plan, store, settings, group_id=args.group)
    if not args.wait:
        _report(runs, jobs, args.json, {"group_id": group})
    return group, runs
