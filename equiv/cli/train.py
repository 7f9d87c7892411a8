"""``equiv train``: train a model on a data set, print a line per epoch and the test errors.

  equiv train --model nequip --data rmd17:ethanol --data-dir ../shared/data/rmd17 --n-train 950 --max-time 120
  equiv train --model gvp --data xtb:ethanol --n-train 200 --epochs 50 --json

Every run is recorded in the run store (`equiv runs show ID`); Ctrl-C stops cleanly (the run is
cancelled and keeps its best checkpoint; a second Ctrl-C interrupts at once).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any

from equiv.cli.cluster import add_executor_flags, settings_from_args, submit_train
from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.formatting import format_duration
from equiv.errors import EquivError
from equiv.run_settings import add_setting_arguments

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and report test errors (meV, meV/Å)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="Defaults follow the NequIP rMD17 recipe: Adam (AMSGrad), lr 0.01 (GVP 0.003), batch 5, loss "
                              "weights force 1000 / energy 1, EMA 0.99, reduce-on-plateau (patience 50, factor "
                              "0.8), stop below lr 1e-6. Without --steps, --epochs or --max-time it trains for 300 s.")
    add_setting_arguments(p, TRAIN_OPTIONS, required=("model", "data_spec", "n_train"),
                          defaults={"epochs": None, "seconds": None, "steps": None})
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="any model config field, VALUE as JSON (e.g. l_max=1, radial_hidden=[32,32]); repeatable")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    add_json_flag(p)
    add_executor_flags(p)  # --executor local|slurm and --slurm-* (equiv.cli.cluster)
    p.set_defaults(func=run)


#: The settings ``equiv train`` takes as options (equiv.run_settings.SETTINGS): all with a flag.
TRAIN_OPTIONS = ("model", "data_spec", "data_dir", "n_train", "n_val", "n_test", "epochs", "seconds", "steps", "batch",
                 "lr", "device", "dtype", "seed", "threads", "layers", "channels", "energy_weight", "force_weight",
                 "ema_decay", "lr_schedule", "plateau_patience", "early_stop_patience", "checkpoint", "energy_key",
                 "forces_key")


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-option KEY=VALUE`` as a dict (VALUE as JSON when it parses, else text)."""
    options: dict[str, Any] = {}
    for item in args.model_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise EquivError(f"--model-option {item!r}: write KEY=VALUE, e.g. l_max=1")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _config_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The run's config fields: every setting option as given (checked by TrainConfig, all at once)."""
    from equiv.run_settings import BY_KEY, config_values

    values = {key: getattr(args, BY_KEY[key].config_field or key) for key in TRAIN_OPTIONS}
    values["model_options"] = _model_options(args)
    config = config_values(values, args.data_dir)  # layers and channels join the model options there
    config["ema_decay"] = config["ema_decay"] or None
    config["labels"] = {"command": shlex.join(["equiv", *sys.argv[1:]]) if sys.argv[1:2] == ["train"] else "equiv train"}
    return config


