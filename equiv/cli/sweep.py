"""``equiv sweep``: queue a data-efficiency sweep (models × training-set sizes × seeds) as ordinary
runs, and report its learning curves (test force MAE against training-set size, log-log slopes).

  equiv sweep --models mlp,gvp,nequip-l0,nequip-l1,nequip-l2 --molecule ethanol --data rmd17 \\
      --data-dir ../shared/data/rmd17 --n-train 25,50,100,200,400,800 --seeds 3 --steps 5000
  equiv sweep --models mlp,nequip-l0,nequip-l1 --molecule ethanol --data xtb --n-train 25,50,100 \\
      --seeds 2 --steps 1000 --layers 2 --channels 8 --wait
  equiv sweep --report sweep-20250101-120000-ab12 [--json]

A fair budget is --steps: every member gets the same number of optimizer steps (cosine schedule to
zero over them), whatever its training-set size; --epochs gives a large training set many more
steps than a small one, --max-time starves the large and the higher-l members. Without a budget
the sweep uses --steps 1000.

Slopes: one log-log fit per seed (runs within 10 % of the zero-force error left out), the mean ±
sd over seeds with a 95 % Student-t interval, and Δslope against nequip-l0 (or the first model)
paired by seed. "converged": the share of a model's runs whose best validation force MAE improved
by < 10 % over the second half of their steps.

The runs go to the background launcher of their device (one at a time per device by default; see
the training lab's queue settings), so the command returns at once unless --wait is given; the
training lab and the runs page (/runs?group=GROUP) show the curves filling in.
"""

from __future__ import annotations

import argparse
import sys
import time

from equiv.cli.cluster import add_executor_flags, settings_from_args, submit_sweep
from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.formatting import format_duration
from equiv.errors import EquivError
from equiv.run_settings import DEFAULT_SWEEP_STEPS, add_setting_arguments

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="queue a data-efficiency sweep and report its learning curves",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", help="comma-separated: mlp, gvp, nequip-l0, nequip-l1, nequip-l2, nequip-l3")
    add_setting_arguments(p, ("molecule", "data", "data_dir"), defaults={"molecule": None})
    p.add_argument("--n-train", help="comma-separated training-set sizes, e.g. 25,50,100,200")
    p.add_argument("--seeds", type=int, default=1, help="seeds per (model, size): 0 … N-1 (default 1)")
    add_setting_arguments(p, ("n_val", "n_test"))
    add_setting_arguments(p.add_argument_group(f"budget per run (default: --steps {DEFAULT_SWEEP_STEPS})"),
                          ("steps", "epochs", "seconds"), defaults={"steps": None, "epochs": None, "seconds": None})
    add_setting_arguments(p, ("batch", "lr", "layers", "channels", "device"))
    p.add_argument("--group", help="group id (default: a new one); queuing the same grid again under it adds nothing")
    p.add_argument("--wait", action="store_true", help="wait until every run has ended, then report")
    p.add_argument("--report", metavar="GROUP", help="only report the learning curves of an existing sweep")
    add_json_flag(p)
    add_executor_flags(p)  # --executor local|slurm and --slurm-* (equiv.cli.cluster)
    p.set_defaults(func=run)


def _curves_json(curves) -> list[dict]:
    return [{
        "model": c.model, "dataset": c.dataset, "level_of_theory": c.level_of_theory, "metric": c.metric,
        "points": [{"n_train": p.n_train, "mean": p.mean, "std": p.std, "min": p.low, "max": p.high, "count": p.count,
                    "run_ids": list(p.run_ids), "left_out_of_fit": sum(p.excluded)} for p in c.points],
        "slope": None if c.slopes is None else c.slopes.mean,
        "slope_sd": None if c.slopes is None else c.slopes.sd,
        "slope_ci95": None if c.slopes is None or c.slopes.ci95 is None else list(c.slopes.ci95),
        "slope_per_seed": None if c.slopes is None else {str(k): v for k, v in c.slopes.per_seed.items()},
        "reference_model": c.reference,
        "delta_slope_vs_l0": None if c.delta is None else c.delta.mean,
        "delta_slope_ci95": None if c.delta is None or c.delta.ci95 is None else list(c.delta.ci95),
        "converged": c.converged,
        "pooled_fit_slope": None if c.fit is None else c.fit.slope,
        "zero_force_mae_mev_per_a": c.zero_baseline,
    } for c in curves]


def _budgets(members) -> list[str]:
    """The distinct budgets of the finished members (``600 steps``, ``20 s``)."""
    out = []
    for r in members:
        budget = (r.test_metrics or {}).get("budget")
        if budget and budget not in out:
            out.append(budget)
    return out


