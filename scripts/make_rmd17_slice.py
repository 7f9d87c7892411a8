"""Write the small rMD17 slice committed under ``tests/data/rmd17/`` (CC0, like rMD17 itself).

The first ``--n-train`` frames of each molecule's split-01 train file and the first ``--n-test``
frames of its test file, with every key of the originals, so that ``equiv.data.load_rmd17(...,
data_dir="tests/data/rmd17")`` reads them exactly as it reads the full files. Tests use the slice;
benchmarks use the full split.

    .venv/bin/python scripts/make_rmd17_slice.py --source ../shared/data/rmd17
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "rmd17")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "data" / "rmd17")
    parser.add_argument("--molecules", default="ethanol,aspirin,benzene")
    parser.add_argument("--n-train", type=int, default=60)
    parser.add_argument("--n-test", type=int, default=40)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for molecule in args.molecules.split(","):
        for part, n in (("train", args.n_train), ("test", args.n_test)):
            name = f"rmd17_{molecule}_{part}_01.npz"
            with np.load(args.source / name) as full:
                arrays = {k: (full[k] if full[k].ndim == 0 or k == "nuclear_charges" else full[k][:n]) for k in full.files}
            np.savez(args.out / name, **arrays)
            print(f"{name}: {n} frames")


if __name__ == "__main__":
    main()
