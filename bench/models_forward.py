"""Forward + force time per molecule for each model on a library molecule (default aspirin), CPU.

    .venv/bin/python bench/models_forward.py [--molecule aspirin] [--repeats 50] [--dtype float32]

Reports, for each model preset, the build time, the median wall time of one evaluation
(energy + forces by autograd + atom vectors, eval mode, one molecule), and the same for a
batch of 16 copies (time per molecule). Prints the configuration and torch's thread count.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from equiv.graphs import AtomsBatch
from equiv.models import build_model
from equiv.molecules import load_molecule


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecule", default="aspirin")
    p.add_argument("--models", default="mlp,gvp,nequip")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    mol = load_molecule(args.molecule)
    print(f"molecule {args.molecule} ({mol.n_atoms} atoms), {args.dtype}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'model':14s} {'build s':>8s} {'1 mol ms':>9s} {'16 mols ms/mol':>15s}  config")
    for name in args.models.split(","):
        t0 = time.perf_counter()
        model = build_model(name, dtype=dtype, numbers=mol.numbers)
        build = time.perf_counter() - t0
        single = AtomsBatch.from_molecules([mol], dtype=dtype).with_edges(getattr(model.config, "r_max", 5.0))
        batch = AtomsBatch.from_molecules([mol] * 16, dtype=dtype).with_edges(getattr(model.config, "r_max", 5.0))
        t1 = median_ms(lambda: model(single), args.repeats)
        t16 = median_ms(lambda: model(batch), max(5, args.repeats // 4)) / 16
        cfg = {k: v for k, v in model.config.to_dict().items() if k not in ("species", "numbers")}
        print(f"{name:14s} {build:8.2f} {t1:9.2f} {t16:15.2f}  {cfg}")


if __name__ == "__main__":
    main()
