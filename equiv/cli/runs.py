"""``equiv runs``: the run store (every training run, sweep member and data generation).

  equiv runs list [--status running] [--json]
  equiv runs show ID [--json]
  equiv runs cancel ID [--json]
  equiv runs sync [--json]          # ingest cluster runs' files once (the cluster watcher does it too)

Listing or showing runs first fails running runs whose worker died (``RunStore.reap``) and makes
sure a launcher serves every device queue with queued runs (it starts one only then; the note goes
to stderr).
"""

from __future__ import annotations

import argparse
import sys
import time

from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.formatting import format_duration
from equiv.errors import RunError
from equiv.jobs.lifecycle import KINDS
from equiv.runs import STATUSES, Run, RunStore


def _serve_queued(store: RunStore) -> None:
    """Fail the runs whose worker died; start a launcher for each device queue with queued runs and
    none serving it."""
    from equiv.jobs.launcher import ensure_launchers_for_queued

    store.reap()
    for info in ensure_launchers_for_queued(store):
        if info.started:
            print(f"started a launcher for the {info.device} queue (pid {info.pid}; log {info.log_path})",
                  file=sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list, show and cancel runs", description=__doc__,
                       epilog="Every verb has --help and --json (one JSON object on stdout). The store is "
                              "runs.sqlite in the data home (EQUIV_HOME).",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    ls = verbs.add_parser("list", help="runs, newest first")
    ls.add_argument("--status", choices=STATUSES, help="only runs with this status")
    ls.add_argument("--kind", choices=list(KINDS), help="only runs of this kind")
    ls.add_argument("--model", help="only runs of this model")
    ls.add_argument("--molecule", help="only runs on this molecule")
    ls.add_argument("--group", help="only runs of this sweep or group")
    ls.add_argument("--limit", type=int, help="at most this many")
    add_json_flag(ls)
    ls.set_defaults(func=run_list)

    show = verbs.add_parser("show", help="one run with its per-epoch errors")
    show.add_argument("id", type=int)
    add_json_flag(show)
    show.set_defaults(func=run_show)

    cancel = verbs.add_parser("cancel", help="cancel a queued run, or ask a running one to stop")
    cancel.add_argument("id", type=int)
    add_json_flag(cancel)
    cancel.set_defaults(func=run_cancel)

    sync = verbs.add_parser("sync", help="ingest the progress and results of cluster (SLURM) runs once")
    add_json_flag(sync)
    sync.set_defaults(func=run_sync)


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _result(run: Run) -> str:
    if run.status in ("failed", "cancelled"):
        return (run.error or run.status)[:60]
    metrics = run.test_metrics or {}
    if "force_mae_mev_per_a" in metrics:
        return f"F {metrics['force_mae_mev_per_a']:.1f} meV/Å, E {metrics.get('energy_mae_mev', float('nan')):.1f} meV"
    if run.status == "running":
        return run.message or (f"{run.progress:.0%}" if run.progress is not None else "")
    return ""


def run_list(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise RunError("--limit must be 1 or more")
    store = RunStore()
    _serve_queued(store)
    runs = store.list_runs(status=args.status, kind=args.kind, model=args.model, molecule=args.molecule,
                           group_id=args.group, limit=args.limit)
    if args.json:
        print_json({"runs": [r.to_dict() for r in runs]})
        return 0
    if not runs:
        print("no runs")
        return 0
    rows = [[r.id, r.kind, r.status, r.model or "-", r.molecule or "-", r.device, _when(r.created_at),
             "-" if r.seconds is None else format_duration(r.seconds), _result(r)] for r in runs]
    print(format_table(rows, ["id", "kind", "status", "model", "molecule", "device", "created", "time", "result"]))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from equiv.jobs.cluster import cluster_job  # hook: a cluster run's SLURM job and resumes

    store = RunStore()
    _serve_queued(store)
    run = store.get(args.id)
    epochs = store.epochs(args.id)
    job = cluster_job(store, run.id)
    if args.json:
        print_json({"run": run.to_dict(), "epochs": [e.to_dict() for e in epochs],
                    **({} if job is None else {"cluster": job.to_dict()})})
        return 0
    fields = [("id", run.id), ("kind", run.kind), ("status", run.status), ("model", run.model),
              ("molecule", run.molecule), ("device", run.device), ("group", run.group_id),
              ("created", _when(run.created_at)), ("started", _when(run.started_at)),
              ("finished", _when(run.finished_at)),
              ("time", "-" if run.seconds is None else format_duration(run.seconds)),
              ("worker", f"pid {run.pid} on {run.host}" if run.pid else "-"),
              ("data set", (run.dataset or {}).get("name", "-")), ("checkpoint", run.checkpoint_path),
              ("error", run.error), ("cancel requested", run.cancel_requested),
              ("executor", "local" if job is None else f"SLURM job {job.job_id} ({job.slurm_state}), resumed "
                                                       f"{job.resumes}×, run folder {job.folder}")]
    print(format_table([[k, "-" if v is None else v] for k, v in fields], ["field", "value"]))
    print(f"\nconfig: {run.config}")
    if run.test_metrics:
        print(f"test: {run.test_metrics}")
    elif run.result:
        print(f"result: {run.result}")
    if epochs:
        print()
        print(format_table(
            [[e.epoch, f"{e.seconds:.1f}", "-" if e.lr is None else f"{e.lr:.2e}",
              *("-" if v is None else f"{v:.2f}" for v in (e.train_energy_mae_mev, e.train_force_mae_mev_per_a,
                                                          e.val_energy_mae_mev, e.val_force_mae_mev_per_a))]
             for e in epochs],
            ["epoch", "s", "lr", "train E MAE meV", "train F MAE meV/Å", "val E MAE meV", "val F MAE meV/Å"]))
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    from equiv.jobs.cluster import cancel_run  # hook: a cluster run's job gets scancel

    store = RunStore()
    before = store.get(args.id)
    run = cancel_run(store, args.id)
    if before.status == "queued":
        action, message = "cancelled", f"run {run.id} cancelled (it had not started)"
    elif before.status == "running":
        action, message = "requested", f"asked run {run.id} to stop; its worker stops at its next check"
        if run.device == "slurm":
            message = f"scancel sent to run {run.id}'s SLURM job; it stops cleanly and is recorded cancelled"
    else:
        action, message = "none", f"run {run.id} already {run.status}; nothing to cancel"
    if args.json:
        print_json({"action": action, "message": message, "run": run.to_dict()})
    else:
        print(message)
    return 0


def run_sync(args: argparse.Namespace) -> int:
    from equiv.jobs.cluster import sync

    changed = sync(RunStore())
    if args.json:
        print_json({"changed": [r.to_dict() for r in changed]})
    else:
        print("\n".join(f"run {r.id}: {r.status}" + (f" ({r.error})" if r.error else "") for r in changed)
              or "no cluster run changed status")
    return 0