def report(group: str, as_json: bool, extra: dict | None = None) -> int:
    from equiv.runs import RunStore
    from equiv.views.learning_curves import learning_curves

    members = RunStore().list_runs(group_id=group)
    if not members:
        raise EquivError(f"no runs in the group {group!r} (equiv runs list shows the groups)")
    counts = {s: sum(r.status == s for r in members) for s in ("queued", "running", "finished", "failed", "cancelled")}
    curves = learning_curves(members)
    budgets = _budgets(members)
    short = [c.model for c in curves if c.converged is not None and c.converged < 1]
    warning = (f"not converged ({', '.join(short)}): these errors reflect the budget ({', '.join(budgets) or '?'}), "
               "not what the models reach; do not set them beside published numbers" if short else None)
    if as_json:
        print_json({"group_id": group, "n_runs": len(members), "status_counts": counts, "budgets": budgets,
                    "warning": warning, "runs": sorted(r.id for r in members), "curves": _curves_json(curves),
                    **(extra or {})})
        return 0
    print(f"{group}: {len(members)} runs ({', '.join(f'{n} {s}' for s, n in counts.items() if n)})")
    if not curves:
        print("no finished runs yet")
        return 0
    rows = []
    for c in curves:
        for p in c.points:
            rows.append([c.model, c.dataset, p.n_train, p.count, f"{p.mean:.1f}",
                         "-" if p.std is None else f"{p.std:.1f}"])
    print(format_table(rows, ["model", "data", "n_train", "runs", "test F MAE meV/Å (mean)", "std over seeds"]))
    print()
    print(format_table([[c.model, c.dataset, c.n_runs, "-" if c.slopes is None else c.slopes.text(),
                         "-" if c.delta is None else c.delta.text(),
                         "-" if c.converged is None else f"{c.converged:.0%}"] for c in curves],
                       ["model", "data", "runs", "slope: mean ± sd [95%] over seeds", "Δslope vs reference [95%]",
                        "converged"]))
    print(f"budget per run: {', '.join(budgets) or 'unknown'}; converged = best validation force MAE improved "
          "< 10% over the last 50% of steps")
    if warning:
        print(f"warning: {warning}")
    zeros = {c.dataset: c.zero_baseline for c in curves if c.zero_baseline is not None}
    for dataset, zero in zeros.items():
        print(f"predicting zero forces on the {dataset} test set: {zero:.1f} meV/Å")
    for key, value in (extra or {}).items():
        print(f"{key}: {value}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.report:
        return report(args.report, args.json)
    missing = [flag for flag, value in (("--models", args.models), ("--molecule", args.molecule),
                                        ("--n-train", args.n_train)) if not value]
    if missing:
        raise EquivError(f"give {', '.join(missing)} (or --report GROUP)")
    from equiv.jobs.sweep import parse_models, parse_sizes, plan_sweep, queue_sweep
    from equiv.runs import RunStore

    budget = {"steps": args.max_steps, "epochs": args.epochs, "seconds": args.max_time_s}
    if all(v is None for v in budget.values()):
        budget["steps"] = DEFAULT_SWEEP_STEPS
    base = {"data": args.data, "molecule": args.molecule.strip().lower().replace("-", "_"), "n_val": args.n_val,
            "n_test": args.n_test, **{k: v or 0 for k, v in budget.items()}, "device": args.device, "lr": args.lr,
            "batch": args.batch_size, "layers": args.layers, "channels": args.channels, "data_dir": args.data_dir}
    plan = plan_sweep(parse_models(args.models), parse_sizes(args.n_train), args.seeds, base)
    store = RunStore()
    t0 = time.time()
    cluster = settings_from_args(args)
    if cluster is not None:  # --executor slurm: one SLURM job per run (equiv.cli.cluster)
        group, runs = submit_sweep(args, plan, cluster)
    else:
        group, runs = queue_sweep(plan, store, group_id=args.group)
    devices = ", ".join(sorted({r.device for r in runs}))
    if cluster is not None and not args.wait:
        return 0
    if not args.json:
        print(f"queued {len(runs)} runs as {group} (runs {runs[0].id}–{runs[-1].id}) on {devices}; "
              f"follow them with `equiv sweep --report {group}` or the runs page (/runs?group={group})",
              file=sys.stderr if args.wait else sys.stdout, flush=True)
    if not args.wait:
        if args.json:
            print_json({"group_id": group, "n_runs": len(runs), "runs": [r.id for r in runs], "devices": devices})
        return 0
    ids = {r.id for r in runs}
    last = None
    while True:
        members = [r for r in store.list_runs(group_id=group) if r.id in ids]
        done = sum(not r.active for r in members)
        if done != last and not args.json:
            print(f"  {done}/{len(ids)} runs ended ({format_duration(time.time() - t0)})", file=sys.stderr, flush=True)
            last = done
        if done == len(members):
            break
        time.sleep(1.0)
    return report(group, args.json, {"wall_seconds": round(time.time() - t0, 1)})
