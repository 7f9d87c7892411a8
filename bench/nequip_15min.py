"""Accuracy under a fixed time budget: the issue's NequIP configuration on rMD17 ethanol.

    .venv/bin/python bench/nequip_15min.py [--max-time 900] [--threads N] [--device cpu] [--json-out FILE]

Configuration (fixed): NequIP, l_max 2, 3 layers, 32 channels, r_max 5 Å, 8 Bessel functions,
polynomial cutoff p = 6, radial MLP 2 × 64, float32, batch 5, lr 0.01 (Adam, AMSGrad), loss
weights force 1000 / energy 1, EMA 0.99, reduce-on-plateau (patience 50, factor 0.8); rMD17
ethanol split 01: 950 training and 50 validation structures from the train file, all 1,000
structures of the test file. Training (steps and per-epoch validation) runs for ``--max-time``
seconds; then the best EMA weights are tested.

Reference (the issue): the official nequip 0.19.1 with this configuration reached a test force MAE
of 20.3 meV/Å and an energy MAE of 5.8 meV in 15 minutes on a machine like this one, at about 47
training structures per second (45 epochs). Target: ≤ 18 meV/Å and ≥ 70 structures/s.

Run it on a quiet machine: the figures scale with the CPU time it gets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from equiv.errors import EquivError
from equiv.training import TrainConfig, TrainHooks, choose_threads, train

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "rmd17"
#: The issue's configuration; NequIP's preset defaults are these numbers, spelled out here so
#: that a change of the preset cannot change the benchmark.
MODEL_OPTIONS = {"l_max": 2, "n_layers": 3, "channels": 32, "r_max": 5.0, "n_basis": 8, "cutoff_p": 6,
                 "radial_hidden": [64, 64], "parity": True, "resnet": False}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-time", type=float, default=900.0, help="training seconds (default 900)")
    p.add_argument("--threads", type=int, help="CPU threads (default: the trainer's choice)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr-schedule", choices=["plateau", "cosine"], default="plateau",
                   help="plateau (the recipe, default) or cosine annealing over the budget")
    p.add_argument("--data-dir", default=os.environ.get("EQUIV_RMD17_DIR", str(DEFAULT_DATA_DIR)))
    p.add_argument("--json-out", help="also write the results to this JSON file")
    args = p.parse_args()
    config = TrainConfig(model="nequip", model_options=MODEL_OPTIONS, data="rmd17:ethanol", data_dir=args.data_dir,
                         n_train=950, n_val=50, n_test=None, max_time_s=args.max_time, batch_size=5, lr=0.01,
                         energy_weight=1.0, force_weight=1000.0, ema_decay=0.99, lr_schedule=args.lr_schedule, dtype="float32",
                         device=args.device, seed=args.seed, threads=args.threads)
    threads = choose_threads(args.threads)
    print(f"torch {torch.__version__}; device {args.device}; {threads} CPU thread(s) of {os.cpu_count()}; load "
          f"average {os.getloadavg()[0]:.1f}; budget {args.max_time:g} s", flush=True)
    print(f"config: {json.dumps(config.to_dict(), sort_keys=True)}", flush=True)

    def line(r) -> None:
        print(f"epoch {r.epoch:3d}{'*' if r.partial else ' '} {r.seconds:7.1f} s  lr {r.lr:.2e}  val E "
              f"{r.val['energy_mae_mev']:7.2f} meV  F {r.val['force_mae_mev_per_a']:7.2f} meV/Å  "
              f"{r.structures_per_s:6.1f} str/s{'  best' if r.best else ''}", flush=True)

    result = train(config, TrainHooks(on_epoch=line))
    summary = result.summary()
    print(f"\ntest (1,000 structures): energy MAE {result.test['energy_mae_mev']:.2f} meV, force MAE "
          f"{result.test['force_mae_mev_per_a']:.2f} meV/Å (RMSE {result.test['energy_rmse_mev']:.2f} meV, "
          f"{result.test['force_rmse_mev_per_a']:.2f} meV/Å)")
    print(f"{result.epochs} epochs ({result.steps} steps) in {result.train_seconds:.0f} s: "
          f"{result.structures_per_s:.1f} training structures/s on {result.device_name}"
          + (f", GPU peak {result.peak_memory_mib:,.0f} MiB" if result.peak_memory_mib is not None else ""))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({**summary, "torch": torch.__version__,
                                                   "history": [r.store_metrics() | {"epoch": r.epoch, "seconds": r.seconds}
                                                               for r in result.history]}, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EquivError as exc:  # missing data, CUDA absent, ...: one line, no traceback
        sys.exit(f"error: {exc}")
