"""Training throughput (structures per second) of each model on rMD17, CPU.

    .venv/bin/python bench/train_throughput.py [--molecules ethanol,aspirin] [--models mlp,gvp,nequip]
        [--batch-size 5] [--epochs 3] [--threads N] [--dtype float32] [--device cpu] [--data-dir DIR]

A step is what training does: batch assembly from precomputed neighbour masks, forward with
forces by autograd (graph kept for the force loss), loss, backward, Adam (AMSGrad) step, EMA
update and error accumulation. It runs the real trainer (``equiv.training.train``) on 100
training structures (``--n-train``) for ``--epochs`` epochs and reports the best epoch's rate after the first
(warm-up) epoch, and the median. Validation and the test are not timed. The machine's load
average is printed: on a shared 2-core machine, other processes halve the figures or worse.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch

from equiv.errors import EquivError
from equiv.training import TrainConfig, choose_threads, resolve_device, train
from equiv.training.device import device_name

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "rmd17"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", default="ethanol,aspirin")
    p.add_argument("--models", default="mlp,gvp,nequip")
    p.add_argument("--batch-size", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3, help="epochs of 100 structures (the first is warm-up)")
    p.add_argument("--threads", type=int, help="CPU threads (default: the trainer's choice)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--n-train", type=int, default=100, help="training structures per epoch (default 100)")
    p.add_argument("--data-dir", default=os.environ.get("EQUIV_RMD17_DIR", str(DEFAULT_DATA_DIR)))
    args = p.parse_args()
    threads = choose_threads(args.threads)
    device = resolve_device(args.device)
    where = f"GPU {device_name(device)}" if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {where}, {threads} CPU thread(s) of {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, {args.dtype}, batch {args.batch_size}, flush-to-zero on")
    print(f"{'molecule':10s} {'model':8s} {'params':>8s} {'best str/s':>11s} {'median':>8s}  config")
    for molecule in args.molecules.split(","):
        for name in args.models.split(","):
            cfg = TrainConfig(model=name, data=f"rmd17:{molecule}", data_dir=args.data_dir, n_train=args.n_train,
                              n_val=5, n_test=5, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                              dtype=args.dtype, threads=threads)
            result = train(cfg)
            rates = [e.structures_per_s for e in result.history[1:]] or [result.history[0].structures_per_s]
            shown = {k: v for k, v in result.model_config.items() if k not in ("species", "numbers")}
            print(f"{molecule:10s} {name:8s} {result.n_parameters:8d} {max(rates):11.1f} {statistics.median(rates):8.1f}  "
                  f"{shown}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EquivError as exc:  # missing data, CUDA absent, ...: one line, no traceback
        sys.exit(f"error: {exc}")