class _EpochPrinter:
    """One line per epoch on stderr; on a terminal, a redrawn line for the steps in between."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._drawn = False

    def progress(self, fraction: float, message: str) -> None:
        if self.quiet or not self.tty:
            return
        sys.stderr.write(f"\r  {message}  {fraction:4.0%}".ljust(60))
        sys.stderr.flush()
        self._drawn = True

    def epoch(self, r) -> None:
        if self.quiet:
            return
        if self._drawn:
            sys.stderr.write("\r" + " " * 60 + "\r")
            self._drawn = False
        memory = f"  GPU peak {r.peak_memory_mib:,.0f} MiB" if r.peak_memory_mib is not None else ""
        print(f"epoch {r.epoch:4d}{'*' if r.partial else ' '} {format_duration(r.seconds):>10s}  lr {r.lr:.2e}  "
              f"train F {r.train['force_mae_mev_per_a']:8.2f}  val E {r.val['energy_mae_mev']:8.2f} meV  "
              f"F {r.val['force_mae_mev_per_a']:8.2f} meV/Å  {r.structures_per_s:6.1f} str/s"
              f"{memory}{'  best' if r.best else ''}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from equiv.runs import RunStore
    from equiv.jobs.lifecycle import graceful_stop
    from equiv.jobs.train import create_train_run, execute_run
    from equiv.training import TrainHooks

    store = RunStore()
    cluster = settings_from_args(args)
    raw = _config_dict(args)
    if cluster is not None:  # --executor slurm: submitted as a SLURM job; returns at once
        return submit_train(args, raw, cluster)
    try:
        # Created running for this process: a background launcher must not claim a foreground run.
        record = create_train_run(raw, store, record_rejected=True, owner_pid=os.getpid())
    except EquivError as exc:
        run_id = getattr(exc, "run_id", None)
        raise EquivError(f"{exc} (run {run_id}, recorded as failed)" if run_id else str(exc)) from None
    printer = _EpochPrinter(args.quiet)
    if not args.quiet:
        where = record.device
        if where == "cuda":
            import torch

            where = f"cuda ({torch.cuda.get_device_name()})"
        print(f"run {record.id}: {args.model} on {args.data}, {args.n_train} training structures, "
              f"device {where}", file=sys.stderr, flush=True)
    hooks = TrainHooks(on_epoch=printer.epoch, on_progress=printer.progress)
    try:
        with graceful_stop() as stop:
            result = execute_run(record.id, store, hooks=hooks, stop=stop)
    except EquivError as exc:
        raise EquivError(f"{exc} (run {record.id}, recorded as failed)") from None
    run_record = store.get(record.id)
    dataset = result.dataset
    summary = {**result.summary(), "run_id": record.id, "status": run_record.status,
               "dataset": {k: dataset.get(k) for k in ("name", "molecule", "formula", "level_of_theory", "source",
                                                      "units", "original_units", "conversion", "split")}}
    if args.json:
        print_json(summary)
    else:
        _print_table(result, summary)
    return 130 if result.cancelled else 0


def _print_table(result, summary: dict[str, Any]) -> None:
    ds = summary["dataset"]
    if result.cancelled:
        print(f"run {summary['run_id']} cancelled after {result.epochs} epochs ({format_duration(result.seconds)}); "
              f"best checkpoint: {summary['checkpoint'] or 'none yet'}")
        return
    n_test = summary.get("n_test")
    print(f"\ntest set: {n_test} structures of {ds['name']} ({ds['level_of_theory']}), best epoch "
          f"{result.best_epoch} of {result.epochs} ({result.stopped})")
    t = result.test
    print(format_table([["energy (meV, per molecule)", f"{t['energy_mae_mev']:.2f}", f"{t['energy_rmse_mev']:.2f}"],
                        ["force (meV/Å, per component)", f"{t['force_mae_mev_per_a']:.2f}",
                         f"{t['force_rmse_mev_per_a']:.2f}"]], ["", "MAE", "RMSE"]))
    where = result.device_name if result.device == "cuda" else f"cpu, {result.threads} thread(s)"
    memory = f", GPU peak {result.peak_memory_mib:,.0f} MiB" if result.peak_memory_mib is not None else ""
    print(f"\n{result.steps} steps in {format_duration(result.train_seconds)} ({result.structures_per_s:.1f} "
          f"structures/s) on {where}{memory}; {format_duration(result.seconds)} in all")
    conv = result.convergence
    if conv is not None:
        verdict = "converged" if conv.converged else "NOT converged"
        gain = "" if conv.relative_improvement is None else f" ({conv.relative_improvement:.1%} in the last quarter)"
        print(f"budget {summary['budget']}: {verdict}{gain}; rule: {conv.rule}")
    print(f"run {summary['run_id']}; checkpoint {summary['checkpoint']}")
